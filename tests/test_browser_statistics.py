"""Researcher › Statistics in a real Chromium against `streamlit run app.py`, on a finished study
rated through the real rater functions: the headings, the APA paragraph and drawn charts appear,
and the report downloads as a zip holding report.md, the charts and the CSV tables."""

import io
import zipfile

import pytest

from tests.browser import browser_page, chromium, playwright, settle, streamlit_app
from tests.scripted_server import Reply, ScriptedServer
from tests.test_browser_designer import go
from tests.test_report import finished_db

expect = playwright.expect
RERUN_MS = 60_000  # the first run analyses the study (mixed models included)

pytestmark = pytest.mark.browser


def test_the_statistics_page_in_a_browser(tmp_path):
    finished_db(tmp_path / "vt.duckdb")
    with ScriptedServer(Reply(content="unused")) as model, \
            streamlit_app(tmp_path, {"OPENAI_BASE_URL": model.url}) as url, chromium() as browser, \
            browser_page(browser, tmp_path, timeout_ms=RERUN_MS, width=1400) as page:
        page.goto(url)
        go(page, "Statistics")
        main = page.get_by_test_id("stMain")
        expect(main.get_by_role("tab", name="Crowd studies")).to_be_visible()
        expect(main.get_by_role("heading", name="Raters")).to_be_visible()
        expect(main.get_by_role("heading", name="Adherence").first).to_be_visible()
        expect(main.get_by_text("Human raters: 16 recruited, 1 excluded (failed attention checks: 1), "
                                "15 analysed.")).to_be_visible()
        paragraph = main.get_by_text("Adherence was higher in the tuned condition").first
        expect(paragraph).to_be_visible()
        expect(paragraph.locator("em", has_text="Mdn").first).to_be_visible()  # the Markdown italics render
        # a chart drawn, its toolbar labelled with its title
        title = page.get_by_role("button", name="Fullscreen: Adherence per rater (human raters)")
        chart = main.get_by_test_id("stFullScreenFrame").filter(has=title)
        expect(chart.get_by_test_id("stVegaLiteChart").locator("canvas, svg").first).to_be_visible()
        main.get_by_role("tab", name="LLM raters").click()
        expect(main.get_by_text("LLM raters: 4 recruited, 0 excluded, 4 analysed.")).to_be_visible()
        settle(page)

        with page.expect_download() as download:
            main.get_by_role("button", name="Report (Markdown, PNG charts, CSV tables) as a zip").click()
        assert download.value.suggested_filename == "study-1-report.zip"
        archive = zipfile.ZipFile(io.BytesIO(download.value.path().read_bytes()))
        names = archive.namelist()
        assert "study-1-report/report.md" in names and "study-1-report/charts/effects_dz.png" in names
        assert "study-1-report/tables/descriptives.csv" in names
        assert "Adherence was higher in the tuned condition" in archive.read("study-1-report/report.md").decode()
        assert main.get_by_test_id("stException").count() == 0
        assert page.page_errors == []
