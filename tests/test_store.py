"""The store, on a DuckDB file and on PostgreSQL where the behaviour is shared: migrations, per-thread
cursors, transactions and their conflicts; and DuckDB's one-process-per-file rule."""

import logging
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import wait_for
from vt_core.core.store import MIGRATIONS_DIR, Store, StoreError, discover_migrations, insert_rows
from vt_core.designer.projects import add_version, create_project, get_project, set_current

SHIPPED = sorted(MIGRATIONS_DIR.glob("*.sql"))


def tables(store: Store) -> set[str]:
    rows = store.cursor().execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema IN ('main', 'public')").fetchall()
    return {row[0] for row in rows}


def write_migrations(directory, files: dict[str, str]):
    directory.mkdir(exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return directory


@pytest.mark.both_backends
def test_migrations_from_an_empty_database(store_target):
    store = Store(store_target)
    try:
        assert len(SHIPPED) >= 1
        assert store.schema_version() == len(SHIPPED)
        assert {"llm_calls", "schema_migrations"} <= tables(store)
        columns = {row[0] for row in store.cursor().execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'llm_calls'").fetchall()}
        assert {"request_hash", "status", "cache_hit", "tokens_in", "tokens_out", "attempts"} <= columns
    finally:
        store.close()


@pytest.mark.both_backends
def test_reopening_applies_nothing_twice(store_target):
    Store(store_target).close()
    store = Store(store_target)
    try:
        assert store.schema_version() == len(SHIPPED)
        rows = store.cursor().execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
        assert [version for version, _ in rows] == list(range(1, len(SHIPPED) + 1))
        assert [name for _, name in rows] == [m.name for m in discover_migrations()]
    finally:
        store.close()


def test_the_store_creates_its_folder(tmp_path):
    store = Store(tmp_path / "a" / "b" / "vt.duckdb")
    try:
        assert (tmp_path / "a" / "b" / "vt.duckdb").is_file()
    finally:
        store.close()


FIRST = "CREATE TABLE things (id INTEGER PRIMARY KEY, label TEXT);"


@pytest.mark.parametrize("failing_sql", [
    # a runtime error after statements that did run: their effects must be rolled back
    "CREATE TABLE broken (x INTEGER);\nINSERT INTO things VALUES (1, 'partial');\n"
    "INSERT INTO table_that_does_not_exist VALUES (1);",
    # a syntax error
    "CREATE TABLE broken (x INTEGER);\nINSERT INTO things VALUES (1, 'partial');\nCREATE TABL oops (;",
], ids=["runtime-error", "syntax-error"])
@pytest.mark.both_backends
def test_a_failing_migration_is_rolled_back_and_named(tmp_path, store_target, failing_sql):
    migrations = write_migrations(tmp_path / "migrations", {"0001_first.sql": FIRST,
                                                            "0002_second.sql": failing_sql})
    with pytest.raises(StoreError, match="0002_second.sql"):
        Store(store_target, migrations_dir=migrations)

    (migrations / "0002_second.sql").unlink()
    store = Store(store_target, migrations_dir=migrations)
    try:
        assert store.schema_version() == 1
        assert "things" in tables(store)
        assert "broken" not in tables(store)
        assert store.cursor().execute("SELECT count(*) FROM things").fetchone()[0] == 0
        assert store.cursor().execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == 1
    finally:
        store.close()


@pytest.mark.both_backends
def test_a_fixed_migration_applies_after_a_failure(tmp_path, store_target):
    migrations = write_migrations(tmp_path / "migrations", {
        "0001_first.sql": FIRST, "0002_second.sql": "CREATE TABLE later (x INTEGER); SELECT * FROM nowhere;"})
    with pytest.raises(StoreError):
        Store(store_target, migrations_dir=migrations)
    (migrations / "0002_second.sql").write_text("CREATE TABLE later (x INTEGER);")
    store = Store(store_target, migrations_dir=migrations)
    try:
        assert store.schema_version() == 2
        assert {"things", "later"} <= tables(store)
    finally:
        store.close()


@pytest.mark.parametrize("name", ["1_first.sql", "0001-first.sql", "0001_First.sql", "00001_first.sql"])
def test_a_misnamed_migration_is_rejected(tmp_path, name):
    migrations = write_migrations(tmp_path / "migrations", {name: FIRST})
    with pytest.raises(StoreError, match="NNNN_name.sql") as caught:
        Store(tmp_path / "vt.duckdb", migrations_dir=migrations)
    assert name in str(caught.value)


@pytest.mark.parametrize("names", [
    ["0001_first.sql", "0003_third.sql"],
    ["0002_second.sql"],
    ["0001_first.sql", "0001_again.sql"],
], ids=["gap", "no-first", "duplicate"])
def test_a_numbering_gap_is_rejected(tmp_path, names):
    migrations = write_migrations(tmp_path / "migrations", {name: FIRST for name in names})
    with pytest.raises(StoreError, match="without gaps"):
        Store(tmp_path / "vt.duckdb", migrations_dir=migrations)


@pytest.mark.both_backends
def test_a_database_newer_than_the_code_is_rejected(tmp_path, store_target):
    migrations = write_migrations(tmp_path / "migrations", {
        "0001_first.sql": FIRST, "0002_second.sql": "CREATE TABLE later (x INTEGER);"})
    Store(store_target, migrations_dir=migrations).close()
    older = write_migrations(tmp_path / "older", {"0001_first.sql": FIRST})
    with pytest.raises(StoreError, match="schema version 2") as caught:
        Store(store_target, migrations_dir=older)
    assert "(1)" in str(caught.value)


@pytest.mark.both_backends
def test_concurrent_inserts_through_thread_cursors_lose_nothing(store):
    store.cursor().execute("CREATE TABLE hits (thread INTEGER, value INTEGER)")
    threads, per_thread = 8, 500
    start = threading.Barrier(threads)
    cursors = []

    def insert(thread: int) -> None:
        db = store.cursor()
        assert store.cursor() is db  # one cursor per thread, reused
        cursors.append(db)
        start.wait()
        for i in range(per_thread):
            db.execute("INSERT INTO hits VALUES (?, ?)", [thread, thread * per_thread + i])

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(insert, t) for t in range(threads)]:
            future.result()

    assert len({id(c) for c in cursors}) == threads
    count, distinct = store.cursor().execute("SELECT count(*), count(DISTINCT value) FROM hits").fetchone()
    assert (count, distinct) == (threads * per_thread, threads * per_thread)
    per = store.cursor().execute("SELECT thread, count(*) FROM hits GROUP BY thread ORDER BY thread").fetchall()
    assert per == [(t, per_thread) for t in range(threads)]


HOLDER = (
    "import sys, time, duckdb\n"
    "connection = duckdb.connect(sys.argv[1])\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def test_a_file_held_by_another_process_is_refused_clearly(tmp_path):
    path = tmp_path / "vt.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read()
        with pytest.raises(StoreError, match="another process") as caught:
            Store(path)
        assert str(path) in str(caught.value)
        assert "VT_DB_PATH" in str(caught.value)
    finally:
        holder.kill()
        holder.wait()
    store = Store(path)  # free again once the other process is gone
    try:
        assert store.schema_version() == len(SHIPPED)
    finally:
        store.close()


DEFAULT_TIMESTAMP = """
import sys
from vt_core.core.store import Store, naive_utc
store = Store(sys.argv[1])
store.cursor().execute("INSERT INTO projects (name, goal, audience) VALUES ('p', 'g', 'a')")
stored = store.cursor().execute("SELECT created_at FROM projects").fetchone()[0]
print(abs((stored - naive_utc()).total_seconds()))
"""


def test_default_timestamps_are_utc_whatever_the_process_time_zone(tmp_path):
    env = {**os.environ, "TZ": "America/New_York", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-c", DEFAULT_TIMESTAMP, str(tmp_path / "vt.duckdb")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) < 60  # New York is 5 hours off UTC in November


class _Conflicts(logging.Handler):
    """Sets `seen` when the store logs a write conflict it will retry."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.seen = threading.Event()

    def emit(self, record):
        if "write conflict" in record.getMessage():
            self.seen.set()


@pytest.mark.both_backends
def test_a_write_conflict_is_retried_until_the_other_transaction_ends(store, caplog):
    """Two tabs make a version current at once: the second waits for the first instead of failing."""
    project = create_project(store, "p", "goal", "", "first")
    second = add_version(store, project.id, "second", author="designer")
    third = add_version(store, project.id, "third", author="designer")
    conflicts = _Conflicts()
    logging.getLogger("vt_core.core.store").addHandler(conflicts)
    caplog.set_level(logging.INFO, logger="vt_core.core.store")
    try:
        other = store.cursor()
        with store.pinned(), ThreadPoolExecutor(1) as pool:
            other.execute("BEGIN TRANSACTION")
            other.execute("UPDATE projects SET current_version_id = ? WHERE id = ?", [second.id, project.id])
            making_current = pool.submit(set_current, store, project.id, third.id)
            if store.backend == "duckdb":  # the second writer fails at once, and retries until the commit
                assert conflicts.seen.wait(10), "the second writer never met the open transaction"
                other.execute("COMMIT")
            else:  # it waits on the row's lock, and fails (then retries) once the first commits
                with ThreadPoolExecutor(1) as watcher:  # a connection of its own, outside the open transaction
                    wait_for(lambda: watcher.submit(lambda: store.cursor().execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND datname = current_database()").fetchone()[0]).result(),
                        what="the second writer waiting on the row", timeout_s=20)
                other.execute("COMMIT")
                assert conflicts.seen.wait(10), "the second writer was not refused after the first committed"
            making_current.result(timeout=30)
    finally:
        logging.getLogger("vt_core.core.store").removeHandler(conflicts)
    assert get_project(store, project.id).current_version_id == third.id


@pytest.mark.both_backends
def test_a_transaction_is_all_or_nothing_and_joins_an_outer_one(store):
    store.cursor().execute("CREATE TABLE t (x INTEGER)")

    def write_then_fail(db):
        db.execute("INSERT INTO t VALUES (1)")
        store.transaction(lambda inner: inner.execute("INSERT INTO t VALUES (2)"))  # joins, no BEGIN
        raise ValueError("stop")

    with pytest.raises(ValueError, match="stop"):
        store.transaction(write_then_fail)
    assert store.cursor().execute("SELECT count(*) FROM t").fetchone()[0] == 0
    assert store.transaction(lambda db: db.execute("INSERT INTO t VALUES (3) RETURNING x").fetchone()[0]) == 3


@pytest.mark.both_backends
def test_insert_rows_writes_every_row_in_order_across_statements(store):
    """More rows than one statement takes, with a constant and an expression in the row of values."""
    store.cursor().execute("CREATE TABLE t (i INTEGER, label TEXT, source TEXT, made TIMESTAMP)")
    rows = [(i, f"row {i}") for i in range(1203)]
    store.transaction(lambda db: insert_rows(db, "INSERT INTO t (i, label, source, made) VALUES (?, ?, 'import', now())",
                                             rows))
    stored = store.cursor().execute("SELECT i, label, source, made IS NOT NULL FROM t ORDER BY i").fetchall()
    assert stored == [(i, label, "import", True) for i, label in rows]


def test_a_postgresql_store_that_cannot_connect_says_where_without_the_password(postgres_url):
    url = postgres_url.replace("vt:vt@", "vt:not-the-password@")
    with pytest.raises(StoreError, match="cannot connect to database") as caught:
        Store(url)
    assert "not-the-password" not in str(caught.value) and "vt:***@" in str(caught.value)
