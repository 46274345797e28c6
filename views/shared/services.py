"""The process-wide services every page uses (settings, store, LLM, the job runner), and the small pieces
of feedback pages share: the demo-model notice, flash messages and multi-line errors."""

import gc
from dataclasses import dataclass

import streamlit as st

from vt_core.core.config import ConfigError, Settings
from vt_core.core.jobs import Runner
from vt_core.core.llm import LLM
from vt_core.core.store import Store, StoreError
from vt_core.core.text import escape_markdown
from vt_core.worker import HANDLERS

_FLASH = "vt_flash"


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    llm: LLM


@st.cache_resource(show_spinner=False)
def _open() -> Services:
    # One Store (one DuckDB connection, or a pool of PostgreSQL connections) and one LLM per server process,
    # shared by all sessions.
    settings = Settings.from_env()
    store = Store(settings.database)
    return Services(settings, store, LLM.from_settings(settings, store))


@st.cache_resource(show_spinner=False, on_release=lambda runner: runner.stop(wait=False))
def _runner() -> Runner:
    # One pool of job threads per server process (VT_WORKERS), started by the first page anyone opens:
    # jobs go on when the page, the tab or the browser that started them is gone.
    app = _open()
    # What the process has loaded by now (modules, types, schemas: some 200,000 objects) lives as long
    # as it does. Frozen, Python's full collections skip it: each took about 150 ms of GIL, a stall
    # of every job thread and every session's script run.
    gc.freeze()
    return Runner(app.store, app.llm, HANDLERS, workers=app.settings.workers).start()


def services() -> Services:
    """Settings, store and LLM, with the job runner started; a page that cannot have them shows why
    and stops."""
    try:
        app = _open()
        _runner()
        return app
    except (ConfigError, StoreError) as exc:
        st.error(f"The platform cannot start: {exc}")
        st.stop()


def demo_notice(llm: LLM) -> None:
    """Say plainly, on every page that shows model output, when it comes from the toy model."""
    if llm.backend.demo:
        st.warning(
            "**Demo model.** Model output on this page comes from the bundled SmolLM2-135M, a tiny "
            "model that runs anywhere but writes incoherent replies and meaningless verdicts. "
            "For real results, set `OPENAI_BASE_URL` / `OPENAI_API_KEY` (see README).",
            icon="⚠️",
        )


def flash(message: str) -> None:
    """A success message to show after the next st.rerun()."""
    st.session_state[_FLASH] = message


def show_flash() -> None:
    message = st.session_state.pop(_FLASH, None)
    if message:
        st.success(message)


def show_errors(exc: Exception) -> None:
    """An error whose message lists one problem per line (a study file's fields, a CSV's rows):
    one st.error each, escaped, since the lines quote what the file said."""
    for line in str(exc).splitlines():
        if line.strip():
            st.error(escape_markdown(line))

