"""A person's first look, in a real browser: `streamlit run app.py` on the embedded default."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

playwright = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.browser, pytest.mark.embedded]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "VT_"))}
    env["VT_DB_PATH"] = str(tmp_path_factory.mktemp("browser") / "vt.duckdb")
    log = open(tmp_path_factory.mktemp("log") / "streamlit.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"streamlit did not start; see {log.name}")
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=10)
    log.close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run scripts/setup-tests.sh")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


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
