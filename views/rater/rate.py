"""The rater page: one page, reached only through a study link (`?study=TOKEN` plus the platform's
identity parameters).

Everything a rater does is kept in the database (vt_core.crowd.assignment), never in session_state: a
refresh, a closed and reopened link or a second tab finds the same rater, status, item and
progress. Study-provided and model text is shown as plain text (st.text, or escaped where
Streamlit renders Markdown). Condition names are never shown.
"""

from html import escape

import streamlit as st

from views.rater.side_by_side import rate_pair, show_pair
from views.shared.links import keep_in_rater_link, rater_link
from views.shared.services import services
from vt_core.core.text import escape_markdown
from vt_core.crowd import (
    StudyError,
    StudyFull,
    check_platform,
    completion_url,
    end_early,
    ended_early,
    finish,
    get_study_by_token,
    identity_from_params,
    list_items,
    next_item,
    rater_progress,
    record_comprehension,
    register_rater,
    room,
    set_rater_status,
    submit,
)

ANON_PARAM = "rater"  # the anonymous rater's id, put into the URL so a refresh resumes
_NOTICE = "vt_rater_notice"  # a message a click's callback leaves for the page it draws (this session only)

st.title("Rate conversations")

link = rater_link()
token = (link.get("study") or "").strip()
if not token:
    st.info("Raters reach this page through a study link, which opens the rating task for that "
            "study. Researchers find the link of an open study on the **Rating studies** page.")
    st.stop()

store = services().store
try:
    study = get_study_by_token(store, token)
except StudyError:
    st.error("This study link is not valid. Check that the whole link was copied, or contact the "
             "researcher who sent it.")
    st.stop()
if study.status != "open":
    st.error("This study is not open at the moment, so no ratings can be given. If you were sent "
             "here by a crowd platform, please return the task there.")
    st.stop()
definition = study.definition

try:
    identity = identity_from_params(link, anonymous_id=link.get(ANON_PARAM) or None)
    check_platform(identity, definition.platform)
except ValueError as exc:
    st.error("This study link is incomplete or malformed. Please reopen the task from the platform that sent you.")
    st.text(f"What is wrong: {exc}.")  # it quotes the link's own values: plain text, never Markdown
    st.stop()
if identity.platform == "anonymous" and link.get(ANON_PARAM) != identity.external_id:
    keep_in_rater_link(ANON_PARAM, identity.external_id)


def lines(text: str) -> None:
    st.text(text)


def show_instructions() -> None:
    st.text("Instructions the chatbot was given:")
    st.text("\n".join(f"• {line}" for line in definition.instructions))


def show_turns(turns) -> None:
    for turn in turns:
        with st.chat_message("user" if turn.role == "user" else "assistant"):
            st.text(turn.content)


def code_box(code: str) -> None:
    st.text("Your completion code:")
    st.code(code, language=None)


# -- MTurk preview: the task, read-only; nobody is registered ---------------------------------

if identity.preview:
    st.info("This is a preview of the task. Accept the HIT to start rating; nothing you see here "
            "is recorded.")
    st.subheader("Consent")
    lines(definition.consent_text)
    st.subheader("Instructions")
    lines(definition.instruction_text)
    sample = next(iter(list_items(store, study.id, kind="regular")), None)
    if sample is not None:
        st.subheader("An example conversation")
        if definition.side_by_side:
            show_pair(store, sample)
        else:
            show_turns(sample.turns)
        if any(d.show_instructions for d in definition.dimensions):
            show_instructions()
        for dimension in definition.dimensions:
            st.text(f"{dimension.question}  ({' / '.join(dimension.labels)})")
    st.stop()

conditions = [c.name for c in definition.conditions]
try:
    rater = register_rater(store, study.id, identity, conditions=conditions, max_active=definition.max_active_raters,
                           lease_minutes=definition.lease_minutes)
except StudyFull:
    st.info("The study is full right now: as many people as it can take are rating at the moment. Please "
            "try again in a few minutes, with the same link. Nothing has been recorded yet.")
    st.button("Try again", type="primary")
    st.stop()


if notice := st.session_state.pop(_NOTICE, None):
    st.warning(notice)

plan = {"items_per_rater": definition.items_per_rater, "k": definition.ratings_per_item}


def no_regular_item_now() -> bool:
    left = room(store, rater, **plan)
    return left.needed > 0 and left.now == 0


def nothing_left_for_now() -> None:
    """No item for this rater right now, before they are done: wait while other raters' leases
    may return items, else end early (the study has all the ratings it needs)."""
    if room(store, rater, **plan).later:
        st.info("Every conversation left for you is being rated by someone else right now. Some of them "
                "may come free in the next minutes: please wait a little, then check again.")
        st.button("Check again", type="primary")
        st.stop()
    end_early(store, rater)
    st.rerun()


# -- consent ------------------------------------------------------------------------------------

if rater.status in ("consent", "comprehension") and no_regular_item_now():
    nothing_left_for_now()  # full before they start: do not make them read the instructions

if rater.status == "consent":
    st.subheader("Consent")
    lines(definition.consent_text)
    agree, decline = st.columns(2)
    agree.button("I agree", type="primary", use_container_width=True, on_click=set_rater_status,
                 args=(store, rater.id, "comprehension"))
    decline.button("I do not agree", use_container_width=True, on_click=set_rater_status,
                   args=(store, rater.id, "screened_out"))
    st.stop()

# -- instructions and the comprehension check ---------------------------------------------------

if rater.status == "comprehension":
    check = definition.comprehension
    st.subheader("Instructions")
    lines(definition.instruction_text)
    if definition.instructions and any(d.show_instructions for d in definition.dimensions):
        show_instructions()
    st.subheader("A question before you start")
    if rater.comprehension_attempts:
        left = check.attempts - rater.comprehension_attempts
        st.warning(f"That answer was not right. Please read the instructions again; you have {left} "
                   f"attempt{'s' if left != 1 else ''} left.")
    st.text(check.question)
    answer_key = f"comprehension-{rater.comprehension_attempts}"

    def check_answer() -> None:
        answer = st.session_state.get(answer_key)
        if answer is None:
            st.session_state[_NOTICE] = "Please choose an answer."
        else:
            record_comprehension(store, rater.id, check.options[answer] == check.answer,
                                 attempts_allowed=check.attempts)

    with st.form(f"comprehension-form-{rater.comprehension_attempts}"):
        st.radio(escape_markdown(check.question), range(len(check.options)),
                 format_func=lambda i: escape_markdown(check.options[i]), index=None,
                 label_visibility="collapsed", key=answer_key)
        st.form_submit_button("Check my answer", type="primary", on_click=check_answer)
    st.stop()

# -- rating -------------------------------------------------------------------------------------

if rater.status == "rating":
    item = next_item(store, rater, lease_minutes=definition.lease_minutes, **plan)
    if item is None:
        done, total, _ = rater_progress(store, rater, **plan)
        if done < total:
            nothing_left_for_now()
        finish(store, rater)
        st.rerun()
    total = definition.items_in_all
    st.progress(min((item.position - 1) / total, 1.0), text=f"Conversation {min(item.position, total)} of {total}")
    if definition.side_by_side:
        rate_pair(store, rater, item, definition, _NOTICE)
        st.stop()

    show_turns(item.turns)
    keys = {d.key: f"rating-{item.id}-{d.key}" for d in definition.dimensions}

    def send(item=item) -> None:
        """The form's answers, stored before the page is drawn again: one script run per click."""
        values = {key: st.session_state.get(widget) for key, widget in keys.items()}
        if any(v is None for v in values.values()):
            st.session_state[_NOTICE] = "Please answer every question before you continue."
            return
        try:
            result = submit(store, rater.id, item.id, values, min_seconds=definition.min_seconds_per_item,
                            expected=item.expected if item.kind == "attention" else None,
                            k=definition.ratings_per_item)
        except ValueError:  # e.g. another tab of this rater has just finished
            return
        if result.reason in ("lease_lost", "full"):
            st.session_state[_NOTICE] = ("The time for that conversation ran out and it went to another rater, "
                                         "so your answer was not stored. Here is the next one.")
        for key in keys.values():
            st.session_state.pop(key, None)

    with st.form(f"rate-{item.id}"):
        for dimension in definition.dimensions:
            if dimension.show_instructions and definition.instructions:
                show_instructions()
            st.text(dimension.question)
            labels = dimension.labels
            st.radio(escape_markdown(dimension.question), range(1, len(labels) + 1),
                     format_func=lambda v, labels=labels: escape_markdown(labels[v - 1]), index=None,
                     horizontal=True, key=keys[dimension.key], label_visibility="collapsed")
        st.form_submit_button("Submit and continue", type="primary", on_click=send)
    st.stop()

# -- the end ------------------------------------------------------------------------------------

code = getattr(definition.completion_codes, rater.status)
full = ended_early(store, rater)
if rater.status == "completed":
    st.success("Thank you! You have finished the task."
               + (" The study had all the ratings it needed, so it ended early for you." if full else ""))
elif full:
    st.info("Thank you for your interest. The study already has all the ratings it needs, so there is "
            "nothing left for you to rate.")
elif rater.status == "screened_out":
    st.info("Thank you for your interest. You cannot take part in this study, so the task ends "
            "here.")
else:
    st.warning("The task has ended: too many of the check questions were answered differently "
               "from how they asked.")
code_box(code)
url = completion_url(rater.platform, code, rater.submit_to)
if rater.platform == "prolific":
    st.link_button("Return to Prolific", url, type="primary")
elif rater.platform == "mturk":
    # MTurk's externalSubmit wants a POST with assignmentId; the values are escaped attributes.
    st.html(f'<form method="POST" action="{escape(url)}">'
            f'<input type="hidden" name="assignmentId" value="{escape(rater.assignment_id or "")}">'
            f'<input type="hidden" name="completion_code" value="{escape(code)}">'
            '<button type="submit">Submit the HIT on MTurk</button></form>')
else:
    st.text("Give this code to the researcher who sent you the link.")
