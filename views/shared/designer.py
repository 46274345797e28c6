"""What the designer pages share: the chosen project, the user-study session a tab works in (its
measures are logged as events), the pattern status buttons and saving a prompt version."""

import streamlit as st

from views.shared.services import flash, services
from vt_core.core.llm import LLM
from vt_core.core.store import Store
from vt_core.core.text import escape_markdown
from vt_core.designer import Project, ProjectError, PromptVersion, add_version, list_projects, log_event, session_run_id

_PROJECT = "vt_project_id"  # the chosen project; a plain key, so it outlives page switches
_PROJECT_WIDGET = "project_select"
_SESSION = "vt_study_session"
_TASK_PROJECT = "vt_task_project"  # while a participant's task runs: the one project they work in


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
            st.page_link("views/designer/projects.py", label="Go to Projects")
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
        store = services().store
        log_event(store, session_id, "started")
    return st.session_state.get(_SESSION)


def session_run() -> str | None:
    """The LLM run of this tab's study session, if it works inside one: its calls (a job's too) count
    towards the session's measures."""
    session_id = st.session_state.get(_SESSION)
    return session_run_id(session_id) if session_id else None


def session_llm(llm: LLM) -> LLM:
    """The LLM to use for the designer's own calls: inside a study session, its calls count
    towards the session's measures."""
    run = session_run()
    return llm.for_run(run) if run else llm


def log_session_event(kind: str, *, project_id: int | None = None, **detail) -> None:
    """Log a study measure, when this tab works inside a study session."""
    session_id = st.session_state.get(_SESSION)
    if session_id:
        store = services().store
        log_event(store, session_id, kind, project_id=project_id, **detail)


def enter_task(session_id: str, project_id: int) -> None:
    """A participant's task runs: the designer pages log to its study session and show only its project."""
    st.session_state[_SESSION] = session_id
    st.session_state[_TASK_PROJECT] = st.session_state[_PROJECT] = project_id


def leave_task() -> None:
    st.session_state.pop(_SESSION, None)
    st.session_state.pop(_TASK_PROJECT, None)


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
        st.error(f"Cannot save the version: {escape_markdown(exc)}.")
        return None
    log_session_event("version_saved", project_id=project_id, version_id=saved.id, page=page)
    flash(f"Saved version v{saved.number}" + (" as the current prompt." if make_current else "."))
    return saved

