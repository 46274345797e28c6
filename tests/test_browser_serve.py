"""A study end to end in a real Chromium on the scaled-out deployment (scripts/serve.sh): two app processes
and a worker process behind HAProxy, on one PostgreSQL database. The researcher logs in through the proxy
and runs the pilot, which the worker process runs (the app processes run no jobs); a Prolific worker then
rates everything, reloading half-way."""

import pytest

from tests.browser import browser_page, chromium, playwright, served, settle
from tests.scripted_server import ScriptedServer
from tests.test_browser_rater import CHECKS, ITEMS_PER_RATER, RERUN_MS, build_study, rate_everything
from tests.test_pilot import scripted_rater
from vt_core.core.store import Store

expect = playwright.expect
PASSWORD = "serve-browser-s3cret"

pytestmark = pytest.mark.browser


def test_a_study_runs_on_two_app_processes_and_a_worker(tmp_path, postgres_url):
    token = build_study(postgres_url)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[staff]\npassword = "{PASSWORD}"\nbehind_proxy = true\n')
    with ScriptedServer(respond=scripted_rater) as model, \
            served(tmp_path, {"VT_DATABASE_URL": postgres_url, "STREAMLIT_SECRETS_FILES": str(secrets),
                              "OPENAI_BASE_URL": model.url}, replicas=2, workers=1) as serving, \
            chromium() as browser:
        with browser_page(browser, tmp_path, timeout_ms=RERUN_MS, width=1300) as page:
            page.goto(f"{serving.url}/researcher_studies")
            main = page.get_by_test_id("stMain")
            settle(page)
            main.get_by_label("Password", exact=True).fill(PASSWORD)
            main.get_by_role("button", name="Log in").click()
            nav = page.get_by_test_id("stSidebarNav")
            nav.get_by_role("link", name="Rating studies").click()  # in the session that logged in
            expect(page.get_by_role("heading", name="Pilot with simulated raters")).to_be_visible()
            settle(page)
            page.get_by_role("spinbutton", name="Simulated raters").fill("2")
            page.get_by_role("button", name="Run the pilot").click()
            expect(page.get_by_text("Pilot finished: 2 simulated raters rated", exact=False)).to_be_visible(
                timeout=90_000)
            assert page.get_by_test_id("stException").count() == 0
            assert page.page_errors == []

        with browser_page(browser, tmp_path, timeout_ms=RERUN_MS) as page:  # another browser profile
            rate_everything(page, serving.url, token)
            assert page.get_by_test_id("stException").count() == 0
            assert page.page_errors == []

    store = Store(postgres_url)
    try:
        db = store.cursor()
        (kind, status, worker), = db.execute("SELECT kind, status, worker FROM jobs").fetchall()
        assert (kind, status) == ("pilot", "done")
        assert int(worker.rsplit(":", 1)[1]) not in serving.apps  # the worker process ran it
        assert db.execute("SELECT kind, status FROM raters WHERE kind = 'human'").fetchall() == [("human", "completed")]
        rated = db.execute("SELECT count(DISTINCT r.item_id) FROM ratings r JOIN raters ra ON ra.id = r.rater_id"
                           " WHERE ra.kind = 'human'").fetchone()[0]
        assert rated == ITEMS_PER_RATER + CHECKS
    finally:
        store.close()
