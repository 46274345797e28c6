import streamlit as st

from views.shared.services import demo_notice, services
from vt_core.core.llm import EmbeddedServerError, LLMError

app = services()

settings, store, llm = app.settings, app.store, app.llm

st.title("Settings")
demo_notice(llm)
st.caption("Settings come from environment variables, read when the app starts; README.md lists them.")

backend = llm.backend
st.subheader("Model backend")
st.table(
    {
        "setting": ["backend", "model", "endpoint", "structured output", "concurrency",
                    "timeout", "attempts per call"],
        "value": [
            backend.describe(),
            backend.model or "first model the endpoint lists (set VT_MODEL to choose)",
            backend.base_url or f"embedded llama.cpp server for {backend.model_path}, started on first use",
            backend.structured_format,
            str(llm.concurrency),
            f"{llm.timeout_s:g} s",
            str(llm.attempts),
        ],
    }
)

if st.button("Test connection", type="primary"):
    with st.spinner("Calling the model…"):
        try:
            completion = llm.check()
        except (LLMError, EmbeddedServerError) as exc:
            st.error(f"Connection failed: {exc}")
        else:
            st.success(
                f"Connected to {llm.endpoint()} (model {completion.model}): "
                f"{completion.latency_ms:.0f} ms, {completion.tokens_in} tokens in, "
                f"{completion.tokens_out} out."
            )
            st.text(f"Reply: {completion.text.strip()}")

st.subheader("Database")
usage = llm.usage()
st.table(
    {
        "setting": ["database", "schema version", "LLM calls recorded", "answered from cache",
                    "failed or invalid", "tokens in / out (not cached)"],
        "value": [f"{store.where} ({store.backend})", str(store.schema_version()), str(usage.calls),
                  str(usage.cache_hits), str(usage.errors), f"{usage.tokens_in} / {usage.tokens_out}"],
    }
)
