import streamlit as st

from views.shared.designer import current_project, log_session_event, save_version, session_llm
from views.shared.services import demo_notice, flash, services, show_flash
from vt_core.core.llm import estimate_tokens
from vt_core.core.text import escape_markdown
from vt_core.designer import (
    PATTERN_KINDS,
    ChatSettings,
    ReplyFailed,
    add_message,
    add_pattern,
    current_version,
    get_version,
    list_patterns,
    new_playground_chat,
    playground_chat,
    stream_reply,
)

app = services()

store, llm = app.store, app.llm

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

prompt_key = f"pg_prompt_{pid}"
if (reset := st.session_state.pop(f"pg_reset_{pid}", None)) is not None or prompt_key not in st.session_state:
    st.session_state[prompt_key] = get_version(store, reset).text if reset else current.text
chat = playground_chat(store, pid)


def reply(shown) -> None:
    """Stream the bot's reply into `shown` as plain text (never Markdown); on failure, say why."""
    text = ""
    try:
        for piece in stream_reply(store, session_llm(llm), chat, prompt, chat_settings):
            text += piece
            shown.text(text)
    except ReplyFailed as exc:
        st.session_state[f"pg_error_{pid}"] = f"The bot did not answer: {escape_markdown(exc)}" + (
            f"\n\nYour message was: {escape_markdown(exc.message)}" if exc.message else "")
    st.rerun()


prompt_col, chat_col = st.columns([5, 6], gap="large")

with prompt_col:
    st.subheader("System prompt")
    prompt = st.text_area("System prompt", key=prompt_key, height=420, label_visibility="collapsed",
                          persist_state="session")
    edited = prompt != current.text
    st.caption(f"About {estimate_tokens(prompt)} tokens. "
               + (f"Edited: differs from the current version, v{current.number}." if edited
                  else f"Same as the current version, v{current.number}."))
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
                flash(f"Noted pattern P{noted.number}.")
                st.rerun()
    noted_patterns = list_patterns(store, pid, status="accepted")
    if noted_patterns:
        with st.expander(f"Accepted patterns ({len(noted_patterns)})"):
            for p in noted_patterns:
                st.text(f"{p.kind.upper():5}  {p.statement}")

with chat_col:
    st.subheader("Chat")
    st.caption("The bot answers under the prompt on the left, as it is now, saved or not. "
               "Each reply keeps the settings it was made with.")
    temperature_key, max_tokens_key = f"pg_temperature_{pid}", f"pg_max_tokens_{pid}"
    for key, value in ((temperature_key, chat.settings().temperature), (max_tokens_key, chat.settings().max_tokens)):
        st.session_state.setdefault(key, value)  # a reloaded chat goes on with its own settings
    left, right = st.columns(2)
    left.slider("Temperature", *ChatSettings.TEMPERATURE_RANGE, step=0.05, key=temperature_key,
                help="Higher: more varied replies; 0: the most likely reply.")
    right.number_input("Maximum length (tokens)", *ChatSettings.MAX_TOKENS_RANGE, step=16, key=max_tokens_key,
                       help="The reply stops at this many tokens.")
    chat_settings = ChatSettings(st.session_state[temperature_key], st.session_state[max_tokens_key])
    messages = st.container(height=520, border=True)
    message = st.chat_input("Write to the bot", key=f"pg_input_{pid}")
    if error := st.session_state.pop(f"pg_error_{pid}", None):
        st.error(error)
    left, right = st.columns(2)
    clear = left.button("Clear the chat", key=f"pg_clear_{pid}", disabled=not chat.turns,
                        help="Start a new chat; this one stays in the database.")
    again = right.button("Another reply", key=f"pg_again_{pid}", disabled=not chat.turns,
                         help="Ask for a different last reply (or for one to a message left unanswered).")
    if clear:
        new_playground_chat(store, pid)
        st.rerun()
    if message:
        chat = add_message(store, pid, message)
    with messages:
        if not chat.turns:
            st.caption("No messages yet.")
        replaced = again and chat.turns[-1].role == "assistant"  # another reply takes the last one's place
        for turn in chat.turns[:-1] if replaced else chat.turns:
            with st.chat_message(turn.role):
                st.text(turn.content)  # model output as plain text, never Markdown or HTML
                if turn.settings:
                    st.caption(turn.settings.describe())
        if message or again:
            with st.chat_message("assistant"):
                shown = st.empty()
                shown.caption("The bot is writing…")
                st.caption(chat_settings.describe())
                reply(shown)
