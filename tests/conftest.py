"""Shared fixtures: a store in a temporary DuckDB file (for tests marked `both_backends`, also in a fresh
PostgreSQL database), a running ScriptedServer, an LLM factory.

Everything here is real: the DuckDB file lives under pytest's tmp_path, the PostgreSQL database on the
server that scripts/setup-tests.sh starts (VT_TEST_POSTGRES_URL; without one, the tests fail), and the
LLM talks to the ScriptedServer over loopback HTTP through the `openai` client.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import streamlit as st

from tests.postgres import postgres_database
from tests.scripted_server import ScriptedServer
from vt_core.core.config import Settings
from vt_core.core.jobs import list_jobs
from vt_core.core.llm import LLM
from vt_core.core.llm.calls import call_log
from vt_core.core.store import Store

FAST_BACKOFF_S = 0.01


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards (see tests.browser.postgres_database)."""
    with postgres_database() as url:
        yield url


BACKENDS = ("duckdb", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked `both_backends` (or in a module so marked) runs once per database, through `store_target`."""
    if "store_target" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_backends"):
        metafunc.parametrize("store_target", BACKENDS, indirect=True)


@pytest.fixture
def store_target(request, tmp_path) -> str:
    """Where the test's store lives: a DuckDB file, or (for `both_backends` tests, in turn) a new
    PostgreSQL database."""
    backend = getattr(request, "param", "duckdb")
    return str(tmp_path / "vt.duckdb") if backend == "duckdb" else request.getfixturevalue("postgres_url")


@pytest.fixture
def store(store_target) -> Iterator[Store]:
    store = Store(store_target)
    yield store
    call_log(store).close()  # stop the background writer before the connection goes
    store.close()


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


@pytest.fixture
def make_llm(store: Store, scripted: ScriptedServer) -> Callable[..., LLM]:
    """`make_llm(env={...}, timeout_s=..., ...)`: an LLM on the scripted server, quick to retry.

    `env` is added to OPENAI_BASE_URL=<scripted url> and passed to Settings.from_env; keyword
    arguments set attributes of the LLM before its first call (the openai client, and so its
    timeout, is created on first use).
    """

    def make(env: dict[str, str] | None = None, **attributes) -> LLM:
        settings = Settings.from_env({"OPENAI_BASE_URL": scripted.url, "VT_DB_PATH": str(store.path),
                                      **(env or {})})
        llm = LLM.from_settings(settings, store)
        llm.backoff_s = FAST_BACKOFF_S
        for name, value in attributes.items():
            setattr(llm, name, value)
        return llm

    return make


def llm_calls(store: Store, columns: str = "status") -> list[tuple]:
    """Rows of llm_calls in insertion order, after the call log has written everything queued."""
    call_log(store).flush()
    return store.cursor().execute(f"SELECT {columns} FROM llm_calls ORDER BY id").fetchall()


def app_store() -> Store:
    """The store of the app that AppTest runs in this process (its services are cached here)."""
    from views.shared.services import services

    return services().store


def wait_for(condition, timeout_s: float = 60.0, what: str = "the condition"):
    """Poll until `condition()` is truthy (a row that another thread changes); its value."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def finish_jobs(store: Store) -> list:
    """Wait until no job of the store is queued or running (the app's runner works in its threads)."""
    return wait_for(lambda: all(not j.active for j in list_jobs(store)) and list_jobs(store), what="the jobs")


def llm_calls_summary(store: Store, aggregates: str) -> tuple:
    """One row of aggregates over llm_calls, e.g. "count(*), count(DISTINCT request_hash)"."""
    call_log(store).flush()
    return store.cursor().execute(f"SELECT {aggregates} FROM llm_calls").fetchone()


@pytest.fixture
def app_env(monkeypatch, tmp_path) -> Iterator[Callable[[str], None]]:
    """`app_env(url)`: the app that AppTest runs in this process will use the endpoint at `url`
    and a database in tmp_path, with no other model settings, and fresh cached resources."""

    def point(url: str) -> None:
        for name in ("OPENAI_API_KEY", "VT_MODEL", "VT_LOCAL_MODEL", "VT_RESPONSE_FORMAT"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        monkeypatch.setenv("VT_DB_PATH", str(tmp_path / "vt.duckdb"))
        st.cache_resource.clear()

    yield point
    st.cache_resource.clear()
