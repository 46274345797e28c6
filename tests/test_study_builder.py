"""Researcher › Rating studies › Build a study, through AppTest on a real DuckDB file: a study built
in the form is a draft whose conditions are the chosen prompt versions; an invalid form names the
field and creates nothing; a built study downloads as a TOML file that loads back the same."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import app_store
from tests.scripted_server import ScriptedServer
from tests.test_monitor import definition
from tests.test_studies import scripted_conversation
from vt_core.crowd.studies import (
    definition_to_toml,
    list_studies,
    load_study_file,
    parse_study,
)
from vt_core.designer.personas import add_persona
from vt_core.designer.projects import add_version, create_project, versions
from vt_core.designer.scenarios import add_scenario
from vt_core.designer.selfplay import new_run
from vt_core.designer.transcripts import Turn, save_transcript

PAGE = "views/researcher/studies.py"


def shown(error) -> str:
    """An error as the page shows it: the Markdown escapes of the quoted file's text taken out."""
    return error.value.replace("\\", "")


PROMPT = "You recommend movies.\n\n- Ask what the user is in the mood for.\n* Recommend at most three films.\n"


@pytest.fixture
def app(app_env):
    with ScriptedServer(respond=scripted_conversation) as server:
        app_env(server.url)
        at = AppTest.from_file("../app.py", default_timeout=30).run()
        store = app_store()
        project = create_project(store, "Movie bot", goal="recommend movies", audience="film fans", prompt=PROMPT)
        add_version(store, project.id, PROMPT + "- Be honest about streaming.\n", author="refinement",
                    make_current=True)
        at.switch_page(PAGE).run()
        assert not at.exception
        yield at


def fill(at: AppTest, **changes) -> AppTest:
    """Fill the form's required fields (consent, name, codes), then `changes` by widget key."""
    values = {"rs_b_name": "built study", "rs_b_consent": "I agree to take part.",
              "rs_b_code_completed": "C1DONE", "rs_b_code_screened_out": "C2OUT", "rs_b_code_failed_checks": "C3FAIL"}
    values.update(changes)
    for key, value in values.items():
        _widget(at, key).set_value(value)
    return at


def _widget(at: AppTest, key: str):
    for kind in ("text_input", "text_area", "number_input", "selectbox", "checkbox", "multiselect"):
        try:
            return getattr(at, kind)(key=key)
        except KeyError:
            continue
    raise KeyError(key)


def submit(at: AppTest) -> AppTest:
    return at.button(key="rs_b_submit").click().run()


def test_the_form_is_prefilled_from_the_project(app):
    store = app_store()
    first, second = (v.number for v in versions(store, 1))
    assert app.multiselect(key="rs_b_versions").value == [first, second]
    assert app.text_input(key="rs_b_condition_0").value == "baseline"
    assert app.text_input(key="rs_b_condition_1").value == "tuned"
    assert app.text_area(key="rs_b_instructions").value.splitlines() == [
        "Ask what the user is in the mood for.", "Recommend at most three films.", "Be honest about streaming."]
    assert app.text_input(key="rs_b_check_0_instruction").value == \
        "Please answer 2 ('Disagree') for the first question."
    assert (app.selectbox(key="rs_b_check_0_dimension").value, app.number_input(key="rs_b_check_0_expected").value) \
        == ("adherence", 2)
    assert (app.selectbox(key="rs_b_check_1_dimension").value, app.number_input(key="rs_b_check_1_expected").value) \
        == ("quality", 6)


def test_a_study_built_in_the_form_is_a_draft_on_the_chosen_versions(app, tmp_path):
    store = app_store()
    first, second = (v.number for v in versions(store, 1))
    at = submit(fill(app, rs_b_k=3, rs_b_items=10, rs_b_condition_1="refined", rs_b_platform="mturk"))
    assert not at.exception
    assert [shown(e) for e in at.error] == []
    assert at.success[0].value == "Created draft study 1 'built study'."
    assert at.session_state["rs_study"] == 1
    [study] = list_studies(store)
    d = study.definition
    assert study.status == "draft"
    assert [(c.name, c.project, c.version) for c in d.conditions] == [("baseline", "Movie bot", first),
                                                                      ("refined", "Movie bot", second)]
    assert (d.platform, d.items_per_rater, d.ratings_per_item, d.lease_minutes, d.min_seconds_per_item) == \
        ("mturk", 10, 3, 30, 4.0)
    assert d.instructions == ["Ask what the user is in the mood for.", "Recommend at most three films.",
                              "Be honest about streaming."]
    assert [(c.dimension, c.expected) for c in d.attention_checks] == [("adherence", 2), ("quality", 6)]
    assert d.comprehension.answer in d.comprehension.options
    assert (d.completion_codes.completed, d.completion_codes.screened_out, d.completion_codes.failed_checks) == \
        ("C1DONE", "C2OUT", "C3FAIL")
    # the built study is offered as a TOML file, which loads back as the same definition
    label = "Download 'built study' as a TOML study file, to keep it in `studies/`"
    assert any(b.proto.label == label for b in at.get("download_button"))
    _, toml_text = at.session_state["rs_b_toml"]
    path = tmp_path / "built_study.toml"
    path.write_text(toml_text, encoding="utf-8")
    assert load_study_file(path) == d


def test_an_invalid_form_names_the_field_and_creates_nothing(app):
    at = submit(fill(app, rs_b_code_failed_checks="", rs_b_condition_1="baseline",
                     rs_b_answer="not an option"))
    assert not at.exception
    errors = [shown(e) for e in at.error]
    assert "the form: completion_codes.failed_checks: must not be empty" in errors
    assert "the form: conditions: condition names must be unique; repeated: baseline" in errors
    assert any(e.startswith("the form: comprehension: the answer 'not an option' is not one of") for e in errors)
    assert list_studies(app_store()) == []
    # what was typed is kept, so it can be fixed and sent again
    assert at.text_input(key="rs_b_name").value == "built study"
    at.text_input(key="rs_b_code_failed_checks").set_value("C3FAIL")
    at.text_input(key="rs_b_condition_1").set_value("tuned")
    at.text_input(key="rs_b_answer").set_value(at.text_area(key="rs_b_options").value.splitlines()[1])
    at = submit(at)
    assert at.success[0].value == "Created draft study 1 'built study'."


def test_one_version_is_not_a_comparison(app):
    app.multiselect(key="rs_b_versions").set_value([versions(app_store(), 1)[0].number]).run()
    at = submit(fill(app))
    assert "the form: conditions: at least 2 conditions are needed to compare, found 1" in [shown(e) for e in at.error]
    assert list_studies(app_store()) == []


def test_a_taken_name_is_refused(app):
    at = submit(fill(app))
    at = submit(at)
    assert [shown(e) for e in at.error] == ["a study named 'built study' already exists; choose another name"]
    assert len(list_studies(app_store())) == 1


def test_the_toml_round_trips_through_load_study_file(tmp_path):
    built = parse_study(definition(
        description='Quotes "like this", a backslash \\ and\nnew lines; unicode é ✓',
        conditions=[{"name": "baseline", "project": "Movie bot", "version": 1},
                    {"name": "tuned", "project": "Movie bot", "version": 2}],
        instructions=["Be brief.", "Say 'I am not sure' when unsure."],
        gold_items=[{"turns": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Buy stocks!"}],
                     "expected": {"adherence": 1}}],
        min_seconds_per_item=2.5,
    ))
    path = tmp_path / "built.toml"
    path.write_text(definition_to_toml(built), encoding="utf-8")
    assert load_study_file(path) == built
    shipped = load_study_file("studies/crowd_study.toml")
    path.write_text(definition_to_toml(shipped), encoding="utf-8")
    assert load_study_file(path) == shipped


def a_transcript(store) -> int:
    """A conversation of the project in which the bot recommends five films at once."""
    persona = add_persona(store, 1, "Ann", {})
    scenario = add_scenario(store, 1, title="Late-night pick", description="d", user_goal="g", difficulty=1)
    run_id, _ = store.transaction(lambda db: new_run(db, 1, conversations=1, version_id=1, max_turns=1, seed=0,
                                                     simulator_model="sim", bot_model="bot", status="done"))
    return save_transcript(store, run_id=run_id, project_id=1, version_id=1, persona_id=persona.id,
                           scenario_id=scenario.id, seed=0, simulator_model="sim", bot_model="bot", ended_by="user",
                           turns=[Turn("user", "A film, please."), Turn("assistant", "Alien, Heat, Up, Jaws, Fargo.")])


def test_custom_scales_and_gold_items_from_the_form(app):
    transcript_id = a_transcript(app_store())
    at = app.run()
    at.number_input(key="rs_b_scales").set_value(3).run()
    at.text_input(key="rs_b_scale_1_labels").set_value("Poor / Fair / Good / Very good / Excellent")
    at.text_input(key="rs_b_scale_2_key").set_value("brevity")
    at.text_input(key="rs_b_scale_2_question").set_value("The bot's replies are short.")
    at.text_input(key="rs_b_scale_2_labels").set_value("No / Yes")
    at.checkbox(key="rs_b_scale_2_instructions").check().run()
    assert at.selectbox(key="rs_b_check_1_dimension").options == ["adherence", "quality", "brevity"]
    at.multiselect(key="rs_b_gold").set_value([transcript_id]).run()
    at.number_input(key=f"rs_b_gold_{transcript_id}_adherence").set_value(1)
    at.number_input(key=f"rs_b_gold_{transcript_id}_quality").set_value(2)
    at.number_input(key=f"rs_b_gold_{transcript_id}_brevity").set_value(1)
    at = submit(fill(at))  # the second check still expects a 6, which the new 5-point scale does not have
    assert [shown(e) for e in at.error][1:] == [
        "the form: attention_checks[1].expected: 6 is off the scale of 'quality', which runs from 1 to 5"]
    at.number_input(key="rs_b_check_1_expected").set_value(4)
    at = submit(at)
    assert [shown(e) for e in at.error] == []
    [study] = list_studies(app_store())
    d = study.definition
    assert [(x.key, x.points, x.show_instructions) for x in d.dimensions] == [
        ("adherence", 7, True), ("quality", 5, False), ("brevity", 2, True)]
    assert d.dimensions[1].labels == ["Poor", "Fair", "Good", "Very good", "Excellent"]
    [gold] = d.gold_items
    assert [(t.role, t.content) for t in gold.turns] == [("user", "A film, please."),
                                                         ("assistant", "Alien, Heat, Up, Jaws, Fargo.")]
    assert gold.expected == {"adherence": 1, "quality": 2, "brevity": 1}


def test_a_scale_with_a_bad_short_name_is_refused_by_its_field(app):
    at = app.run()
    at.text_input(key="rs_b_scale_1_key").set_value("Quality!").run()
    at = submit(fill(at))
    errors = [shown(e) for e in at.error]
    assert any(e.startswith("the form: dimensions[1].key:") for e in errors), errors
    assert list_studies(app_store()) == []
