import streamlit as st

from views.shared.cleanup import archived_rows, keep_controls
from views.shared.designer import current_project
from views.shared.services import demo_notice, services
from vt_core.core.text import escape_markdown
from vt_core.designer import (
    ANNOTATION_LABELS,
    BOT_TURN_LABELS,
    UNLABELLED,
    annotate,
    current_annotations,
    filter_transcripts,
    get_transcript,
    get_version,
    judgements_for_transcript,
    list_patterns,
    list_personas,
    list_scenarios,
    list_selfplay_runs,
    mark,
    next_to_review,
    review_entries,
    unreviewed,
)

app = services()

store, llm = app.store, app.llm
st.title("Review")
demo_notice(llm)
project = current_project(store)
if project is None:
    st.stop()

LABEL_NAMES = {"good": "good", "bad": "bad", "unrealistic_user": "unrealistic user"}
LABEL_ICONS = {"good": ":material/thumb_up:", "bad": ":material/thumb_down:", "unrealistic_user": ":material/flag:"}
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
                              format_func=lambda i: "any" if i is None else f"P{patterns[i].number} {patterns[i].statement}")
    outcome = st.selectbox("Judged", [None, "fail", "pass"], key="rv_outcome", disabled=pattern_id is None,
                           format_func=lambda v: "any" if v is None else f"{v}s the pattern")

archived_rows(store, "transcript", {i: e.title for i, e in review_entries(store, project.id, archived=True).items()},
              "transcripts", title="Archived transcripts", goes_with="its marks, verdicts and score")
ids = filter_transcripts(store, project.id, label=label, scenario_id=scenario_id, persona_id=persona_id,
                         pattern_id=pattern_id, pattern_verdict=outcome if pattern_id else None)
if not ids:
    st.info("No transcript matches. Run self-play first, or loosen the filters.", icon="👉")
    st.stop()

entries = review_entries(store, project.id)
if st.session_state.get("rv_transcript") not in ids:
    st.session_state["rv_transcript"] = ids[0]
previous, chosen, following, alternate = st.columns([1, 4, 1, 2], vertical_alignment="bottom")
position = ids.index(st.session_state["rv_transcript"])
if previous.button("◀ Previous", key="rv_prev", disabled=position == 0, shortcut="Left"):
    st.session_state["rv_transcript"] = ids[position - 1]
if following.button("Next ▶", key="rv_next", disabled=position == len(ids) - 1, shortcut="Right"):
    st.session_state["rv_transcript"] = ids[position + 1]
queue_note = None  # what "Next to review" says when it cannot move
if alternate.button("Next to review", key="rv_alternate", shortcut="N",
                    help="The next transcript not marked yet; when the judge has verdicts, alternates "
                         "between a likely failure and a likely pass."):
    target = next_to_review(store, project.id, st.session_state["rv_transcript"])
    if target is None and st.session_state["rv_transcript"] in unreviewed(store, project.id):
        queue_note = "This is the last transcript left to review."
    elif target is None:
        queue_note = "Every transcript of this project is marked: nothing is left to review."
    elif target in ids:
        st.session_state["rv_transcript"] = target
    else:
        queue_note = (f"The next transcript to review, #{entries[target].number}, is outside the filters: clear them "
                      f"to see it.")
chosen.selectbox("Transcript", ids, key="rv_transcript",  # a stale choice of another filter shows its id
                 format_func=lambda i: entries[i].title if i in entries else str(i))
if queue_note:
    st.info(queue_note, icon="👉")

transcript = get_transcript(store, st.session_state["rv_transcript"])
run_numbers = {r.id: r.number for r in list_selfplay_runs(store, project.id, include_archived=True)}
persona, scenario = personas.get(transcript.persona_id), scenarios.get(transcript.scenario_id)
st.caption(  # names, titles and model names are someone else's text: escaped, they show as written
    f"Persona: {escape_markdown(persona.name if persona else transcript.persona_id)} · "
    f"Scenario: {escape_markdown(scenario.title if scenario else transcript.scenario_id)} · seed {transcript.seed} · "
    f"prompt v{get_version(store, transcript.version_id).number} · "
    f"self-play run {run_numbers.get(transcript.run_id)} · "
    f"simulator {escape_markdown(transcript.simulator_model)} · bot {escape_markdown(transcript.bot_model)} · "
    f"ended by {'the user' if transcript.ended_by == 'user' else 'the turn limit'}")
if scenario:
    with st.expander("Scenario"):
        st.text(f"{scenario.description}\nUser's goal: {scenario.user_goal}")
if keep_controls(store, "transcript", transcript.id, f"transcript_{transcript.id}",
                 goes_with="its marks, verdicts and score"):
    st.session_state.pop("rv_transcript", None)  # it is no longer in the list
    st.rerun()

# The newest row of each turn, cleared ones too: their critique and rewrite come back with a new mark.
notes = {a.turn_idx: a for a in current_annotations(store, transcript_id=transcript.id, cleared=True)}
label_of = {idx: note.label for idx, note in notes.items() if note.label is not None}
bot_turns = [idx for idx, turn in enumerate(transcript.turns) if turn.role == "assistant"]


def toggle(turn_idx: int, label: str) -> None:
    """One click: set the label, or clear it when the turn has it already."""
    mark(store, transcript.id, turn_idx, None if label_of.get(turn_idx) == label else label)


def notes_form(turn_idx: int | None, *, bot_turn: bool = False) -> None:
    """Critique and, for a bot turn, a better reply, saved with the turn's label (a whole-transcript
    form chooses its label too)."""
    current = notes.get(turn_idx)
    # The label's key names the stored label, so a mark made elsewhere shows here at once.
    key = f"rv_{transcript.id}_{turn_idx}"
    with st.form(key):
        choice = label_of.get(turn_idx)
        if turn_idx is None:
            choice = st.radio("Label", [None, *ANNOTATION_LABELS], horizontal=True, key=f"{key}_label_{choice}",
                              index=[None, *ANNOTATION_LABELS].index(choice),
                              format_func=lambda v: "none" if v is None else LABEL_NAMES[v])
        critique = st.text_input("Critique", value=current.critique if current else "", key=f"{key}_critique")
        rewrite = None
        if bot_turn:
            rewrite = st.text_area("A better reply (optional)", value=(current.rewrite or "") if current else "",
                                   key=f"{key}_rewrite", height=80)
        if st.form_submit_button("Save", key=f"{key}_save"):
            try:
                annotate(store, transcript.id, turn_idx=turn_idx, label=choice, critique=critique, rewrite=rewrite)
            except ValueError as exc:
                st.error(escape_markdown(exc))
            else:
                st.rerun()
        if turn_idx is not None and choice is None:
            st.caption("Kept with the turn, and used once the turn is marked.")


def mark_line(turn_idx: int) -> None:
    """The turn's label and critique, as text on the turn."""
    note, label = notes.get(turn_idx), label_of.get(turn_idx)
    if label is None:
        return
    old_flag = " (on the bot's reply, as marked before flags moved to the user's turn)" \
        if label == "unrealistic_user" and transcript.turns[turn_idx].role == "assistant" else ""
    critique = f": {escape_markdown(note.critique)}" if note.critique else ""
    st.caption(f"{LABEL_ICONS[label]} Marked **{LABEL_NAMES[label]}**{old_flag}{critique}")


for idx, turn in enumerate(transcript.turns):
    with st.chat_message("user" if turn.role == "user" else "assistant"):
        st.text(turn.content)
        if turn.cut_off:
            st.caption(":material/content_cut: Cut off at the maximum length: the model's reply was longer than it "
                       "was allowed.")
        with st.container(horizontal=True, vertical_alignment="center"):
            if turn.role == "assistant":
                for label in BOT_TURN_LABELS:
                    st.button(label.capitalize(), icon=LABEL_ICONS[label], key=f"rv_{label}_{transcript.id}_{idx}",
                              on_click=toggle,
                              args=(idx, label), type="primary" if label_of.get(idx) == label else "secondary",
                              help=f"Mark this reply {label} (click again to clear)")
            else:
                st.button("Unrealistic user", icon=LABEL_ICONS["unrealistic_user"],
                          key=f"rv_unrealistic_{transcript.id}_{idx}", on_click=toggle, args=(idx, "unrealistic_user"),
                          type="primary" if label_of.get(idx) == "unrealistic_user" else "secondary",
                          help="No real user would say this: the simulator's fault, not the bot's (click again "
                               "to clear)")
            with st.popover("Critique" + (" ✎" if notes.get(idx) and notes[idx].critique else ""),
                            type="tertiary", key=f"rv_notes_{transcript.id}_{idx}"):
                notes_form(idx, bot_turn=turn.role == "assistant")
        mark_line(idx)

unmarked = [idx for idx in bot_turns if idx not in label_of]
if unmarked:  # keyboard marking: G and B mark the first reply not yet marked, in reading order
    good, bad, where = st.columns([1, 1, 4], vertical_alignment="center")
    good.button("Good", icon=LABEL_ICONS["good"], key="rv_key_good", shortcut="G", on_click=toggle,
                args=(unmarked[0], "good"), help="Mark the first unmarked reply good")
    bad.button("Bad", icon=LABEL_ICONS["bad"], key="rv_key_bad", shortcut="B", on_click=toggle,
               args=(unmarked[0], "bad"), help="Mark the first unmarked reply bad")
    where.caption(f"Keys G and B mark reply {bot_turns.index(unmarked[0]) + 1} of {len(bot_turns)}, the first not "
                  f"yet marked; ← and → move between transcripts, N opens the next to review.")

st.subheader("The whole conversation")
notes_form(None)

verdicts = judgements_for_transcript(store, transcript.id)
if verdicts:
    st.subheader("Judge's verdicts")
    named = {p.id: p.name for p in list_patterns(store, project.id)}  # rejected and merged ones too
    st.dataframe([{"pattern": named[j.pattern_id], "verdict": j.verdict, "reason": j.reason} for j in verdicts],
                 hide_index=True)
