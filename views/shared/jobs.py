"""Jobs on the pages: the progress of the job a page started (or of any job of its kind still running
for the project, so another tab, a refresh or a return to the page shows it too), with Cancel and
Resume, and the sidebar's list of running and recent jobs. Progress refreshes in a fragment, without
rerunning the page."""

from __future__ import annotations

import streamlit as st

from views.shared.services import services, show_errors
from vt_core.core.jobs import Job, cancel, count_jobs, get_job, list_jobs, resume
from vt_core.core.llm import Usage
from vt_core.core.text import escape_markdown

REFRESH_S = 1.0
_SHOWN = "vt_job_shown"  # session key: job id -> the status this session last saw


def current_job(kind: str, *, project_id: int | None = None, study_id: int | None = None) -> Job | None:
    """The job to show on a page: one of `kind` still running for the project or study (started in any
    tab), else the last one this session followed, so that its outcome shows when it ends, else the
    latest if its process stopped under it (it waits for Resume)."""
    store = services().store
    key = _followed(kind, project_id, study_id)
    jobs = list_jobs(store, project_id=project_id, study_id=study_id, kind=kind, limit=20)
    if running := [j for j in jobs if j.active]:
        st.session_state[key] = running[-1].id
        return running[-1]
    if key in st.session_state:
        return get_job(store, st.session_state[key])
    return jobs[0] if jobs and jobs[0].status == "interrupted" else None


def follow(job: Job) -> None:
    """Show `job` on its page in this session (the one a button just started)."""
    st.session_state[_followed(job.kind, job.project_id, job.study_id)] = job.id


def _followed(kind: str, project_id: int | None, study_id: int | None) -> str:
    return f"vt_job:{kind}:{project_id}:{study_id}"


def job_panel(job: Job, key: str) -> None:
    """The job's progress while it runs, refreshed every second; when it ends, its outcome and, for an
    interrupted or failed job, Resume."""
    if job.active:
        _live(job.id, key)
        return
    _outcome(job, key)


@st.fragment(run_every=REFRESH_S)
def _live(job_id: int, key: str) -> None:
    store = services().store
    job = get_job(store, job_id)
    if not job.active:
        st.rerun()  # the whole page, once: it shows the outcome and what the job made
    label = f"{job.title}: {job.stage or job.status}"
    if job.total:
        label += f", {job.done} of {job.total}"
    st.progress(job.done / job.total if job.total else 0.0, text=escape_markdown(label))
    usage = job.usage
    st.caption(escape_markdown(
        f"{usage.calls} model calls so far ({usage.cache_hits} from the cache){_on(usage)}. It runs on the server: "
        "you can leave this page or close the tab and come back."))
    if job.cancel_requested:
        st.caption("Cancelling: it stops before its next model call and keeps what finished.")
    elif st.button("Cancel", key=f"{key}_cancel_{job.id}"):
        cancel(store, job.id)
        st.rerun(scope="fragment")


def _outcome(job: Job, key: str) -> None:
    if job.status == "done":
        return  # the page shows what it made
    if job.status == "cancelled":
        st.info(escape_markdown(f"{job.title}: cancelled; what had finished is kept."))  # a title may quote a file's name
    else:
        show_errors(RuntimeError(f"{job.title}: {job.status}. {job.error or ''}"))  # a line each, escaped
        if st.button("Resume", key=f"{key}_resume_{job.id}",
                     help="Run it again with the same settings; calls that had finished come from the cache."):
            resume(services().store, job.id)
            st.rerun()


def ended_once(job: Job) -> bool:
    """Whether this session sees `job` ended for the first time (to say so once, e.g. in a flash)."""
    shown = st.session_state.setdefault(_SHOWN, {})
    first = not job.active and shown.get(job.id) != job.status
    shown[job.id] = job.status
    return first


def jobs_sidebar() -> None:
    """Running and recent jobs, with their progress and cost so far; while any runs, the list refreshes
    itself every few seconds."""
    total, active = count_jobs(services().store)
    if total:
        with st.sidebar:
            (_jobs_live if active else _jobs_list)()


def _jobs_list() -> None:
    jobs = list_jobs(services().store, limit=8)
    running = sum(j.active for j in jobs)
    with st.expander(f"Jobs ({running} running)" if running else "Jobs", expanded=bool(running)):
        for job in jobs:
            progress = f", {job.done}/{job.total}" if job.total and job.active else ""
            usage = job.usage
            st.caption(escape_markdown(f"#{job.id} {job.title}: {job.status}{progress}; {usage.calls} calls"
                                       f"{_on(usage)}, {usage.tokens_in:,} tokens in, {usage.tokens_out:,} out"))


def _on(usage: Usage) -> str:
    return f" to {usage.model}" if usage.model else ""


_jobs_live = st.fragment(run_every=2 * REFRESH_S)(_jobs_list)
