"""The designer loop as a person clicks it, in a real Chromium against `streamlit run app.py`.

The model is the scripted emoji world, served over real HTTP from this process: the bot answers
with emojis until a refined prompt says "Never use emojis". The path: create a project, generate
personas and write scenarios, run self-play, mark the emoji reply as bad, propose/test/accept the
pattern, run refinement, approve the candidate, and find it current in the version history.
"""

import re
from pathlib import Path

import pytest

from tests.browser import browser_page, chromium, playwright, settle, streamlit_app
from tests.scripted_server import ScriptedServer
from tests.scripted_worlds import PROMPT, RULE, EmojiWorld

expect = playwright.expect
RERUN_MS = 30_000  # an action's rerun, model calls included (the scripted model answers at once)

pytestmark = pytest.mark.browser


@pytest.fixture
def model():
    with ScriptedServer(respond=EmojiWorld()) as server:
        yield server


@pytest.fixture
def app_url(model, tmp_path):
    with streamlit_app(tmp_path, {"OPENAI_BASE_URL": model.url}) as url:
        yield url


@pytest.fixture
def page(app_url, tmp_path):
    with chromium() as browser, browser_page(browser, tmp_path, timeout_ms=RERUN_MS, width=1400) as page:
        page.goto(app_url)
        expect(page.get_by_role("heading", name="Visionary Tuning")).to_be_visible()
        yield page


def still(page) -> None:
    """Wait until what is drawn has stopped moving (an expander opening, an element fading back in),
    so that a click lands where it aims. An element in a closed expander is not drawn, and Chromium
    may never finish its transitions: those do not count."""
    page.wait_for_function("() => document.getAnimations().every(a => !a.effect?.target?.checkVisibility())")


def go(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    settle(page)


def check(page, shots: Path, name: str) -> None:
    """A screenshot of the step; no exception on the page, no error in the browser, no demo model."""
    settle(page)
    still(page)
    # The main area and the sidebar scroll inside the window: make it as tall as both for the shot.
    size = page.viewport_size
    height = max(page.get_by_test_id(area).evaluate("area => area.scrollHeight")
                 for area in ("stMain", "stSidebarContent"))
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
    page.screenshot(path=str(shots / f"{name}.png"))
    page.set_viewport_size(size)
    exceptions = page.get_by_test_id("stException")
    assert exceptions.count() == 0, exceptions.first.inner_text()
    assert page.page_errors == []
    expect(page.get_by_text("Demo model.")).to_have_count(0)  # the scripted server answers, not the toy model


def fill(locator, value) -> None:
    """Type into a widget and commit it (Tab leaves it; inside a form nothing reruns until submit)."""
    locator.fill(str(value))
    locator.press("Tab")


def table(main, header: str):
    """The st.dataframe with this column header. It draws on a canvas; its cells are also in an
    accessible table inside the canvas, which is what the assertions read."""
    return main.get_by_test_id("stDataFrame").filter(has=main.page.locator("th", has_text=header))


def column(frame, index: int):
    """The cells of one column (1-based), top to bottom."""
    return frame.locator(f'td[aria-colindex="{index}"]')


def test_designer_loop_in_a_browser(page, model, tmp_path):
    shots = tmp_path / "shots"
    shots.mkdir()
    main = page.get_by_test_id("stMain")

    # 1. Projects: a new project.
    go(page, "Projects")
    form = main.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Create project"))
    fill(form.get_by_label("Name", exact=True), "Movie bot")
    fill(form.get_by_label("What the chatbot is for", exact=True), "Recommend films people will enjoy tonight.")
    fill(form.get_by_label("Audience", exact=True), "Film fans")
    fill(form.get_by_label("Draft system prompt", exact=True), PROMPT)
    form.get_by_role("button", name="Create project").click()
    expect(main.get_by_text("Created project 'Movie bot'.")).to_be_visible()
    expect(main.get_by_role("heading", name="Movie bot")).to_be_visible()
    expect(page.get_by_test_id("stSidebar").get_by_role("combobox", name="Project")).to_have_value("Movie bot")
    check(page, shots, "1-project")

    # 2. Personas & scenarios: generated personas; two scenarios written by hand, one held out.
    go(page, "Personas & scenarios")
    expect(main.get_by_text("No personas yet")).to_be_visible()
    main.get_by_role("button", name="Generate", exact=True).click()
    expect(main.get_by_text("Generated 4 personas.")).to_be_visible()
    expect(column(table(main, "expertise"), 1)).to_have_text(["1", "2", "3", "4"])
    check(page, shots, "2a-personas")

    main.get_by_role("tab", name="Scenarios").click()  # the tab bar reruns the page: the flash goes
    expect(main.get_by_text("Generated 4 personas.")).to_have_count(0)
    settle(page)
    expect(main.get_by_text("No scenarios yet")).to_be_visible()
    picker = main.get_by_role("combobox", name="Scenario", exact=True)
    for title, split in (("Friday night", "train"), ("Rainy Sunday", "held-out")):
        if picker.input_value() != "New scenario":  # after a save it shows the scenario just saved
            picker.click()
            page.get_by_role("option", name="New scenario", exact=True).click()
            expect(picker).to_have_value("New scenario")
            settle(page)
        form = main.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Add scenario"))
        fill(form.get_by_label("Title", exact=True), title)
        fill(form.get_by_label("Situation of the user", exact=True), f"{title}: the user wants something to watch.")
        fill(form.get_by_label("The user's goal", exact=True), "a film to watch tonight")
        form.get_by_text(split, exact=True).click()
        expect(form.get_by_role("radio", name=split, exact=True)).to_be_checked()
        form.get_by_role("button", name="Add scenario").click()
        expect(main.get_by_text(f"Saved scenario '{title}'.")).to_be_visible()
        expect(picker).to_have_value(re.compile(f"^#\\d+ {title}$"))
    scenarios = table(main, "split")
    expect(column(scenarios, 2)).to_have_text(["Friday night", "Rainy Sunday"])
    expect(column(scenarios, 4)).to_have_text(["train", "held-out"])
    expect(main.get_by_text("1 training and 1 held-out scenarios.")).to_be_visible()
    check(page, shots, "2b-scenarios")

    # 3. Self-play: two conversations of one exchange.
    go(page, "Self-play")
    expect(main.get_by_text("4 personas, 2 scenarios.")).to_be_visible()
    expect(main.get_by_text("This run makes up to 64 calls (0 already in the cache)")).to_be_visible()
    fill(main.get_by_label("Conversations", exact=True), 2)
    expect(main.get_by_text("This run makes up to 16 calls (0 already in the cache)")).to_be_visible()
    fill(main.get_by_label("Exchanges at most", exact=True), 1)
    expect(main.get_by_text("This run makes up to 4 calls (0 already in the cache)")).to_be_visible()
    settle(page)
    main.get_by_role("button", name="Run self-play").click()
    expect(main.get_by_text("Self-play run 1: 2 transcripts, 4 calls (0 from the cache).")).to_be_visible()
    expect(column(table(main, "simulator"), 8)).to_have_text(["done"])
    check(page, shots, "3-selfplay")

    # 4. Review: the bot's emoji reply, marked bad with a critique.
    go(page, "Review")
    messages = main.get_by_test_id("stChatMessage")
    expect(messages).to_have_count(2)
    expect(messages.nth(0)).to_contain_text("Can you suggest a film for tonight?")
    expect(messages.nth(1).get_by_text("Try Alien 🎬🍿", exact=True)).to_be_visible()
    mark = messages.nth(1).get_by_test_id("stExpander")
    mark.locator("summary").click()
    bad = mark.get_by_role("radio", name="bad", exact=True)
    expect(bad).to_be_visible()
    still(page)
    mark.get_by_text("bad", exact=True).click()  # the option's label (the input itself is hidden)
    expect(bad).to_be_checked()
    fill(mark.get_by_label("Critique", exact=True), "No emojis, please.")
    expect(bad).to_be_checked()
    mark.get_by_role("button", name="Save").click()
    expect(messages.nth(1).locator("summary")).to_have_text(re.compile(r"Mark this reply — bad$"))
    check(page, shots, "4-review")

    # 5. Patterns: propose one from the mark, test it against the label, accept it.
    go(page, "Patterns")
    main.get_by_role("button", name="Propose patterns from my marks").click()
    expect(main.get_by_text("New candidate patterns: 1.")).to_be_visible()
    expect(main.get_by_role("heading", name="Candidates (1)")).to_be_visible()
    main.get_by_role("button", name="Test patterns against my labels").click()
    expect(main.get_by_text("Every candidate and accepted pattern was judged")).to_be_visible()
    pattern = main.get_by_test_id("stExpander").filter(has_text="#1 · AVOID · The bot uses emojis in its replies")
    pattern.locator("summary").click()
    expect(pattern.get_by_text(re.compile(r"^Passes 0 · fails 1 · not applicable 0 · "))).to_be_visible()
    check(page, shots, "5a-pattern-tested")
    pattern.get_by_role("button", name="Accept").click()
    expect(main.get_by_role("heading", name="Accepted (1)")).to_be_visible()
    expect(main.get_by_role("heading", name="Candidates (0)")).to_be_visible()
    check(page, shots, "5b-pattern-accepted")

    # 6. Refine: one round of one candidate, then approve it.
    go(page, "Refine")
    for label, value in (("Rounds", 1), ("Candidates per round", 1), ("Training conversations", 2),
                         ("Held-out conversations", 1), ("Exchanges at most", 1)):
        fill(main.get_by_label(label, exact=True), value)
    expect(main.get_by_text(re.compile(r"^At most 25 model calls"))).to_be_visible()  # the cost follows the settings
    main.get_by_role("button", name="Run refinement").click()
    expect(main.get_by_text(re.compile(r"^Refinement run 1 finished"))).to_be_visible()
    expect(main.get_by_role("heading", name="Leaderboard")).to_be_visible()
    board = table(main, "held-out pass")
    expect(column(board, 3)).to_have_text(["evaluated", "baseline"])
    expect(column(board, 5)).to_have_text(["100%", "0%"])  # held-out pass: the candidate drops the emojis
    expect(main.get_by_test_id("stCode").filter(has_text="+" + RULE).first).to_be_visible()  # the hunk
    expect(main.get_by_text("Why: The designer marked emoji replies as bad.")).to_be_visible()
    check(page, shots, "6a-leaderboard")
    main.get_by_role("button", name="Approve: make this the current prompt").click()
    expect(main.get_by_text(re.compile(r"^Candidate \d+ is now prompt version 2, the current prompt"))).to_be_visible()
    expect(main.get_by_text("Approved as prompt version 2.")).to_be_visible()
    expect(column(board, 3)).to_have_text(["approved", "baseline"])
    check(page, shots, "6b-approved")

    # 7. Projects: version 2, written by refinement, is current and says "Never use emojis".
    go(page, "Projects")
    main.get_by_role("tab", name="Versions").click()
    history = table(main, "rationale")
    expect(column(history, 1)).to_have_text(["v2", "v1"])
    expect(column(history, 3)).to_have_text(["refinement", "designer"])
    expect(column(history, 7)).to_have_text(["true", "false"])  # current
    shown = main.get_by_role("combobox", name="Version", exact=True)
    expect(shown).to_have_value(re.compile(r"^v2 · refinement · .* \(current\)$"))
    code = main.get_by_test_id("stCode").first
    expect(code).to_contain_text("Never use emojis")
    expect(code).to_contain_text("Recommend one film at a time.")
    expect(main.get_by_role("button", name="Make this version current")).to_be_disabled()
    check(page, shots, "7-versions")

    # The bot was played under the draft and, in refinement, under the candidate (over real HTTP).
    bot_prompts = {r["messages"][0]["content"] for r in model.chat_requests
                   if r["messages"][0]["content"].startswith("# Persona")}
    assert PROMPT in bot_prompts and any(RULE in prompt for prompt in bot_prompts), bot_prompts
