"""Personas that fit the bot: proposed by the model from the project's brief (over real HTTP to the
scripted server), duplicates refused and asked for again, stored only when the designer saves them;
the random draw on the demo model; weights and pins on the Personas & scenarios page (AppTest)."""

from __future__ import annotations

import json

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.scripted_server import Reply, ScriptedServer
from vt_core.core.config import Settings
from vt_core.core.llm import LLM
from vt_core.designer.personas import (
    ATTRIBUTES,
    PersonaDraft,
    add_persona,
    coverage,
    list_personas,
    persona_drafts,
    propose_personas,
    save_personas,
)
from vt_core.designer.projects import create_project

GOAL = "Help someone pick one film to watch tonight."
AUDIENCE = "Retired people in care homes choosing a film for the common room."
PROMPT = "# Role\nYou recommend films.\n\n# Rules\n- Recommend one film at a time.\n"
SETUP = "views/designer/setup.py"


def person(name: str, **attributes) -> dict:
    defaults = {key: values[0] for key, values in ATTRIBUTES.items()}
    return {"name": name, "description": f"{name}, who lives in the care home.", **defaults, **attributes}


def reply(*people: dict) -> Reply:
    return Reply(content=json.dumps({"personas": list(people)}))


@pytest.fixture
def project(store):
    return create_project(store, "care-home films", GOAL, AUDIENCE, PROMPT)


@pytest.mark.both_backends
def test_proposed_from_the_brief_and_stored_only_when_saved(store, project, make_llm, scripted):
    scripted.script(reply(person("Former projectionist", expertise="expert", mood="sceptical"),
                          person("New resident", expertise="novice", mood="friendly")))
    proposal = persona_drafts(store, make_llm(), project.id, 2, seed=3)
    assert proposal.source == "model" and proposal.refused == []
    assert [d.name for d in proposal.drafts] == ["Former projectionist", "New resident"]
    assert proposal.drafts[0].attributes["expertise"] == "expert"
    [request] = scripted.requests
    sent = request["messages"][0]["content"]
    assert AUDIENCE in sent and GOAL in sent and "Recommend one film at a time." in sent
    assert "exactly 2 items" in sent and "never give two personas the same combination" in sent
    assert request["seed"] == 3 and request.get("response_format")
    assert list_personas(store, project.id) == []  # drafts until the designer saves them

    saved = save_personas(store, project.id, proposal.drafts)
    assert [(p.name, p.description) for p in list_personas(store, project.id)] == [
        (d.name, d.description) for d in proposal.drafts]
    assert "Former projectionist, who lives in the care home." in saved[0].describe()  # the simulator reads it


def test_duplicates_are_refused_and_asked_for_again(store, project, make_llm, scripted):
    add_persona(store, project.id, "Night owl", {key: values[1] for key, values in ATTRIBUTES.items()})
    twin = person("Second twin")  # the same attributes as "First twin"
    scripted.script(
        reply(person("First twin"), twin, person("night owl", mood="frustrated"),
              person("Copy of the night owl", **{key: values[1] for key, values in ATTRIBUTES.items()})),
        reply(person("Grumpy critic", mood="frustrated", patience="impatient")))
    proposal = propose_personas(make_llm(), GOAL, AUDIENCE, PROMPT, 4, existing=list_personas(store, project.id))
    assert [d.name for d in proposal.drafts] == ["First twin", "Grumpy critic"]
    assert proposal.refused == ["'Second twin': the same attributes as another persona",
                                "'night owl': the name of another persona",
                                "'Copy of the night owl': the same attributes as another persona"]
    first, second = scripted.requests
    assert "exactly 4 items" in first["messages"][0]["content"]
    again = second["messages"][0]["content"]  # asks for the refused ones, naming what is taken
    assert "exactly 3 items" in again and "- First twin:" in again and "- Night owl:" in again
    assert second["seed"] != first["seed"]
    assert len(scripted.requests) == 2  # no more than two calls, whatever the model writes

    with pytest.raises(ValueError, match="'Night owl': the name of another persona"):
        save_personas(store, project.id, [proposal.drafts[0], PersonaDraft("Night owl", "", {"mood": "calm"})])
    assert [p.name for p in list_personas(store, project.id)] == ["Night owl"]  # nothing of the refused batch


def test_the_demo_model_draws_at_random_without_a_call(store, project, scripted):
    llm = LLM.from_settings(Settings.from_env({"VT_DB_PATH": str(store.path)}), store)  # the embedded toy model
    assert llm.backend.demo
    proposal = persona_drafts(store, llm, project.id, 6, seed=1)
    assert proposal.source == "random" and len(proposal.drafts) == 6
    assert len({tuple(sorted(d.attributes.items())) for d in proposal.drafts}) == 6
    assert all(d.attributes[key] in values for d in proposal.drafts for key, values in ATTRIBUTES.items())
    assert proposal.drafts == persona_drafts(store, llm, project.id, 6, seed=1).drafts  # the seed fixes them
    assert scripted.requests == []


def test_coverage_counts_every_listed_value_and_others():
    drafts = [PersonaDraft("a", "", {"mood": "friendly", "expertise": "novice"}),
              PersonaDraft("b", "", {"mood": "friendly", "expertise": "retired pilot"})]
    spread = coverage(drafts)
    assert spread["mood"] == {"neutral": 0, "friendly": 2, "frustrated": 0, "sceptical": 0}
    assert spread["expertise"] == {"novice": 1, "intermediate": 0, "expert": 0, "retired pilot": 1}
    assert set(spread) == set(ATTRIBUTES)


# -- the page ------------------------------------------------------------------------------------


@pytest.fixture
def page(app_env):
    """The Personas & scenarios page of a new project, on a scripted endpoint."""
    with ScriptedServer(Reply(content="unused")) as server:
        app_env(server.url)
        at = AppTest.from_file("../app.py", default_timeout=30).run()
        at.switch_page("views/designer/projects.py").run()
        at.text_input(key="new_name").input("Care home")
        at.text_area(key="new_goal").input(GOAL)
        at.text_input(key="new_audience").input(AUDIENCE)
        at.text_area(key="new_prompt").input(PROMPT)
        at.button(key="new_submit").click().run()
        at.switch_page(SETUP).run()
        assert not at.exception
        yield at, server, at.session_state["vt_project_id"]


def test_accept_proposed_personas_with_weight_and_pin(page):
    at, server, p = page
    server.script(reply(person("Former projectionist", expertise="expert"), person("New resident"),
                        person("Visiting grandson", expertise="intermediate", style="typos and slang")))
    at.number_input(key=f"persona_n_{p}").set_value(3)
    at.button(key=f"persona_generate_{p}").click().run()
    assert not at.exception
    [sent] = server.requests
    assert AUDIENCE in sent["messages"][0]["content"]
    assert not at.dataframe  # nothing stored yet: the proposal is a draft
    assert any(c.value.startswith("Spread: goal 1 of 5 values") for c in at.caption)
    token = at.session_state[f"persona_drafts_{p}"][0]
    at.number_input(key=f"draft_weight_{p}_{token}_0").set_value(3.0)
    at.checkbox(key=f"draft_pinned_{p}_{token}_0").check()
    at.checkbox(key=f"draft_accept_{p}_{token}_1").uncheck()
    at.text_input(key=f"draft_name_{p}_{token}_2").input("Grandson on a visit")
    at.button(key=f"draft_save_{p}").click().run()
    assert not at.exception
    assert at.success[0].value == "Saved 2 personas."
    table = at.dataframe[0].value
    assert list(table["name"]) == ["Former projectionist", "Grandson on a visit"]
    assert list(table["weight"]) == [3.0, 1.0] and list(table["pinned"]) == [True, False]
    assert list(table["description"])[0] == "Former projectionist, who lives in the care home."


def test_set_weight_and_pin_on_saved_personas(page):
    at, server, p = page
    at.checkbox(key=f"persona_random_{p}").check()
    at.button(key=f"persona_generate_{p}").click().run()  # four drawn at random: no call
    at.button(key=f"draft_save_{p}").click().run()
    assert server.requests == []
    ids = [int(i) for i in at.dataframe[0].value["id"]]
    assert len(ids) == 4
    at.number_input(key=f"persona_w_{p}_{ids[1]}_1.0_False").set_value(5.5)
    at.checkbox(key=f"persona_pin_{p}_{ids[2]}_1.0_False").check()
    at.button(key=f"persona_weights_save_{p}").click().run()
    assert at.success[0].value == "Saved the weights and pins of 2 persona(s)."
    table = at.dataframe[0].value
    assert list(table["weight"]) == [1.0, 5.5, 1.0, 1.0] and list(table["pinned"]) == [False, False, True, False]
    assert at.number_input(key=f"persona_w_{p}_{ids[1]}_5.5_False").value == 5.5  # the form shows what is stored


def test_a_failed_proposal_is_shown_and_the_demo_model_draws(page, monkeypatch):
    at, server, p = page
    server.script(Reply(status=400))
    at.button(key=f"persona_generate_{p}").click().run()
    assert not at.exception
    assert at.error[0].value.startswith("The model could not propose personas:")
    assert f"persona_drafts_{p}" not in at.session_state

    monkeypatch.delenv("OPENAI_BASE_URL")  # the bundled toy model
    st.cache_resource.clear()
    at.switch_page(SETUP).run()
    assert at.warning[0].value.startswith("**Demo model.**")
    assert at.checkbox(key=f"persona_random_{p}").disabled
    at.button(key=f"persona_generate_{p}").click().run()
    assert not at.exception
    assert at.session_state[f"persona_drafts_{p}"][1].source == "random"
    assert len(server.requests) == 1  # only the failed one
