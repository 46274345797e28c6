"""The rater's screen for a side-by-side study: the two conversations of one item next to each other (Left and
Right; Streamlit stacks the columns on a narrow screen), then the questions (Left / About the same / Right)
and an optional reason, in one form. views/rater/rate.py calls `rate_pair` for the item it leased; everything
else (consent, progress, the end) stays there. Conversation text is plain text (st.text), never Markdown.
"""

from __future__ import annotations

import streamlit as st

from vt_core.core.store import Store
from vt_core.core.text import escape_markdown
from vt_core.crowd import REASON_MAX_CHARS, item_pair, submit

ROLE_NAMES = {"user": "User", "assistant": "Chatbot"}


def show_conversation(side: str, turns) -> None:
    st.subheader(side, anchor=False)
    for turn in turns:
        with st.chat_message("user" if turn.role == "user" else "assistant"):
            st.caption(ROLE_NAMES.get(turn.role, "Chatbot"))
            st.text(turn.content)


def show_pair(store: Store, item) -> None:
    """A pair's two conversations, Left and Right (one above the other on a narrow screen)."""
    pair = item_pair(store, item.id)
    left, right = st.columns(2, border=True)
    with left:
        show_conversation("Left", pair.left.turns)
    with right:
        show_conversation("Right", pair.right.turns)


def rate_pair(store: Store, rater, item, definition, notice_key: str) -> None:
    """Show a leased side-by-side item (a pair, or an attention check in its place) and its form; the
    form's callback stores the choices and the reason before the page is drawn again."""
    if item.kind == "regular":
        show_pair(store, item)
    else:  # an attention check: an instruction in place of the conversations
        with st.container(border=True):
            st.caption("Instruction")
            st.text("\n".join(turn.content for turn in item.turns))
    keys = {d.key: f"choice-{item.id}-{d.key}" for d in definition.dimensions}
    reason_key = f"reason-{item.id}"

    def send() -> None:
        values = {key: st.session_state.get(widget) for key, widget in keys.items()}
        if any(v is None for v in values.values()):
            st.session_state[notice_key] = "Please answer every question before you continue."
            return
        try:
            result = submit(store, rater.id, item.id, values, min_seconds=definition.min_seconds_per_item,
                            expected=item.expected if item.kind == "attention" else None,
                            k=definition.ratings_per_item, reason=st.session_state.get(reason_key))
        except ValueError:  # e.g. another tab of this rater has just finished
            return
        if result.reason in ("lease_lost", "full"):
            st.session_state[notice_key] = ("The time for that pair ran out and it went to another rater, so "
                                            "your answer was not stored. Here is the next one.")
        for key in [*keys.values(), reason_key]:
            st.session_state.pop(key, None)

    with st.form(f"pair-{item.id}"):
        if definition.instructions and any(d.show_instructions for d in definition.dimensions):
            st.text("Instructions the chatbot was given:")
            st.text("\n".join(f"• {line}" for line in definition.instructions))
        for dimension in definition.dimensions:
            st.text(dimension.question)
            labels = dimension.labels
            st.radio(escape_markdown(dimension.question), range(1, len(labels) + 1),
                     format_func=lambda v, labels=labels: escape_markdown(labels[v - 1]), index=None,
                     horizontal=True, key=keys[dimension.key], label_visibility="collapsed")
        st.text_area("Why? A short reason (optional)", max_chars=REASON_MAX_CHARS, key=reason_key, height=80)
        st.form_submit_button("Submit and continue", type="primary", on_click=send)
