"""Links that make a browser session someone's: a rater's study link (the rater page is then the only
page) and a user-study participant's link (their task and its condition's pages), remembered for
the session and kept in the URL so a refresh resumes."""

import streamlit as st

from views.shared.designer import enter_task, leave_task
from views.shared.services import services
from vt_core.core.text import escape_markdown
from vt_core.userstudy import Participant, Step, UserStudyError, participant_by_token, resume

RATER_LINK = "vt_rater_link"  # the study link's parameters, once this browser session opened one


def remember_rater_link() -> bool:
    """Whether this browser session is a rater's: it opened a study link (`?study=TOKEN`), now or
    earlier in the session. The link's parameters are kept, so that a rater who edits the URL
    still gets the rater page for their own study and identity."""
    params = st.query_params.to_dict()
    if params.get("study"):
        st.session_state[RATER_LINK] = params
    return RATER_LINK in st.session_state


def rater_link() -> dict[str, str]:
    """The study link's parameters: from the URL, else the ones this session opened (put back into
    the URL, so a refresh keeps them). Empty when the page was opened without a study link."""
    params = st.query_params.to_dict()
    if params.get("study"):
        st.session_state[RATER_LINK] = params
        return params
    remembered = st.session_state.get(RATER_LINK)
    if remembered:
        st.query_params.from_dict(remembered)
        return dict(remembered)
    return {}


def keep_in_rater_link(name: str, value: str) -> None:
    """Add a parameter to the rater's URL (and to the remembered link)."""
    st.query_params[name] = value
    if RATER_LINK in st.session_state:
        st.session_state[RATER_LINK] = {**st.session_state[RATER_LINK], name: value}



PARTICIPANT_LINK = "vt_participant_link"  # the participant token, once this browser session opened a link


def remember_participant_link() -> bool:
    """Whether this browser session is a participant's: it opened `?participant=TOKEN`, now or
    earlier. The token is put back into the URL on every page, so a refresh resumes."""
    token = (st.query_params.get("participant") or "").strip()
    if token:
        st.session_state[PARTICIPANT_LINK] = token
    token = st.session_state.get(PARTICIPANT_LINK)
    if token and st.query_params.get("participant") != token:
        st.query_params["participant"] = token
    return bool(token)


def participant_step() -> tuple[Participant, Step] | None:
    """The participant of this session and their step, from the database (None for a link that
    names nobody). While a task runs, the designer pages log to its study session and show only
    its project; otherwise neither."""
    store = services().store
    try:
        participant = participant_by_token(store, st.session_state.get(PARTICIPANT_LINK, ""))
    except UserStudyError:
        found = None
    else:
        found = participant, resume(store, participant)
    record = found[1].record if found and found[1].kind == "task" else None
    if record is None:
        leave_task()
    else:
        enter_task(record.session_id, record.project_id)
    return found


@st.fragment(run_every=15)
def _time_left(step: Step) -> None:
    left = step.seconds_left()
    if not left:
        st.rerun()  # the whole app: resume() ends the task at its limit and the questionnaire follows
    st.caption(f"Time left: {int(left // 60)} min {int(left % 60):02d} s")


def task_sidebar(step: Step) -> None:
    """The running task, on every page: its title, the time left, and where to finish it."""
    st.sidebar.markdown(f"**Task {step.position} of {step.of}:** {escape_markdown(step.task.title)}")
    with st.sidebar:
        _time_left(step)
    st.sidebar.page_link("views/participant/task.py", label="Your task: the brief, and Finish task")

