import streamlit as st

from views.shared.candidates import share
from views.shared.designer import choose_project, current_project
from views.shared.services import services
from vt_core.benchmark import list_loop_runs
from vt_core.core.text import escape_markdown
from vt_core.designer import DEMO_PROJECT, list_projects, project_status, seed_demo

st.title("Visionary Tuning")
st.markdown(
    "Specify how a chatbot should behave by watching it work: simulated users talk to it under your draft "
    "prompt (**Self-play**), you **mark** what is good and bad, your marks become **patterns**, and "
    "**refinement** writes and tests better prompts for you to approve. Researchers work under *Researcher*."
)

store = services().store
projects = list_projects(store)
if DEMO_PROJECT not in {p.name for p in projects}:
    st.info("The demo project shows every designer page with data: a movie recommendation bot with "
            "hand-written transcripts, marks, judged patterns and a finished refinement run.", icon="🎬")
    if st.button("Create the demo project", type="primary", key="ov_demo"):
        choose_project(seed_demo(store).id)
        st.rerun()


PAGES = {"setup": ("views/designer/setup.py", "Personas & scenarios"),
         "selfplay": ("views/designer/selfplay.py", "Self-play"), "review": ("views/designer/review.py", "Review"),
         "patterns": ("views/designer/patterns.py", "Patterns"), "refine": ("views/designer/refine.py", "Refine")}


project = current_project(store)
if project is None:
    st.stop()
status = project_status(store, project.id)
st.subheader(f"Where {escape_markdown(project.name)} stands")
cols = st.columns(4)
cols[0].metric("Prompt versions", status.versions)
cols[1].metric("Self-play runs", status.selfplay_runs)
cols[2].metric("Transcripts", status.transcripts)
cols[3].metric("Marked transcripts", status.marked)
cols = st.columns(4)
cols[0].metric("Candidate patterns", status.candidate_patterns)
cols[1].metric("Accepted patterns", status.accepted_patterns)
cols[2].metric("Refinement runs", status.refinements)
cols[3].metric("Best held-out pass (last run)", share(status.best_heldout_pass))
if status.last_refinement_at is not None:
    st.caption(f"Last refinement: {status.last_refinement_at:%Y-%m-%d %H:%M}, {status.last_refinement_status}.")
st.caption(f"Current prompt: passes {share(status.current_pass)} of the accepted patterns' checks on its "
           f"{status.current_judged} judged transcript(s); in refinement, {share(status.current_train_pass)} on "
           f"training and {share(status.current_heldout_pass)} on held-out scenarios.")
step = status.next_step
with st.container(border=True):
    st.markdown(f"**Next step:** {step.why}")
    page, title = PAGES[step.step]
    st.page_link(page, label=f"Go to {title}")

loop_runs = list_loop_runs(store, project_id=project.id)
if loop_runs:
    st.subheader("Loop benchmark")
    st.caption("The loop benchmark (`python -m vt_core bench-loop`) made this project from a world with planted "
               "faults: an oracle marked the training transcripts, and the loop proposed, judged and accepted "
               "patterns, refined and approved a prompt. Fault rates are shares of held-out conversations in which "
               "a rule checker (not a model) found the fault, under the draft and under the tuned prompt.")
    if any(run.demo for run in loop_runs):
        st.warning("Runs marked *demo model* come from the bundled SmolLM2-135M: their figures show that the loop "
                   "runs end to end, not that it works. Measure your own endpoint with `OPENAI_BASE_URL`.", icon="⚠️")
    st.dataframe([{
        "run": run.id, "world": run.world, "seed": run.seed, "status": run.status, "model": run.model,
        "demo model": "yes" if run.demo else "no",
        "draft fault rate": share(f["draft_fault_rate"]) if (f := run.figures) else "",
        "tuned fault rate": share(f["tuned_fault_rate"]) if f else "",
        "95% CI of the difference": f"{f['ci95'][0]:+.0%} to {f['ci95'][1]:+.0%}" if f and f["ci95"] else "",
        "p (McNemar)": f"{f['test']['p']:.3f}" if f else "",
        "recall": share(f["recall"]) if f else "", "error": run.error or "",
    } for run in loop_runs], hide_index=True)

if len(projects) > 1:
    st.subheader("All projects")
    rows = [project_status(store, p.id) for p in projects]
    st.dataframe([{"project": s.name, "versions": s.versions, "transcripts": s.transcripts, "marked": s.marked,
                   "accepted patterns": s.accepted_patterns, "refinements": s.refinements,
                   "best held-out pass": share(s.best_heldout_pass), "next step": PAGES[s.next_step.step][1]}
                  for s in rows],
                 hide_index=True)
