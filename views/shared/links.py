"""Links that make a browser someone's: a rater's study link (the rater page is then the only page) and a
user-study participant's link (their task and its condition's pages).

A link confines the browser that opened it, not only the session: it is kept in st.session_state and in a
cookie (vt_link) signed with a key of this server (vt_core.core.access), so a reload, a typed URL or a new
tab of that browser comes back to the link's pages, never to the staff pages, until the cookie expires
(a day after the link was opened) or the staff leave it through `?staff` and the staff login. Streamlit
reads cookies only from the request that opened the session (st.context.cookies), and sets none: a
hidden st.html script writes the cookie in the browser."""

import time

import streamlit as st
from streamlit import config

from views.shared.access import STAFF, password_form, secrets
from views.shared.designer import enter_task, leave_task
from views.shared.services import services
from vt_core.core.access import (
    LINK_COOKIE,
    LINK_MAX_AGE_S,
    Link,
    LinkKey,
    link_key,
    link_params,
    login_mode,
    rater_link_choice,
    read_link,
    sign_link,
)
from vt_core.core.text import escape_markdown
from vt_core.crowd import identity_from_params
from vt_core.userstudy import Participant, Step, UserStudyError, participant_by_token, resume

LINK = "vt_link"  # the Link this browser session goes on with
_LEFT = "vt_link_left"  # the staff left the link in this session: the cookie the session opened with is void
_SET_ASIDE = "vt_link_set_aside"  # the address bar's study link was set aside for the remembered one
KEY_FILE = "link-cookie.key"  # beside the database, made on first use


@st.cache_resource(show_spinner=False)
def _key() -> LinkKey:
    shared = st.get_option("server.cookieSecret") if config.is_manually_set("server.cookieSecret") else None
    return link_key(services().settings.db_path.parent / KEY_FILE, shared)


def _cookie_link() -> Link | None:
    """The link in the cookie this browser sent when the session opened, if this server signed it."""
    value = st.context.cookies.get(LINK_COOKIE)
    if not value or st.session_state.get(_LEFT):
        return None
    return read_link(_key().secret, value, time.time())


def _remembered() -> Link | None:
    return st.session_state.get(LINK) or _cookie_link()


def _write_cookie(assignment: str) -> None:
    """Set a cookie in the browser with a hidden script (the element is taken out of the layout)."""
    st.html('<span class="vt-link-cookie"></span><style>[data-testid="stElementContainer"]:has(.vt-link-cookie)'
            '{display:none}</style><script>document.cookie = "' + assignment + '; Path=/; SameSite=Lax" + '
            '(location.protocol === "https:" ? "; Secure" : "");</script>', unsafe_allow_javascript=True)


def _keep(link: Link) -> None:
    """Go on with `link` in this session, and in this browser from now on (the cookie)."""
    st.session_state[LINK] = link
    st.session_state.pop(_LEFT, None)
    value = sign_link(_key().secret, link)  # base64url and a dot: safe in the script's string
    if st.context.cookies.get(LINK_COOKIE) != value:
        left = max(1, int(LINK_MAX_AGE_S - (time.time() - link.issued)))
        _write_cookie(f"{LINK_COOKIE}={value}; Max-Age={left}")


def _names_someone(params: dict[str, str] | None) -> bool:
    """Whether a study link's parameters identify a rater (so the browser is pinned to them)."""
    if not params:
        return False
    try:
        identity = identity_from_params(params, anonymous_id=params.get("rater") or None)
    except ValueError:
        return False
    return bool(identity.external_id) and not identity.preview and \
        (identity.platform != "anonymous" or bool(params.get("rater")))


def remember_rater_link() -> bool:
    """Whether this browser is a rater's: it opened a study link (`?study=TOKEN`), now or earlier. The
    rater page is then the only page, whatever the URL says. Editing the link cannot switch to another
    rater of the same study (see rater_link_choice); a link to another study replaces it; a participant
    link in the address bar is handled after the staff gate and replaces it there."""
    params = st.query_params.to_dict()
    if params.get("participant") and not params.get("study"):
        return False
    remembered = _remembered()
    mine = remembered.params if remembered is not None and remembered.kind == "rater" else None
    if not params.get("study"):
        if mine is None:
            return False
        _keep(remembered)
        return True
    chosen, set_aside = rater_link_choice(link_params("rater", params), mine, remembered_is_someone=_names_someone(mine))
    same_study = mine is not None and mine.get("study") == chosen.get("study")
    _keep(Link("rater", chosen, remembered.issued if same_study else int(time.time())))
    if set_aside:
        st.session_state[_SET_ASIDE] = True
    return True


def rater_link() -> dict[str, str]:
    """The study link's parameters this session goes on with (put back into the URL, so the address bar
    shows them and a refresh keeps them). Empty when the page was opened without a study link."""
    link = st.session_state.get(LINK)
    if link is None or link.kind != "rater":
        return {}
    if st.session_state.pop(_SET_ASIDE, False):
        st.warning("The address in your browser is not the study link this browser opened (a parameter was "
                   "changed or removed). You go on with the link you opened, and only your own conversations. "
                   "If you were sent a new link for this study, please contact the researcher.")
    if st.query_params.to_dict() != link.params:
        st.query_params.from_dict(link.params)
    return dict(link.params)


def keep_in_rater_link(name: str, value: str) -> None:
    """Add a parameter to the rater's URL and to the remembered link."""
    st.query_params[name] = value
    link = st.session_state.get(LINK)
    if link is not None and link.kind == "rater":
        _keep(Link("rater", link_params("rater", {**link.params, name: value}), link.issued))


def remember_participant_link() -> bool:
    """Whether this browser is a participant's: it opened `?participant=TOKEN`, now or earlier (a new
    participant link replaces the one before). The token is put back into the URL on every page."""
    token = (st.query_params.get("participant") or "").strip()
    remembered = _remembered()
    if token:
        params = link_params("participant", {"participant": token})
        same = remembered is not None and remembered.kind == "participant" and remembered.params == params
        _keep(Link("participant", params, remembered.issued if same else int(time.time())))
    elif remembered is not None and remembered.kind == "participant":
        _keep(remembered)
    else:
        return False
    token = st.session_state[LINK].params.get("participant", "")
    if st.query_params.get("participant") != token:
        st.query_params["participant"] = token
    return True


def staff_way_out() -> None:
    """`?staff` in a browser that a link confines: the staff log in, afresh, to leave the link (the
    cookie is deleted; this session then shows the staff pages). With no login configured there is no
    way out here: anybody at the browser could take it. Raters who try it stay on their link."""
    if st.session_state.get(_LEFT) and LINK_COOKIE in st.context.cookies:
        _write_cookie(f"{LINK_COOKIE}=; Max-Age=0")  # every run of this session, until a reload drops it
    if "staff" not in st.query_params or _remembered() is None:
        return
    mode = login_mode(secrets())
    st.title("Visionary Tuning")
    if mode is None:
        st.info("This browser opened a study or participant link, so it shows only that link's pages. No staff "
                "login is configured on this server, so the link cannot be left from here (see README, \"Access\").")
        st.stop()
    st.text("This browser opened a study or participant link, so it shows only that link's pages. "
            "Staff: log in to leave it.")
    if mode == "oidc":
        if not st.user.is_logged_in:
            st.button("Log in", type="primary", on_click=st.login, key="staff_leave_login")
            st.stop()
    elif password_form("staff_leave", "staff_leave_password", "staff_leave_submit"):
        st.session_state[STAFF] = True
    else:
        st.stop()
    for name in (LINK, _SET_ASIDE):
        st.session_state.pop(name, None)
    st.session_state[_LEFT] = True
    leave_task()
    st.query_params.clear()
    st.rerun()


def participant_step() -> tuple[Participant, Step] | None:
    """The participant of this session and their step, from the database (None for a link that
    names nobody). While a task runs, the designer pages log to its study session and show only
    its project; otherwise neither."""
    store = services().store
    link = st.session_state.get(LINK)
    token = link.params.get("participant", "") if link is not None and link.kind == "participant" else ""
    try:
        participant = participant_by_token(store, token)
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

