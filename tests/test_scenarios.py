"""Scenarios: proposal through a real HTTP round trip to the scripted server, storage, splits."""

from __future__ import annotations

import json

import pytest

from tests.scripted_server import Reply
from vt_core.designer.projects import create_project
from vt_core.designer.scenarios import (
    Scenario,
    ScenarioDraft,
    add_scenario,
    get_scenario,
    list_scenarios,
    propose_scenarios,
    save_drafts,
    update_scenario,
)

GOAL = "Recommend movies that match the user's taste."
PROMPT = "You recommend movies.\n- Ask about favourite genres first.\n- Never recommend more than three movies."


def draft_json(i: int, difficulty: int = 1, covered: bool = True) -> dict:
    return {"title": f"Scenario {i}", "description": f"The user wants film number {i}.",
            "user_goal": f"Get recommendation {i}", "difficulty": difficulty,
            "rules": ["Ask about favourite genres first."], "covered": covered}


def drafts(count: int) -> list[ScenarioDraft]:
    return [ScenarioDraft(**draft_json(i, difficulty=1 + i % 3)) for i in range(count)]


def scenarios_reply(count: int) -> Reply:
    return Reply(content=json.dumps({"scenarios": [draft_json(i, 1 + i % 3, covered=i != 1) for i in range(count)]}))


@pytest.fixture
def project(store):
    return create_project(store, "movies", GOAL, "film fans", PROMPT)


# -- proposing ------------------------------------------------------------------------------------


def test_propose_parses_the_reply_and_sends_goal_prompt_n_and_seed(make_llm, scripted):
    scripted.script(scenarios_reply(3))
    result = propose_scenarios(make_llm(), GOAL, PROMPT, 3, seed=42)

    assert [d.title for d in result] == ["Scenario 0", "Scenario 1", "Scenario 2"]
    assert [d.difficulty for d in result] == [1, 2, 3]
    assert [d.covered for d in result] == [True, False, True]
    assert result[0].rules == ["Ask about favourite genres first."]
    [request] = scripted.requests
    text = " ".join(m["content"] for m in request["messages"])
    assert GOAL in text and "Never recommend more than three movies." in text
    assert "3 scenarios" in text
    assert (request["seed"], request["temperature"]) == (42, 0.7)
    schema = request["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["scenarios"]["maxItems"] == 3


def test_propose_keeps_at_most_n_and_accepts_fewer(make_llm, scripted):
    scripted.script(scenarios_reply(5), scenarios_reply(1))
    llm = make_llm()
    assert [d.title for d in propose_scenarios(llm, GOAL, PROMPT, 2, seed=1)] == ["Scenario 0", "Scenario 1"]
    assert len(propose_scenarios(llm, GOAL, PROMPT, 4, seed=2)) == 1


def test_propose_rejects_a_difficulty_outside_1_to_3_and_asks_again(make_llm, scripted):
    bad = {"scenarios": [draft_json(0, difficulty=5)]}
    scripted.script(Reply(content=json.dumps(bad)), scenarios_reply(1))
    [draft] = propose_scenarios(make_llm(), GOAL, PROMPT, 1)
    assert draft.difficulty == 1
    assert len(scripted.requests) == 2
    correction = scripted.requests[1]["messages"][-1]["content"]
    assert "not a valid JSON object" in correction


def test_propose_needs_a_positive_n(make_llm):
    with pytest.raises(ValueError, match="at least one"):
        propose_scenarios(make_llm(), GOAL, PROMPT, 0)


# -- splits ---------------------------------------------------------------------------------------


def splits(scenarios: list[Scenario]) -> list[str]:
    return [s.split for s in scenarios]


def test_save_drafts_stores_generated_scenarios_with_a_seeded_split(store, project):
    first = save_drafts(store, project.id, drafts(8), heldout_fraction=0.25, seed=7)
    assert splits(first).count("heldout") == 2
    assert {s.source for s in first} == {"generated"}
    assert [s.difficulty for s in first] == [1, 2, 3, 1, 2, 3, 1, 2]
    again = save_drafts(store, project.id, drafts(8), heldout_fraction=0.25, seed=7)
    assert splits(again) == splits(first)
    assignments = {tuple(splits(save_drafts(store, project.id, drafts(8), seed=seed))) for seed in range(6)}
    assert len(assignments) > 1  # the seed, not the position, decides
    assert list_scenarios(store, project.id, split="heldout") == [
        s for s in list_scenarios(store, project.id) if s.split == "heldout"]


@pytest.mark.parametrize("count, fraction, heldout", [
    (1, 0.25, 0),  # a lone scenario trains
    (2, 0.25, 1),  # at least one held out once there are two
    (3, 0.1, 1),
    (4, 0.0, 0),  # no held-out set asked for
    (4, 1.0, 3),  # never all: at least one trains
    (10, 0.25, 2),  # round(2.5) == 2
])
def test_split_sizes(store, project, count, fraction, heldout):
    saved = save_drafts(store, project.id, drafts(count), heldout_fraction=fraction, seed=3)
    assert len(saved) == count
    assert splits(saved).count("heldout") == heldout


def test_save_drafts_rejects_a_bad_fraction_and_stores_nothing(store, project):
    with pytest.raises(ValueError, match="between 0 and 1"):
        save_drafts(store, project.id, drafts(3), heldout_fraction=1.5)
    blank = ScenarioDraft(**{**draft_json(9), "title": "   "})
    with pytest.raises(ValueError, match="title cannot be empty"):
        save_drafts(store, project.id, [*drafts(2), blank])
    assert list_scenarios(store, project.id) == []


# -- designer edits -------------------------------------------------------------------------------


def test_add_update_get_and_list(store, project):
    other = create_project(store, "other", GOAL, "", PROMPT)
    added = add_scenario(store, project.id, title=" Rude user ", description="The user insults the bot.",
                         user_goal="Get a film anyway", difficulty=3, rules=["Stay polite", " "], covered=False)
    add_scenario(store, other.id, title="Elsewhere", description="d", user_goal="g", difficulty=1)
    assert added == Scenario(added.id, project.id, "Rude user", "The user insults the bot.", "Get a film anyway",
                             3, ["Stay polite"], False, "train", "designer")
    updated = update_scenario(store, added.id, difficulty=2, split="heldout", rules=["Stay calm"])
    assert (updated.difficulty, updated.split, updated.rules, updated.title) == (2, "heldout", ["Stay calm"],
                                                                                 "Rude user")
    assert get_scenario(store, added.id) == updated
    assert list_scenarios(store, project.id) == [updated]
    assert list_scenarios(store, project.id, split="train") == []


@pytest.mark.parametrize("fields, message", [
    ({"difficulty": 4}, "difficulty must be 1, 2 or 3"),
    ({"split": "test"}, "split must be 'train' or 'heldout'"),
    ({"source": "crowd"}, "source must be"),
    ({"user_goal": ""}, "user goal cannot be empty"),
    ({"project_id": 9}, "cannot update scenario field"),
])
def test_update_rejects_bad_values(store, project, fields, message):
    scenario = add_scenario(store, project.id, title="t", description="d", user_goal="g", difficulty=1)
    with pytest.raises(ValueError, match=message):
        update_scenario(store, scenario.id, **fields)
    assert get_scenario(store, scenario.id) == scenario


def test_missing_scenario(store):
    with pytest.raises(ValueError, match="no scenario 99"):
        get_scenario(store, 99)
