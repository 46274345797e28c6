"""Calls: the model calls of the project's jobs, searchable, and any one of them whole. Everything a model
or a designer wrote is shown as text."""

import streamlit as st

from views.shared.designer import current_project
from views.shared.services import services
from vt_core.core.jobs import list_jobs
from vt_core.core.llm import list_calls
from vt_core.core.text import escape_markdown

SHOWN = 200

store = services().store

st.title("Model calls")
st.caption("Every call the project's jobs made to the model: the messages sent, the reply, tokens, time and "
           "whether the cache answered. Search them, then open one.")
project = current_project(store)
if project is None:
    st.stop()

jobs = list_jobs(store, project_id=project.id, limit=SHOWN)
job = st.selectbox("Job", [None, *jobs], key="calls_job",
                   format_func=lambda j: "Every job of this project" if j is None else f"#{j.id} {j.title} ({j.status})")
search = st.text_input("Search the requests and replies", key="calls_search").strip()
chosen = [job] if job is not None else jobs
calls = list_calls(store, runs=[f"job:{j.id}" for j in chosen], search=search or None, limit=SHOWN)

spent = [j.usage for j in chosen]
st.caption(f"{sum(u.calls for u in spent):,} calls in {len(chosen)} job(s), {sum(u.cache_hits for u in spent):,} "
           f"from the cache; {sum(u.tokens_in for u in spent):,} tokens in, {sum(u.tokens_out for u in spent):,} out"
           + (f". Showing the {len(calls)} newest that match." if search or len(calls) == SHOWN else "."))
if not calls:
    st.info("No calls match." if search else "No calls yet: self-play, pattern tests and refinements make them.")
    st.stop()

st.dataframe(
    {"id": [c.id for c in calls], "when (UTC)": [f"{c.created_at:%Y-%m-%d %H:%M:%S}" for c in calls],
     "model": [c.model for c in calls], "status": [c.status for c in calls],
     "cache": ["yes" if c.cache_hit else "" for c in calls], "tokens in": [c.tokens_in for c in calls],
     "tokens out": [c.tokens_out for c in calls], "ms": [round(c.latency_ms) for c in calls],
     "attempts": [c.attempts for c in calls], "run": [c.run_id for c in calls],
     "reply": [(c.response or c.error or "")[:80] for c in calls]},
    hide_index=True, use_container_width=True)

shown = {c.id: c for c in calls}
call = shown[st.selectbox("Open call", list(shown), key="calls_open")]
st.subheader(f"Call {call.id}")
st.caption(escape_markdown(f"{call.backend} {call.endpoint}, model {call.model}, run {call.run_id}; {call.status}"
                           f"{', from the cache' if call.cache_hit else ''}; {call.tokens_in} tokens in, "
                           f"{call.tokens_out} out; {call.latency_ms:.0f} ms, {call.attempts} attempt(s)"))
for message in call.messages:
    st.caption(escape_markdown(str(message.get("role", ""))))
    st.text(str(message.get("content", "")))
st.caption("reply")
st.text(call.response or "")
if call.error:
    st.caption("error")
    st.text(call.error)
