import streamlit as st

from views.shared.designer import current_project, log_session_event, session_llm, session_run, status_buttons
from views.shared.jobs import current_job, ended_once, follow, job_panel
from views.shared.services import demo_notice, flash, services, show_flash
from vt_core.core.llm import LLMError
from vt_core.core.text import escape_markdown
from vt_core.designer import (
    PATTERN_KINDS,
    add_pattern,
    list_patterns,
    merge_patterns,
    pattern_report,
    propose_patterns,
    submit_judging,
    update_pattern,
)

app = services()

store, llm = app.store, app.llm
st.title("Patterns")
demo_notice(llm)
show_flash()
project = current_project(store)
if project is None:
    st.stop()
st.caption("Behaviours to keep and anti-behaviours to avoid, each one checkable statement. Proposed from "
           "your marks on the Review page, tested by a judge against your own labels; accepted patterns "
           "steer refinement.")

propose, test = st.columns(2)
if propose.button("Propose patterns from my marks", type="primary", key="pt_propose"):
    with st.spinner("Reading your marks…"):
        try:
            new = propose_patterns(session_llm(llm), store, project.id)
        except (ValueError, LLMError) as exc:
            st.error(escape_markdown(exc))
        else:
            flash(f"New candidate patterns: {len(new)}. Test them to see how well the judge agrees with you.")
            st.rerun()
job = current_job("judge", project_id=project.id)
if test.button("Test patterns against my labels", key="pt_test", disabled=job is not None and job.active):
    follow(submit_judging(store, project.id, llm_run=session_run()))
    st.rerun()
if job is not None:
    if job.status == "done" and ended_once(job):
        st.success("Every candidate and accepted pattern was judged on your annotated transcripts.")
    job_panel(job, "pt")

KIND_NAMES = {"keep": "keep", "avoid": "avoid (anti-behaviour)"}
for status, heading in (("candidate", "Candidates"), ("accepted", "Accepted"), ("rejected", "Rejected")):
    shown = list_patterns(store, project.id, status=status)
    st.subheader(f"{heading} ({len(shown)})")
    for pattern in shown:
        report = pattern_report(store, pattern.id)
        kappa = "n/a" if report.kappa is None else f"{report.kappa:.2f}"
        with st.expander(f"P{pattern.number} · {pattern.kind.upper()} · {escape_markdown(pattern.statement)}"):
            st.markdown(
                f"Passes **{report.passed}** · fails **{report.failed}** · not applicable "
                f"**{report.not_applicable}** · agreement with your labels: kappa **{kappa}** "
                f"(transcripts compared: {report.agreement_n})")
            if report.evidence_for or report.evidence_against:
                st.caption(f"Transcripts where it passes: {', '.join(map(str, report.evidence_for)) or 'none'} · "
                           f"where it fails: {', '.join(map(str, report.evidence_against)) or 'none'}")
            with st.form(f"pt_edit_{pattern.id}"):
                statement = st.text_input("Statement", pattern.statement, key=f"pt_statement_{pattern.id}")
                kind = st.radio("Kind", PATTERN_KINDS, index=PATTERN_KINDS.index(pattern.kind), horizontal=True,
                                format_func=KIND_NAMES.get, key=f"pt_kind_{pattern.id}")
                action = status_buttons("pt", pattern.id, pattern.status)
            if action:
                try:
                    update_pattern(store, pattern.id, statement=statement, kind=kind, status=action)
                except ValueError as exc:
                    st.error(escape_markdown(exc))
                else:
                    if action == "accepted" and pattern.status != "accepted":
                        log_session_event("pattern_accepted", project_id=project.id, pattern_id=pattern.id)
                    st.rerun()
            with st.popover("Judge prompt"):
                st.text(pattern.judge_prompt)

live = [p for p in list_patterns(store, project.id) if p.status in ("candidate", "accepted")]
if len(live) >= 2:
    st.subheader("Merge")
    with st.form("pt_merge"):
        names = {p.id: f"P{p.number} {p.statement}" for p in live}
        keep = st.selectbox("Keep", list(names), format_func=names.get, key="pt_merge_keep")
        others = st.multiselect("Fold these into it", list(names), format_func=names.get, key="pt_merge_others")
        if st.form_submit_button("Merge", key="pt_merge_submit"):
            try:
                merge_patterns(store, keep, others)
            except ValueError as exc:
                st.error(escape_markdown(exc))
            else:
                st.rerun()

st.subheader("Write a pattern by hand")
with st.form("pt_add", clear_on_submit=True):
    statement = st.text_input("Statement", placeholder="The bot asks about the user's taste before recommending",
                              key="pt_add_statement")
    kind = st.radio("Kind", PATTERN_KINDS, horizontal=True, format_func=KIND_NAMES.get, key="pt_add_kind")
    if st.form_submit_button("Add as accepted", key="pt_add_submit"):
        try:
            pattern = add_pattern(store, project.id, kind, statement)
        except ValueError as exc:
            st.error(escape_markdown(exc))
        else:
            log_session_event("pattern_noted", project_id=project.id, pattern_id=pattern.id)
            st.rerun()
