"""What every page shares: the process-wide store and LLM, and the demo-model notice."""

import streamlit as st

from vt_core.config import ConfigError, Settings
from vt_core.llm import LLM
from vt_core.store import Store, StoreError


@st.cache_resource(show_spinner=False)
def _open() -> tuple[Settings, Store, LLM]:
    # One Store (one DuckDB connection) and one LLM per server process, shared by all sessions.
    settings = Settings.from_env()
    store = Store(settings.db_path)
    return settings, store, LLM.from_settings(settings, store)


def platform() -> tuple[Settings, Store, LLM]:
    """Settings, store and LLM; a page that cannot have them shows why and stops."""
    try:
        return _open()
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


def not_built_yet(issue: int, what: str) -> None:
    """For pages a later issue fills: say what the page will do, and that it does not yet."""
    st.info(f"Not built yet (issue {issue}). {what}", icon="🚧")
