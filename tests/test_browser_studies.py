"""A researcher builds a rating study with the form on the Rating studies page, in a real Chromium
against `streamlit run app.py`, and downloads it as a TOML study file that loads back the same."""

import pytest

from tests.browser import browser_page, chromium, playwright, streamlit_app
from tests.scripted_server import Reply, ScriptedServer
from vt_core.core.store import Store
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
