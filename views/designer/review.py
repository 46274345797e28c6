import streamlit as st

from views.shared.designer import current_project
from views.shared.services import demo_notice, services
from vt_core.core.text import escape_markdown
from vt_core.designer import (
    ANNOTATION_LABELS,
    UNLABELLED,
    annotate,
    current_annotations,
    filter_transcripts,
    get_transcript,
    judgements_for_transcript,
    list_patterns,
    list_personas,
    list_scenarios,
    next_to_review,
)

app = services()

store, llm = app.store, app.llm
st.title("Review")
demo_notice(llm)
project = current_project(store)
if project is None:
    st.stop()

LABEL_NAMES = {"good": "good", "bad": "bad", "unrealistic_user": "unrealistic user"}
# archived ones too: their transcripts are still reviewed
personas = {p.id: p for p in list_personas(store, project.id, include_archived=True)}
scenarios = {s.id: s for s in list_scenarios(store, project.id, include_archived=True)}
patterns = {p.id: p for p in list_patterns(store, project.id) if p.status in ("candidate", "accepted")}

with st.sidebar.expander("Filters", expanded=True):
    label = st.selectbox("Label", [None, UNLABELLED, *ANNOTATION_LABELS], key="rv_label",
                         format_func=lambda v: "any" if v is None else LABEL_NAMES.get(v, v))
    scenario_id = st.selectbox("Scenario", [None, *scenarios], key="rv_scenario",
                               format_func=lambda i: "any" if i is None else scenarios[i].title)
    persona_id = st.selectbox("Persona", [None, *personas], key="rv_persona",
                              format_func=lambda i: "any" if i is None else personas[i].name)
    pattern_id = st.selectbox("Pattern", [None, *patterns], key="rv_pattern",
                              format_func=lambda i: "any" if i is None else f"#{i} {patterns[i].statement}")
    outcome = st.selectbox("Judged", [None, "fail", "pass"], key="rv_outcome", disabled=pattern_id is None,
                           format_func=lambda v: "any" if v is None else f"{v}s the pattern")

ids = filter_transcripts(store, project.id, label=label, scenario_id=scenario_id, persona_id=persona_id,
                         pattern_id=pattern_id, pattern_verdict=outcome if pattern_id else None)
if not ids:
    st.info("No transcript matches. Run self-play first, or loosen the filters.", icon="👉")
    st.stop()

if st.session_state.get("rv_transcript") not in ids:
    st.session_state["rv_transcript"] = ids[0]
previous, chosen, following, alternate = st.columns([1, 4, 1, 2], vertical_alignment="bottom")
position = ids.index(st.session_state["rv_transcript"])
if previous.button("◀ Previous", key="rv_prev", disabled=position == 0):
    st.session_state["rv_transcript"] = ids[position - 1]
if following.button("Next ▶", key="rv_next", disabled=position == len(ids) - 1):
    st.session_state["rv_transcript"] = ids[position + 1]
if alternate.button("Next to review", key="rv_alternate",
                    help="Unlabelled first; when the judge has verdicts, alternates between a likely "
                         "failure and a likely pass."):
    target = next_to_review(store, project.id, st.session_state["rv_transcript"])
    if target is not None:
        st.session_state["rv_transcript"] = target
chosen.selectbox("Transcript", ids, key="rv_transcript", format_func=lambda i: f"#{i}")

transcript = get_transcript(store, st.session_state["rv_transcript"])
persona, scenario = personas.get(transcript.persona_id), scenarios.get(transcript.scenario_id)
st.caption(  # names, titles and model names are someone else's text: escaped, they show as written
    f"Persona: {escape_markdown(persona.name if persona else transcript.persona_id)} · "
    f"Scenario: {escape_markdown(scenario.title if scenario else transcript.scenario_id)} · seed {transcript.seed} · "
    f"prompt version {transcript.version_id} · run {transcript.run_id} · "
    f"simulator {escape_markdown(transcript.simulator_model)} · bot {escape_markdown(transcript.bot_model)} · "
    f"ended by {'the user' if transcript.ended_by == 'user' else 'the turn limit'}")
if scenario:
    with st.expander("Scenario"):
        st.text(f"{scenario.description}\nUser's goal: {scenario.user_goal}")

notes = {a.turn_idx: a for a in current_annotations(store, transcript_id=transcript.id)}


def label_form(turn_idx: int | None, *, rewrite_from: str | None = None) -> None:
    """Label, critique and (for a bot turn) a rewrite, saved together."""
    current = notes.get(turn_idx)
    key = f"rv_{transcript.id}_{turn_idx}"
    with st.form(key):
        choice = st.radio("Label", [None, *ANNOTATION_LABELS], horizontal=True, key=f"{key}_label",
                          index=[None, *ANNOTATION_LABELS].index(current.label if current else None),
                          format_func=lambda v: "none" if v is None else LABEL_NAMES[v])
        critique = st.text_input("Critique", value=current.critique if current else "", key=f"{key}_critique")
        rewrite = None
        if rewrite_from is not None:
            rewrite = st.text_area("A better reply (optional)", value=(current.rewrite or "") if current else "",
                                   key=f"{key}_rewrite", height=80)
        if st.form_submit_button("Save", key=f"{key}_save"):
            try:
                annotate(store, transcript.id, turn_idx=turn_idx, label=choice, critique=critique, rewrite=rewrite)
            except ValueError as exc:
                st.error(escape_markdown(exc))
            else:
                st.rerun()


for idx, turn in enumerate(transcript.turns):
    with st.chat_message("user" if turn.role == "user" else "assistant"):
        st.text(turn.content)
        if turn.role == "assistant":
            current = notes.get(idx)
            summary = f" — {LABEL_NAMES[current.label]}" if current else ""
            with st.expander(f"Mark this reply{summary}"):
                label_form(idx, rewrite_from=turn.content)

st.subheader("The whole conversation")
label_form(None)

verdicts = judgements_for_transcript(store, transcript.id)
if verdicts:
    st.subheader("Judge's verdicts")
    st.dataframe([{"pattern": f"#{j.pattern_id} {patterns[j.pattern_id].statement}" if j.pattern_id in patterns
                   else f"#{j.pattern_id}", "verdict": j.verdict, "reason": j.reason} for j in verdicts],
                 hide_index=True)
