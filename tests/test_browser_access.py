"""Access in a real Chromium against `streamlit run app.py`: a study or participant link confines the
browser across reloads, typed URLs and new tabs (the signed vt_link cookie), and only a staff login
at `?staff` leaves it; a request that carries a proxy's headers, or names another host, is refused when
no login is configured."""

from contextlib import contextmanager

import pytest

from tests.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    browser_page,
    chromium,
    playwright,
    settle,
    streamlit_app,
    watched,
)
from tests.scripted_server import Reply, ScriptedServer
from tests.test_browser_rater import build_study
from vt_core.core.store import Store
from vt_core.userstudy.definition import load_user_study_file
from vt_core.userstudy.flow import create_user_study, participants

expect = playwright.expect
RERUN_MS = 30_000
PID = "pidbrowser1"

pytestmark = pytest.mark.browser


def build_user_study(path) -> str:
    """A user study in the database file (closed again before the server opens it); a participant's token."""
    store = Store(path)
    try:
        study = create_user_study(store, load_user_study_file("studies/designer_study.toml"))
        return participants(store, study.id)[0].token
    finally:
        store.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One server with no login configured, a crowd study and a user study: (url, study token, participant token)."""
    folder = tmp_path_factory.mktemp("access")
    token = build_study(folder / "vt.duckdb")
    participant = build_user_study(folder / "vt.duckdb")
    with ScriptedServer(Reply(content="unused")) as model, \
            streamlit_app(folder, {"OPENAI_BASE_URL": model.url}) as url:
        yield url, token, participant


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@contextmanager
def tab(context, folder):
    """A watched page in `context` (a browser profile: its cookies are shared by its pages), closed after."""
    page = context.new_page()
    try:
        with watched(page, folder, timeout_ms=RERUN_MS):
            yield page
    finally:
        page.close()


def profile(browser, **options):
    return browser.new_context(viewport={"width": 1200, "height": 1000}, **options)


def rater_page(page) -> None:
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Rate conversations")).to_be_visible()
    settle(page)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)  # no menu, no staff page
    assert page.get_by_test_id("stException").count() == 0


def test_a_study_link_confines_the_browser(app, browser, tmp_path):
    url, token, _ = app
    link = f"{url}/?study={token}&PROLIFIC_PID={PID}&STUDY_ID=st1&SESSION_ID=se1"
    context = profile(browser)
    with tab(context, tmp_path) as page:
        page.goto(link)
        rater_page(page)
        main = page.get_by_test_id("stMain")
        main.get_by_role("button", name="I agree").click()
        expect(main.get_by_text("Read each conversation, then rate the bot.")).to_be_visible()
        settle(page)
        assert [c["name"] for c in context.cookies() if c["name"] == "vt_link"] == ["vt_link"]

        for typed in ("/designer_projects", "/", "/researcher_settings?x=1", "/rater"):
            page.goto(url + typed)  # a typed URL: a new session, with only the cookie to go by
            rater_page(page)
            expect(main.get_by_text("Read each conversation, then rate the bot.")).to_be_visible()  # their place
            assert f"PROLIFIC_PID={PID}" in page.url and f"study={token}" in page.url
        page.reload()
        rater_page(page)

        page.goto(f"{url}/?study={token}&PROLIFIC_PID=someone-else&STUDY_ID=st1&SESSION_ID=se1")
        rater_page(page)
        expect(main.get_by_text("The address in your browser is not the study link this browser opened",
                                exact=False)).to_be_visible()
        expect(main.get_by_text("Read each conversation, then rate the bot.")).to_be_visible()
        assert f"PROLIFIC_PID={PID}" in page.url

        page.goto(f"{url}/?staff")  # the way out needs a staff login, and none is configured
        expect(main.get_by_text("No staff login is configured on this server", exact=False)).to_be_visible()
        expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
        assert page.page_errors == []

    with tab(context, tmp_path) as second:  # a new tab of the same browser
        second.goto(f"{url}/researcher_studies")
        rater_page(second)
    context.close()

    fresh = profile(browser)  # another browser profile: no cookie, so the staff pages (no login here)
    with tab(fresh, tmp_path) as page:
        page.goto(f"{url}/researcher_studies")
        expect(page.get_by_test_id("stSidebarNav")).to_be_visible()
        expect(page.get_by_test_id("stMain").get_by_role("heading", name="Rating studies")).to_be_visible()
    fresh.close()


def test_a_participant_link_confines_the_browser(app, browser, tmp_path):
    url, _, participant = app
    context = profile(browser)
    with tab(context, tmp_path) as page:
        page.goto(f"{url}/?participant={participant}")
        main = page.get_by_test_id("stMain")
        expect(main.get_by_role("heading", name="Task 1 of 2", exact=False)).to_be_visible()
        settle(page)
        for typed in ("/researcher_studies", "/", "/designer_projects"):
            page.goto(url + typed)
            expect(main.get_by_role("heading", name="Task 1 of 2", exact=False)).to_be_visible()
            settle(page)
            expect(page.get_by_role("link", name="Rating studies")).to_have_count(0)
            expect(page.get_by_role("link", name="Settings")).to_have_count(0)
            assert f"participant={participant}" in page.url
        assert page.page_errors == []
    context.close()


@pytest.mark.parametrize("header", ["X-Forwarded-For", "X-Real-IP", "Forwarded", "X-Forwarded-Host"])
def test_a_request_through_a_proxy_is_refused_without_a_login(app, browser, tmp_path, header):
    url, token, _ = app
    value = "for=203.0.113.9" if header == "Forwarded" else "203.0.113.9"
    context = profile(browser, extra_http_headers={header: value})  # what a proxy on this host adds
    with tab(context, tmp_path) as page:
        for path in ("/", "/researcher_settings", f"/?study={token}&PROLIFIC_PID={PID}"):
            page.goto(url + path)
            main = page.get_by_test_id("stMain")
            expect(main.get_by_text("No login is configured", exact=False)).to_be_visible()
            expect(main.get_by_text(f"it carries a {header} header", exact=False)).to_be_visible()
            settle(page)
            expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
            expect(main.get_by_role("heading")).to_have_count(0)  # no page at all
    context.close()


def test_a_request_to_another_host_name_is_refused_without_a_login(app, browser, tmp_path):
    """A proxy that passes the Host header on: the browser asks for vt.example, which resolves here."""
    url, _, _ = app
    port = url.rsplit(":", 1)[1]
    resolving = browser.browser_type.launch(executable_path=CHROMIUM,
                                            args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP vt.example 127.0.0.1"])
    try:
        with browser_page(resolving, tmp_path, timeout_ms=RERUN_MS) as page:
            page.goto(f"http://vt.example:{port}/researcher_settings")
            main = page.get_by_test_id("stMain")
            expect(main.get_by_text("No login is configured", exact=False)).to_be_visible()
            expect(main.get_by_text("Host header", exact=False)).to_be_visible()
            settle(page)
            expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    finally:
        resolving.close()


def test_staff_leave_a_link_with_the_password(tmp_path, browser):
    """With a password configured, `?staff` and the password lift the confinement: the cookie is deleted,
    so a reload asks for the staff login instead of showing the rater page."""
    token = build_study(tmp_path / "vt.duckdb")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[staff]\npassword = "browser-s3cret"\n')
    with ScriptedServer(Reply(content="unused")) as model, \
            streamlit_app(tmp_path, {"OPENAI_BASE_URL": model.url, "STREAMLIT_SECRETS_FILES": str(secrets)}) as url:
        context = profile(browser)
        with tab(context, tmp_path) as page:
            page.goto(f"{url}/?study={token}&PROLIFIC_PID={PID}&STUDY_ID=st1&SESSION_ID=se1")
            rater_page(page)  # raters need no staff login
            page.goto(f"{url}/researcher_settings")
            rater_page(page)

            page.goto(f"{url}/?staff")
            main = page.get_by_test_id("stMain")
            expect(main.get_by_text("Staff: log in to leave it.", exact=False)).to_be_visible()
            settle(page)
            main.get_by_label("Password", exact=True).fill("browser-s3cret")
            main.get_by_role("button", name="Log in").click()
            expect(page.get_by_test_id("stSidebarNav")).to_be_visible()  # the staff pages
            expect(page.get_by_test_id("stSidebarNav").get_by_role("link", name="Rating studies")).to_be_visible()
            settle(page)
            page.wait_for_function("() => !document.cookie.includes('vt_link=')")

            page.goto(f"{url}/researcher_settings")  # a new session: the staff login, not the rater page
            expect(main.get_by_label("Password", exact=True)).to_be_visible()
            expect(main.get_by_role("heading", name="Rate conversations")).to_have_count(0)
            assert page.page_errors == []
        context.close()
