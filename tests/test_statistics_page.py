"""Researcher › Statistics through AppTest on a real DuckDB file: a study without ratings says so; a
finished study (rated through the real rater functions) shows counts, descriptives, the APA
paragraphs and the charts per rater kind; the exclusion rules change the figures; and
`python -m vt_core report` writes the very paragraphs the page shows."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.scripted_server import Reply, ScriptedServer
from tests.test_cli import cli
from tests.test_monitor import definition
from tests.test_report import finished_db
from vt_core.core.store import Store
from vt_core.crowd.items import add_check_items
from vt_core.crowd.studies import create_study, parse_study

PAGE = "views/researcher/statistics.py"


@pytest.fixture
def open_page(app_env, tmp_path):
    """`open_page()`: the app on tmp_path/vt.duckdb (prepare that file first), on this page."""
    with ScriptedServer(Reply(content="unused")) as server:
        app_env(server.url)

        def run() -> AppTest:
            at = AppTest.from_file("../app.py", default_timeout=60).run()
            at.switch_page(PAGE).run()
            assert not at.exception, at.exception
            return at

        yield run


def markdown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def test_no_study_and_a_study_without_ratings(open_page, tmp_path):
    at = open_page()
    assert at.info[0].value.startswith("No rating study yet.")
    store = Store(tmp_path / "vt.duckdb")
    try:
        add_check_items(store, create_study(store, parse_study(definition(name="unrated"))))
    finally:
        store.close()
    at = open_page()
    assert any(i.value.startswith("Nothing to analyse yet: study 1 'unrated' has no ratings of its transcripts yet")
               for i in at.info)
    assert not at.get("vega_lite_chart")


def test_a_finished_study_and_the_cli_say_the_same(open_page, tmp_path):
    finished_db(tmp_path / "vt.duckdb")
    out = tmp_path / "report"
    result = cli(["report", "1", "--out", str(out), "--format", "svg"], {}, tmp_path)  # before the app opens the file
    assert result.returncode == 0, result.stderr
    report = (out / "report.md").read_text(encoding="utf-8")

    at = open_page()
    assert sorted(t.label for t in at.tabs) == sorted(["Crowd studies", "User studies", "Human raters", "LLM raters",
                                                       "Human vs LLM"])
    assert [s.value for s in at.subheader][:1] == ["Raters"]
    text = markdown(at)
    assert "Human raters: 16 recruited, 1 excluded (failed attention checks: 1), 15 analysed." in text
    paragraphs = [t for t in text if t.startswith(("Adherence", "Quality", "Mixed model", "Agreement among",
                                                   "Each rater's ratings"))]
    # the method; per kind and dimension the comparison, mixed model and agreement; human-LLM agreement per dimension
    assert len(paragraphs) == 1 + 2 * 2 * 3 + 2
    for paragraph in paragraphs:
        assert paragraph in report  # the same words and figures as the command line's report
    assert any(t.startswith("Adherence was higher in the tuned condition") for t in paragraphs)
    descriptives = next(df.value for df in at.dataframe if "median" in df.value.columns)
    assert descriptives["condition"].tolist() == ["baseline", "tuned"]
    assert descriptives["raters"].tolist() == [15, 15]
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2 * 2 * 2 + 3  # slopes and Likert per kind and dimension; d_z, b, agreement
    titles = [json.loads(c.proto.spec)["title"]["text"] for c in charts]
    assert titles[:2] == ["Adherence per rater (human raters)", "Adherence ratings by condition (human raters)"]
    assert titles[-3:] == ["Effect sizes (d_z) with 95% CIs", "Mixed-model estimates with 95% CIs",
                           "Agreement (Krippendorff's alpha, ordinal)"]
    assert [c.proto.alt for c in charts] == titles  # the title is also the chart's text alternative
    assert [d.label for d in at.get("download_button")][0].startswith("Report (Markdown, PNG charts, CSV tables)")

    # keeping the raters who failed a check changes the counts, and a rerun uses the new rules; the
    # mixed model can be left out
    at.radio(key="sx_mixed").set_value("skip")
    at.checkbox(key="sx_ex_attention").uncheck().run()
    assert not at.exception
    text = markdown(at)
    assert "Human raters: 16 recruited, 0 excluded, 16 analysed." in text
    assert text.count("The mixed model was not fitted for this report.") == 2 * 2
    assert next(df.value for df in at.dataframe if "median" in df.value.columns)["raters"].tolist() == [16, 16]
    assert len(at.get("vega_lite_chart")) == 2 * 2 * 2 + 2  # no mixed-model chart
