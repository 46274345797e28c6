"""The store: a DuckDB file (the embedded default) or a PostgreSQL database, with one cursor per thread.

DuckDB lets only one process open a database file, and a connection object is not
thread-safe. So a process holds a single `Store`, and every thread that touches the
database works through `store.cursor()`, which hands each thread its own cursor; on
PostgreSQL, a cursor over a pool of connections (see `postgres`), and several processes can
share the database. Numbered SQL migrations in `migrations/` are applied when the store opens.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import duckdb

from vt_core.core.store import postgres

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Pauses of up to 4, 8, ..., 1024 ms between attempts: about 2 s in all, far beyond a short transaction.
CONFLICT_ATTEMPTS = 10

log = logging.getLogger(__name__)
T = TypeVar("T")

# Errors the domain handles alike on both databases, for `except` clauses.
KEY_TAKEN = (  # a unique key another writer took first
    duckdb.ConstraintException,
    duckdb.TransactionException,  # DuckDB, when the other insert is not committed yet
    postgres.psycopg.errors.UniqueViolation,
)
DATABASE_ERRORS = (duckdb.Error, postgres.psycopg.Error)


def naive_utc(now: datetime | None = None) -> datetime:
    """A time as the store keeps it: naive UTC. `now` None is the current time; an aware time is
    converted; a naive one is taken as UTC already."""
    if now is None:
        return datetime.now(UTC).replace(tzinfo=None)
    return now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo is not None else now


_ROWS_PER_INSERT = 500


def insert_rows(db: duckdb.DuckDBPyConnection, statement: str, rows: Sequence[Sequence]) -> None:
    """Run `statement`, an INSERT ending in one row of values (`VALUES (?, ?, now())`), for every row, as
    multi-row INSERTs: DuckDB's executemany binds and runs row by row, about five times the CPU."""
    head, values = statement.rsplit("VALUES", 1)
    rows = list(rows)
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start:start + _ROWS_PER_INSERT]
        db.execute(f"{head}VALUES {', '.join([values.strip()] * len(chunk))}", [v for row in chunk for v in row])


class StoreError(RuntimeError):
    """The database cannot be opened or migrated; the message says why."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def discover_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Migrations in `directory`, numbered 0001, 0002, ... without gaps."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise StoreError(f"migration file {path.name!r} is not named NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], path))
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise StoreError(
                f"migrations must be numbered 1, 2, 3, ... without gaps; "
                f"found {migration.path.name} where version {expected} was expected"
            )
    return found


class Store:
    def __init__(self, path: str | Path, migrations_dir: Path = MIGRATIONS_DIR):
        """`path`: a DuckDB file, or a `postgresql://` URL."""
        self._url = str(path) if postgres.is_url(str(path)) else None
        self.backend = "postgresql" if self._url else "duckdb"
        self.path = Path(path) if self._url is None else None
        self.where = postgres.redacted(self._url) if self._url else str(self.path)  # for messages: no password
        self._local = threading.local()
        self._lock = threading.Lock()
        self._named_locks: dict[tuple[str, int], threading.Lock] = {}  # see `lock`, on DuckDB
        self._connection = None if self._url else self._open_file(str(path))
        self._pool = self._open_pool(self._url) if self._url else None
        try:
            self.migrate(discover_migrations(migrations_dir))
        except StoreError:
            self.close()  # release the file lock now, not when the traceback is collected
            raise

    def _open_file(self, path: str) -> duckdb.DuckDBPyConnection:
        if path != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = duckdb.connect(path)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreError(
                    f"database {self.path} is open in another process; DuckDB allows one process "
                    f"per file. Stop the other process (a running app or CLI job) or set "
                    f"VT_DB_PATH to another file. ({exc})"
                ) from exc
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        # Every timestamp is naive UTC: `DEFAULT current_timestamp` columns too, whatever TZ the process has.
        connection.execute("SET GLOBAL TimeZone = 'UTC'")
        connection.execute("SET threads = 1")
        return connection

    def _open_pool(self, url: str):
        try:
            return postgres.connect_pool(url)
        except postgres.psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to database {self.where}: {str(exc).replace(url, self.where)}") from None

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's own cursor on the shared connection (on PostgreSQL, on the pool's connections)."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            if self._pool is not None:
                cursor = postgres.Cursor(self._pool, lambda: StoreError(
                    f"no connection to database {self.where} within {postgres.WAIT_S:.0f} s: the server is down, "
                    "or every connection is busy"))
            else:
                with self._lock:
                    cursor = self._connection.cursor()
            self._local.cursor = cursor
        return cursor

    def pinned(self) -> AbstractContextManager:
        """Run this thread's statements on one connection until this ends, as a transaction or a session's
        lock needs. On PostgreSQL a statement otherwise borrows any connection of the pool; on DuckDB a
        thread's statements always run on its own cursor."""
        return self.cursor().hold() if self._pool is not None else nullcontext()

    @contextmanager
    def lock(self, name: str, number: int = 0) -> Iterator[None]:
        """Hold the lock `name` (`number`, e.g. a study's id): whoever holds it next waits until this
        ends. On PostgreSQL it holds for every process on the database (an advisory lock of this thread's
        session, taken before any transaction begins, so that the transactions under it see what the last
        holder committed; a process that dies lets go of it); on DuckDB, which one process opens, it is a
        lock of this process. Not reentrant on DuckDB."""
        if not self._url:
            with self._lock:
                held = self._named_locks.setdefault((name, number), threading.Lock())
            with held:
                yield
            return
        db = self.cursor()
        key = [zlib.crc32(name.encode()) & 0x7FFF_FFFF, number]
        with self.pinned():  # the lock is the session's: lock, work and unlock on one connection
            db.execute("SELECT pg_advisory_lock(?, ?)", key)
            try:
                yield
            finally:
                db.execute("SELECT pg_advisory_unlock(?, ?)", key)

    def transaction(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """`work(db)` in one transaction on this thread's cursor, committed when it returns and rolled
        back when it raises; its result is returned. When another thread changed the same rows
        first (a write-write conflict), the transaction is rolled back and `work` runs again,
        after a short random pause, up to CONFLICT_ATTEMPTS times; so `work` may change nothing but
        the database. Called inside another transaction, `work` simply joins it."""
        db = self.cursor()
        if getattr(self._local, "in_transaction", False):
            return work(db)
        self._local.in_transaction = True
        try:
            with self.pinned():  # one connection, BEGIN to COMMIT
                return self._attempts(db, work)
        finally:
            self._local.in_transaction = False

    @staticmethod
    def _attempts(db, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            db.execute("BEGIN TRANSACTION")
            try:
                result = work(db)
                db.execute("COMMIT")
                return result
            except (duckdb.TransactionException, *postgres.CONFLICTS) as exc:
                _rollback(db)
                conflict = isinstance(exc, postgres.CONFLICTS) or "conflict" in str(exc).lower()
                if not conflict or attempt == CONFLICT_ATTEMPTS:
                    raise
                log.info("write conflict, attempt %d of %d: %s", attempt, CONFLICT_ATTEMPTS, exc)
            except BaseException:
                _rollback(db)
                raise
            time.sleep(random.uniform(0, 0.002 * 2 ** attempt))
        raise AssertionError("unreachable")

    def schema_version(self) -> int:
        row = self.cursor().execute("SELECT max(version) FROM schema_migrations").fetchone()
        return row[0] or 0

    def frame(self, sql: str, parameters: Sequence = ()):
        """The query's rows as a pandas DataFrame, built the same way from either database's rows."""
        import pandas as pd  # here: the pages that never read a frame (the rater's) need not load pandas

        db = self.cursor().execute(sql, parameters)
        columns = [column[0] for column in db.description]
        return pd.DataFrame.from_records(db.fetchall(), columns=columns)

    def migrate(self, migrations: list[Migration]) -> None:
        """Apply, in order and each in its own transaction, the migrations not yet applied. On PostgreSQL,
        processes that start together take turns (a lock held until this returns)."""
        with self.lock("migrations"):
            self._migrate(self.cursor(), migrations)

    def _migrate(self, db, migrations: list[Migration]) -> None:
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
        )
        current = self.schema_version()
        if current > len(migrations):
            raise StoreError(
                f"database {self.where} is at schema version {current}, newer than this code "
                f"knows ({len(migrations)}); update the code or use another database"
            )
        for migration in migrations[current:]:
            def apply(db: duckdb.DuckDBPyConnection, m: Migration = migration) -> None:
                db.execute(m.path.read_text())
                db.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [m.version, m.name])

            try:
                self.transaction(apply)
            except DATABASE_ERRORS as exc:
                raise StoreError(f"migration {migration.path.name} failed and was rolled back: {exc}") from exc

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        if self._pool is not None:
            self._pool.close()


def _rollback(db: duckdb.DuckDBPyConnection) -> None:
    try:
        db.execute("ROLLBACK")
    except DATABASE_ERRORS:
        pass  # none open: BEGIN failed, or the database already ended the transaction
