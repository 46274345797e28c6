"""The Critic case study page through AppTest, against the scripted taste world (a critic who loves
science fiction and dislikes comedies) and a real DuckDB file."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import app_store, finish_jobs
from tests.scripted_server import ScriptedServer
from tests.scripted_worlds import TasteWorld

PAGE = "views/researcher/critic.py"
WORDS = ("Amber", "Silent", "Iron", "Velvet", "Hollow", "Crimson", "Paper", "Winter", "Golden", "Quiet", "Lucky",
         "Bitter")
KINDS = (("Picnic", "Comedy", 1.5), ("Harbour", "Drama", 3.0), ("Orbit", "Sci-Fi|Drama", 4.5))


def critic_csv() -> bytes:
    rows = ["title,year,genres,rating"]
    rows += [f"The {word} {noun},{1970 + i},{genres},{rating}" for noun, genres, rating in KINDS
             for i, word in enumerate(WORDS)]
    rows.insert(4, "The Broken Reel,1999,Drama,abc")  # line 5 of the file
    return ("\n".join(rows) + "\n").encode()


@pytest.fixture
def server(app_env):
    with ScriptedServer(respond=TasteWorld()) as server:
        app_env(server.url)
        yield server


def open_page() -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    return at.switch_page(PAGE).run()


def table(at: AppTest, column: str):
    """The first table on the page with this column."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def charts(at: AppTest) -> int:
    return len(at.get("vega_lite_chart"))


def test_tune_an_uploaded_critic_reject_a_pattern_and_compare_methods(server):
    at = open_page()
    assert not at.exception
    at.radio(key="ct_source").set_value("My own CSV").run()
    at.file_uploader(key="ct_file").set_value(("taste.csv", critic_csv(), "text/csv")).run()
    assert not at.exception
    assert at.warning[0].value == "1 row(s) skipped, none guessed:"
    assert list(table(at, "problem")["problem"]) == ["line 5: rating 'abc' is not a number"]
    at.selectbox(key="ct_k").set_value(5)
    at.number_input(key="ct_test").set_value(3)
    at.number_input(key="ct_validation").set_value(3).run()
    at.number_input(key="ct_rounds").set_value(1)
    at.number_input(key="ct_candidates").set_value(1).run()
    assert any(c.value.startswith("csv\\:taste: 36 rated films, on a 1.5–4.5 scale: low 12, mid 12, high 12")
               for c in at.caption)  # the name escaped for Markdown
    assert any(c.value.startswith("About 7 model calls at most (0 of the first round's already in the cache)")
               for c in at.caption)

    at.button(key="ct_tune").click().run()
    assert not at.exception
    finish_jobs(app_store())  # it runs as a job
    at.run()
    assert at.success[0].value == "Run #1 finished: validation macro-F1 0.17 → 1.00."
    assert "science fiction" in at.code[0].value and "comedies" in at.code[0].value
    assert "Produced by endpoint" in at.info[0].value and "scripted-model" in at.info[0].value
    assert [e.label for e in at.expander if e.label.startswith("#")] == [
        "#1 · candidate · The critic rates science fiction highly", "#2 · candidate · The critic dislikes broad comedies"]
    assert "the critic: 4.5, high" in at.text[0].value  # evidence films with their ratings
    predictions = table(at, "right")
    assert len(predictions) == 9 and predictions["right"].all()
    assert charts(at) == 3  # validation by round, confusion matrix, recall per class

    # A widget change recomputes nothing and loses nothing: the finished run stays shown.
    at.number_input(key="ct_seed").set_value(4).run()
    assert "science fiction" in at.code[0].value and at.selectbox(key="ct_shown").value == 1

    # The designer rejects the comedy pattern and refines again with the one kept.
    at.button(key="ct_reject_2").click().run()
    assert not at.exception
    assert "#2 · rejected · The critic dislikes broad comedies" in [e.label for e in at.expander]
    at.button(key="ct_retune").click().run()
    assert not at.exception
    finish_jobs(app_store())  # it runs as a job
    at.run()
    assert at.success[0].value == ("Run #2 refined with 1 kept pattern(s): validation macro-F1 0.56 "
                                   "(run #1: 1.00).")
    assert at.selectbox(key="ct_shown").value == 2
    assert "science fiction" in at.code[0].value and "comed" not in at.code[0].value
    assert not table(at, "right")["right"].all()

    # Every method side by side, on the same test films, with the model beside each LLM method.
    at.button(key="ct_compare").click().run()
    assert not at.exception
    finish_jobs(app_store())  # it runs as a job
    at.run()
    methods = table(at, "n_test")
    assert list(methods["method"]) == ["mean", "genre_means", "item_knn", "zero_shot", "few_shot", "tuning"]
    assert (methods["n_test"] == 9).all() and (methods["error"].fillna("") == "").all()
    assert list(methods["model"]) == ["", "", "", "scripted-model", "scripted-model", "scripted-model"]
    tuned = methods.set_index("method").loc["tuning"]
    assert tuned["macro_f1"] == pytest.approx(5 / 9) and tuned["recall_low"] == 0.0
    assert charts(at) == 5

    # The comparison is kept for the run while the page reruns.
    at.number_input(key="ct_seed").set_value(5).run()
    assert len(table(at, "n_test")) == 6


def test_a_movielens_critic_and_a_bad_csv(server):
    at = open_page()
    assert at.selectbox(key="ct_user").value is not None
    assert at.info[0].value == "No run yet: choose a critic and run Visionary Tuning."
    at.radio(key="ct_source").set_value("My own CSV").run()
    at.file_uploader(key="ct_file").set_value(("bad.csv", b"name,score\nAlien,5\n", "text/csv")).run()
    assert not at.exception
    shown = at.error[0].value.replace("\\", "")  # every Markdown character of the message is escaped
    assert shown == ("Cannot use bad.csv: the CSV needs columns title, year and rating (genres optional); "
                     "missing: title, year, rating; found: name, score")
