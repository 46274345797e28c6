import streamlit as st

from views.shared.designer import current_project, log_session_event, save_version, session_llm
from views.shared.services import demo_notice, flash, services, show_flash
from vt_core.core.llm import EmbeddedServerError, LLMError, estimate_tokens
from vt_core.core.text import escape_markdown
from vt_core.designer import PATTERN_KINDS, Turn, add_pattern, bot_reply, current_version, get_version, list_patterns

app = services()

settings, store, llm = app.settings, app.store, app.llm

st.title("Playground")
st.caption("Edit the prompt, chat with the bot by hand, save versions and note patterns yourself. "
           "No self-play and no automatic refinement here.")
demo_notice(llm)
show_flash()
project = current_project(store)
if project is None:
    st.stop()
pid = project.id
current = current_version(store, pid)

prompt_key, chat_key, sample_key = f"pg_prompt_{pid}", f"pg_chat_{pid}", f"pg_sample_{pid}"
if (reset := st.session_state.pop(f"pg_reset_{pid}", None)) is not None or prompt_key not in st.session_state:
    st.session_state[prompt_key] = get_version(store, reset).text if reset else current.text
chat: list[Turn] = st.session_state.setdefault(chat_key, [])


def reply(prompt: str) -> None:
    """Ask the bot for its next message; on failure, take back the user's last message."""
    try:
        with st.spinner("The bot is writing…"):
            completion = bot_reply(session_llm(llm), prompt, chat, sample=st.session_state.get(sample_key, 0))
    except (LLMError, EmbeddedServerError) as exc:
        lost = chat.pop() if chat and chat[-1].role == "user" else None
        st.session_state[f"pg_error_{pid}"] = f"The bot did not answer: {escape_markdown(exc)}" + (
            f"\n\nYour message was: {escape_markdown(lost.content)}" if lost else "")
    else:
        chat.append(Turn("assistant", completion.text.strip()))


prompt_col, chat_col = st.columns([5, 6], gap="large")

with prompt_col:
    st.subheader("System prompt")
    prompt = st.text_area("System prompt", key=prompt_key, height=420, label_visibility="collapsed",
                          persist_state="session")
    edited = prompt != current.text
    st.caption(f"About {estimate_tokens(prompt)} tokens. "
               + (f"Edited: differs from the current version, v{current.id}." if edited
                  else f"Same as the current version, v{current.id}."))
    if st.button("Back to the current version", key=f"pg_reset_button_{pid}", disabled=not edited):
        st.session_state[f"pg_reset_{pid}"] = current.id
        st.rerun()

    with st.form(f"pg_save_{pid}"):
        st.markdown("**Save as a new version**")
        rationale = st.text_input("What changed and why", key=f"pg_rationale_{pid}")
        make_current = st.checkbox("Make it the current prompt", value=True, key=f"pg_make_current_{pid}")
        if st.form_submit_button("Save version", type="primary", key=f"pg_save_button_{pid}"):
            if save_version(store, pid, prompt, rationale, make_current, page="playground"):
                st.rerun()

    if st.session_state.pop(f"pg_pattern_clear_{pid}", False):
        st.session_state[f"pg_pattern_statement_{pid}"] = ""
    with st.form(f"pg_pattern_{pid}"):
        st.markdown("**Note a pattern**")
        kind = st.radio("Kind", PATTERN_KINDS, horizontal=True, key=f"pg_pattern_kind_{pid}",
                        format_func=lambda k: {"keep": "Keep: a behaviour to keep",
                                               "avoid": "Avoid: an anti-behaviour"}[k])
        statement = st.text_input("Statement", key=f"pg_pattern_statement_{pid}",
                                  placeholder="The bot asks about the user's mood before recommending.")
        if st.form_submit_button("Note pattern", key=f"pg_pattern_button_{pid}"):
            try:
                noted = add_pattern(store, pid, kind, statement, source="designer", status="accepted")
            except ValueError as exc:
                st.error(f"Cannot note the pattern: {escape_markdown(exc)}.")
            else:
                log_session_event("pattern_noted", project_id=pid, pattern_id=noted.id, page="playground")
                st.session_state[f"pg_pattern_clear_{pid}"] = True
                flash(f"Noted pattern #{noted.id}.")
                st.rerun()
    noted_patterns = list_patterns(store, pid, status="accepted")
    if noted_patterns:
        with st.expander(f"Accepted patterns ({len(noted_patterns)})"):
            for p in noted_patterns:
                st.text(f"{p.kind.upper():5}  {p.statement}")

with chat_col:
    st.subheader("Chat")
    st.caption("The bot answers under the prompt on the left, as it is now, saved or not.")
    messages = st.container(height=520, border=True)
    if message := st.chat_input("Write to the bot", key=f"pg_input_{pid}"):
        chat.append(Turn("user", message))
        st.session_state[sample_key] = 0
        reply(prompt)
    with messages:
        if not chat:
            st.caption("No messages yet.")
        for turn in chat:
            with st.chat_message(turn.role):
                st.text(turn.content)  # model output as plain text, never Markdown or HTML
    if error := st.session_state.pop(f"pg_error_{pid}", None):
        st.error(error)
    left, right = st.columns(2)
    if left.button("Clear the chat", key=f"pg_clear_{pid}", disabled=not chat):
        chat.clear()
        st.rerun()
    if right.button("Another reply", key=f"pg_again_{pid}", help="Ask for a different last reply.",
                    disabled=not chat or chat[-1].role != "assistant"):
        chat.pop()
        st.session_state[sample_key] = st.session_state.get(sample_key, 0) + 1
        reply(prompt)
        st.rerun()
