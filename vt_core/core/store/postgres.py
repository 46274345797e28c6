"""PostgreSQL behind the store's interface: the same SQL as on the DuckDB file, through psycopg 3.

The platform's SQL is written once, for both: `?` placeholders (translated to psycopg's `%s` here), JSON
columns read back as text (as DuckDB returns them, and as the code parses them), naive UTC timestamps.
Each thread holds a connection in autocommit mode, as each thread has its own DuckDB cursor, so that
`Store.transaction` opens and ends its transactions with plain SQL on both. The connections come from a
pool and go back to it when their thread ends: Streamlit runs every script run in a new thread, and a
connection per run would soon pass the server's limit. Transactions run at REPEATABLE READ: like DuckDB,
PostgreSQL then refuses the second of two concurrent writes to a row (SQLSTATE 40001) instead of letting
it overwrite the first, and the store retries it.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool, PoolTimeout

CONFLICTS = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)
POOL_SIZE = 20  # connections of one process at most; PostgreSQL allows 100 in all by default
WAIT_S = 15.0  # for a connection, when all of them are taken or the server does not answer

__all__ = ["CONFLICTS", "Cursor", "PoolTimeout", "connect_pool", "is_url", "redacted"]


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


def _configure(connection: psycopg.Connection) -> None:
    connection.adapters.register_loader("json", TextLoader)  # JSON as text, as DuckDB gives it
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("SET default_transaction_isolation = 'repeatable read'")


def connect_pool(url: str) -> ConnectionPool:
    """A pool of connections to `url`, opened; psycopg's error, if the server refuses the first one."""
    psycopg.connect(url).close()  # an unreachable server or a wrong password: say so now, with the reason
    return ConnectionPool(url, min_size=1, max_size=POOL_SIZE, timeout=WAIT_S, kwargs={"autocommit": True},
                          configure=_configure, name="vt-store", open=True)


class Cursor:
    """A thread's connection from the pool, speaking the store's SQL; back to the pool when the thread ends
    (when this object goes)."""

    def __init__(self, pool: ConnectionPool):
        connection = pool.getconn()
        self._cursor = connection.cursor()
        weakref.finalize(self, pool.putconn, connection)  # putconn rolls back a transaction left open

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

