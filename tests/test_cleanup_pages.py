"""Keep and clean in the designer pages, through AppTest against a scripted endpoint and a real DuckDB file:
a persona is deleted only after a second, explicit step, and one a rating study uses is refused with the
reason; a project is exported, deleted and imported again from the Projects page."""

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


def test_export_archive_delete_and_import_a_project_on_the_projects_page(app):
    from vt_core.designer import export_json

    p = pid(app)
    exported = export_json(app.store, p)
    app.switch_page(PROJECTS).run()
    assert app.get("download_button") and {b.proto.label for b in app.get("download_button")} == \
        {"JSON, to import", "Markdown report"}

    # A study plays the project: deleting is refused, archiving is not.
    assert "project 'Movie buddy' is played by rating study 'X' (conditions baseline, tuned)" in app.error[0].value
    app.button(key=f"archive_project_{p}").click().run()
    assert not app.exception
    assert app.success[0].value == "Project 'Movie buddy' is archived: hidden, and kept whole."
    assert app.selectbox(key="archived_pick_projects").options == ["Movie buddy"]
    assert not app.get("download_button") and not app.sidebar.selectbox  # no project is left to choose

    # An unused project: deleted after the confirmation, then imported again from its file.
    create_project(app, "Spare")
    spare = pid(app)
    spare_file = export_json(app.store, spare)
    app.checkbox(key=f"delete_sure_project_{spare}").check().run()
    app.button(key=f"delete_project_{spare}").click().run()
    assert not app.exception
    assert app.success[0].value == "Deleted project 'Spare'."
    app.file_uploader(key="import_file").set_value(("spare.json", spare_file.encode(), "application/json"))
    app.button(key="import_submit").click().run()
    assert not app.exception
    assert app.success[0].value == "Imported project 'Spare'."
    assert get_project(app.store, pid(app)).name == "Spare"

    # A second copy of the archived one comes in beside it; a malformed file is refused.
    app.file_uploader(key="import_file").set_value(("movie.json", exported.encode(), "application/json"))
    app.button(key="import_submit").click().run()
    assert app.success[0].value == "Imported project 'Movie buddy (imported)'."
    app.file_uploader(key="import_file").set_value(("broken.json", b'{"format": 1}', "application/json"))
    app.button(key="import_submit").click().run()
    assert app.error[0].value.startswith("Cannot import broken.json: this is not a Visionary Tuning project file")


def test_a_run_in_a_study_is_refused_and_can_be_archived_on_the_selfplay_page(app):
    from vt_core.designer import get_version, list_selfplay_runs

    listed = list_selfplay_runs(app.store, pid(app))
    runs, numbers = [r.id for r in listed], [r.number for r in listed]
    assert len(runs) == 2  # the study's two conditions
    app.switch_page(SELFPLAY).run()
    assert not app.exception
    app.selectbox(key="sp_keep_choice").set_value(runs[0]).run()
    assert app.error[0].value == f"Self-play run {numbers[0]} cannot be deleted:\n\n- self-play run {numbers[0]} is " \
                                 f"used by rating study 'X' (2 items)"
    app.button(key=f"archive_run_{runs[0]}").click().run()
    assert not app.exception
    assert list(app.dataframe[0].value["run"]) == [numbers[1]]
    version = get_version(app.store, listed[0].version_id).number
    assert app.selectbox(key="archived_pick_runs").options == [f"Run {numbers[0]}: 2 conversations of v{version}"]
