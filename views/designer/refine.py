import streamlit as st

from views.shared.candidates import approval, pattern_names, prompt_changes, run_name, share
from views.shared.cleanup import archived_rows, keep_controls
from views.shared.designer import current_project, log_session_event, session_run
from views.shared.jobs import current_job, ended_once, follow, job_panel
from views.shared.services import demo_notice, services, show_flash
from vt_core.core.text import escape_markdown
from vt_core.designer import leaderboard, list_patterns, list_refine_runs, planned_calls, submit_refine

app = services()

store, llm = app.store, app.llm
st.title("Refine")
demo_notice(llm)
show_flash()
project = current_project(store)
if project is None:
    st.stop()

accepted = list_patterns(store, project.id, status="accepted")
names = pattern_names(store, project.id)
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
            st.success(f"Refinement run {job.result['number']} finished: {job.result['stopped']}.")
        job_panel(job, "rf")

runs = list_refine_runs(store, project.id)
run_names = {r.id: run_name(r) for r in runs}
archived_rows(store, "refine_run", {r.id: run_name(r) for r in list_refine_runs(store, project.id, include_archived=True)
                                    if r.id not in run_names},
              "refine_runs", title="Archived refinement runs",
              goes_with="its candidates and the conversations they played")
if not runs:
    st.stop()
if st.session_state.get("rf_run") not in [r.id for r in runs]:
    st.session_state["rf_run"] = runs[0].id
run_id = st.selectbox("Refinement run", [r.id for r in runs], key="rf_run",
                      format_func=lambda i: run_names.get(i, str(i)))
run = next(r for r in runs if r.id == run_id)
if run.error:
    st.error(escape_markdown(run.error))
if keep_controls(store, "refine_run", run.id, f"refine_run_{run.id}",
                 goes_with="its candidates and the conversations they played"):
    st.session_state.pop("rf_run", None)  # it is no longer in the list
    st.rerun()


board = leaderboard(store, run_id)
named = {c.id: c.name.capitalize() for c in board}  # a stale choice of another run shows its id
st.subheader("Leaderboard")
st.dataframe([{"candidate": c.name, "round": c.round, "status": c.status, "training pass": share(c.train_pass),
               "held-out pass": share(c.heldout_pass), "quality (1-7)": "n/a" if c.quality is None else f"{c.quality:.1f}",
               "guards": "; ".join(c.guard_notes)} for c in board],
             hide_index=True)

st.subheader("Pass rate per pattern")
scored = [c for c in board if c.status != "rejected"]
st.dataframe([{"pattern": names.get(int(pid), "a pattern since deleted"),
               **{f"{c.name}: train / held-out": f"{share(c.pass_by_pattern.get(pid, {}).get('train'))} / "
                                                f"{share(c.pass_by_pattern.get(pid, {}).get('heldout'))}"
                  for c in scored}}
              for pid in sorted({pid for c in scored for pid in c.pass_by_pattern}, key=int)],
             hide_index=True)

st.subheader("Candidate")
choices = [c.id for c in board if c.status != "baseline"]
if not choices:
    st.stop()
chosen = st.selectbox("Candidate", choices, key="rf_candidate",
                      format_func=lambda i: named.get(i, str(i)))
candidate = next(c for c in board if c.id == chosen)
st.page_link("views/designer/compare.py", label="Compare its conversations with the baseline's, side by side",
             icon=":material/compare_arrows:", query_params={"run": run_id, "candidate": candidate.id})
prompt_changes(candidate, names)
approval(store, project, run, candidate, "rf_approve")
