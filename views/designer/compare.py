import streamlit as st

from views.shared.candidates import approval, pattern_names, prompt_changes, run_name, share
from views.shared.designer import current_project
from views.shared.services import demo_notice, services, show_flash
from vt_core.core.text import escape_markdown
from vt_core.designer import comparison, leaderboard, list_refine_runs

BADGES = {"pass": ":green-badge[pass]", "fail": ":red-badge[fail]", "not applicable": ":gray-badge[not applicable]",
          "not judged": ":orange-badge[not judged]"}
SPLIT_TITLES = {"train": "Training scenarios", "heldout": "Held-out scenarios"}

app = services()
store, llm = app.store, app.llm
st.title("Compare & approve")
demo_notice(llm)
show_flash()
project = current_project(store)
if project is None:
    st.stop()
st.caption("A refinement candidate's conversations beside the current prompt's (the baseline) on the same "
           "scenario, persona and seed, with the judge's verdict on each for every pattern the run checked. "
           "Read what the candidate changes, then approve it or not.")

runs = list_refine_runs(store, project.id)
run_names = {r.id: run_name(r) for r in runs}
if not runs:
    st.info("No refinement run yet.", icon="👉")
    st.page_link("views/designer/refine.py", label="Go to Refine")
    st.stop()


def preselect(key: str, param: str, options: list[int]) -> None:
    """Open on the run and candidate the Refine page linked to (?run=&candidate=)."""
    if key not in st.session_state and (wanted := st.query_params.get(param, "")).isdigit() \
            and int(wanted) in options:
        st.session_state[key] = int(wanted)


preselect("cmp_run", "run", [r.id for r in runs])
pick_run, pick_candidate = st.columns(2)
run_id = pick_run.selectbox("Refinement run", [r.id for r in runs], key="cmp_run",
                            format_func=lambda i: run_names.get(i, str(i)))
run = next(r for r in runs if r.id == run_id)
board = leaderboard(store, run_id)
named = {c.id: c.name.capitalize() for c in board}  # a stale choice of another run shows its id
choices = [c.id for c in board if c.status not in ("baseline", "rejected")]
if not choices:
    st.info("This run has no evaluated candidate to compare.")
    st.stop()
preselect("cmp_candidate", "candidate", choices)
chosen = pick_candidate.selectbox("Candidate", choices, key="cmp_candidate",
                                  format_func=lambda i: named.get(i, str(i)))
st.query_params.update({"run": run_id, "candidate": chosen})  # a reload or a shared link opens this pair
candidate = next(c for c in board if c.id == chosen)
baseline = next((c for c in board if c.status == "baseline"), None)
if baseline is not None:
    st.caption(f"Pass rate, baseline → {candidate.name}: training {share(baseline.train_pass)} → "
               f"{share(candidate.train_pass)}, held-out {share(baseline.heldout_pass)} → "
               f"{share(candidate.heldout_pass)}.")

found = comparison(store, run_id, candidate.id)
names = pattern_names(store, project.id)
conversations, prompt = st.columns([3, 2], gap="large")

with conversations:
    st.subheader("Conversations")
    filters = st.columns([3, 2], vertical_alignment="bottom")
    only_changed = filters[0].toggle("Only where the candidate changed a verdict", key="cmp_changed")
    on_pattern = filters[1].selectbox("Of the pattern", [None, *(p.id for p in found.patterns)], key="cmp_pattern",
                                      format_func=lambda i: "any pattern" if i is None else names[i])
    shown = found.changed(on_pattern) if only_changed else found.pairs
    st.caption(f"{len(shown)} of {len(found.pairs)} conversation pairs shown; the candidate changed a verdict in "
               f"{len(found.changed(on_pattern))}.")
    if not found.pairs:
        st.info("No conversations of this candidate are stored.")
    for split in SPLIT_TITLES:
        pairs = [p for p in shown if p.split == split]
        if pairs:
            st.markdown(f"#### {SPLIT_TITLES[split]}")
        for pair in pairs:
            with st.container(border=True):
                st.markdown(f"**{escape_markdown(pair.scenario.title)}** · persona "
                            f"{escape_markdown(pair.persona.name)} · seed {pair.seed}")
                for check in pair.checks:
                    mark = " :violet-badge[changed]" if check.changed else ""
                    st.markdown(f"{escape_markdown(names[check.pattern.id])}: baseline {BADGES[check.baseline_outcome]}"
                                f" → candidate {BADGES[check.candidate_outcome]}{mark}")
                with st.expander("The judge's reasons"):
                    for check in pair.checks:
                        st.caption(escape_markdown(names[check.pattern.id]))
                        st.text(f"Baseline: {check.baseline.reason if check.baseline else 'not judged'}\n"
                                f"Candidate: {check.candidate.reason if check.candidate else 'not judged'}")
                sides = st.columns(2)
                for side, label, transcript in ((sides[0], f"Baseline (v{run.parent_version_number})", pair.baseline),
                                                (sides[1], candidate.name.capitalize(), pair.candidate)):
                    with side:
                        st.caption(label)
                        if transcript is None:
                            st.info("This conversation failed and was not stored.")
                            continue
                        for turn in transcript.turns:
                            with st.chat_message(turn.role):
                                st.text(turn.content)  # model output as plain text, never Markdown or HTML

with prompt:
    st.subheader("What changed in the prompt")
    prompt_changes(candidate, names)
    approval(store, project, run, candidate, "cmp_approve")
