"""A side-by-side study end to end in a real Chromium against `streamlit run app.py`: two Prolific raters
(each in a browser context of their own, one at a desktop's width and one at a phone's) read pairs of
conversations labelled Left and Right, with turns labelled User and Chatbot, answer the two questions
with a reason and pass the attention checks; the database then holds each choice with the order the rater
saw, and the Statistics page shows the preference and the position-bias check."""

import json

import pytest

from tests.browser import browser_page, chromium, playwright, settle, streamlit_app
from tests.scripted_server import Reply, ScriptedServer
from tests.test_browser_designer import go
from tests.test_browser_rater import choose
from vt_core.core.store import Store
from vt_core.crowd import pair_orders
from vt_core.crowd.items import add_check_items, import_pairs_jsonl
from vt_core.crowd.studies import create_study, parse_study, set_study_status

expect = playwright.expect
RERUN_MS = 60_000
PAIRS, CHECKS = 4, 2
TOTAL = PAIRS + CHECKS
CODE = "SBS-DONE"

pytestmark = pytest.mark.browser


def build_study(path) -> str:
    """An open side-by-side study of 4 pairs in a fresh database file; its token."""
    store = Store(path)
    try:
        study = create_study(store, parse_study({
            "name": "side by side", "design": "side_by_side",
            "conditions": [{"name": "baseline"}, {"name": "tuned"}],
            "instructions": ["Answer in one sentence."],
            "items_per_rater": PAIRS, "ratings_per_item": 2,
            "attention_checks": [
                {"instruction": "This is a check: choose Right for the first question.",
                 "dimension": "adherence", "expected": 3},
                {"instruction": "This is a check: choose Left for the second question.",
                 "dimension": "quality", "expected": 1}],
            "comprehension": {"question": "What do you compare?", "options": ["two conversations", "two users"],
                              "answer": "two conversations"},
            "consent_text": "You agree to read chatbot conversations.",
            "instruction_text": "Read both conversations, then say which is better.",
            "completion_codes": {"completed": CODE, "screened_out": "OUT", "failed_checks": "FAIL"},
            "min_seconds_per_item": 0.0}))
        lines = {c: [json.dumps({"messages": [{"role": "user", "content": f"Question {i}?"},
                                              {"role": "assistant", "content": f"{reply} {i} <b>as text</b>"}],
                                 "match_key": f"m{i}"}) for i in range(PAIRS)]
                 for c, reply in (("baseline", "Long winded reply"), ("tuned", "Short reply"))}
        import_pairs_jsonl(store, study, lines, seed=1)
        add_check_items(store, study)
        set_study_status(store, study.id, "open")
        return study.token
    finally:
        store.close()


def rate_pairs(page, url: str, token: str, pid: str, adherence_for_tuned: bool) -> None:
    """One rater's visit: consent, comprehension, every pair (quality: the tuned side; adherence: the tuned
    side or About the same) with a reason, the checks as instructed, the completion code."""
    page.goto(f"{url}/?study={token}&PROLIFIC_PID={pid}&STUDY_ID=st1&SESSION_ID=se-{pid}")
    main = page.get_by_test_id("stMain")
    main.get_by_role("button", name="I agree").click()
    expect(main.get_by_text("Read both conversations, then say which is better.")).to_be_visible()
    settle(page)
    choose(main.get_by_role("radiogroup"), "two conversations")
    main.get_by_role("button", name="Check my answer").click()
    for n in range(1, TOTAL + 1):
        expect(main.get_by_text(f"Conversation {n} of {TOTAL}")).to_be_visible()
        settle(page)
        form = main.get_by_test_id("stForm")
        groups = form.get_by_role("radiogroup")
        expect(groups).to_have_count(2)
        if main.get_by_text("This is a check", exact=False).count():
            text = main.get_by_text("This is a check", exact=False).inner_text()
            answers = ("Right", "About the same") if "first question" in text else ("About the same", "Left")
            reason = ""
        else:
            columns = main.get_by_test_id("stColumn")
            left, right = columns.nth(0), columns.nth(1)
            expect(left.get_by_role("heading", name="Left")).to_be_visible()
            expect(right.get_by_role("heading", name="Right")).to_be_visible()
            expect(left.get_by_text("User", exact=True)).to_be_visible()
            expect(left.get_by_text("Chatbot", exact=True)).to_be_visible()
            expect(right.get_by_text("<b>as text</b>", exact=False)).to_be_visible()  # plain text, not HTML
            one, two = left.bounding_box(), right.bounding_box()
            if page.viewport_size["width"] < 640:  # a phone: Right comes below Left
                assert two["y"] >= one["y"] + one["height"] - 1, (one, two)
            else:
                assert two["y"] == pytest.approx(one["y"], abs=2) and two["x"] > one["x"] + one["width"] - 1
            tuned = "Left" if "Short reply" in left.inner_text() else "Right"
            answers = (tuned if adherence_for_tuned else "About the same", tuned)
            reason = f"{pid}: the {tuned.lower()} one is <i>shorter</i>"
        for group, label in zip((groups.nth(0), groups.nth(1)), answers, strict=True):
            choose(group, label)
        if reason:
            form.get_by_role("textbox").fill(reason)
        form.get_by_role("button", name="Submit and continue").click()
    expect(main.get_by_text("Thank you! You have finished the task.")).to_be_visible()
    expect(main.get_by_text(CODE, exact=True)).to_be_visible()
    assert main.get_by_test_id("stException").count() == 0
    assert page.page_errors == []


def test_two_raters_compare_side_by_side_and_the_analysis_shows_preference_and_position(tmp_path):
    db = tmp_path / "vt.duckdb"
    token = build_study(db)
    with ScriptedServer(Reply(content="unused")) as model, \
            streamlit_app(tmp_path, {"OPENAI_BASE_URL": model.url}) as url, chromium() as browser:
        for pid, adherence, width in (("pidsbs1", True, 1200), ("pidsbs2", False, 400)):  # a desktop, a phone
            with browser_page(browser, tmp_path, timeout_ms=RERUN_MS, width=width, height=900) as page:
                rate_pairs(page, url, token, pid, adherence)
        with browser_page(browser, tmp_path, timeout_ms=RERUN_MS, width=1400) as page:
            page.goto(url)
            go(page, "Statistics")
            main = page.get_by_test_id("stMain")
            expect(main.get_by_text("Human raters: 2 recruited, 0 excluded, 2 analysed.")).to_be_visible()
            expect(main.get_by_text("On quality, tuned was preferred in 8 of 8 choices, baseline in 0, and 0 "
                                    "were rated about the same.", exact=False)).to_be_visible()
            expect(main.get_by_text("On adherence, tuned was preferred in 4 of 8 choices, baseline in 0, and 4 "
                                    "were rated about the same.", exact=False)).to_be_visible()
            # the pairs put tuned on the left twice and on the right twice, so choosing tuned is 4 of 8 Left
            expect(main.get_by_text("Position: the left conversation was chosen in 4 of 8 non-tied choices",
                                    exact=False)).to_be_visible()
            title = page.get_by_role("button", name="Fullscreen: Position bias: choices for the left side")
            chart = main.get_by_test_id("stFullScreenFrame").filter(has=title)
            expect(chart.get_by_test_id("stVegaLiteChart").locator("canvas, svg").first).to_be_visible()
            assert main.get_by_test_id("stException").count() == 0
            assert page.page_errors == []

    store = Store(db)  # the server has stopped: the file is free again
    try:
        cur = store.cursor()
        study_id = cur.execute("SELECT id FROM studies").fetchone()[0]
        orders = pair_orders(store, study_id)
        assert sorted(orders.values()) == ["baseline", "baseline", "tuned", "tuned"]
        rows = cur.execute(
            "SELECT ra.external_id, r.item_id, r.dimension, r.value FROM ratings r JOIN raters ra ON ra.id = r.rater_id"
            " JOIN study_items i ON i.id = r.item_id WHERE i.kind = 'regular' ORDER BY 1, 2, 3").fetchall()
        assert len(rows) == 2 * PAIRS * 2
        for pid, item_id, dimension, value in rows:
            tuned_value = 1 if orders[item_id] == "tuned" else 3  # the side the rater saw tuned on
            expected = 2 if (pid, dimension) == ("pidsbs2", "adherence") else tuned_value
            assert value == expected, (pid, item_id, dimension)
        reasons = cur.execute("SELECT ra.external_id, rr.item_id, rr.reason FROM rating_reasons rr"
                              " JOIN raters ra ON ra.id = rr.rater_id ORDER BY 1, 2").fetchall()
        assert [(pid, item) for pid, item, _ in reasons] == \
            [(p, i) for p in ("pidsbs1", "pidsbs2") for i in sorted(orders)]
        for pid, item_id, reason in reasons:
            side = "left" if orders[item_id] == "tuned" else "right"
            assert reason == f"{pid}: the {side} one is <i>shorter</i>"
        assert cur.execute("SELECT count(*) FROM rater_flags WHERE flag = 'attention_failed'").fetchone()[0] == 0
        assert cur.execute("SELECT status FROM raters ORDER BY id").fetchall() == [("completed",), ("completed",)]
    finally:
        store.close()
