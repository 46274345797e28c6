"""The Overview as a dashboard: project_status counts where a project stands and names the next step
at each stage of the loop (real database, the loop's model scripted over HTTP), and the page shows
them with a link to that step (AppTest)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import app_store
from tests.scripted_server import Reply, ScriptedServer
from tests.scripted_worlds import PROMPT, EmojiWorld
from vt_core.designer import (
    DEMO_PROJECT,
    add_pattern,
    add_scenario,
    annotate,
    approve,
    create_project,
    generate_personas,
    leaderboard,
    plan_for_project,
    project_status,
    refine,
    run_conversations,
    seed_demo,
    update_pattern,
)

OVERVIEW = "views/designer/overview.py"


def step(store, project_id) -> str:
    return project_status(store, project_id).next_step.step


@pytest.mark.both_backends
def test_the_next_step_follows_a_project_through_the_loop(store, make_llm, scripted):
    scripted.respond = EmojiWorld()
    llm = make_llm()
    project = create_project(store, "Movie bot", "recommend films", "fans", PROMPT)
    status = project_status(store, project.id)
    assert (status.versions, status.transcripts, status.refinements, status.current_pass) == (1, 0, 0, None)
    assert step(store, project.id) == "setup"

    generate_personas(store, project.id, 2, seed=0)
    for i, split in enumerate(["train", "heldout"]):
        add_scenario(store, project.id, title=f"s{i}", description=f"situation {i}", user_goal="a film",
                     difficulty=1, split=split)
    assert step(store, project.id) == "selfplay"

    run = run_conversations(store, llm, project.id, plan_for_project(store, project.id, 3, 0, "train"),
                            max_turns=1, seed=0, version_id=project.current_version_id)
    status = project_status(store, project.id)
    assert (status.selfplay_runs, status.transcripts, status.marked) == (1, 3, 0)
    assert status.next_step.step == "review" and "3 unmarked" in status.next_step.why

    for transcript_id in run.transcript_ids[:2]:
        annotate(store, transcript_id, turn_idx=1, label="bad", critique="emojis")
    assert (project_status(store, project.id).marked, step(store, project.id)) == (2, "review")
    annotate(store, run.transcript_ids[2], turn_idx=None, label="bad")
    assert step(store, project.id) == "patterns"

    pattern = add_pattern(store, project.id, "avoid", "The bot uses emojis", status="candidate")
    status = project_status(store, project.id)
    assert (status.candidate_patterns, status.accepted_patterns, status.next_step.step) == (1, 0, "patterns")
    assert "accept" in status.next_step.why
    update_pattern(store, pattern.id, status="accepted")
    assert step(store, project.id) == "refine"

    result = refine(store, llm, project.id, rounds=1, k=1, n_train=1, n_heldout=1, max_turns=1)
    status = project_status(store, project.id)
    assert (status.refinements, status.last_refinement_status, status.pending_candidates) == (1, "done", 1)
    assert status.best_heldout_pass == max(c.heldout_pass for c in leaderboard(store, result.refine_run_id))
    assert (status.current_train_pass, status.current_heldout_pass) == (0.0, 0.0)  # the baseline: emojis
    assert status.next_step.step == "refine" and "approve" in status.next_step.why
    assert (status.selfplay_runs, status.transcripts) == (1, 3)  # refinement's conversations are not counted

    approve(store, result.best.id)
    status = project_status(store, project.id)
    assert (status.versions, status.pending_candidates, status.on_current) == (2, 0, 0)
    assert (status.current_train_pass, status.current_heldout_pass) == (1.0, 1.0)  # as the approved candidate
    assert status.next_step.step == "selfplay"  # the new prompt has not been played yet


@pytest.fixture
def app(app_env):
    with ScriptedServer(Reply(content="unused")) as server:
        app_env(server.url)
        yield AppTest.from_file("../app.py", default_timeout=30).run()


def links(at: AppTest) -> list[tuple[str, str]]:
    return [(e.proto.page, e.proto.label) for e in at.get("page_link")]


def test_the_overview_shows_the_counts_and_links_the_next_step(app):
    at = app
    assert at.button(key="ov_demo")  # an empty database: offered
    at.switch_page("views/designer/projects.py").run()
    at.text_input(key="new_name").input("Other bot")
    at.text_area(key="new_goal").input("Recommend films.")
    at.text_input(key="new_audience").input("fans")
    at.text_area(key="new_prompt").input(PROMPT)
    at.button(key="new_submit").click().run()
    at.switch_page(OVERVIEW).run()
    assert not at.exception
    assert links(at)[-1][1] == "Go to Personas & scenarios"
    at.button(key="ov_demo").click().run()  # offered while the demo is missing, not only in an empty database
    assert not at.exception
    assert not [b for b in at.button if b.key == "ov_demo"]

    assert at.subheader[0].value == f"Where {DEMO_PROJECT} stands"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Prompt versions": "1", "Self-play runs": "1", "Transcripts": "4", "Marked transcripts": "4",
                       "Candidate patterns": "1", "Accepted patterns": "2", "Refinement runs": "1",
                       "Best held-out pass (last run)": "75%"}
    assert links(at)[-1][1] == "Go to Refine" and links(at)[-1][0].endswith("refine")
    assert "Compare the 2 candidate prompt(s)" in at.markdown[-1].value
    table = at.dataframe[0].value
    assert list(table["project"]) == [DEMO_PROJECT, "Other bot"]  # by name
    assert list(table["next step"]) == ["Refine", "Personas & scenarios"]


def test_the_overview_of_a_project_to_play_links_to_self_play(app_env):
    with ScriptedServer(Reply(content="unused")) as server:
        app_env(server.url)
        at = AppTest.from_file("../app.py", default_timeout=30).run()
        store = app_store()
        demo = seed_demo(store)
        approve(store, leaderboard(store, 1)[0].id)  # the demo's best candidate: a new, unplayed prompt
        at.run()
        assert links(at)[-1][1] == "Go to Self-play"
        assert {m.label: m.value for m in at.metric}["Prompt versions"] == "2"
        assert project_status(store, demo.id).next_step.step == "selfplay"
