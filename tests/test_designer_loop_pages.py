"""The designer loop through its pages (Self-play, Review, Patterns, Refine) with AppTest, against
the scripted emoji world: the clicks a designer makes, from a run to an approved prompt."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import finish_jobs
from tests.scripted_server import ScriptedServer
from tests.scripted_worlds import PROMPT, RULE, EmojiWorld
from vt_core.core.store import Store
from vt_core.designer.annotations import current_annotations
from vt_core.designer.patterns import add_pattern, list_patterns
from vt_core.designer.personas import generate_personas
from vt_core.designer.projects import create_project, current_version
from vt_core.designer.refinement import list_refine_runs, planned_calls
from vt_core.designer.scenarios import add_scenario
from vt_core.designer.transcripts import list_transcripts

SELFPLAY, REVIEW = "views/designer/selfplay.py", "views/designer/review.py"
PATTERNS, REFINE = "views/designer/patterns.py", "views/designer/refine.py"


@pytest.fixture
def store(app_env, tmp_path):
    with ScriptedServer(respond=EmojiWorld()) as server:
        app_env(server.url)
        store = Store(tmp_path / "vt.duckdb")  # the same database the app opens, in this process
        project = create_project(store, "Movie bot", goal="recommend films", audience="fans", prompt=PROMPT)
        generate_personas(store, project.id, 2, seed=0)
        for i, split in enumerate(["train", "train", "heldout"]):
            add_scenario(store, project.id, title=f"s{i}", description=f"situation {i}", user_goal="a film",
                         difficulty=1, split=split)
        yield store


def page(path: str) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    at.switch_page(path).run()
    assert not at.exception, at.exception
    return at


def test_from_self_play_to_an_approved_prompt(store):
    at = page(SELFPLAY)
    assert "up to **64 calls**" in at.info[0].value  # 8 conversations x 4 exchanges x 2 calls, the defaults
    at.number_input(key="sp_n").set_value(2)
    at.number_input(key="sp_turns").set_value(1)
    at.button(key="sp_run").click().run()
    assert not at.exception
    finish_jobs(store)  # self-play runs as a job, in the server's threads
    at.run()
    assert at.success[0].value.startswith("Self-play run 1: 2 transcripts, 4 calls")
    transcript = min(list_transcripts(store, 1), key=lambda t: t.number)  # Review opens on transcript #1

    at.button(key="sp_repeat").click().run()  # the same run again: all from the cache
    finish_jobs(store)
    at.run()
    assert at.success[0].value.startswith("Self-play run 2: 2 transcripts, 4 calls (4 from the cache)")

    at = page(REVIEW)
    assert [m.text[0].value for m in at.chat_message] == ["Can you suggest a film for tonight?", "Try Alien 🎬🍿"]
    at.button(key=f"rv_bad_{transcript.id}_1").click().run()  # one click marks the reply
    form = f"rv_{transcript.id}_1"
    at.text_input(key=f"{form}_critique").input("No emojis, please.")
    at.button(key=f"{form}_save").click().run()
    assert not at.exception
    [note] = current_annotations(store, transcript_id=transcript.id)
    assert (note.turn_idx, note.label, note.critique) == (1, "bad", "No emojis, please.")

    at = page(PATTERNS)
    at.button(key="pt_propose").click().run()
    [pattern] = list_patterns(store, 1)
    assert pattern.statement == "The bot uses emojis in its replies"
    at.button(key="pt_test").click().run()
    finish_jobs(store)  # judging runs as a job
    at.run()
    assert "fails **1**" in " ".join(m.value for m in at.markdown)
    at.button(key=f"pt_accept_{pattern.id}").click().run()
    assert not at.exception
    assert list_patterns(store, 1)[0].status == "accepted"

    at = page(REFINE)
    for key, value in (("rf_rounds", 1), ("rf_k", 1), ("rf_train", 2), ("rf_heldout", 1), ("rf_turns", 1)):
        at.number_input(key=key).set_value(value)
    at.button(key="rf_submit").click().run()
    assert not at.exception, at.exception
    finish_jobs(store)
    at.run()
    assert at.success[0].value.startswith(f"Refinement run {list_refine_runs(store, 1)[0].number} finished")
    board = at.dataframe[0].value
    assert list(board["status"]) == ["evaluated", "baseline"]
    assert list(board["held-out pass"]) == ["100%", "0%"]
    assert any(RULE in block.value for block in at.code)
    at.button(key="rf_approve").click().run()
    assert not at.exception
    assert RULE in current_version(store, 1).text
    assert current_version(store, 1).author == "refinement"


def stored_run(store: Store, rows: list[tuple[str, str, float]]) -> list[int]:
    """A finished refinement run of project 1 with candidates (status, text, pass rate), as a run stores them."""
    parent = current_version(store, 1)
    run_id = store.cursor().execute(
        "INSERT INTO refine_runs (project_id, parent_version_id, rounds, candidates, seed, status)"
        " VALUES (1, ?, 1, ?, 0, 'done') RETURNING id", [parent.id, len(rows) - 1]).fetchone()[0]
    return [store.cursor().execute(
        "INSERT INTO candidates (refine_run_id, round, parent_text, text, changes, train_pass, heldout_pass, status)"
        " VALUES (?, ?, ?, ?, '[]', ?, ?, ?) RETURNING id",
        [run_id, int(status != "baseline"), parent.text, text, rate, rate, status]).fetchone()[0]
        for status, text, rate in rows]


def test_a_candidate_below_the_top_row_and_a_tie_with_the_baseline_can_be_approved(store):
    add_pattern(store, 1, "avoid", "The bot uses emojis in its replies", status="accepted")
    baseline, tie, top = stored_run(store, [("baseline", PROMPT, 0.5), ("evaluated", PROMPT + "- Tie.\n", 0.5),
                                            ("evaluated", PROMPT + RULE + "\n", 1.0)])
    at = page(REFINE)
    assert at.selectbox(key="rf_candidate").options == ["Candidate 2", "Candidate 1"]  # the leaderboard's order, numbered as written
    at.selectbox(key="rf_candidate").set_value(tie).run()
    assert not at.exception, at.exception
    at.button(key="rf_approve").click().run()
    assert not at.exception, at.exception
    assert current_version(store, 1).text == PROMPT + "- Tie.\n"


def test_the_cost_follows_the_settings_before_the_run(store):
    add_pattern(store, 1, "avoid", "The bot uses emojis in its replies", status="accepted")
    at = page(REFINE)
    assert f"At most {planned_calls(rounds=2, k=3, n_train=4, n_heldout=2, max_turns=3, n_patterns=1):,} model " \
           f"calls" in at.caption[1].value
    for key, value in (("rf_rounds", 1), ("rf_k", 1), ("rf_train", 2), ("rf_heldout", 1), ("rf_turns", 1)):
        at.number_input(key=key).set_value(value).run()
    expected = planned_calls(rounds=1, k=1, n_train=2, n_heldout=1, max_turns=1, n_patterns=1)
    assert f"At most {expected:,} model calls" in at.caption[1].value and not list_refine_runs(store, 1)


def test_a_candidate_that_guts_the_prompt_is_flagged_before_approval(store):
    """A candidate without the Rules section: the page says how much goes and shows it; one that only adds a
    rule is not flagged. Approval stays the designer's choice."""
    add_pattern(store, 1, "avoid", "The bot uses emojis in its replies", status="accepted")
    _, gutted, added = stored_run(store, [("baseline", PROMPT, 0.5),
                                          ("evaluated", "# Persona\nYou are MovieBot, a film expert.\n", 0.9),
                                          ("evaluated", PROMPT + RULE + "\n", 1.0)])
    at = page(REFINE)
    assert at.selectbox(key="rf_candidate").value == added
    assert not at.warning
    at.selectbox(key="rf_candidate").set_value(gutted).run()
    [warning] = at.warning
    assert "takes out 47% of its parent's text and drops the section(s) 'Rules'" in warning.value
    assert at.code[-1].value == "# Rules\nRecommend one film at a time."  # the blank line before it, as Streamlit trims
    at.button(key="rf_approve").click().run()
    assert current_version(store, 1).text == "# Persona\nYou are MovieBot, a film expert.\n"
