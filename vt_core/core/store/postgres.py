"""PostgreSQL behind the store's interface: the same SQL as on the DuckDB file, through psycopg 3.

The platform's SQL is written once, for both: `?` placeholders (translated to psycopg's `%s` here), JSON
columns read back as text (as DuckDB returns them, and as the code parses them), naive UTC timestamps.
Each thread has its own connection in autocommit mode, as each thread has its own DuckDB cursor, so that
`Store.transaction` opens and ends its transactions with plain SQL on both. Transactions run at
REPEATABLE READ: like DuckDB, PostgreSQL then refuses the second of two concurrent writes to a row
(SQLSTATE 40001) instead of letting it overwrite the first, and the store retries it.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.types.string import TextLoader

CONFLICTS = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)


def is_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class Cursor:
    """A thread's connection, speaking the store's SQL."""

    def __init__(self, url: str):
        self._connection = psycopg.connect(url, autocommit=True)
        self._connection.adapters.register_loader("json", TextLoader)  # JSON as text, as DuckDB gives it
        self._connection.execute("SET TimeZone = 'UTC'")
        self._connection.execute("SET default_transaction_isolation = 'repeatable read'")
        self._cursor = self._connection.cursor()

    def execute(self, sql: str, parameters: Sequence | None = None) -> Cursor:
        # Without parameters psycopg sends the text as it is (a migration holds several statements, and a
        # `?` in a comment); with them, `?` becomes `%s` and a literal `%` is escaped.
        if parameters is None:
            self._cursor.execute(sql)
        else:
            self._cursor.execute(sql.replace("%", "%%").replace("?", "%s"), parameters)
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence]) -> Cursor:
        self._cursor.executemany(sql.replace("%", "%%").replace("?", "%s"), rows)
        return self

    @property
    def description(self):
        return self._cursor.description

    def fetchone(self):
        return self._cursor.fetchone()

    def fetchall(self):
        return self._cursor.fetchall()

    def close(self) -> None:
        self._connection.close()
