import streamlit as st

from views.shared.designer import current_project, log_session_event, session_run
from views.shared.jobs import current_job, ended_once, follow, job_panel
from views.shared.services import demo_notice, flash, services, show_flash
from vt_core.core.text import escape_markdown
from vt_core.designer import (
    RefineError,
    approve,
    current_version,
    leaderboard,
    linked_diff,
    list_patterns,
    list_refine_runs,
    planned_calls,
    removal,
    submit_refine,
    unified_diff,
)

app = services()

store, llm = app.store, app.llm
st.title("Refine")
demo_notice(llm)
show_flash()
project = current_project(store)
if project is None:
    st.stop()

accepted = list_patterns(store, project.id, status="accepted")
names = {p.id: f"#{p.id} {p.kind.upper()}: {p.statement}" for p in list_patterns(store, project.id)}
st.caption("Candidate prompts are written from your accepted patterns and critiques, played on the same "
           "conversations as the current prompt (training and held-out scenarios), and judged against every "
           "accepted pattern. Nothing changes your prompt until you approve a candidate.")
if not accepted:
    st.info("Accept at least one pattern first.", icon="👉")
    st.page_link("views/designer/patterns.py", label="Go to Patterns")
    st.stop()

with st.container(border=True):  # not a form: the cost below follows every change before the run
    cols = st.columns(6)
    rounds = cols[0].number_input("Rounds", 1, 10, 2, key="rf_rounds")
    k = cols[1].number_input("Candidates per round", 1, 10, 3, key="rf_k")
    n_train = cols[2].number_input("Training conversations", 1, 100, 4, key="rf_train")
    n_heldout = cols[3].number_input("Held-out conversations", 1, 100, 2, key="rf_heldout")
    turns = cols[4].number_input("Exchanges at most", 1, 20, 3, key="rf_turns")
    seed = cols[5].number_input("Seed", 0, 2**31 - 1, 0, key="rf_seed")
    calls = planned_calls(rounds=rounds, k=k, n_train=n_train, n_heldout=n_heldout, max_turns=turns,
                          n_patterns=len(accepted))
    st.caption(f"At most {calls:,} model calls; accepted patterns: {len(accepted)}; prompt token "
               f"budget: {project.prompt_token_budget}; locked sections: "
               f"{escape_markdown(', '.join(project.locked_sections) or 'none')} (set both on the Projects page).")
    job = current_job("refine", project_id=project.id)
    if st.button("Run refinement", type="primary", key="rf_submit", disabled=job is not None and job.active,
                 help="It runs on the server: you can leave the page and come back."):
        job = submit_refine(store, project.id, rounds=rounds, k=k, n_train=n_train, n_heldout=n_heldout,
                            max_turns=turns, seed=seed, llm_run=session_run())
        log_session_event("refine_run", project_id=project.id, job_id=job.id)
        follow(job)
        st.rerun()
    if job is not None:
        if job.status == "done" and ended_once(job):
            st.session_state["rf_run"] = job.result["refine_run_id"]
            st.success(f"Refinement run {job.result['refine_run_id']} finished: {job.result['stopped']}.")
        job_panel(job, "rf")

runs = list_refine_runs(store, project.id)
if not runs:
    st.stop()
if st.session_state.get("rf_run") not in [r.id for r in runs]:
    st.session_state["rf_run"] = runs[0].id
run_id = st.selectbox("Refinement run", [r.id for r in runs], key="rf_run",
                      format_func=lambda i: next(f"#{r.id} · {r.status} · {r.created_at:%Y-%m-%d %H:%M}"
                                                 for r in runs if r.id == i))
run = next(r for r in runs if r.id == run_id)
if run.error:
    st.error(escape_markdown(run.error))


def share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


board = leaderboard(store, run_id)
st.subheader("Leaderboard")
st.dataframe([{"candidate": c.id, "round": c.round, "status": c.status, "training pass": share(c.train_pass),
               "held-out pass": share(c.heldout_pass), "quality (1-7)": "n/a" if c.quality is None else f"{c.quality:.1f}",
               "guards": "; ".join(c.guard_notes)} for c in board],
             hide_index=True)

st.subheader("Pass rate per pattern")
scored = [c for c in board if c.status != "rejected"]
st.dataframe([{"pattern": names.get(int(pid), f"#{pid}"),
               **{f"#{c.id} train / held-out": f"{share(c.pass_by_pattern.get(pid, {}).get('train'))} / "
                                                f"{share(c.pass_by_pattern.get(pid, {}).get('heldout'))}"
                  for c in scored}}
              for pid in sorted({pid for c in scored for pid in c.pass_by_pattern}, key=int)],
             hide_index=True)

st.subheader("Candidate")
choices = [c.id for c in board if c.status != "baseline"]
if not choices:
    st.stop()
chosen = st.selectbox("Candidate", choices, key="rf_candidate", format_func=lambda i: f"#{i}")
candidate = next(c for c in board if c.id == chosen)
for linked in linked_diff(candidate):
    if linked.hunk.tag == "equal":
        continue
    lines = [f"-{line}" for line in linked.hunk.old] + [f"+{line}" for line in linked.hunk.new]
    st.code("\n".join(lines), language="diff")
    if linked.changes:
        for change in linked.changes:
            patterns = ", ".join(names.get(i, f"#{i}") for i in change.get("pattern_ids", []))
            st.caption(escape_markdown(f"Why: {change.get('rationale', '')} — patterns: {patterns or 'none named'}"))
    else:
        st.caption("No stated change covers this hunk.")
with st.expander("Whole candidate prompt (copy it as plain text)"):
    st.code(candidate.text, language=None, wrap_lines=True)
with st.expander("Unified diff against its parent"):
    st.code(unified_diff(candidate.parent_text, candidate.text, "parent", f"candidate {candidate.id}"),
            language="diff")

current = current_version(store, project.id)
if candidate.status == "evaluated" and run.status == "done" and current.id != run.parent_version_id:
    st.warning(f"The current prompt is v{current.id}, not v{run.parent_version_id} that this run refined: approving "
               f"would replace it. Compare them, then refine v{current.id}, or make v{run.parent_version_id} "
               f"current on the Projects page first.")
    with st.expander(f"Unified diff: the current v{current.id} against candidate {candidate.id}", expanded=True):
        st.code(unified_diff(current.text, candidate.text, f"v{current.id}", f"candidate {candidate.id}"),
                language="diff")
if candidate.status == "evaluated" and run.status == "done":
    removed = removal(candidate.parent_text, candidate.text)
    if removed.gutted:
        dropped = ", ".join(f"'{heading}'" for heading in removed.dropped_sections)
        st.warning(escape_markdown(
            f"This candidate takes out {removed.removed_share:.0%} of its parent's text"
            + (f" and drops the section(s) {dropped}" if dropped else "")
            + ". Read what it removes before you approve it:"))
        st.code("\n".join(removed.removed_lines), language=None, wrap_lines=True)
    if st.button("Approve: make this the current prompt", type="primary", key="rf_approve"):
        try:
            version = approve(store, candidate.id)
        except RefineError as exc:
            st.error(escape_markdown(exc))
        else:
            log_session_event("version_saved", project_id=project.id, version_id=version.id, author="refinement")
            flash(f"Candidate {candidate.id} is now prompt version {version.id}, the current prompt.")
            st.rerun()
elif candidate.status == "approved":
    st.success(f"Approved as prompt version {candidate.version_id}.")
