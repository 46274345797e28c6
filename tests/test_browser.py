"""A person's first look, in a real browser: `streamlit run app.py` on the embedded default."""

import pytest

from tests.browser import chromium, playwright, streamlit_app

pytestmark = [pytest.mark.browser, pytest.mark.embedded]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    with streamlit_app(tmp_path_factory.mktemp("browser"), {}) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def test_navigation_settings_and_test_connection(app_url, browser, tmp_path):
    page = browser.new_page()
    page_errors = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.goto(app_url)

    expect = playwright.expect
    expect(page.get_by_role("heading", name="Visionary Tuning")).to_be_visible(timeout=30_000)
    nav = page.get_by_test_id("stSidebarNav")
    for section in ("Designer", "Researcher", "Rater"):
        expect(nav.get_by_text(section, exact=True)).to_be_visible()
    for title in ("Overview", "Projects", "Rating studies", "Statistics", "Settings", "Rate transcripts"):
        expect(nav.get_by_role("link", name=title)).to_be_visible()

    nav.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Demo model.", exact=False)).to_be_visible()
    expect(page.get_by_text("embedded demo model", exact=False).first).to_be_visible()

    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("Connected to http://127.0.0.1:", exact=False)).to_be_visible(timeout=60_000)
    page.screenshot(path=str(tmp_path / "settings.png"), full_page=True)

    assert page.get_by_test_id("stException").count() == 0
    assert page_errors == []
