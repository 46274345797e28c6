"""A researcher builds a rating study with the form on the Rating studies page, in a real Chromium
against `streamlit run app.py`, and downloads it as a TOML study file that loads back the same; and
downloads a rated study's exports, which the page builds only when their button is clicked."""

import csv
import io

import pytest

from tests.browser import browser_page, chromium, playwright, settle, streamlit_app
from tests.scripted_server import Reply, ScriptedServer
from tests.test_monitor import add_rater, build_study, flag, item_ids, rate
from vt_core.core.store import Store
from vt_core.crowd.exclusion import ExclusionRules
from vt_core.crowd.export import FORMATS, export_bytes
from vt_core.crowd.studies import list_studies, load_study_file
from vt_core.designer.demo import seed_demo
from vt_core.designer.projects import add_version, current_version

expect = playwright.expect
RERUN_MS = 30_000

pytestmark = pytest.mark.browser


def demo_project_with_two_versions(path) -> None:
    store = Store(path)
    try:
        project = seed_demo(store)
        add_version(store, project.id, current_version(store, project.id).text + "\n- Never promise a refund.",
                    author="designer", make_current=True)
    finally:
        store.close()


def test_build_a_study_with_the_form(tmp_path):
    demo_project_with_two_versions(tmp_path / "vt.duckdb")
    with ScriptedServer(Reply(content="unused")) as model, \
            streamlit_app(tmp_path, {"OPENAI_BASE_URL": model.url}) as url, chromium() as browser, \
            browser_page(browser, tmp_path, timeout_ms=RERUN_MS, width=1300, accept_downloads=True) as page:
        page.goto(f"{url}/researcher_studies")
        expect(page.get_by_role("heading", name="Rating studies")).to_be_visible()

        page.get_by_text("Build a study", exact=True).click()
        form = page.get_by_test_id("stForm")
        expect(form.get_by_label("Study name")).to_be_visible()
        form.get_by_label("Study name").fill("browser-built study")
        form.get_by_label("Consent text").fill("You agree to read chatbot conversations.")
        for label, code in (("Completed", "C-OK"), ("Screened out", "C-OUT"), ("Failed checks", "C-FAIL")):
            form.get_by_label(label, exact=True).fill(code)
        form.get_by_role("button", name="Create the study").click()

        expect(page.get_by_text("Created draft study", exact=False)).to_be_visible()
        with page.expect_download() as download:
            page.get_by_role("button", name="Download 'browser-built study' as a TOML study file, to keep it in studies/").click()
        saved = tmp_path / "built.toml"
        download.value.save_as(saved)
        assert page.get_by_test_id("stException").count() == 0
        assert page.page_errors == []

    store = Store(tmp_path / "vt.duckdb")
    try:
        study, = list_studies(store)
        assert (study.name, study.status) == ("browser-built study", "draft")
        definition = study.definition
        assert [c.name for c in definition.conditions] == ["baseline", "tuned"]
        assert definition.conditions[0].version < definition.conditions[1].version
        assert definition.completion_codes.completed == "C-OK"
        assert "Never promise a refund." in definition.instructions
        assert len(definition.attention_checks) == 2
        assert load_study_file(saved) == definition  # the download loads back as the same study
    finally:
        store.close()


def test_the_exports_download_when_clicked(tmp_path):
    """The export buttons hand Streamlit a callable (nothing is built on a rerun): the browser
    gets each file only by asking for it on the click, and it is the export of the ratings."""
    store = Store(tmp_path / "vt.duckdb")
    try:
        study = build_study(store)
        items = item_ids(store, study.id)
        for n, name in enumerate(("p1", "p2", "p3")):
            rater = add_rater(store, study.id, name)
            for i, item in enumerate(items):
                rate(store, study.id, rater.id, item, 1 + (n + i) % 7, 7 - (n * i) % 7, seconds=5.0 + i)
        flag(store, rater.id, "attention_failed", items[0])  # p3 is excluded under the page's default rules
    finally:
        store.close()
    downloaded = {}
    with ScriptedServer(Reply(content="unused")) as model, \
            streamlit_app(tmp_path, {"OPENAI_BASE_URL": model.url}) as url, chromium() as browser, \
            browser_page(browser, tmp_path, timeout_ms=RERUN_MS, width=1300, accept_downloads=True) as page:
        page.goto(f"{url}/researcher_studies")
        expect(page.get_by_role("heading", name="Export")).to_be_visible()
        settle(page)
        for fmt, label in zip(FORMATS, ("Download CSV", "Download Parquet", "Download JSONL"), strict=True):
            with page.expect_download() as download:
                page.get_by_role("button", name=label, exact=True).click()
            assert download.value.suggested_filename == f"study-{study.id}-ratings.{fmt}"
            saved = tmp_path / f"downloaded.{fmt}"
            download.value.save_as(saved)
            downloaded[fmt] = saved.read_bytes()
        assert page.get_by_test_id("stException").count() == 0
        assert page.page_errors == []

    store = Store(tmp_path / "vt.duckdb")
    try:
        for fmt in ("csv", "jsonl"):
            assert downloaded[fmt] == export_bytes(store, study.id, fmt, ExclusionRules())
        rows = list(csv.reader(io.StringIO(downloaded["csv"].decode())))  # transcripts hold line breaks
        assert len(rows) == 1 + 3 * len(items) * 2  # header, 3 raters x items x 2
        assert b",true," in downloaded["csv"]  # p3's rows, flagged as excluded, still there
        copy = tmp_path / "copy.parquet"
        copy.write_bytes(downloaded["parquet"])
        assert store.cursor().execute(f"SELECT count(*), count(*) FILTER (excluded) FROM '{copy}'").fetchone() \
            == (3 * len(items) * 2, len(items) * 2)
    finally:
        store.close()


def test_the_study_pickers_status_follows_opening_and_closing(tmp_path):
    store = Store(tmp_path / "vt.duckdb")
    try:
        build_study(store)  # open, with its items and checks
    finally:
        store.close()
    with ScriptedServer(Reply(content="unused")) as model, \
            streamlit_app(tmp_path, {"OPENAI_BASE_URL": model.url}) as url, chromium() as browser, \
            browser_page(browser, tmp_path, timeout_ms=RERUN_MS, width=1300) as page:
        page.goto(f"{url}/researcher_studies")
        picker = page.get_by_role("combobox", name="Study", exact=True)
        expect(picker).to_have_value("#1 monitor study (open)")
        page.get_by_role("button", name="Close the study").click()
        expect(page.get_by_text("Study 'monitor study' is now closed.")).to_be_visible()
        expect(picker).to_have_value("#1 monitor study (closed)")
        page.get_by_text("Open although", exact=False).click()  # no pilot, preview or reward yet
        page.get_by_role("button", name="Reopen the study").click()
        expect(page.get_by_text("Study 'monitor study' is now open.")).to_be_visible()
        expect(picker).to_have_value("#1 monitor study (open)")
        assert page.get_by_test_id("stException").count() == 0
