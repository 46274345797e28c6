"""What every page shares: the process-wide store and LLM, and the demo-model notice."""

from pathlib import Path

import streamlit as st

from vt_core.access import login_mode, loopback_only, password_matches
from vt_core.config import ConfigError, Settings
from vt_core.llm import LLM
from vt_core.monitor import ExclusionRules
from vt_core.projects import Project, ProjectError, PromptVersion, add_version, list_projects
from vt_core.sessions import log_event
from vt_core.sessions import run_id as session_run_id
from vt_core.store import Store, StoreError
from vt_core.userstudy import Participant, Step, UserStudyError, participant_by_token, resume


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


# -- the designer pages ------------------------------------------------------------------------

_PROJECT = "vt_project_id"  # the chosen project; a plain key, so it outlives page switches
_PROJECT_WIDGET = "project_select"
_SESSION = "vt_study_session"
_TASK_PROJECT = "vt_task_project"  # while a participant's task runs: the one project they work in
_FLASH = "vt_flash"


def choose_project(project_id: int) -> None:
    """Make `project_id` the chosen project (e.g. right after creating it)."""
    st.session_state[_PROJECT] = project_id


def _remember_project() -> None:
    st.session_state[_PROJECT] = st.session_state[_PROJECT_WIDGET]


def current_project(store: Store, *, hint: bool = True) -> Project | None:
    """The project chosen in the sidebar (every designer page shares the choice), or None.

    Widget state belongs to one page under st.navigation, so the choice lives under a key of its
    own and the selectbox is set from it on each page.
    """
    projects = {p.id: p for p in list_projects(store)}
    if (own := st.session_state.get(_TASK_PROJECT)) in projects:  # a participant's task: its project only
        projects = {own: projects[own]}
    if not projects:
        if hint:
            st.info("No project yet. Create one on the **Projects** page.")
            st.page_link("views/designer_projects.py", label="Go to Projects")
        return None
    chosen = st.session_state.get(_PROJECT)
    if chosen not in projects:
        chosen = next(iter(projects))
    st.session_state[_PROJECT] = chosen
    st.session_state[_PROJECT_WIDGET] = chosen
    st.sidebar.selectbox("Project", list(projects), format_func=lambda i: projects[i].name,
                         key=_PROJECT_WIDGET, on_change=_remember_project)
    return projects[chosen]


def study_session() -> str | None:
    """The user-study session this browser tab works in, if any.

    A study link opens the app with `?session=ID`; the id is remembered for the rest of the visit
    (query parameters are cleared when the user moves to another page) and a 'started' event is
    logged the first time it is seen.
    """
    session_id = (st.query_params.get("session") or "").strip()
    if session_id and st.session_state.get(_SESSION) != session_id:
        st.session_state[_SESSION] = session_id
        _, store, _ = platform()
        log_event(store, session_id, "started")
    return st.session_state.get(_SESSION)


def session_llm(llm: LLM) -> LLM:
    """The LLM to use for the designer's own calls: inside a study session, its calls count
    towards the session's measures."""
    session_id = st.session_state.get(_SESSION)
    return llm.for_run(session_run_id(session_id)) if session_id else llm


def log_session_event(kind: str, *, project_id: int | None = None, **detail) -> None:
    """Log a study measure, when this tab works inside a study session."""
    session_id = st.session_state.get(_SESSION)
    if session_id:
        _, store, _ = platform()
        log_event(store, session_id, kind, project_id=project_id, **detail)


def stage_progress(bar):
    """A progress callback (stage, done, total) for an st.progress bar, as refinement and tuning report."""
    return lambda stage, done, total: bar.progress(done / total if total else 0.0, text=f"{stage} ({done}/{total})")


def flash(message: str) -> None:
    """A success message to show after the next st.rerun()."""
    st.session_state[_FLASH] = message


def show_flash() -> None:
    message = st.session_state.pop(_FLASH, None)
    if message:
        st.success(message)


def status_buttons(prefix: str, item_id: int, current: str) -> str | None:
    """Accept, Save edit and Reject, inside a pattern's form: the status to give the pattern
    ("accepted", `current` for an edit, "rejected"), or None when none was pressed."""
    accept, save, reject = st.columns(3)
    accepted = accept.form_submit_button("Accept", key=f"{prefix}_accept_{item_id}")
    saved = save.form_submit_button("Save edit", key=f"{prefix}_save_{item_id}")
    rejected = reject.form_submit_button("Reject", key=f"{prefix}_reject_{item_id}")
    return "accepted" if accepted else "rejected" if rejected else current if saved else None


def save_version(store: Store, project_id: int, text: str, rationale: str, make_current: bool,
                 page: str) -> PromptVersion | None:
    """Save the designer's prompt as a new version: logged for a study session, announced after
    the rerun; on a bad prompt, say why and return None (the editor keeps the text)."""
    try:
        saved = add_version(store, project_id, text, author="designer", rationale=rationale.strip(),
                            make_current=make_current)
    except ProjectError as exc:
        st.error(f"Cannot save the version: {exc}.")
        return None
    log_session_event("version_saved", project_id=project_id, version_id=saved.id, page=page)
    flash(f"Saved version v{saved.id}" + (" as the current prompt." if make_current else "."))
    return saved


# -- study files -------------------------------------------------------------------------------


def show_errors(exc: Exception) -> None:
    """An error whose message lists one problem per line (a study file's fields, a CSV's rows):
    one st.error each."""
    for line in str(exc).splitlines():
        if line.strip():
            st.error(line)


STUDIES_DIR = Path(__file__).resolve().parent.parent / "studies"


def study_file_picker(prefix: str, label: str, files: list) -> tuple:
    """(a file of the studies/ folder, or an uploaded TOML file): one of the two is None."""
    source = st.radio("Source", ["studies/ folder", "upload"], horizontal=True, key=f"{prefix}_source")
    if source == "studies/ folder":
        return st.selectbox(label, files, format_func=lambda p: p.name, key=f"{prefix}_file"), None
    return None, st.file_uploader(f"{label} (TOML)", type=["toml"], key=f"{prefix}_upload")


# -- exclusion rules (monitor and statistics) -------------------------------------------------


def exclusion_rules(prefix: str) -> ExclusionRules:
    """The rules chosen with exclusion_controls(prefix); the defaults before those render."""
    get = st.session_state.get
    return ExclusionRules(
        exclude_failed_attention=get(f"{prefix}_attention", True),
        max_too_fast_share=get(f"{prefix}_fast_share", 0.25) if get(f"{prefix}_fast") else None,
        max_gold_miss_share=get(f"{prefix}_gold_share", 0.5) if get(f"{prefix}_gold") else None,
    )


def exclusion_controls(prefix: str) -> ExclusionRules:
    """The researcher's exclusion rules, as widgets keyed by `prefix`; excluded raters stay in the data."""
    get = st.session_state.get
    attention, fast, gold = st.columns(3)
    attention.checkbox("Exclude raters who failed an attention check", value=True, key=f"{prefix}_attention")
    fast.checkbox("Exclude raters with too many too-fast ratings", value=False, key=f"{prefix}_fast")
    fast.number_input("Largest share of too-fast ratings", 0.0, 1.0, 0.25, step=0.05, key=f"{prefix}_fast_share",
                      disabled=not get(f"{prefix}_fast"))
    gold.checkbox("Exclude raters who missed too many gold items", value=False, key=f"{prefix}_gold")
    gold.number_input("Largest share of gold items missed (more than one point off)", 0.0, 1.0, 0.5, step=0.05,
                      key=f"{prefix}_gold_share", disabled=not get(f"{prefix}_gold"))
    return exclusion_rules(prefix)


# -- the rater side ----------------------------------------------------------------------------

RATER_LINK = "vt_rater_link"  # the study link's parameters, once this browser session opened one
_MARKDOWN_SPECIALS = set("\\`*_{}[]()#+-.!|<>$~:=^")


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


# -- the participant side (user studies, in the lab) --------------------------------------------

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
    _, store, _ = platform()
    try:
        participant = participant_by_token(store, st.session_state.get(PARTICIPANT_LINK, ""))
    except UserStudyError:
        found = None
    else:
        found = participant, resume(store, participant)
    record = found[1].record if found and found[1].kind == "task" else None
    if record is None:
        st.session_state.pop(_SESSION, None)
        st.session_state.pop(_TASK_PROJECT, None)
    else:
        st.session_state[_SESSION] = record.session_id
        st.session_state[_TASK_PROJECT] = st.session_state[_PROJECT] = record.project_id
    return found


@st.fragment(run_every=15)
def _time_left(step: Step) -> None:
    left = step.seconds_left()
    if not left:
        st.rerun()  # the whole app: resume() ends the task at its limit and the questionnaire follows
    st.caption(f"Time left: {int(left // 60)} min {int(left % 60):02d} s")


def task_sidebar(step: Step) -> None:
    """The running task, on every page: its title, the time left, and where to finish it."""
    st.sidebar.markdown(f"**Task {step.position} of {step.of}:** {plain(step.task.title)}")
    with st.sidebar:
        _time_left(step)
    st.sidebar.page_link("views/participant.py", label="Your task: the brief, and Finish task")


def plain(text: str) -> str:
    """Text for a place where Streamlit renders Markdown (widget labels, options): every Markdown
    character escaped, so study-provided text shows exactly as written."""
    return "".join("\\" + c if c in _MARKDOWN_SPECIALS else c for c in str(text))


def _secrets() -> dict:
    try:
        return st.secrets.to_dict()
    except FileNotFoundError:  # no secrets.toml: StreamlitSecretNotFoundError is one
        return {}


def refuse_an_open_server_without_login() -> None:
    """With no login configured, serve nobody, raters included, if other machines can reach
    this server: a study cannot be opened to the network without a login."""
    address = st.get_option("server.address")
    if login_mode(_secrets()) is None and not loopback_only(address):
        st.error(f"No login is configured, and this server listens on {address or 'every interface'}, so anyone "
                 "who can reach it could open the designer and researcher pages. Configure a login in "
                 ".streamlit/secrets.toml (see README, \"Access\"), or run with --server.address 127.0.0.1.")
        st.stop()


def staff_gate() -> None:
    """Stop the script unless this visitor may see the designer and researcher pages."""
    secrets = _secrets()
    mode = login_mode(secrets)
    if mode == "oidc":
        if not st.user.is_logged_in:
            st.title("Visionary Tuning")
            st.button("Log in", type="primary", on_click=st.login, key="staff_login")
            st.stop()
        st.sidebar.button("Log out", on_click=st.logout, key="staff_logout")
    elif mode == "password":
        if not st.session_state.get("vt_staff"):
            st.title("Visionary Tuning")
            with st.form("staff_login"):
                given = st.text_input("Password", type="password", key="staff_password")
                if st.form_submit_button("Log in", type="primary", key="staff_login_submit"):
                    if password_matches(str(secrets["staff"]["password"]), given):
                        st.session_state["vt_staff"] = True
                        st.rerun()
                    st.error("Wrong password.")
            st.stop()
    else:
        st.sidebar.caption("No login configured: this server listens on this machine only.")
