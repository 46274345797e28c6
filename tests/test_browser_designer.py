"""The designer loop as a person clicks it, in a real Chromium against `streamlit run app.py`.

The model is the scripted emoji world, served over real HTTP from this process: the bot answers
with emojis until a refined prompt says "Never use emojis". The path: create a project, generate
personas and write scenarios, run self-play, mark the emoji reply as bad, propose/test/accept the
pattern, run refinement, approve the candidate, and find it current in the version history.
"""

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.scripted_server import ScriptedServer
from tests.scripted_worlds import PROMPT, RULE, EmojiWorld

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
RERUN_MS = 30_000  # an action's rerun, model calls included (the scripted model answers at once)

pytestmark = pytest.mark.browser


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def model():
    with ScriptedServer(respond=EmojiWorld()) as server:
        yield server


@pytest.fixture
def app_url(model, tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "VT_"))}
    env["VT_DB_PATH"] = str(tmp_path / "vt.duckdb")
    env["OPENAI_BASE_URL"] = model.url
    log_path = tmp_path / "streamlit.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1):
                        break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"streamlit did not start:\n{log_path.read_text()}")
                    time.sleep(0.2)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@pytest.fixture
def page(app_url):
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run scripts/setup-tests.sh")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(RERUN_MS)
        page.page_errors = []
        page.on("pageerror", lambda error: page.page_errors.append(str(error)))
        page.goto(app_url)
        expect(page.get_by_role("heading", name="Visionary Tuning")).to_be_visible()
        yield page
        browser.close()


def settle(page) -> None:
    """Wait until the script run has finished and the page has drawn all of it: no running
    indicator, no element left over from the run before, no widget still loading its code."""
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    expect(page.locator('[data-stale="true"]')).to_have_count(0)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0)


def go(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    settle(page)


def check(page, shots: Path, name: str) -> None:
    """A screenshot of the step, and no exception on the page nor error in the browser."""
    settle(page)
    # The main area scrolls inside the window: make the window as tall as the page for the shot.
    size = page.viewport_size
    height = page.get_by_test_id("stMain").evaluate("main => main.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
    page.screenshot(path=str(shots / f"{name}.png"))
    page.set_viewport_size(size)
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()
    assert page.page_errors == []


def fill(locator, value) -> None:
    """Type into a widget and commit it (Tab blurs it; inside a form nothing reruns yet)."""
    locator.fill(str(value))
    locator.press("Tab")


def test_designer_loop_in_a_browser(page, model, tmp_path):
    shots = tmp_path / "shots"
    shots.mkdir()
    main = page.get_by_test_id("stMain")
    expect(page.get_by_text("Demo model.")).to_have_count(0)  # the scripted server, not the toy model

    # 1. Projects: a new project.
    go(page, "Projects")
    form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Create project"))
    fill(form.get_by_label("Name", exact=True), "Movie bot")
    fill(form.get_by_label("What the chatbot is for", exact=True), "Recommend films people will enjoy tonight.")
    fill(form.get_by_label("Audience", exact=True), "Film fans")
    fill(form.get_by_label("Draft system prompt", exact=True), PROMPT)
    form.get_by_role("button", name="Create project").click()
    expect(main.get_by_text("Created project 'Movie bot'.")).to_be_visible()
    expect(main.get_by_role("heading", name="Movie bot")).to_be_visible()
    check(page, shots, "1-project")

    # 2. Personas & scenarios: generated personas, two scenarios written by hand (one held out).
    go(page, "Personas & scenarios")
    expect(main.get_by_text("No personas yet")).to_be_visible()
    main.get_by_role("button", name="Generate").click()
    expect(main.get_by_text("Generated 4 personas.")).to_be_visible()
    check(page, shots, "2a-personas")

    main.get_by_role("tab", name="Scenarios").click()
    expect(main.get_by_text("No scenarios yet")).to_be_visible()
    for title, split in (("Friday night", "train"), ("Rainy Sunday", "held-out")):
        picker = main.get_by_test_id("stSelectbox").filter(has_text="Scenario")
        if picker.get_by_text("New scenario").count() == 0:  # the picker shows the scenario just saved
            picker.get_by_role("combobox").click()
            page.get_by_role("option", name="New scenario").click()
            settle(page)
        form = main.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Add scenario"))
        fill(form.get_by_label("Title", exact=True), title)
        fill(form.get_by_label("Situation of the user", exact=True), f"{title}: the user wants something to watch.")
        fill(form.get_by_label("The user's goal", exact=True), "a film to watch tonight")
        form.get_by_text(split, exact=True).click()
        form.get_by_role("button", name="Add scenario").click()
        expect(main.get_by_text(f"Saved scenario '{title}'.")).to_be_visible()
    expect(main.get_by_text("1 training and 1 held-out scenarios.")).to_be_visible()
    check(page, shots, "2b-scenarios")

    # 3. Self-play: two conversations of one exchange.
    go(page, "Self-play")
    expect(main.get_by_text("4 personas, 2 scenarios.")).to_be_visible()
    fill(main.get_by_label("Conversations", exact=True), 2)
    fill(main.get_by_label("Exchanges at most", exact=True), 1)
    expect(main.get_by_text("This run makes up to 4 calls")).to_be_visible()
    settle(page)
    main.get_by_role("button", name="Run self-play").click()
    expect(main.get_by_text(re.compile(r"^Self-play run 1: 2 transcripts, 4 calls"))).to_be_visible()
    check(page, shots, "3-selfplay")

    # 4. Review: the bot's emoji reply, marked bad with a critique.
    go(page, "Review")
    messages = main.get_by_test_id("stChatMessage")
    expect(messages).to_have_count(2)
    expect(messages.nth(0)).to_contain_text("Can you suggest a film for tonight?")
    expect(messages.nth(1)).to_contain_text("Try Alien 🎬🍿")
    mark = messages.nth(1).get_by_test_id("stExpander")
    mark.get_by_text("Mark this reply").click()
    mark.get_by_text("bad", exact=True).click()
    fill(mark.get_by_label("Critique", exact=True), "No emojis, please.")
    mark.get_by_role("button", name="Save").click()
    expect(messages.nth(1).get_by_text("Mark this reply — bad")).to_be_visible()
    check(page, shots, "4-review")

    # 5. Patterns: propose from the mark, test against it, accept.
    go(page, "Patterns")
    main.get_by_role("button", name="Propose patterns from my marks").click()
    expect(main.get_by_text("1 new candidate patterns.")).to_be_visible()
    expect(main.get_by_role("heading", name="Candidates (1)")).to_be_visible()
    main.get_by_role("button", name="Test patterns against my labels").click()
    expect(main.get_by_text("Every candidate and accepted pattern was judged")).to_be_visible()
    pattern = main.get_by_test_id("stExpander").filter(has_text="AVOID · The bot uses emojis in its replies")
    pattern.get_by_text("The bot uses emojis in its replies").first.click()
    expect(pattern.get_by_text(re.compile(r"Passes 0 · fails 1 · "))).to_be_visible()
    check(page, shots, "5a-pattern-tested")
    pattern.get_by_role("button", name="Accept").click()
    expect(main.get_by_role("heading", name="Accepted (1)")).to_be_visible()
    expect(main.get_by_role("heading", name="Candidates (0)")).to_be_visible()
    check(page, shots, "5b-pattern-accepted")

    # 6. Refine: one round of one candidate, approved.
    go(page, "Refine")
    form = main.get_by_test_id("stForm")
    for label, value in (("Rounds", 1), ("Candidates per round", 1), ("Training conversations", 2),
                         ("Held-out conversations", 1), ("Exchanges at most", 1)):
        fill(form.get_by_label(label, exact=True), value)
    form.get_by_role("button", name="Run refinement").click()
    expect(main.get_by_text(re.compile(r"^Refinement run 1 finished"))).to_be_visible()
    expect(main.get_by_role("heading", name="Leaderboard")).to_be_visible()
    board = main.get_by_test_id("stDataFrame").first
    expect(board).to_be_visible()
    expect(main.get_by_text("+ " + RULE)).to_be_visible()  # the candidate's hunk
    check(page, shots, "6a-leaderboard")
    main.get_by_role("button", name="Approve: make this the current prompt").click()
    expect(main.get_by_text(re.compile(r"^Candidate \d+ is now prompt version 2, the current prompt"))).to_be_visible()
    expect(main.get_by_text("Approved as prompt version 2.")).to_be_visible()
    check(page, shots, "6b-approved")

    # 7. Projects: version 2, by refinement, is current and says "Never use emojis".
    go(page, "Projects")
    main.get_by_role("tab", name="Versions").click()
    shown = main.get_by_role("combobox", name="Version", exact=True)
    expect(shown).to_have_value(re.compile(r"^v2 · refinement · .* \(current\)$"))
    code = main.get_by_test_id("stCode").first
    expect(code).to_contain_text("Never use emojis")
    expect(code).to_contain_text("Recommend one film at a time.")
    check(page, shots, "7-versions")
