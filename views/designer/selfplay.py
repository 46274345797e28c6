import streamlit as st

from views.shared.cleanup import archived_rows, keep_controls
from views.shared.designer import current_project, log_session_event, session_run
from views.shared.jobs import current_job, ended_once, follow, job_panel
from views.shared.services import demo_notice, services, show_flash
from vt_core.core.text import escape_markdown
from vt_core.designer import (
    SelfPlayError,
    estimate_run,
    get_version,
    list_personas,
    list_scenarios,
    list_selfplay_runs,
    plan_for_project,
    replan,
    submit_selfplay,
    versions,
)

app = services()

store, llm = app.store, app.llm
st.title("Self-play")
demo_notice(llm)
show_flash()
project = current_project(store)
if project is None:
    st.stop()

version = get_version(store, project.current_version_id)
personas, scenarios = list_personas(store, project.id), list_scenarios(store, project.id)
st.caption(f"Simulated users talk to the bot under the current prompt (v{version.number}). "
           f"{len(personas)} personas, {len(scenarios)} scenarios.")
if not personas or not scenarios:
    st.info("Self-play needs personas and scenarios: add or generate them first.", icon="👉")
    st.page_link("views/designer/setup.py", label="Go to Personas & scenarios")
    st.stop()

with st.expander("Current prompt"):
    st.code(version.text, language=None, wrap_lines=True)

left, middle, right, far = st.columns(4)
n = left.number_input("Conversations", 1, 200, 8, key="sp_n")
turns = middle.number_input("Exchanges at most", 1, 20, 4, key="sp_turns",
                            help="One exchange is a user message and the bot's reply.")
seed = right.number_input("Seed", 0, 2**31 - 1, 0, key="sp_seed")
split = far.selectbox("Scenarios", ["train", "heldout"], key="sp_split",
                      format_func=lambda s: "training" if s == "train" else "held-out")


def run(plan, run_seed: int, version_id: int, max_turns: int) -> None:
    """Start the run as a job (it goes on if this page or tab is left) and show its progress."""
    job = submit_selfplay(store, project.id, version_id, plan, max_turns=max_turns, seed=run_seed,
                          llm_run=session_run())
    log_session_event("selfplay_run", project_id=project.id, job_id=job.id)
    follow(job)
    st.rerun()


job = current_job("selfplay", project_id=project.id)
if job is not None:
    if job.status == "done" and ended_once(job):
        usage = llm.usage(f"{job.run_id}/selfplay:{job.result['run_id']}")  # this run, not an earlier attempt
        st.success(f"Self-play run {job.result['number']}: {len(job.result['transcript_ids'])} transcripts, "
                   f"{usage.calls} calls ({usage.cache_hits} from the cache). Review them on the Review page.")
    job_panel(job, "sp")


busy = job is not None and job.active
if not busy:  # while a run plays, its button is off: no plan or cost line to work out on every refresh
    try:
        plan = plan_for_project(store, project.id, int(n), int(seed), split)
    except SelfPlayError as exc:
        st.warning(escape_markdown(exc))
        st.stop()
    estimate = estimate_run(llm, project.goal, version.text, plan, int(turns))
    if estimate.cached == estimate.calls:
        st.info(f"All **{estimate.calls} calls** of this run are already in the cache: it costs nothing.", icon="🧮")
    else:
        st.info(f"This run makes up to **{estimate.calls} calls** ({estimate.cached} already in the cache), about "
                f"**{estimate.tokens_in:,} tokens in** and at most **{estimate.tokens_out:,} out**.", icon="🧮")
if st.button("Run self-play", type="primary", key="sp_run", disabled=busy,
             help="One self-play run at a time per project."):
    run(plan, int(seed), version.id, int(turns))

st.subheader("Runs")
runs = list_selfplay_runs(store, project.id)
version_numbers = {v.id: v.number for v in versions(store, project.id)}
named = {r.id: f"Run {r.number}: {r.conversations} conversations of v{version_numbers.get(r.version_id)}"
         for r in list_selfplay_runs(store, project.id, include_archived=True)}
if not runs:
    st.caption("No run yet.")
else:
    st.dataframe(
        [{"run": r.number, "version": f"v{version_numbers.get(r.version_id)}", "conversations": r.conversations, "exchanges": r.max_turns,
          "seed": r.seed, "simulator": r.simulator_model, "bot": r.bot_model, "status": r.status,
          "error": r.error or "", "started": r.created_at} for r in runs],
        hide_index=True)
    again = st.selectbox("Repeat a run exactly: same prompt version, personas, scenarios and seeds "
                         "(answered from the cache)", [r.id for r in runs], key="sp_repeat_choice",
                         format_func=lambda i: named.get(i, str(i)))
    if st.button("Repeat run", key="sp_repeat", disabled=busy):
        chosen = next(r for r in runs if r.id == again)
        run(replan(store, chosen.id), chosen.seed, chosen.version_id, chosen.max_turns)

    kept = st.selectbox("Archive or delete a run and its transcripts", [r.id for r in runs], key="sp_keep_choice",
                        format_func=lambda i: named.get(i, str(i)))
    if keep_controls(store, "selfplay_run", kept, f"run_{kept}",
                     goes_with="its transcripts, with their marks, verdicts and scores"):
        for key in ("sp_keep_choice", "sp_repeat_choice"):  # it is no longer in the lists
            st.session_state.pop(key, None)
        st.rerun()
archived_rows(store, "selfplay_run", {i: name for i, name in named.items() if i not in {r.id for r in runs}},
              "runs", title="Archived runs", goes_with="its transcripts, with their marks, verdicts and scores")
