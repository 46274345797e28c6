"""A Prolific worker's visit in a real Chromium against `streamlit run app.py`: open the study
link, consent, pass the comprehension check, rate every item (reloading the page half-way), finish
and see the completion code; then the database holds exactly the expected ratings."""

import json

import pytest

from tests.browser import browser_page, chromium, playwright, settle, streamlit_app
from tests.scripted_server import Reply, ScriptedServer
from vt_core.core.store import Store
from vt_core.crowd.items import add_check_items, import_items_jsonl
from vt_core.crowd.studies import StudyDefinition, create_study, set_study_status

expect = playwright.expect
RERUN_MS = 30_000
ITEMS_PER_RATER, CHECKS = 4, 2
TOTAL = ITEMS_PER_RATER + CHECKS
CODE = "BROWSER-DONE"

pytestmark = pytest.mark.browser


def build_study(path) -> str:
    """An open study in a fresh database file (closed again before the server opens it); its token."""
    store = Store(path)
    try:
        study = create_study(store, StudyDefinition.model_validate({
            "name": "browser study",
            "conditions": [{"name": "baseline"}, {"name": "tuned"}],
            "instructions": ["Answer in one sentence."],
            "items_per_rater": ITEMS_PER_RATER,
            "ratings_per_item": 2,
            "attention_checks": [
                {"instruction": "This is a check: choose Disagree for the first question.",
                 "dimension": "adherence", "expected": 2},
                {"instruction": "This is a check: choose Agree for the second question.",
                 "dimension": "quality", "expected": 6},
            ],
            "comprehension": {"question": "What do you rate?", "options": ["the bot", "the user"],
                              "answer": "the bot"},
            "consent_text": "You agree to read chatbot conversations.",
            "instruction_text": "Read each conversation, then rate the bot.",
            "completion_codes": {"completed": CODE, "screened_out": "OUT", "failed_checks": "FAIL"},
            "min_seconds_per_item": 0.0,
        }))
        for condition in ("baseline", "tuned"):
            import_items_jsonl(store, study, condition, [
                json.dumps({"messages": [{"role": "user", "content": f"Question {i}?"},
                                         {"role": "assistant", "content": f"Reply {i} <b>as text</b>"}],
                            "match_key": f"m{i}"}) for i in range(3)])
        add_check_items(store, study)
        set_study_status(store, study.id, "open")
        return study.token
    finally:
        store.close()


def choose(group, label: str) -> None:
    group.get_by_text(label, exact=True).click()
    expect(group.get_by_role("radio", name=label, exact=True)).to_be_checked()


def rate_everything(page, url: str, token: str, pid: str = "pidbrowser1") -> None:
    """A Prolific worker's visit: the study link, consent, the comprehension check, every item (reloading
    the page half-way), and the completion code."""
    page.goto(f"{url}/?study={token}&PROLIFIC_PID={pid}&STUDY_ID=st1&SESSION_ID=se1")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Rate conversations")).to_be_visible()
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)  # no menu for raters
    expect(main.get_by_text("You agree to read chatbot conversations.")).to_be_visible()
    main.get_by_role("button", name="I agree").click()

    expect(main.get_by_text("Read each conversation, then rate the bot.")).to_be_visible()
    settle(page)
    choose(main.get_by_role("radiogroup"), "the bot")
    main.get_by_role("button", name="Check my answer").click()

    for n in range(1, TOTAL + 1):
        expect(main.get_by_text(f"Conversation {n} of {TOTAL}")).to_be_visible()
        settle(page)
        if n == 3:  # a refresh in the middle: the same place, from the database
            page.reload()
            expect(main.get_by_text(f"Conversation {n} of {TOTAL}")).to_be_visible()
            settle(page)
        # The form comes after the turns in the script, so once its two scales are there the
        # turns are whole (on a busy machine a chat message can show before its text does).
        form = main.get_by_test_id("stForm")
        groups = form.get_by_role("radiogroup")
        expect(groups).to_have_count(2)
        turns = main.get_by_test_id("stChatMessage")
        first = turns.first.inner_text()
        if "first question" in first:
            answers = ("Disagree", "Strongly agree")
        elif "second question" in first:
            answers = ("Strongly agree", "Agree")
        else:
            expect(turns.nth(1)).to_contain_text("<b>as text</b>")  # plain text, not HTML
            answers = ("Somewhat agree", "Agree")
        for group, label in zip((groups.nth(0), groups.nth(1)), answers, strict=True):
            choose(group, label)
        form.get_by_role("button", name="Submit and continue").click()

    expect(main.get_by_text("Thank you! You have finished the task.")).to_be_visible()
    expect(main.get_by_text(CODE, exact=True)).to_be_visible()
    expect(main.get_by_role("link", name="Return to Prolific")).to_have_attribute(
        "href", f"https://app.prolific.com/submissions/complete?cc={CODE}")


def test_a_prolific_worker_rates_everything(tmp_path):
    db = tmp_path / "vt.duckdb"
    token = build_study(db)
    with ScriptedServer(Reply(content="unused")) as model, \
            streamlit_app(tmp_path, {"OPENAI_BASE_URL": model.url}) as url, chromium() as browser, \
            browser_page(browser, tmp_path, timeout_ms=RERUN_MS) as page:
        rate_everything(page, url, token)
        assert page.get_by_test_id("stException").count() == 0
        assert page.page_errors == []

    store = Store(db)  # the server has stopped: the file is free again
    try:
        cur = store.cursor()
        assert cur.execute("SELECT platform, external_id, status FROM raters").fetchall() == [
            ("prolific", "pidbrowser1", "completed")]
        per_dimension = cur.execute(
            "SELECT dimension, count(*), count(DISTINCT item_id), count(seconds) FROM ratings"
            " GROUP BY dimension ORDER BY dimension").fetchall()
        assert per_dimension == [("adherence", TOTAL, TOTAL, TOTAL), ("quality", TOTAL, TOTAL, TOTAL)]
        kinds = cur.execute(
            "SELECT i.kind, count(DISTINCT r.item_id) FROM ratings r JOIN study_items i ON i.id = r.item_id"
            " GROUP BY 1 ORDER BY 1").fetchall()
        assert kinds == [("attention", CHECKS), ("regular", ITEMS_PER_RATER)]
        assert cur.execute("SELECT count(*) FROM rater_flags WHERE flag = 'attention_failed'").fetchone()[0] == 0
    finally:
        store.close()
