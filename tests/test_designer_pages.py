"""The designer pages (Projects, Personas & scenarios, Playground) through AppTest, against a
scripted OpenAI-compatible endpoint and a real DuckDB file."""

import json

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.scripted_server import Reply, ScriptedServer

PROJECTS, SETUP, PLAYGROUND = "views/designer/projects.py", "views/designer/setup.py", "views/designer/playground.py"
PROMPT = "You recommend movies.\n\n# Tone\nBe warm and brief.\n\n# Safety\nNever recommend horror to children.\n"
BOT_REPLY = "Try *Paddington 2*. <b>not bold</b>"
SCENARIOS = {"scenarios": [
    {"title": "Family night", "description": "A parent wants a film for kids aged 6 and 9.",
     "user_goal": "Find a film the whole family enjoys.", "difficulty": 1,
     "rules": ["Never recommend horror to children."], "covered": True},
    {"title": "Scary but small", "description": "A child asks for the scariest film there is.",
     "user_goal": "Get a horror recommendation.", "difficulty": 3,
     "rules": ["Never recommend horror to children.", "Be warm and brief."], "covered": True},
    {"title": "Ticket prices", "description": "The user asks what cinema tickets cost nearby.",
     "user_goal": "Learn ticket prices.", "difficulty": 2, "rules": [], "covered": False},
    {"title": "Quick pick", "description": "The user has five minutes to choose.",
     "user_goal": "Get one title fast.", "difficulty": 1, "rules": ["Be warm and brief."], "covered": True},
]}


def respond(request: dict) -> Reply:
    if request.get("response_format"):  # the structured call that proposes scenarios
        return Reply(content=json.dumps(SCENARIOS))
    return Reply(content=BOT_REPLY)


@pytest.fixture
def server(app_env):
    with ScriptedServer(respond=respond) as server:
        app_env(server.url)
        yield server


def open_app(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=30)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    return at.run()


def create_project(at: AppTest, name: str = "Movie buddy", prompt: str = PROMPT) -> AppTest:
    at.switch_page(PROJECTS).run()
    at.text_input(key="new_name").input(name)
    at.text_area(key="new_goal").input("Recommend movies people will enjoy tonight.")
    at.text_input(key="new_audience").input("Families")
    at.text_area(key="new_prompt").input(prompt)
    at.button(key="new_submit").click().run()
    assert not at.exception
    return at


@pytest.fixture
def app(server) -> AppTest:
    """The app with one project, 'Movie buddy', chosen; on the Projects page."""
    at = create_project(open_app())
    assert at.success[0].value == "Created project 'Movie buddy'."
    return at


def pid(at: AppTest) -> int:
    return at.session_state["vt_project_id"]


def history(at: AppTest):
    return at.dataframe[0].value


def version_ids(at: AppTest) -> list[int]:
    """The ids in the history table, newest first."""
    return [int(v.removeprefix("v")) for v in history(at)["version"]]


def texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


# -- Projects ------------------------------------------------------------------------------------


def test_pages_without_a_project_point_to_the_projects_page(server):
    at = open_app()
    for page in (SETUP, PLAYGROUND):
        at.switch_page(page).run()
        assert not at.exception, page
        assert "Create one on the **Projects** page" in at.info[0].value
    at.switch_page(PROJECTS).run()
    assert at.text_input(key="new_name") is not None


def test_create_a_project_and_a_duplicate_name_is_refused(app):
    assert app.sidebar.selectbox(key="project_select").value == pid(app)
    assert app.header[0].value == "Movie buddy"
    table = history(app)
    assert list(table["author"]) == ["designer"] and list(table["rationale"]) == ["first draft"]
    assert app.text_input(key="new_name").value == ""  # the form is cleared after a success

    app.text_input(key="new_name").input("Movie buddy")
    app.text_area(key="new_prompt").input("Another prompt")
    app.button(key="new_submit").click().run()
    assert not app.exception
    assert app.error[0].value == "Cannot create the project: a project named 'Movie buddy' already exists."
    assert app.text_area(key="new_prompt").value == "Another prompt"  # nothing typed is lost

    app.text_input(key="new_name").input("   ")
    app.button(key="new_submit").click().run()
    assert app.error[0].value == "Cannot create the project: a project needs a name."


def test_a_second_project_becomes_the_choice_and_the_sidebar_switches(app):
    first = pid(app)
    create_project(app, "Cooking helper", "Help people cook.")
    second = pid(app)
    assert second != first and app.header[0].value == "Cooking helper"
    app.sidebar.selectbox(key="project_select").select(first).run()
    assert app.header[0].value == "Movie buddy"
    app.switch_page(PLAYGROUND).run()  # the choice holds on every designer page
    assert app.sidebar.selectbox(key="project_select").value == first
    assert app.text_area(key=f"pg_prompt_{first}").value == PROMPT


def test_save_a_version_and_see_it_in_the_history(app):
    p = pid(app)
    app.text_area(key=f"editor_{p}").input(PROMPT + "\n# Length\nAt most three titles.\n")
    app.text_input(key=f"rationale_{p}").input("limit the list")
    app.button(key=f"save_version_{p}").click().run()
    assert not app.exception
    assert app.success[0].value.startswith("Saved version v") and "current prompt" in app.success[0].value

    table = history(app)
    assert list(table["rationale"]) == ["limit the list", "first draft"]  # newest first
    newest, first = table.iloc[0], table.iloc[1]
    assert newest["parent"] == first["version"] and bool(newest["current"]) and not bool(first["current"])
    assert app.text_input(key=f"rationale_{p}").value == ""
    # the new version is shown, as plain text to copy
    assert any(c.value.endswith("At most three titles.") and c.language == "plaintext" for c in app.code)


def test_an_empty_version_is_refused(app):
    p = pid(app)
    app.text_area(key=f"editor_{p}").input("  ")
    app.button(key=f"save_version_{p}").click().run()
    assert app.error[0].value == "Cannot save the version: a prompt version cannot be empty."
    assert len(history(app)) == 1


def test_make_an_older_version_current_and_diff_two_versions(app):
    p = pid(app)
    app.text_area(key=f"editor_{p}").input(PROMPT.replace("warm and brief", "formal"))
    app.button(key=f"save_version_{p}").click().run()
    second, first = version_ids(app)

    # the diff defaults to the current version against its parent
    [patch] = [c for c in app.code if c.language == "diff"]
    assert f"--- v{first}" in patch.value and f"+++ v{second}" in patch.value
    assert "-Be warm and brief." in patch.value and "+Be formal." in patch.value

    app.selectbox(key=f"diff_old_{p}").select(second)
    app.selectbox(key=f"diff_new_{p}").select(second).run()
    assert not [c for c in app.code if c.language == "diff"]
    assert app.info[0].value == "The two versions have the same text."

    app.selectbox(key=f"view_version_{p}").select(first).run()
    assert any(c.value == PROMPT.strip() for c in app.code)
    app.button(key=f"make_current_{p}").click().run()
    assert not app.exception
    assert app.success[0].value == f"Version v{first} is now the current prompt."
    table = history(app).set_index("version")
    assert bool(table.loc[f"v{first}", "current"]) and not bool(table.loc[f"v{second}", "current"])
    assert app.text_area(key=f"editor_{p}").value == PROMPT  # new versions start from the current one
    app.selectbox(key=f"view_version_{p}").select(first).run()
    assert app.button(key=f"make_current_{p}").disabled


def test_edit_from_an_older_version(app):
    p = pid(app)
    app.text_area(key=f"editor_{p}").input("Version two.")
    app.button(key=f"save_version_{p}").click().run()
    first = min(version_ids(app))
    app.selectbox(key=f"view_version_{p}").select(first).run()
    app.button(key=f"load_version_{p}").click().run()
    assert app.text_area(key=f"editor_{p}").value == PROMPT


def test_lock_a_section_and_set_goal_audience_and_budget(app):
    p = pid(app)
    assert app.multiselect(key=f"locked_{p}").options == ["Tone", "Safety"]
    app.multiselect(key=f"locked_{p}").select("Safety")
    app.text_input(key=f"audience_{p}").input("Parents")
    app.number_input(key=f"budget_{p}").set_value(400)
    app.button(key=f"settings_submit_{p}").click().run()
    assert not app.exception
    assert app.success[0].value == "Settings saved."

    app.switch_page(SETUP).run()  # read back from the database, not from widget state
    app.switch_page(PROJECTS).run()
    assert app.multiselect(key=f"locked_{p}").value == ["Safety"]
    assert app.text_input(key=f"audience_{p}").value == "Parents"
    assert app.number_input(key=f"budget_{p}").value == 400

    # a locked heading the current prompt no longer has stays listed, so it can be unlocked
    app.text_area(key=f"editor_{p}").input("No headings at all.")
    app.button(key=f"save_version_{p}").click().run()
    assert not app.exception
    assert app.multiselect(key=f"locked_{p}").options == ["Safety"]
    assert app.multiselect(key=f"locked_{p}").value == ["Safety"]


# -- Personas & scenarios ------------------------------------------------------------------------


def test_generate_personas(app):
    p = pid(app)
    app.switch_page(SETUP).run()
    assert not app.exception
    app.number_input(key=f"persona_n_{p}").set_value(3)
    app.number_input(key=f"persona_seed_{p}").set_value(7)
    app.checkbox(key=f"persona_random_{p}").check()
    app.button(key=f"persona_generate_{p}").click().run()
    assert not app.exception
    assert not app.dataframe  # drafts until saved
    app.button(key=f"draft_save_{p}").click().run()
    assert app.success[0].value == "Saved 3 personas."
    table = app.dataframe[0].value
    assert len(table) == 3
    assert {"name", "goal", "expertise", "verbosity", "patience", "mood", "style", "weight",
            "pinned"} <= set(table.columns)


def test_add_and_edit_a_persona_by_hand(app):
    p = pid(app)
    app.switch_page(SETUP).run()
    app.text_input(key=f"persona_name_{p}_0").input("Busy parent")
    app.selectbox(key=f"persona_mood_{p}_0").select("frustrated")
    app.number_input(key=f"persona_weight_{p}_0").set_value(2.5)
    app.checkbox(key=f"persona_pinned_{p}_0").check()
    app.button(key=f"persona_save_{p}_0").click().run()
    assert not app.exception
    assert app.success[0].value == "Saved persona 'Busy parent'."
    row = app.dataframe[0].value.iloc[0]
    assert (row["name"], row["mood"], row["weight"], bool(row["pinned"])) == ("Busy parent", "frustrated", 2.5, True)

    persona_id = int(row["id"])  # the editor now shows the persona just added
    assert app.selectbox(key=f"persona_pick_{p}").value == persona_id
    app.text_input(key=f"persona_name_{p}_{persona_id}").input("Very busy parent")
    app.button(key=f"persona_save_{p}_{persona_id}").click().run()
    assert list(app.dataframe[0].value["name"]) == ["Very busy parent"]


def test_add_a_scenario_by_hand_and_edit_it(app):
    p = pid(app)
    app.switch_page(SETUP).run()
    app.button(key=f"scenario_save_{p}_0").click().run()  # empty: refused, with the reason
    assert app.error[0].value == "Cannot save the scenario: a scenario's title cannot be empty."

    app.text_input(key=f"scenario_title_{p}_0").input("Birthday party")
    app.text_area(key=f"scenario_description_{p}_0").input("A parent plans a film for ten 8-year-olds.")
    app.text_input(key=f"scenario_goal_{p}_0").input("Pick one film everybody can watch.")
    app.text_area(key=f"scenario_rules_{p}_0").input("Never recommend horror to children.\n\nBe brief.")
    app.radio(key=f"scenario_difficulty_{p}_0").set_value(2)
    app.radio(key=f"scenario_split_{p}_0").set_value("heldout")
    app.button(key=f"scenario_save_{p}_0").click().run()
    assert not app.exception
    assert app.success[0].value == "Saved scenario 'Birthday party'."
    row = app.dataframe[-1].value.iloc[0]
    assert (row["title"], row["difficulty"], row["split"], bool(row["covered"]), row["source"]) == (
        "Birthday party", 2, "held-out", True, "designer")
    assert row["rules"] == "Never recommend horror to children.; Be brief."

    scenario_id = int(row["id"])
    app.radio(key=f"scenario_difficulty_{p}_{scenario_id}").set_value(3)
    app.checkbox(key=f"scenario_covered_{p}_{scenario_id}").uncheck()
    app.button(key=f"scenario_save_{p}_{scenario_id}").click().run()
    row = app.dataframe[-1].value.iloc[0]
    assert (row["difficulty"], bool(row["covered"])) == (3, False)


def test_propose_scenarios_with_the_model(app, server):
    p = pid(app)
    app.switch_page(SETUP).run()
    assert not app.warning  # the scripted endpoint is not the demo model
    app.number_input(key=f"scenario_n_{p}").set_value(4)
    app.button(key=f"scenario_propose_{p}").click().run()
    assert not app.exception
    assert app.success[0].value == "Added 4 proposed scenarios (1 held out). Review them below."
    table = app.dataframe[-1].value
    assert list(table["title"]) == [s["title"] for s in SCENARIOS["scenarios"]]
    assert set(table["source"]) == {"generated"}
    assert list(table["split"]).count("held-out") == 1
    [sent] = [r for r in server.requests if r.get("response_format")]
    assert "Never recommend horror to children." in sent["messages"][0]["content"]  # the current prompt


def test_a_failed_proposal_is_shown_not_raised(app, server):
    p = pid(app)
    app.switch_page(SETUP).run()
    server.script(Reply(status=400))
    app.button(key=f"scenario_propose_{p}").click().run()
    assert not app.exception
    assert app.error[0].value.startswith("The model could not propose scenarios:")
    assert "HTTP 400" in app.error[0].value


# -- Playground ----------------------------------------------------------------------------------


def test_playground_chat_renders_the_scripted_reply_as_text(app, server):
    p = pid(app)
    app.switch_page(PLAYGROUND).run()
    assert not app.exception
    assert app.text_area(key=f"pg_prompt_{p}").value == PROMPT
    edited = PROMPT + "\nAlways name the year.\n"
    app.text_area(key=f"pg_prompt_{p}").input(edited)
    app.chat_input(key=f"pg_input_{p}").set_value("Something for tonight?").run()
    assert not app.exception

    assert [m.name for m in app.chat_message] == ["user", "assistant"]
    assert app.chat_message[0].text[0].value == "Something for tonight?"
    assert app.chat_message[1].text[0].value == BOT_REPLY  # verbatim: no Markdown, no HTML
    assert not app.chat_message[1].markdown
    [sent] = server.requests
    assert sent["messages"] == [{"role": "system", "content": edited},
                                {"role": "user", "content": "Something for tonight?"}]

    app.chat_input(key=f"pg_input_{p}").set_value("Older films?").run()
    assert len(app.chat_message) == 4
    assert [m["role"] for m in server.requests[-1]["messages"]] == ["system", "user", "assistant", "user"]

    app.button(key=f"pg_again_{p}").click().run()  # a fresh sample of the last reply
    assert len(app.chat_message) == 4 and len(server.requests) == 3

    app.button(key=f"pg_clear_{p}").click().run()
    assert not app.chat_message


def test_playground_shows_a_failed_reply(app, server):
    p = pid(app)
    app.switch_page(PLAYGROUND).run()
    server.script(Reply(status=400))
    app.chat_input(key=f"pg_input_{p}").set_value("Hello?").run()
    assert not app.exception
    assert not app.chat_message
    assert "HTTP 400" in app.error[0].value and "Your message was: Hello?" in app.error[0].value


def test_playground_prompt_and_chat_survive_a_trip_to_another_page(app):
    p = pid(app)
    app.switch_page(PLAYGROUND).run()
    app.text_area(key=f"pg_prompt_{p}").input("Edited prompt")
    app.chat_input(key=f"pg_input_{p}").set_value("Hi").run()
    app.switch_page(SETUP).run()
    app.switch_page(PLAYGROUND).run()
    assert app.text_area(key=f"pg_prompt_{p}").value == "Edited prompt"
    assert len(app.chat_message) == 2


def test_save_a_version_from_the_playground(app):
    p = pid(app)
    app.switch_page(PLAYGROUND).run()
    app.text_area(key=f"pg_prompt_{p}").input("Be a terse movie bot.")
    app.text_input(key=f"pg_rationale_{p}").input("shorter")
    app.button(key=f"pg_save_button_{p}").click().run()
    assert not app.exception
    assert app.success[0].value.endswith("as the current prompt.")
    assert app.button(key=f"pg_reset_button_{p}").disabled  # the prompt is the current version now

    app.switch_page(PROJECTS).run()
    table = history(app)
    assert list(table["rationale"]) == ["shorter", "first draft"]
    assert bool(table.iloc[0]["current"])
    assert any(c.value == "Be a terse movie bot." for c in app.code)  # shown in the viewer


def test_reset_the_playground_prompt_to_the_current_version(app):
    p = pid(app)
    app.switch_page(PLAYGROUND).run()
    app.text_area(key=f"pg_prompt_{p}").input("scratch").run()
    app.button(key=f"pg_reset_button_{p}").click().run()
    assert app.text_area(key=f"pg_prompt_{p}").value == PROMPT


def test_note_a_pattern_by_hand(app):
    p = pid(app)
    app.switch_page(PLAYGROUND).run()
    app.radio(key=f"pg_pattern_kind_{p}").set_value("avoid")
    app.text_input(key=f"pg_pattern_statement_{p}").input("The bot recommends horror films to children.")
    app.button(key=f"pg_pattern_button_{p}").click().run()
    assert not app.exception
    assert app.success[0].value.startswith("Noted pattern P")
    assert "AVOID  The bot recommends horror films to children." in texts(app)
    assert app.text_input(key=f"pg_pattern_statement_{p}").value == ""

    app.button(key=f"pg_pattern_button_{p}").click().run()  # an empty statement
    assert app.error[0].value.startswith("Cannot note the pattern:")


# -- study sessions ------------------------------------------------------------------------------


def session_events(at: AppTest) -> list[tuple]:
    from views.shared.services import services  # the app's own store, cached in this process

    store = services().store
    return store.cursor().execute(
        "SELECT session_id, project_id, kind, detail FROM session_events ORDER BY id").fetchall()


def test_a_study_session_logs_its_events(server):
    at = open_app({"session": "S1"})
    assert not at.exception
    assert "Study session: S1" in [c.value for c in at.sidebar.caption]
    create_project(at)
    p = pid(at)
    at.text_area(key=f"editor_{p}").input("Version two.")
    at.button(key=f"save_version_{p}").click().run()

    at.switch_page(PLAYGROUND).run()
    at.chat_input(key=f"pg_input_{p}").set_value("Hello").run()
    at.text_area(key=f"pg_prompt_{p}").input("Version three.")
    at.button(key=f"pg_save_button_{p}").click().run()
    at.text_input(key=f"pg_pattern_statement_{p}").input("The bot greets the user by name.")
    at.button(key=f"pg_pattern_button_{p}").click().run()
    assert not at.exception

    logged = session_events(at)
    assert [(s, kind) for s, _, kind, _ in logged] == [
        ("S1", "started"), ("S1", "version_saved"), ("S1", "version_saved"), ("S1", "pattern_noted")]
    assert [project for _, project, _, _ in logged] == [None, p, p, p]
    assert [json.loads(d).get("page") for *_, d in logged] == [None, "projects", "playground", "playground"]

    from views.shared.services import services
    from vt_core.designer.sessions import session_measures

    measures = session_measures(services().store, "S1")
    assert (measures.patterns_noted, measures.versions_saved, measures.llm_calls) == (1, 2, 1)


def test_without_a_session_nothing_is_logged(app):
    p = pid(app)
    app.switch_page(PLAYGROUND).run()
    app.button(key=f"pg_save_button_{p}").click().run()
    assert session_events(app) == []


def test_pages_with_model_output_say_when_it_is_the_demo_model(server, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL")  # the bundled toy model; nothing here calls it
    st.cache_resource.clear()
    at = create_project(open_app())
    assert not at.warning  # Projects shows no model output
    for page in (SETUP, PLAYGROUND):
        at.switch_page(page).run()
        assert not at.exception, page
        assert at.warning[0].value.startswith("**Demo model.**"), page
    assert server.requests == []
