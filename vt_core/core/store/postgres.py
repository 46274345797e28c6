"""PostgreSQL behind the store's interface: the same SQL as on the DuckDB file, through psycopg 3.

The platform's SQL is written once, for both: `?` placeholders (translated to psycopg's `%s` here), JSON
columns read back as text (as DuckDB returns them, and as the code parses them), naive UTC timestamps.
Each thread has a `Cursor`, as each thread has its own DuckDB cursor; its statements run in autocommit
mode on connections borrowed from a pool, one held for the length of a transaction, so that
`Store.transaction` opens and ends its transactions with plain SQL on both. (A connection per thread ran
out: Streamlit runs every script run in a new thread, and a job's model calls run in many threads that
mostly wait for the model.) Transactions run at REPEATABLE READ: like DuckDB,
PostgreSQL then refuses the second of two concurrent writes to a row (SQLSTATE 40001) instead of letting
it overwrite the first, and the store retries it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool, PoolTimeout

CONFLICTS = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)
POOL_SIZE = 20  # connections of one process at most; PostgreSQL allows 100 in all by default
WAIT_S = 15.0  # for a connection, when all of them are busy or the server does not answer


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
    """A thread's way to the database, speaking the store's SQL. Each statement borrows a connection from the
    pool and returns it (the rows are read at once, so fetching needs no connection); while the thread
    `hold`s one, for a transaction or a session's lock, its statements run on that connection. So a
    connection is taken for a statement, not for a thread's life: the threads of a job's model calls, or
    Streamlit's script runs, need no connection while they wait."""

    def __init__(self, pool: ConnectionPool, unavailable: Callable[[], Exception]):
        self._pool, self._unavailable = pool, unavailable  # unavailable(): the error when none comes in time
        self._held: psycopg.Connection | None = None
        self._holds = 0
        self._cursor: psycopg.Cursor | None = None

    def _borrow(self) -> psycopg.Connection:
        try:
            return self._pool.getconn()
        except PoolTimeout:
            raise self._unavailable() from None

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Run this thread's statements on one connection until the outermost `hold` ends."""
        if self._holds == 0:
            self._held = self._borrow()
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
            if self._holds == 0:
                connection, self._held = self._held, None
                self._pool.putconn(connection)  # it rolls back a transaction left open

    def execute(self, sql: str, parameters: Sequence | None = None) -> Cursor:
        # Without parameters psycopg sends the text as it is (a migration holds several statements, and a
        # `?` in a comment); with them, `?` becomes `%s` and a literal `%` is escaped.
        arguments = (sql,) if parameters is None else (sql.replace("%", "%%").replace("?", "%s"), parameters)
        return self._run(lambda cursor: cursor.execute(*arguments))

    def executemany(self, sql: str, rows: Sequence[Sequence]) -> Cursor:
        return self._run(lambda cursor: cursor.executemany(sql.replace("%", "%%").replace("?", "%s"), rows))

    def _run(self, statement: Callable[[psycopg.Cursor], object]) -> Cursor:
        if self._held is not None:
            self._cursor = self._held.cursor()
            statement(self._cursor)
            return self
        connection = self._borrow()
        try:
            self._cursor = connection.cursor()
            statement(self._cursor)
        finally:
            self._pool.putconn(connection)
        return self

    @property
    def description(self):
        return self._cursor.description

    def fetchone(self):
        return self._cursor.fetchone()

    def fetchall(self):
        return self._cursor.fetchall()

    def close(self) -> None:
        """Nothing to release, as a DuckDB cursor's close does: a connection is held only within `hold`."""
