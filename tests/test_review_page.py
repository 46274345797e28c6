"""The Review page through AppTest: one-click marks on the right turn, an unrealistic user flagged on
the user's turn, a cut-off simulated user shown, and "Next to review" saying when nothing is left."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.scripted_server import Reply, ScriptedServer
from vt_core.core.config import Settings
from vt_core.core.llm import LLM
from vt_core.core.llm.calls import call_log
from vt_core.core.store import Store
from vt_core.designer.annotations import annotate, current_annotations
from vt_core.designer.personas import add_persona, generate_personas, get_persona
from vt_core.designer.projects import create_project, get_project
from vt_core.designer.scenarios import add_scenario
from vt_core.designer.selfplay import SIMULATOR_MAX_TOKENS, new_run, plan_for_project, run_conversations
from vt_core.designer.transcripts import Turn, get_transcript, save_transcript

REVIEW = "views/designer/review.py"
PROMPT = "You recommend films."
CUT = "I want a film that is long and slow and about the sea and also maybe about whales and"


def world(request: dict) -> Reply:
    """The simulator's first message runs past its maximum length; the bot answers briefly."""
    if request["messages"][0]["content"] == PROMPT:
        return Reply(content="Try Moby Dick (1956).")
    if len(request["messages"]) == 2:  # the simulator's opening
        return Reply(content=CUT, finish_reason="length", tokens_out=SIMULATOR_MAX_TOKENS)
    return Reply(content="Thanks! [END]")


@pytest.fixture
def server(app_env):
    with ScriptedServer(respond=world) as server:
        app_env(server.url)
        yield server


@pytest.fixture
def store(server, tmp_path):
    store = Store(tmp_path / "vt.duckdb")  # the database the app opens, in this process
    create_project(store, "Movie bot", goal="recommend films", audience="fans", prompt=PROMPT)
    yield store
    call_log(store).close()
    store.close()


def transcript(store: Store, tag: str) -> int:
    """A run of one conversation, whose turns 0 and 2 are the simulated user's, 1 and 3 the bot's."""
    turns = [Turn("user", f"Hi [{tag}]"), Turn("assistant", "What genre?"), Turn("user", "Comedy."),
             Turn("assistant", "Try Airplane!")]
    persona = add_persona(store, 1, f"Persona {tag}", {})
    scenario = add_scenario(store, 1, title=f"Scenario {tag}", description="d", user_goal="g", difficulty=1)
    run_id, _ = store.transaction(lambda db: new_run(db, 1, conversations=1, version_id=1, max_turns=2, seed=0,
                                                     simulator_model="sim", bot_model="bot", status="done"))
    return save_transcript(store, run_id=run_id, project_id=1, version_id=1, persona_id=persona.id,
                           scenario_id=scenario.id, seed=0, simulator_model="sim", bot_model="bot", ended_by="user",
                           turns=turns)


def review(transcript_id: int | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    if transcript_id is not None:
        at.session_state["rv_transcript"] = transcript_id
    at.switch_page(REVIEW).run()
    assert not at.exception, at.exception
    return at


def marks(store: Store, transcript_id: int) -> list[tuple]:
    return [(a.turn_idx, a.label) for a in current_annotations(store, transcript_id=transcript_id)]


def test_one_click_marks_the_right_turn_and_a_second_click_clears_it(store):
    t = transcript(store, "a")
    at = review(t)
    at.button(key=f"rv_bad_{t}_3").click().run()  # the thumbs of the second bot turn
    assert not at.exception, at.exception
    assert marks(store, t) == [(3, "bad")]
    assert at.button(key=f"rv_bad_{t}_3").proto.type == "primary"  # the label shows on the turn
    assert at.button(key=f"rv_good_{t}_3").proto.type == "secondary"
    assert at.button(key=f"rv_bad_{t}_1").proto.type == "secondary"
    assert any("Marked **bad**" in c.value for c in at.caption)

    # A critique saved later keeps the label; changing the label keeps the critique.
    at.text_input(key=f"rv_{t}_3_critique").input("Only one film.")
    at.button(key=f"rv_{t}_3_save").click().run()
    [note] = current_annotations(store, transcript_id=t)
    assert (note.turn_idx, note.label, note.critique) == (3, "bad", "Only one film.")
    at.button(key=f"rv_good_{t}_3").click().run()
    [note] = current_annotations(store, transcript_id=t)
    assert (note.turn_idx, note.label, note.critique) == (3, "good", "Only one film.")

    at.button(key=f"rv_good_{t}_3").click().run()  # the same thumb again clears the label
    assert marks(store, t) == []
    at.button(key=f"rv_bad_{t}_3").click().run()  # and marking again brings the critique back
    [note] = current_annotations(store, transcript_id=t)
    assert (note.turn_idx, note.label, note.critique) == (3, "bad", "Only one film.")


def test_the_keyboard_buttons_mark_the_first_unmarked_reply(store):
    t = transcript(store, "a")
    at = review(t)
    assert at.button(key="rv_key_good").proto.shortcut == "g"  # stored in lower case
    at.button(key="rv_key_good").click().run()
    assert marks(store, t) == [(1, "good")]
    at.button(key="rv_key_bad").click().run()
    assert marks(store, t) == [(1, "good"), (3, "bad")]
    assert not [b for b in at.button if b.key == "rv_key_good"]  # every reply is marked


def test_an_unrealistic_user_is_flagged_on_the_users_turn(store):
    t = transcript(store, "a")
    at = review(t)
    assert not [b for b in at.button if b.key in (f"rv_good_{t}_0", f"rv_bad_{t}_0")]  # no thumbs on the user
    at.button(key=f"rv_unrealistic_{t}_2").click().run()
    assert not at.exception, at.exception
    assert marks(store, t) == [(2, "unrealistic_user")]
    assert any("Marked **unrealistic user**" in c.value for c in at.caption)
    with pytest.raises(ValueError, match="turn 2 of transcript .* is the simulated user's: it can only be "
                                         "flagged 'unrealistic_user'"):
        annotate(store, t, turn_idx=2, label="good")
    assert marks(store, t) == [(2, "unrealistic_user")]


def test_a_cut_off_simulated_user_is_stored_flagged_and_shown(store, server, tmp_path):
    generate_personas(store, 1, 1, seed=0)
    add_scenario(store, 1, title="s", description="a quiet evening", user_goal="a film", difficulty=1)
    llm = LLM.from_settings(Settings.from_env({"OPENAI_BASE_URL": server.url,
                                               "VT_DB_PATH": str(tmp_path / "vt.duckdb")}), store)
    [t] = run_conversations(store, llm, 1, plan_for_project(store, 1, 1, seed=0), max_turns=2, seed=0,
                            version_id=1).transcript_ids
    turns = get_transcript(store, t).turns
    assert [(turn.role, turn.cut_off) for turn in turns] == [("user", True), ("assistant", False), ("user", False)]
    # Played again, the simulator's reply comes from the cache, which keeps no finish reason: still flagged.
    [again] = run_conversations(store, llm, 1, plan_for_project(store, 1, 1, seed=0), max_turns=2, seed=0,
                                version_id=1).transcript_ids
    assert [turn.cut_off for turn in get_transcript(store, again).turns] == [True, False, False]

    at = review(t)
    [first, second, third] = at.chat_message
    assert first.text[0].value == CUT
    assert "Cut off at the maximum length" in first.caption[0].value
    assert not [c for m in (second, third) for c in m.caption if "Cut off" in c.value]


def test_next_to_review_says_when_everything_is_reviewed(store):
    a, b = transcript(store, "a"), transcript(store, "b")
    at = review(a)
    at.button(key=f"rv_good_{a}_1").click().run()
    at.button(key="rv_alternate").click().run()
    assert at.selectbox(key="rv_transcript").value == b
    assert not at.info
    at.button(key="rv_alternate").click().run()  # b is the last one left, and it is shown
    assert at.selectbox(key="rv_transcript").value == b
    assert at.info[0].value == "This is the last transcript left to review."
    at.button(key=f"rv_unrealistic_{b}_0").click().run()
    at.button(key="rv_alternate").click().run()
    assert at.selectbox(key="rv_transcript").value == b  # no silent jump to a marked one
    assert at.info[0].value == "Every transcript of this project is marked: nothing is left to review."


def test_a_second_projects_transcripts_are_numbered_from_one_and_named_in_the_picker(store, server, tmp_path):
    llm = LLM.from_settings(Settings.from_env({"OPENAI_BASE_URL": server.url,
                                               "VT_DB_PATH": str(tmp_path / "vt.duckdb")}), store)
    for project_id in (1, create_project(store, "Support bot", goal="help", audience="customers", prompt=PROMPT).id):
        generate_personas(store, project_id, 2, seed=project_id)
        add_scenario(store, project_id, title=f"Quiet evening {project_id}", description="at home", user_goal="a film",
                     difficulty=1)
        run = run_conversations(store, llm, project_id, plan_for_project(store, project_id, 2, seed=0), max_turns=1,
                                seed=0, version_id=get_project(store, project_id).current_version_id)
    first, second = run.transcript_ids
    annotate(store, second, turn_idx=1, label="bad")
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    at.selectbox(key="project_select").set_value(2).run()
    at.switch_page(REVIEW).run()
    assert not at.exception, at.exception
    people = {i: get_persona(store, get_transcript(store, i).persona_id).name for i in (first, second)}
    assert at.selectbox(key="rv_transcript").options == [f"#1 · {people[first]} · Quiet evening 2 · unlabelled",
                                                         f"#2 · {people[second]} · Quiet evening 2 · bad"]
    assert any("prompt v1 · self-play run 1 ·" in c.value for c in at.caption)


def test_a_transcript_archived_from_review_leaves_the_picker_and_can_be_shown_again(store, server, tmp_path):
    llm = LLM.from_settings(Settings.from_env({"OPENAI_BASE_URL": server.url,
                                               "VT_DB_PATH": str(tmp_path / "vt.duckdb")}), store)
    generate_personas(store, 1, 2, seed=0)
    add_scenario(store, 1, title="Quiet evening", description="at home", user_goal="a film", difficulty=1)
    first, second = run_conversations(store, llm, 1, plan_for_project(store, 1, 2, seed=0), max_turns=1, seed=0,
                                      version_id=1).transcript_ids
    at = review(first)
    at.button(key=f"archive_transcript_{first}").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="rv_transcript").options[0].startswith("#2 ·")
    assert len(at.selectbox(key="rv_transcript").options) == 1
    assert at.selectbox(key="archived_pick_transcripts").options[0].startswith("#1 ·")
    at.button(key=f"archive_transcripts_{first}").click().run()  # "Show again"
    assert not at.exception, at.exception
    assert [o[:3] for o in at.selectbox(key="rv_transcript").options] == ["#1 ", "#2 "]
