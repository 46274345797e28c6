"""Keep and clean in the designer pages, through AppTest against a scripted endpoint and a real DuckDB file:
a persona is deleted only after a second, explicit step, and one a rating study uses is refused with the
reason; a project is exported, deleted and imported again from the Projects page."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.scripted_server import ScriptedServer
from tests.scripted_worlds import EmojiWorld
from tests.test_designer_pages import PROJECTS, SETUP, create_project, open_app, pid
from tests.test_studies import minimal
from vt_core.crowd.items import add_items_from_selfplay
from vt_core.crowd.studies import create_study, parse_study
from vt_core.designer import add_persona, add_scenario, add_version, get_project, list_personas

SELFPLAY = "views/designer/selfplay.py"


@pytest.fixture
def app(app_env):
    """The app with project 'Movie buddy', whose persona Ann plays in rating study 'X' and Bob in nothing."""
    with ScriptedServer(respond=EmojiWorld()) as server:
        app_env(server.url)
        at = create_project(open_app())
        from views.shared.services import services  # the app's own store and model, cached in this process

        store, llm = services().store, services().llm
        project = get_project(store, pid(at))
        tuned = add_version(store, project.id, "Never use emojis.", author="designer")
        add_persona(store, project.id, "Ann", {"mood": "calm"})
        add_scenario(store, project.id, title="Tonight", description="wants a film", user_goal="a film", difficulty=1)
        conditions = [{"name": "baseline", "project": project.name, "version": project.current_version_id},
                      {"name": "tuned", "project": project.name, "version": tuned.id}]
        study = create_study(store, parse_study(minimal(name="X", conditions=conditions)))
        add_items_from_selfplay(store, llm, study, n=2, max_turns=1, seed=0)
        add_persona(store, project.id, "Bob", {"mood": "grumpy"})
        at.store = store
        yield at


def persona_ids(at: AppTest) -> dict[str, int]:
    return {p.name: p.id for p in list_personas(at.store, pid(at), include_archived=True)}


def test_delete_a_persona_after_confirming_and_refused_for_one_in_a_study(app):
    p, ids = pid(app), persona_ids(app)
    app.switch_page(SETUP).run()
    assert not app.exception

    app.selectbox(key=f"persona_pick_{p}").select(ids["Bob"]).run()
    button = app.button(key=f"delete_persona_{ids['Bob']}")
    assert button.disabled  # the first step alone deletes nothing
    app.checkbox(key=f"delete_sure_persona_{ids['Bob']}").check().run()
    assert not app.button(key=f"delete_persona_{ids['Bob']}").disabled
    app.button(key=f"delete_persona_{ids['Bob']}").click().run()
    assert not app.exception
    assert app.success[0].value == "Deleted persona 'Bob'."
    assert list(app.dataframe[0].value["name"]) == ["Ann"]
    assert "Bob" not in persona_ids(app)

    app.selectbox(key=f"persona_pick_{p}").select(ids["Ann"]).run()
    assert [e.value for e in app.error] == [
        "Persona 'Ann' cannot be deleted:\n\n- persona 'Ann' is used by rating study 'X' (4 items)"]
    assert not [b for b in app.button if b.key == f"delete_persona_{ids['Ann']}"]  # nothing to click
    assert "Ann" in persona_ids(app)


def test_archive_a_persona_and_show_it_again(app):
    p, ids = pid(app), persona_ids(app)
    app.switch_page(SETUP).run()
    app.selectbox(key=f"persona_pick_{p}").select(ids["Ann"]).run()
    app.button(key=f"archive_persona_{ids['Ann']}").click().run()
    assert not app.exception
    assert app.success[0].value == "Persona 'Ann' is archived: hidden, and kept whole."
    assert list(app.dataframe[0].value["name"]) == ["Bob"]
    assert app.selectbox(key=f"archived_pick_persona_{p}").options == [f"#{ids['Ann']} Ann"]
    app.button(key=f"archive_persona_{p}_{ids['Ann']}").click().run()
    assert app.success[0].value == "Persona 'Ann' is shown again."
    assert list(app.dataframe[0].value["name"]) == ["Ann", "Bob"]
