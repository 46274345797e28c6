"""Researcher › Rating studies through AppTest, on a real DuckDB file: load a study (and refuse a bad
one), import items, add checks, open it, watch the monitor fill (and follow new data on a rerun while
it is cached), and the export buttons, whose files are built when clicked, not on every rerun."""

from datetime import datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import app_store, finish_jobs
from tests.scripted_server import ScriptedServer
from tests.test_monitor import build_study, definition, flag, jsonl
from tests.test_pilot import scripted_rater
from tests.test_studies import scripted_conversation, selfplay_study
from tests.test_study_cli import toml_of
from vt_core.core.llm.calls import call_log
from vt_core.crowd.assignment import Identity, finish, next_item, register_rater, set_rater_status, submit
from vt_core.crowd.studies import create_study
from vt_core.designer.personas import generate_personas
from vt_core.designer.projects import add_version, create_project, versions
from vt_core.designer.scenarios import add_scenario

PAGE = "views/researcher/studies.py"


def shown(error) -> str:
    """An error as the page shows it: the Markdown escapes of the quoted file's text taken out."""
    return error.value.replace("\\", "")


T0 = datetime(2026, 11, 24, 12, 0, 0)


@pytest.fixture
def app(app_env):
    with ScriptedServer(respond=scripted_conversation) as server:
        app_env(server.url)
        at = AppTest.from_file("../app.py", default_timeout=30).run()
        at.switch_page(PAGE).run()
        assert not at.exception
        yield at


def count(table: str) -> int:
    return app_store().cursor().execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def upload_study(at: AppTest, data: dict, name: str = "study.toml") -> AppTest:
    at.radio(key="rs_source").set_value("upload").run()
    at.file_uploader(key="rs_upload").upload(name, toml_of(data).encode()).run()
    return at.button(key="rs_load").click().run()


def table(at: AppTest, column: str):
    """The first dataframe with this column."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def test_a_bad_file_shows_each_problem_and_saves_nothing(app):
    at = upload_study(app, definition(items_per_rater=0, attention_checks=[]), "bad.toml")
    assert not at.exception
    errors = [shown(e) for e in at.error]
    assert "bad.toml: items_per_rater: must be at least 1, found 0" in errors
    assert any(e.startswith("bad.toml: attention_checks: at least 2") for e in errors)
    assert count("studies") == 0


def test_the_whole_study_from_the_page(app):
    at = upload_study(app, definition(name="page study"))
    assert not at.exception
    assert at.success[0].value == "Created draft study 1 'page study'."
    assert table(at, "status")["status"].tolist() == ["draft"]

    # the checklist says what is missing, and opening waits for the researcher to say "anyway"
    checks = [t.value for t in at.text if t.value[:1] in "✓✗"]
    assert "✗ Items in every condition: no items yet in a, b" in checks
    assert "✗ Attention checks present: 0 in the study; add them (at least 2)" in checks
    assert at.button(key="rs_status").disabled
    at.checkbox(key="launch_anyway_1").check().run()
    # opening needs items: the error is shown, nothing changes
    at.button(key="rs_status").click().run()
    assert any("no items yet for condition(s) a, b" in shown(e) for e in at.error)

    for condition in ("a", "b"):
        at.selectbox(key="rs_jsonl_condition").set_value(condition).run()
        at.file_uploader(key="rs_jsonl").upload(f"{condition}.jsonl", "\n".join(jsonl(condition, 3)).encode()).run()
        at.button(key="rs_import").click().run()
        assert at.success[0].value == f"Imported 3 items into condition {condition!r}."
    at.file_uploader(key="rs_jsonl").upload("broken.jsonl", b'{"messages": []}\n').run()
    at.button(key="rs_import").click().run()
    assert [shown(e) for e in at.error] == ["nothing was imported:",
                                          "broken.jsonl line 1: 'messages' must be a non-empty list"]
    at.button(key="rs_checks").click().run()
    assert at.success[0].value == "Added 2 check items."
    assert table(at, "source")["items"].tolist() == [3, 3, 2]
    checks = [t.value for t in at.text if t.value[:1] in "✓✗"]
    assert "✓ Items in every condition: a: 3, b: 3" in checks and "✓ Attention checks present: 2 in the study" in checks
    assert "✗ Pilot run: no simulated rater has finished the study yet" in checks
    at.checkbox(key="launch_anyway_1").check().run()
    at.button(key="rs_status").click().run()
    assert at.success[0].value == "Study 'page study' is now open."
    token = app_store().cursor().execute("SELECT token FROM studies").fetchone()[0]
    assert at.code[0].value == (f"http://localhost:8501/?study={token}&PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}"
                                f"&STUDY_ID={{{{%STUDY_ID%}}}}&SESSION_ID={{{{%SESSION_ID%}}}}")

    # two raters through the real assignment functions; one fails both checks, too fast
    store, now = app_store(), T0
    for name in ("good", "careless"):
        rater = register_rater(store, 1, Identity("prolific", name), conditions=["a", "b"])
        set_rater_status(store, rater.id, "rating")
        while item := next_item(store, rater, items_per_rater=4, k=2, lease_minutes=30, now=now):
            values = {"adherence": 5, "quality": 5}  # wrong on both checks (they expect 2 and 6)
            if item.kind == "attention" and name == "good":
                values.update(item.expected)
            submit(store, rater.id, item.id, values, now=now + timedelta(seconds=10 if name == "good" else 1),
                   min_seconds=4)
            now += timedelta(seconds=20)
        finish(store, rater, now=now)
    at.run()
    assert not at.exception
    counts = table(at, "started")
    human = counts[counts["raters"] == "human"].iloc[0]
    assert (human["started"], human["completed"], human["failed checks"], human["ratings"]) == (2, 1, 1, 12)
    assert human["median seconds per item"] == "5.5"
    per_condition = table(at, "human ratings")
    assert per_condition["human ratings"].tolist() == [4, 4, 4]  # a, b, _checks
    excluded = table(at, "reasons")
    assert excluded["external id"].tolist() == ["careless"]
    assert set(table(at, "alpha")["dimension"]) == {"adherence", "quality"}

    # the exclusion rules are widgets: unticking brings the careless rater back
    at.checkbox(key="rs_ex_attention").uncheck().run()
    assert not any("reasons" in df.value.columns for df in at.dataframe)
    at.checkbox(key="rs_ex_fast").check().run()
    at.number_input(key="rs_ex_fast_share").set_value(0.5).run()
    assert table(at, "reasons")["external id"].tolist() == ["careless"]

    assert [b.proto.label for b in at.get("download_button")] == ["Download the per-rater table (CSV)", *EXPORT_LABELS]
    rows = app_store().cursor().execute("SELECT count(*) FROM ratings").fetchone()[0]
    assert rows == 24  # 12 rated items x 2 dimensions


def test_loading_a_file_from_the_studies_folder(app):
    at = app
    assert at.selectbox(key="rs_file").value.name == "crowd_study.toml"
    at.button(key="rs_load").click().run()
    assert not at.exception
    assert at.success[0].value == "Created draft study 1 'Crowd study: baseline vs tuned prompt'."
    assert at.get("form")  # self-play conditions: the self-play form is offered
    # ... for a project this empty database does not hold yet: said, with the field's path
    assert [shown(e) for e in at.error][1:] == ["conditions[0].project: there is no project named 'Movie night (demo)'",
                                                "conditions[1].project: there is no project named 'Movie night (demo)'"]


def test_items_from_selfplay(app):
    store = app_store()
    project = create_project(store, "Movie bot", goal="recommend movies", audience="film fans",
                             prompt="You recommend movies.")
    add_version(store, project.id, "You recommend at most three movies.", author="refinement")
    generate_personas(store, project.id, 2, seed=1)
    for i in range(2):
        add_scenario(store, project.id, title=f"scenario {i}", description=f"situation {i}",
                     user_goal=f"goal {i}", difficulty=1)
    create_study(store, selfplay_study(project, [v.id for v in versions(store, project.id)]))
    at = app.run()
    at.number_input(key="rs_sp_n").set_value(2)
    at.number_input(key="rs_sp_turns").set_value(1)
    at.button(key="rs_sp_submit").click().run()
    assert not at.exception
    finish_jobs(store)  # the items are played in a job
    at.run()
    assert at.success[0].value == "Study now has 4 self-play items."
    assert table(at, "source")["items"].tolist() == [2, 2, 0]
    call_log(store).close()  # stop the call log's writer thread, then close the cached store
    store.close()


def test_a_pilot_from_the_page(app_env):
    with ScriptedServer(respond=scripted_rater) as server:
        app_env(server.url)
        at = AppTest.from_file("../app.py", default_timeout=30).run()
        at.switch_page(PAGE).run()
        at = upload_study(at, definition(name="pilot study"))
        for condition in ("a", "b"):
            at.selectbox(key="rs_jsonl_condition").set_value(condition).run()
            at.file_uploader(key="rs_jsonl").upload(f"{condition}.jsonl", "\n".join(jsonl(condition, 4)).encode()).run()
            at.button(key="rs_import").click().run()
        at.button(key="rs_checks").click().run()
        assert [t.value for t in at.text if t.value.startswith(("✓ Pilot", "✗ Pilot"))] == [
            "✗ Pilot run: no simulated rater has finished the study yet"]
        at.number_input(key="rs_pilot_raters").set_value(2)  # a pilot before the study opens
        at.button(key="rs_pilot_run").click().run()
        assert not at.exception
        finish_jobs(app_store())  # the pilot runs in a job
        at.run()
        assert at.success[0].value == "Pilot finished: 2 simulated raters rated 12 items."
        counts = table(at, "started")
        llm_row = counts[counts["raters"] == "llm"].iloc[0]
        assert (llm_row["started"], llm_row["completed"]) == (2, 2)
        assert "✓ Pilot run: 2 simulated raters finished" in [t.value for t in at.text]


EXPORT_LABELS = ["Download CSV", "Download Parquet", "Download JSONL"]


def export_buttons(at: AppTest) -> list:
    return [b.proto for b in at.get("download_button") if b.proto.label in EXPORT_LABELS]


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def human_counts(at: AppTest) -> dict:
    counts = table(at, "started")
    return counts[counts["raters"] == "human"].iloc[0].to_dict()


def rate_one_item(store, study, name: str, now: datetime):
    rater = register_rater(store, study.id, Identity("prolific", name), conditions=["a", "b"])
    set_rater_status(store, rater.id, "rating")
    item = next_item(store, rater, items_per_rater=4, k=3, lease_minutes=30, now=now)
    submit(store, rater.id, item.id, {"adherence": 5, "quality": 5}, now=now + timedelta(seconds=10))
    return rater, item


def test_the_exports_are_built_when_clicked_not_on_every_rerun(app):
    store = app_store()
    study = build_study(store)
    rate_one_item(store, study, "p1", T0)
    at = app.run().run()
    assert not at.exception
    buttons = export_buttons(at)
    assert [b.label for b in buttons] == EXPORT_LABELS
    # deferred: the page handed Streamlit a callable, so no file exists until the browser asks for
    # it (an export built on the rerun would be a stored file with a URL instead)
    assert all(b.deferred_file_id and not b.url for b in buttons)


def test_the_monitor_follows_new_data_between_reruns(app):
    store = app_store()
    study = build_study(store)
    at = app.run()
    assert (human_counts(at)["started"], human_counts(at)["ratings"]) == (0, 0)
    at.run()  # unchanged data: the cached monitor

    rater, item = rate_one_item(store, study, "p1", T0)
    at.run()
    counts = human_counts(at)
    assert (counts["started"], counts["rating"], counts["completed"], counts["ratings"]) == (1, 1, 0, 1)
    assert sum(table(at, "human ratings")["human ratings"]) == 1
    assert counts["median seconds per item"] == "10.0"
    assert "6 regular items lack 17 valid human ratings of their 3" in captions(at)
    at.run()
    assert human_counts(at)["ratings"] == 1

    set_rater_status(store, rater.id, "completed")  # a status change alone, no new rating
    at.run()
    counts = human_counts(at)
    assert (counts["rating"], counts["completed"], counts["ratings"]) == (0, 1, 1)
    assert not any("reasons" in df.value.columns for df in at.dataframe)

    flag(store, rater.id, "attention_failed", item.id)  # a flag alone: the rater is now excluded
    at.run()
    assert not at.exception
    assert table(at, "reasons")["external id"].tolist() == ["p1"]
    assert "6 regular items lack 18 valid human ratings of their 3" in captions(at)  # p1's is not valid
    assert sum(table(at, "valid human ratings")["valid human ratings"]) == 0
    assert any(md.value.startswith("**Excluded raters: 1**") for md in at.markdown)


def test_the_monitor_says_how_many_raters_work_now_and_the_cap(app):
    store = app_store()
    study = build_study(store, max_active_raters=5)
    assert "Working now: 0 raters of at most 5 at once" in captions(app.run())
    register_rater(store, study.id, Identity("prolific", "p1"), conditions=["a", "b"])
    assert "Working now: 1 rater of at most 5 at once" in captions(app.run())


def test_a_side_by_side_study_imports_its_pairs_from_two_files_and_opens(app):
    side_by_side = definition(name="pairs study", design="side_by_side", attention_checks=[
        {"instruction": "Answer Right for adherence.", "dimension": "adherence", "expected": 3},
        {"instruction": "Answer Left for quality.", "dimension": "quality", "expected": 1}])
    at = upload_study(app, side_by_side)
    assert not at.exception and at.success[0].value == "Created draft study 1 'pairs study'."
    checks = [t.value for t in at.text if t.value[:1] in "✓✗"]
    assert "✗ Side-by-side pairs: no pairs yet" in checks
    assert at.button(key="rs_import_pairs").disabled
    for i, condition in enumerate(("a", "b")):
        at.file_uploader(key=f"rs_pair_jsonl_{i}").upload(f"{condition}.jsonl",
                                                         "\n".join(jsonl(condition, 3)).encode()).run()
    at.button(key="rs_import_pairs").click().run()
    assert not at.exception and at.success[0].value == "Imported 3 side-by-side pairs."
    at.button(key="rs_checks").click().run()
    assert table(at, "source")["items"].tolist() == [3, 2]
    assert table(at, "source")["condition"].tolist()[0] == "a vs b"
    checks = [t.value for t in at.text if t.value[:1] in "✓✗"]
    assert "✓ Side-by-side pairs: 3 pairs" in checks
    at.checkbox(key="launch_anyway_1").check().run()
    at.button(key="rs_status").click().run()
    assert not at.exception and table(at, "status")["status"].tolist() == ["open"]
