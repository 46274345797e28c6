"""The participant's flow through AppTest, on a real DuckDB file: the link, the task brief, the
condition's pages only, logging to the study session, finish, the questionnaire, the second task,
the end; a refresh (a new session) resumes; the time limit ends a task by itself. And the
researcher's "User studies" tab (views/shared/userstudy_tab.py): load, links, measures, analysis."""

from __future__ import annotations

from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import app_store
from tests.scripted_server import Reply, ScriptedServer
from vt_core.designer.projects import create_project, current_version, get_version
from vt_core.userstudy.definition import load_user_study_file
from vt_core.userstudy.flow import (
    MEASURE_COLUMNS,
    create_user_study,
    get_user_study,
    list_user_studies,
    participants,
    resume,
    task_records,
)
from vt_core.userstudy.measures import import_measures

STUDY_FILE = "studies/designer_study.toml"
PATTERNS, PLAYGROUND, PROJECTS = (f"views/designer/{page}.py" for page in ("patterns", "playground", "projects"))
TLX_KEYS = ("tlx_mental", "tlx_physical", "tlx_temporal", "tlx_performance", "tlx_effort", "tlx_frustration")


@pytest.fixture
def server(app_env):
    with ScriptedServer(Reply(content="A reply from the bot.")) as server:
        app_env(server.url)
        yield server


@pytest.fixture
def study(server):
    return create_user_study(app_store(), load_user_study_file(STUDY_FILE))


def who(study, index: int):
    return participants(app_store(), study.id)[index]


def open_link(token: str) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=30)
    at.query_params["participant"] = token
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = []
    for kind in ("title", "subheader", "text", "markdown", "info", "warning", "error", "success", "caption"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    return at


def finish(at: AppTest, position: int) -> AppTest:
    at.checkbox(key=f"pt_done_{position}").check()
    return click(at, f"pt_finish_button_{position}")


def answer(at: AppTest, position: int, success: int, tlx: int = 40, free_text: str = "") -> AppTest:
    at.radio(key=f"pt_success_{position}").set_value(success)
    for key in TLX_KEYS:
        at.slider(key=f"pt_{key}_{position}").set_value(tlx)
    at.text_area(key=f"pt_free_{position}").input(free_text)
    return click(at, f"pt_submit_{position}")


def test_a_participant_goes_from_the_link_to_the_end(study):
    definition = study.definition
    p = who(study, 0)   # tool (movies), then control (recipes)
    at = open_link(p.token)
    shown = texts(at)
    assert "Movie night" in at.title[0].value and "Task 1 of 2" in shown.replace("\\", "")
    assert definition.welcome_text in shown and definition.task("movies").brief in shown
    assert definition.condition("tool").instructions in shown
    assert "You have 30 minutes" in shown
    with pytest.raises(ValueError, match="Could not find a navigation page"):  # no tool before the start
        at.switch_page(PROJECTS)
    assert task_records(app_store(), study.id) == []

    click(at, "pt_start")
    record = task_records(app_store(), study.id)[0]
    assert (record.condition, record.position, record.task) == ("tool", 1, "movies")
    assert at.session_state["vt_study_session"] == record.session_id
    assert any(c.value.startswith("Time left: 29 min") for c in at.sidebar.caption)
    at.switch_page(PATTERNS).run()   # the tool condition's pages are in the menu
    assert not at.exception and at.title[0].value == "Patterns"
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PLAYGROUND)
    at.switch_page("views/participant/task.py").run()

    click(at, "pt_finish_button_1")   # without the confirmation: still working
    assert "Tick the box" in at.error[0].value and resume(app_store(), p).kind == "task"
    finish(at, 1)
    assert at.subheader[0].value == "Questionnaire" and "Time is up" not in texts(at)
    with pytest.raises(ValueError, match="Could not find a navigation page"):   # the tools are gone again
        at.switch_page(PATTERNS)

    click(at, "pt_submit_1")   # no perceived success chosen
    assert at.error[0].value == "Perceived success: choose one of the answers."
    assert task_records(app_store(), study.id)[0].answered_at is None
    answer(at, 1, success=6, tlx=35, free_text="Self-play found things I missed.")
    assert at.success[0].value == "Thank you, your answers are saved. The next task follows."
    assert "Student kitchen" in at.title[0].value and definition.condition("control").instructions in texts(at)
    assert definition.welcome_text not in texts(at)

    click(at, "pt_start")
    at.switch_page(PLAYGROUND).run()   # the control condition: the playground only
    assert not at.exception and at.title[0].value == "Playground"
    for page in (PATTERNS, PROJECTS):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)
    at.switch_page("views/participant/task.py").run()
    finish(at, 2)
    answer(at, 2, success=4, tlx=60)
    assert at.title[0].value == "Thank you" and definition.end_text in texts(at)

    rows = {r.condition: r for r in task_records(app_store(), study.id)}
    assert (rows["tool"].measures["success"], rows["tool"].measures["workload"]) == (6, 35)
    assert rows["tool"].measures["free_text"] == "Self-play found things I missed."
    assert (rows["control"].position, rows["control"].measures["success"]) == (2, 4)
    assert all(r.end_reason == "finished" and r.answered_at is not None for r in rows.values())


def test_a_refresh_resumes_from_the_database(study):
    p = who(study, 1)   # control first
    at = click(open_link(p.token), "pt_start")
    record = task_records(app_store(), study.id)[0]

    again = open_link(p.token)   # a new browser session: nothing in session_state
    assert again.button(key="pt_finish_button_1") is not None and not [b for b in again.button if b.key == "pt_start"]
    assert again.session_state["vt_study_session"] == record.session_id
    assert again.query_params["participant"] == p.token
    again.switch_page(PLAYGROUND).run()
    assert not again.exception
    assert again.query_params["participant"] == p.token   # kept in the URL on every page, for the next refresh
    assert len(task_records(app_store(), study.id)) == 1     # the task was not started twice
    finish(at, 1)
    assert open_link(p.token).subheader[0].value == "Questionnaire"


def test_the_designer_pages_log_to_the_participants_session(study):
    store = app_store()
    p = who(study, 1)   # control (movies) first: the playground
    at = click(open_link(p.token), "pt_start")
    record = task_records(store, study.id)[0]
    other = create_project(store, "Someone else's bot", "Another goal.", "", "Another prompt.")
    at.switch_page(PLAYGROUND).run()
    assert at.sidebar.selectbox[0].options == [f"Movie night [{record.session_id}]"]   # only the task's project
    assert other.name not in at.sidebar.selectbox[0].options
    at.text_area(key=f"pg_prompt_{record.project_id}").input("You suggest cheap recipes. Ask about allergies.")
    at.button(key=f"pg_save_button_{record.project_id}").click().run()
    at.text_input(key=f"pg_pattern_statement_{record.project_id}").input("Asks about allergies first.")
    at.button(key=f"pg_pattern_button_{record.project_id}").click().run()
    assert not at.exception
    at.switch_page("views/participant/task.py").run()
    finish(at, 1)

    measures = task_records(store, study.id)[0].measures
    assert (measures["patterns"], measures["versions_saved"]) == (1, 1)
    assert get_version(store, measures["prompt_version_id"]).text == "You suggest cheap recipes. Ask about allergies."
    assert current_version(store, record.project_id).id == measures["prompt_version_id"]
    assert "You suggest cheap recipes. Ask about allergies." in [t.value for t in at.text]   # "Your final prompt"


def test_the_time_limit_ends_the_task(study):
    store = app_store()
    p = who(study, 0)
    at = click(open_link(p.token), "pt_start")
    record = task_records(store, study.id)[0]
    limit = get_user_study(store, study.id).definition.time_limit_minutes
    store.cursor().execute("UPDATE user_study_tasks SET started_at = started_at - ? WHERE session_id = ?",
                           [timedelta(minutes=limit, seconds=1), record.session_id])
    at.run()   # any rerun (the sidebar timer makes one every 15 s) ends it
    assert not at.exception
    assert "Time is up: this task has ended." in texts(at) and at.subheader[0].value == "Questionnaire"
    ended = task_records(store, study.id)[0]
    assert ended.end_reason == "time_limit" and ended.measures["minutes"] == pytest.approx(limit)


def test_a_link_that_names_nobody_shows_only_a_message(server):
    at = open_link("no-such-token")
    assert at.title[0].value == "User study" and "names nobody" in at.error[0].value
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/researcher/statistics.py")


def researcher_tab():
    from views.shared.userstudy_tab import render

    render()


def test_the_researchers_tab_loads_a_study_and_shows_links_measures_and_analysis(server):
    at = AppTest.from_function(researcher_tab, default_timeout=60).run()
    assert not at.exception and "No user study yet" in at.info[0].value
    assert at.selectbox(key="us_file").value.name == "designer_study.toml"
    click(at, "us_load")
    study = list_user_studies(app_store())[0]
    assert at.success[0].value == f"Created user study {study.id} {study.name!r} with 12 participants."
    links = at.dataframe[0].value  # the participants
    assert list(links["participant"])[:2] == ["P01", "P02"]
    assert list(links["order"])[:2] == ["tool (movies) → control (recipes)", "control (movies) → tool (recipes)"]
    assert set(links["progress"]) == {"task 1 of 2: brief"}
    assert links["link"][0] == participants(app_store(), study.id)[0].link
    at.number_input(key="us_more").set_value(2)
    click(at, "us_add")
    assert at.success[0].value == "Added 2 participants: P13, P14."
    assert "No measures yet" in texts(at)

    rows = ["participant,condition,position,patterns,success"]
    for i in range(6):
        tool_first = i % 2
        rows += [f"E{i},tool,{2 - tool_first},{6 + i},{4 + i % 2}", f"E{i},control,{1 + tool_first},{3 + i % 3},4"]
    import_measures(app_store(), study.id, rows)
    at.run()
    assert not at.exception
    measures = at.dataframe[1].value
    assert list(measures.columns)[-len(MEASURE_COLUMNS):] == list(MEASURE_COLUMNS)
    assert len(measures) == 12 and sorted(measures["participant"].unique()) == [f"E{i}" for i in range(6)]
    shown = texts(at)
    assert "**Patterns identified**" in shown and "**Perceived success**" in shown
    assert "The number of patterns identified did not differ significantly between the control condition " \
           "(*Mdn* = 4.00, IQR 3.25–4.75) and the tool condition (*Mdn* = 8.50" in shown   # p = .031, Holm .062
    assert "Order check: the difference in perceived success (tool − control)" in shown
    assert at.dataframe[3].value["participants"].tolist() == [6, 6]   # the descriptives of patterns
