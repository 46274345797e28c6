"""The DuckDB store: one file, one connection per process, one cursor per thread.

DuckDB lets only one process open a database file, and a connection object is not
thread-safe. So a process holds a single `Store`, and every thread that touches the
database works through `store.cursor()`, which hands each thread its own cursor.
Numbered SQL migrations in `migrations/` are applied when the store opens.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def naive_utc(now: datetime | None = None) -> datetime:
    """A time as the store keeps it: naive UTC. `now` None is the current time; an aware time is
    converted; a naive one is taken as UTC already."""
    if now is None:
        return datetime.now(UTC).replace(tzinfo=None)
    return now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo is not None else now


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
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._connection = duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreError(
                    f"database {self.path} is open in another process; DuckDB allows one process "
                    f"per file. Stop the other process (a running app or CLI job) or set "
                    f"VT_DB_PATH to another file. ({exc})"
                ) from exc
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        # Every timestamp is naive UTC: `DEFAULT current_timestamp` columns too, whatever TZ the process has.
        self._connection.execute("SET GLOBAL TimeZone = 'UTC'")
        self._local = threading.local()
        self._lock = threading.Lock()
        try:
            self.migrate(discover_migrations(migrations_dir))
        except StoreError:
            self.close()  # release the file lock now, not when the traceback is collected
            raise

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's own cursor on the shared connection."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            with self._lock:
                cursor = self._connection.cursor()
            self._local.cursor = cursor
        return cursor

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """This thread's cursor inside one transaction: committed at the end, rolled back on any error."""
        db = self.cursor()
        db.execute("BEGIN TRANSACTION")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def schema_version(self) -> int:
        row = self.cursor().execute("SELECT max(version) FROM schema_migrations").fetchone()
        return row[0] or 0

    def migrate(self, migrations: list[Migration]) -> None:
        """Apply, in order and each in its own transaction, the migrations not yet applied."""
        db = self.cursor()
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
        )
        current = self.schema_version()
        if current > len(migrations):
            raise StoreError(
                f"database {self.path} is at schema version {current}, newer than this code "
                f"knows ({len(migrations)}); update the code or use another VT_DB_PATH"
            )
        for migration in migrations[current:]:
            db.execute("BEGIN TRANSACTION")
            try:
                db.execute(migration.path.read_text())
                db.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                    [migration.version, migration.name],
                )
                db.execute("COMMIT")
            except duckdb.Error as exc:
                db.execute("ROLLBACK")
                raise StoreError(
                    f"migration {migration.path.name} failed and was rolled back: {exc}"
                ) from exc

    def close(self) -> None:
        self._connection.close()
