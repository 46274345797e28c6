"""The designer loop as a person clicks it, in a real Chromium against `streamlit run app.py`.

The model is the scripted emoji world, served over real HTTP from this process: the bot answers
with emojis until a refined prompt says "Never use emojis". The path: create a project, generate
personas and write scenarios, run self-play, mark the emoji reply as bad, propose/test/accept the
pattern, run refinement, approve the candidate, and find it current in the version history.
A second walk (issue 11) refines with two candidates, one of which ties the baseline, and approves
that one, which is not the leaderboard's top row.
"""

import re
from pathlib import Path

import pytest

from tests.browser import browser_page, chromium, playwright, settle, streamlit_app
from tests.scripted_server import ScriptedServer
from tests.scripted_worlds import PROMPT, RULE, EmojiWorld
from vt_core.core.store import Store
from vt_core.designer import (
    add_scenario,
    create_project,
    current_version,
    generate_personas,
    leaderboard,
    list_refine_runs,
    versions,
)

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


def pick(page, picker, option: str) -> None:
    """Choose `option` in a selectbox that may lie below the fold. It is scrolled into view first and
    the scroll let through: a click that scrolls and presses at once can open the list, then have it
    closed by its own scroll event (the list closes when the page under it scrolls)."""
    picker.scroll_into_view_if_needed()
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    picker.click()
    expect(picker).to_have_attribute("aria-expanded", "true")
    page.get_by_role("option", name=option, exact=True).click()
    expect(picker).to_have_value(option)  # in the browser: the rerun it starts may not have begun yet
    settle(page)


def table(main, header: str):
    """The st.dataframe with this column header. It draws on a canvas; its cells are also in an
    accessible table inside the canvas, which is what the assertions read."""
    return main.get_by_test_id("stDataFrame").filter(has=main.page.locator("th", has_text=header))


def column(frame, index: int):
    """The cells of one column (1-based), top to bottom."""
    return frame.locator(f'td[aria-colindex="{index}"]')


def self_play_mark_and_accept(page, shots: Path) -> None:
    """Steps 3 to 5 of the loop, on a project with four personas, one training and one held-out
    scenario: self-play, the emoji reply marked bad, the pattern proposed, tested and accepted."""
    main = page.get_by_test_id("stMain")

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

    # 4. Review: the bot's emoji reply, marked bad with the B key (a Streamlit button shortcut), then critiqued.
    go(page, "Review")
    messages = main.get_by_test_id("stChatMessage")
    expect(messages).to_have_count(2)
    expect(messages.nth(0)).to_contain_text("Can you suggest a film for tonight?")
    expect(messages.nth(1).get_by_text("Try Alien 🎬🍿", exact=True)).to_be_visible()
    still(page)
    page.keyboard.press("b")  # marks the first reply not yet marked
    expect(messages.nth(1).get_by_text(re.compile(r"Marked bad$"))).to_be_visible()
    messages.nth(1).get_by_role("button", name="Critique").click()
    popover = page.get_by_test_id("stPopoverBody")
    fill(popover.get_by_label("Critique", exact=True), "No emojis, please.")
    popover.get_by_role("button", name="Save").click()
    expect(messages.nth(1).get_by_text(re.compile(r"Marked bad: No emojis, please\.$"))).to_be_visible()
    check(page, shots, "4-review")

    # 5. Patterns: propose one from the mark, test it against the label, accept it.
    go(page, "Patterns")
    main.get_by_role("button", name="Propose patterns from my marks").click()
    expect(main.get_by_text("New candidate patterns: 1.")).to_be_visible()
    expect(main.get_by_role("heading", name="Candidates (1)")).to_be_visible()
    main.get_by_role("button", name="Test patterns against my labels").click()
    expect(main.get_by_text("Every candidate and accepted pattern was judged")).to_be_visible()
    pattern = main.get_by_test_id("stExpander").filter(has_text="P1 · AVOID · The bot uses emojis in its replies")
    pattern.locator("summary").click()
    expect(pattern.get_by_text(re.compile(r"^Passes 0 · fails 1 · not applicable 0 · "))).to_be_visible()
    check(page, shots, "5a-pattern-tested")
    pattern.get_by_role("button", name="Accept").click()
    expect(main.get_by_role("heading", name="Accepted (1)")).to_be_visible()
    expect(main.get_by_role("heading", name="Candidates (0)")).to_be_visible()
    check(page, shots, "5b-pattern-accepted")


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
    main.get_by_text("Draw attributes at random", exact=True).click()  # the scripted model writes no personas
    main.get_by_role("button", name="Propose personas", exact=True).click()
    expect(main.get_by_text("Proposed personas")).to_be_visible()
    main.get_by_role("button", name="Save the accepted personas", exact=True).click()
    expect(main.get_by_text("Saved 4 personas.")).to_be_visible()
    expect(column(table(main, "expertise"), 1)).to_have_text(["1", "2", "3", "4"])
    check(page, shots, "2a-personas")

    main.get_by_role("tab", name="Scenarios").click()  # the tab bar reruns the page: the flash goes
    expect(main.get_by_text("Saved 4 personas.")).to_have_count(0)
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

    self_play_mark_and_accept(page, shots)

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
    expect(main.get_by_text(re.compile(r"^Candidate \d+ is now prompt version v2, the current prompt"))).to_be_visible()
    expect(main.get_by_text("Approved as prompt version v2.")).to_be_visible()
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


OTHER_RULE = "- Suggest only films that end before midnight."  # the bot pays it no heed: it keeps its emojis


def movie_bot(path: Path) -> int:
    """The project as steps 1 and 2 of the loop above leave it: the draft prompt, four personas,
    one training and one held-out scenario. Returns its id."""
    store = Store(path)
    try:
        project = create_project(store, "Movie bot", goal="Recommend films people will enjoy tonight.",
                                 audience="Film fans", prompt=PROMPT)
        generate_personas(store, project.id, 4, seed=0)
        for title, split in (("Friday night", "train"), ("Rainy Sunday", "heldout")):
            add_scenario(store, project.id, title=title, description=f"{title}: the user wants something to watch.",
                         user_goal="a film to watch tonight", difficulty=1, split=split)
        return project.id
    finally:
        store.close()


def test_approve_a_candidate_below_the_top_row_tied_with_the_baseline(tmp_path):
    """Issue 11: with two candidates per round, the writer's first sample adds "Never use emojis"
    (the top row) and its second adds a rule the bot ignores, so that candidate scores exactly what
    the baseline scores and sorts below it. The designer picks that one, reads its diff and approves
    it: the page must show the candidate, not a StreamlitDuplicateElementKey, and the approved text
    must become the current version, a child of the version the run refined."""
    db = tmp_path / "vt.duckdb"
    project_id = movie_bot(db)
    shots = tmp_path / "shots"
    shots.mkdir()
    with ScriptedServer(respond=EmojiWorld(other_rule=OTHER_RULE)) as model, \
            streamlit_app(tmp_path, {"OPENAI_BASE_URL": model.url}) as url, chromium() as browser, \
            browser_page(browser, tmp_path, timeout_ms=RERUN_MS, width=1400) as page:
        page.goto(url)
        expect(page.get_by_role("heading", name="Visionary Tuning")).to_be_visible()
        main = page.get_by_test_id("stMain")
        self_play_mark_and_accept(page, shots)

        # Refine: one round of two candidates.
        go(page, "Refine")
        for label, value in (("Rounds", 1), ("Candidates per round", 2), ("Training conversations", 2),
                             ("Held-out conversations", 1), ("Exchanges at most", 1)):
            fill(main.get_by_label(label, exact=True), value)
        expect(main.get_by_text(re.compile(r"^At most 38 model calls"))).to_be_visible()
        main.get_by_role("button", name="Run refinement").click()
        expect(main.get_by_text(re.compile(r"^Refinement run 1 finished: ran every round \(1\)"))).to_be_visible()
        board = table(main, "held-out pass")
        expect(column(board, 3)).to_have_text(["evaluated", "baseline", "evaluated"])
        expect(column(board, 4)).to_have_text(["100%", "0%", "0%"])  # training pass: the last row ties the baseline
        expect(column(board, 5)).to_have_text(["100%", "0%", "0%"])  # held-out pass: so does it here
        top, baseline, tie = column(board, 1).all_inner_texts()
        assert (baseline, tie) == ("the baseline", "candidate 2"), (baseline, tie)  # the tie sorts below, by id

        picker = main.get_by_role("combobox", name="Candidate", exact=True)
        expect(picker).to_have_value(top.capitalize())  # the top row, shown first
        hunks = main.get_by_test_id("stCode")
        expect(hunks.filter(has_text="+" + RULE).first).to_be_visible()
        check(page, shots, "8a-two-candidates")

        # The designer prefers the candidate below the top row, tied with the baseline.
        pick(page, picker, tie.capitalize())
        # Its diff, not the top row's; or, before the fix of issue 11, StreamlitDuplicateElementKey
        # (key rf_candidate) in place of the diff and of Approve.
        its_diff = hunks.filter(has_text="+" + OTHER_RULE).first
        exceptions = page.get_by_test_id("stException")
        expect(its_diff.or_(exceptions).first).to_be_visible()
        assert exceptions.count() == 0, exceptions.first.inner_text()
        expect(its_diff).to_be_visible()
        expect(hunks.filter(has_text="+" + RULE)).to_have_count(0)
        expect(main.get_by_text("Why: The designer asked for a film for tonight.")).to_be_visible()
        check(page, shots, "8b-tie-chosen")
        main.get_by_role("button", name="Approve: make this the current prompt").click()
        expect(main.get_by_text(f"{tie.capitalize()} is now prompt version v2, the current prompt.")).to_be_visible()
        expect(main.get_by_text("Approved as prompt version v2.")).to_be_visible()
        expect(picker).to_have_value(tie.capitalize())
        expect(column(board, 3)).to_have_text(["evaluated", "baseline", "approved"])
        check(page, shots, "8c-tie-approved")

        # Projects: version 2, the chosen candidate's text, is current; the top row's rule is not in it.
        go(page, "Projects")
        main.get_by_role("tab", name="Versions").click()
        history = table(main, "rationale")
        expect(column(history, 1)).to_have_text(["v2", "v1"])
        expect(column(history, 2)).to_have_text(["v1", ""])  # parent: the version the run refined
        expect(column(history, 3)).to_have_text(["refinement", "designer"])
        expect(column(history, 7)).to_have_text(["true", "false"])  # current
        expect(main.get_by_role("combobox", name="Version", exact=True)).to_have_value(
            re.compile(r"^v2 · refinement · .* \(current\)$"))
        code = main.get_by_test_id("stCode").first
        expect(code).to_contain_text(OTHER_RULE)
        expect(code).not_to_contain_text("Never use emojis")
        check(page, shots, "8d-versions")

    store = Store(db)  # the server has stopped: the file is free again
    try:
        [run] = list_refine_runs(store, project_id)
        rows = leaderboard(store, run.id)
        assert [c.name for c in rows] == [top, baseline, tie]
        chosen, first, base = rows[2], rows[0], rows[1]
        assert (first.status, base.status, chosen.status) == ("evaluated", "baseline", "approved")
        assert (chosen.train_pass, chosen.heldout_pass) == (base.train_pass, base.heldout_pass) == (0.0, 0.0)
        assert RULE in first.text and OTHER_RULE in chosen.text and RULE not in chosen.text
        current = current_version(store, project_id)
        assert (current.id, current.text, current.author) == (chosen.version_id, chosen.text, "refinement")
        assert current.parent_id == run.parent_version_id
        assert [(v.id, v.text) for v in versions(store, project_id)] == [(run.parent_version_id, PROMPT),
                                                                          (current.id, chosen.text)]
    finally:
        store.close()
