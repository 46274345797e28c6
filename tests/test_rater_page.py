"""The rater page through AppTest: study links of every kind, consent, comprehension, rating,
resume, double submits, attention checks, completion codes and the locked-down navigation, on a
real DuckDB file."""

from __future__ import annotations

import json
import random
import secrets

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from tests.conftest import app_store
from tests.scripted_server import Reply, ScriptedServer
from vt_core.crowd.items import add_check_items, import_items_jsonl
from vt_core.crowd.studies import StudyDefinition, create_study, set_study_status

CONDITIONS = ("zebra-baseline", "okapi-tuned")  # names no page text would contain by chance
ITEMS_PER_CONDITION = 3
ITEMS_PER_RATER = 2
CHECKS = 2
TOTAL = ITEMS_PER_RATER + CHECKS
CODES = {"completed": "C-DONE-1", "screened_out": "C-OUT-2", "failed_checks": "C-FAIL-3"}
CONSENT = "You agree to read chatbot conversations. *Not bold*."
QUESTION = "What do you rate?"
PROLIFIC = {"PROLIFIC_PID": "pid0001", "STUDY_ID": "st1", "SESSION_ID": "se1"}
MTURK = {"workerId": "W1", "assignmentId": "A1", "hitId": "H1", "turkSubmitTo": "https://www.mturk.com"}


def definition(**changes) -> StudyDefinition:
    data = {
        "name": "rater page study",
        "conditions": [{"name": c} for c in CONDITIONS],
        "instructions": ["Answer in one sentence.", "Never mention prices."],
        "items_per_rater": ITEMS_PER_RATER,
        "ratings_per_item": 2,
        "attention_checks": [
            {"instruction": "This is a check: choose Disagree for the first question.",
             "dimension": "adherence", "expected": 2},
            {"instruction": "This is a check: choose Agree for the second question.",
             "dimension": "quality", "expected": 6},
        ],
        "comprehension": {"question": QUESTION, "options": ["the bot", "the user"], "answer": "the bot"},
        "consent_text": CONSENT,
        "instruction_text": "Read each conversation, then rate the bot.",
        "completion_codes": CODES,
        "min_seconds_per_item": 0.0,
    }
    data.update(changes)
    return StudyDefinition.model_validate(data)


@pytest.fixture
def server(app_env, monkeypatch):
    # Raters get their seed (item order, check positions) from secrets.randbits: a seeded stream here,
    # so that every run of a test takes the same path through the study.
    monkeypatch.setattr(secrets, "randbits", random.Random(20261130).getrandbits)
    with ScriptedServer(Reply(content="unused")) as server:
        app_env(server.url)
        yield server


def make_study(status: str = "open", question: str = "Question {i}?", **changes):
    store = app_store()
    study = create_study(store, definition(**changes))
    for c in CONDITIONS:
        lines = [json.dumps({"messages": [{"role": "user", "content": question.format(i=i)},
                                          {"role": "assistant", "content": f"Answer {i} from the bot."}],
                             "match_key": f"m{i}"}) for i in range(ITEMS_PER_CONDITION)]
        import_items_jsonl(store, study, c, lines)
    add_check_items(store, study)
    if status == "open":
        study = set_study_status(store, study.id, "open")
    return study


@pytest.fixture
def study(server):
    return make_study()


def open_link(study, params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=30)
    at.query_params["study"] = study.token if study is not None else "no-such-token"
    for name, value in (params or {}).items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    """Everything rendered, as one string."""
    parts = []
    for kind in ("title", "subheader", "text", "markdown", "info", "warning", "error", "success",
                 "caption", "code"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [b.label for b in at.button]
    for radio in at.radio:
        parts += [radio.label, *map(str, radio.options)]
    return "\n".join(parts)


def raters(columns: str = "platform, external_id, status"):
    return app_store().cursor().execute(f"SELECT {columns} FROM raters ORDER BY id").fetchall()


def ratings(columns: str = "item_id, dimension, value, seconds"):
    return app_store().cursor().execute(f"SELECT {columns} FROM ratings ORDER BY id").fetchall()


def click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception
    return at


def consent(at: AppTest) -> AppTest:
    return click(at, "I agree")


def comprehend(at: AppTest, option: str = "the bot") -> AppTest:
    radio = at.radio[0]
    radio.set_value(radio.options.index(option))
    return click(at, "Check my answer")


def current_turns(at: AppTest) -> list[str]:
    return [t.value for t in at.text if t.value.startswith(("Question", "Answer", "This is a check"))]


def answer(at: AppTest, adherence: int | None, quality: int | None) -> AppTest:
    for radio, value in zip(at.radio, (adherence, quality), strict=True):
        if value is not None:
            radio.set_value(value)
    return click(at, "Submit and continue")


def answer_item(at: AppTest, *, fail_checks: bool = False) -> AppTest:
    """Rate the item on screen: a check item as it asks (or wrong), a transcript with 5 and 6."""
    turns = current_turns(at)
    if turns and turns[0].startswith("This is a check"):
        right = (2, 7) if "first question" in turns[0] else (7, 6)
        wrong = (5, 5)
        return answer(at, *(wrong if fail_checks else right))
    return answer(at, 5, 6)


def rating_session(study, params=PROLIFIC) -> AppTest:
    return comprehend(consent(open_link(study, params)))


# -- entry through each kind of link ------------------------------------------------------------


def test_prolific_link_registers_at_once_and_shows_consent(study):
    at = open_link(study, PROLIFIC)
    assert raters("platform, external_id, session_id, status") == [("prolific", "pid0001", "se1", "consent")]
    assert CONSENT in [t.value for t in at.text]  # plain text: the asterisks stay
    assert [b.label for b in at.button] == ["I agree", "I do not agree"]
    assert not at.sidebar.caption  # no model caption for raters


@pytest.fixture
def mturk_study(server):
    return make_study(platform="mturk", name="mturk study")


def test_mturk_link_registers_the_worker(mturk_study):
    open_link(mturk_study, MTURK)
    assert raters("platform, external_id, assignment_id, hit_id, submit_to") == [
        ("mturk", "W1", "A1", "H1", "https://www.mturk.com")]


def test_mturk_preview_shows_the_task_and_registers_nobody(mturk_study):
    at = open_link(mturk_study, {**MTURK, "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "workerId": ""})
    assert "Accept the HIT" in at.info[0].value
    shown = texts(at)
    assert CONSENT in shown and "Question 0?" in shown and "Read each conversation" in shown
    assert not at.button
    assert raters() == []


def test_anonymous_link_gets_an_id_in_the_url_and_resumes_with_it(server):
    study = make_study(platform="anonymous")
    at = open_link(study)
    (platform, external_id, status), = raters()
    assert (platform, status) == ("anonymous", "consent")
    assert at.query_params["rater"] == external_id
    consent(at)
    again = open_link(study, {"rater": external_id})  # a refresh: the same URL, a new session
    assert raters() == [("anonymous", external_id, "comprehension")]
    assert again.radio[0].options == ["the bot", "the user"]


def test_a_bad_token_or_a_closed_study_shows_a_message_only(server):
    at = open_link(None)
    assert "not valid" in at.error[0].value
    assert not at.button and not at.radio and not at.text
    draft = make_study(status="draft")
    at = open_link(draft, PROLIFIC)
    assert "not open" in at.error[0].value
    assert not at.button and raters() == []


def test_a_link_from_another_platform_is_refused(study, server):
    at = open_link(study, {})  # a Prolific study opened without PROLIFIC_PID
    assert "runs on Prolific, but the link carries no PROLIFIC_PID" in at.text[0].value
    at = open_link(study, MTURK)
    assert "runs on Prolific, but the link comes from MTurk" in at.text[0].value
    anonymous = make_study(platform="anonymous", name="anonymous study")
    at = open_link(anonymous, PROLIFIC)
    assert "anonymous link, but the link carries Prolific parameters" in at.text[0].value
    assert not at.button and raters() == []


def test_a_malformed_id_is_refused(study):
    at = open_link(study, {"PROLIFIC_PID": "bad id!"})
    assert "malformed" in at.error[0].value and "PROLIFIC_PID 'bad id!' is malformed" in at.text[0].value
    assert raters() == []


@pytest.mark.parametrize("hostile", ["![seen](http://evil.example/pixel.png)", "[click me](http://evil.example)",
                                     "<img src=x onerror=alert(1)>", ":red[alarm] $x^2$"])
def test_a_crafted_id_is_quoted_as_plain_text(study, hostile):
    at = open_link(study, {**PROLIFIC, "SESSION_ID": hostile})
    assert hostile[:60] in at.text[0].value  # shown literally, as text
    assert not any("evil.example" in m.value or "onerror" in m.value or ":red[" in m.value
                   for m in [*at.error, *at.markdown, *at.caption, *at.warning, *at.info])
    assert raters() == []


# -- consent and comprehension ------------------------------------------------------------------


HOSTILE_TURN = ("![seen](http://evil.example/pixel.png) [click](http://evil.example) <script>alert(1)</script> "
                ":red[red] $x^2$ **bold**")


def test_an_imported_hostile_transcript_shows_as_plain_text(server):
    study = make_study(question="Question {i}? " + HOSTILE_TURN)
    at = rating_session(study)
    while not current_turns(at)[0].startswith("Question"):
        at = answer_item(at)  # past any check item
    assert current_turns(at)[0].endswith(HOSTILE_TURN)  # as written, as text
    rendered = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "success")
                for e in getattr(at, kind)]
    assert not any("evil.example" in value or "<script" in value or ":red[" in value for value in rendered)


def test_declining_consent_screens_out_with_its_code(study):
    at = click(open_link(study, PROLIFIC), "I do not agree")
    assert raters() == [("prolific", "pid0001", "screened_out")]
    assert CODES["screened_out"] in [c.value for c in at.code]
    assert CODES["completed"] not in texts(at)


def test_comprehension_fail_then_pass(study):
    at = comprehend(consent(open_link(study, PROLIFIC)), "the user")
    assert "not right" in at.warning[0].value and "1 attempt left" in at.warning[0].value
    assert raters() == [("prolific", "pid0001", "comprehension")]
    comprehend(at, "the bot")
    assert raters() == [("prolific", "pid0001", "rating")]
    assert len(at.radio) == 2 and at.progress


def test_comprehension_fail_twice_screens_out(study):
    at = comprehend(comprehend(consent(open_link(study, PROLIFIC)), "the user"), "the user")
    assert raters() == [("prolific", "pid0001", "screened_out")]
    assert CODES["screened_out"] in [c.value for c in at.code]


# -- rating -------------------------------------------------------------------------------------


def test_rating_an_item_stores_every_dimension_with_seconds(study):
    at = rating_session(study)
    first = current_turns(at)
    assert "Instructions the chatbot was given:" in [t.value for t in at.text]
    assert [r.options for r in at.radio] == [["Strongly disagree", "Disagree", "Somewhat disagree",
                                              "Neither agree nor disagree", "Somewhat agree", "Agree",
                                              "Strongly agree"]] * 2
    assert all(r.value is None for r in at.radio)
    assert at.progress[0].value == 0  # nothing rated yet
    answer(at, 3, 4)
    rows = ratings()
    assert [(d, v) for _, d, v, _ in rows] == [("adherence", 3), ("quality", 4)]
    assert rows[0][0] == rows[1][0] and all(s is not None and s >= 0 for *_, s in rows)
    assert current_turns(at) != first
    assert at.progress[0].value == 100 // TOTAL  # AppTest reports percent
    assert all(r.value is None for r in at.radio)  # a fresh form for the next item


def test_an_unanswered_scale_shows_a_message_and_stores_nothing(study):
    at = rating_session(study)
    first = current_turns(at)
    answer(at, 4, None)
    assert "Please answer every question" in at.warning[0].value
    assert ratings() == []
    assert current_turns(at) == first
    assert at.radio[0].value == 4  # nothing lost
    answer(at, None, 5)
    assert [(d, v) for _, d, v, _ in ratings()] == [("adherence", 4), ("quality", 5)]


def test_a_new_session_with_the_same_id_resumes_the_same_item(study):
    at = answer_item(rating_session(study))
    item, bar = current_turns(at), at.progress[0].value
    again = open_link(study, PROLIFIC)  # closed and reopened: session_state is gone
    assert current_turns(again) == item
    assert again.progress[0].value == bar
    assert not [b for b in again.button if b.label == "I agree"]


def test_the_same_item_submitted_from_two_sessions_is_stored_once(study):
    first = rating_session(study)
    second = open_link(study, PROLIFIC)  # a second tab shows the same leased item
    assert current_turns(second) == current_turns(first)
    answer(first, 5, 6)
    answer(second, 1, 1)  # the other tab submits the same item: nothing stored, it moves on
    assert [(d, v) for _, d, v, _ in ratings()] == [("adherence", 5), ("quality", 6)]
    assert current_turns(second) == current_turns(first)  # both on the next item now


def test_failing_two_attention_checks_ends_with_the_failed_checks_code(study):
    at = rating_session(study)
    for _ in range(TOTAL):
        at = answer_item(at, fail_checks=True)
    assert raters() == [("prolific", "pid0001", "failed_checks")]
    assert [c.value for c in at.code] == [CODES["failed_checks"]]
    assert CODES["completed"] not in texts(at)


def test_finishing_shows_the_completion_code_and_the_prolific_link(study):
    at = rating_session(study)
    for _ in range(TOTAL):
        at = answer_item(at)
    assert raters() == [("prolific", "pid0001", "completed")]
    assert [c.value for c in at.code] == [CODES["completed"]]
    assert "finished" in at.success[0].value
    counts = app_store().cursor().execute(
        "SELECT dimension, count(*), count(DISTINCT item_id) FROM ratings GROUP BY 1 ORDER BY 1").fetchall()
    assert counts == [("adherence", TOTAL, TOTAL), ("quality", TOTAL, TOTAL)]
    shown = open_link(study, PROLIFIC)  # reopened after the end: the end screen again
    assert [c.value for c in shown.code] == [CODES["completed"]]


def test_mturk_rater_finishes_too(mturk_study):
    at = rating_session(mturk_study, MTURK)
    for _ in range(TOTAL):
        at = answer_item(at)
    assert [c.value for c in at.code] == [CODES["completed"]]
    assert raters("status") == [("completed",)]
    form, = [e.proto.body for e in at.get("html") if "vt-link-cookie" not in e.proto.body]  # not the cookie script
    assert '<form method="POST" action="https://www.mturk.com/mturk/externalSubmit">' in form
    assert 'name="assignmentId" value="A1"' in form and f'value="{CODES["completed"]}"' in form


# -- access and secrecy -------------------------------------------------------------------------


def test_a_rater_session_cannot_reach_other_pages(study):
    at = rating_session(study)
    item = current_turns(at)
    # AppTest refuses to switch to a page the session's navigation does not list ...
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/designer/projects.py")
    # ... and a request for it anyway (the hash the staff menu gives the Projects page, as a
    # hand-made URL would ask for) falls back to the only page there is: the rater page.
    at._page_hash = calc_hash("designer_projects")
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Rate conversations"]
    assert current_turns(at) == item
    assert "Projects" not in texts(at) and not at.sidebar.selectbox

    at.query_params.clear()  # the study parameter removed from the URL, same browser session
    at.run()
    assert [t.value for t in at.title] == ["Rate conversations"]
    assert current_turns(at) == item


def test_condition_names_never_appear(study):
    seen = []
    at = open_link(study, PROLIFIC)
    seen.append(texts(at))
    at = consent(at)
    seen.append(texts(at))
    at = comprehend(at)
    for _ in range(TOTAL):
        seen.append(texts(at))
        at = answer_item(at)
    seen.append(texts(at))
    mturk = make_study(platform="mturk", name="mturk study")
    preview = open_link(mturk, {**MTURK, "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "workerId": ""})
    seen.append(texts(preview))
    everything = "\n".join(seen)
    assert "Question" in everything and CODES["completed"] in everything
    for name in CONDITIONS:
        assert name not in everything
        assert name not in str(at.query_params)


# -- a study that has all its ratings ----------------------------------------------------------


def rate_until_nothing_left(study, pid: str) -> int:
    """Another rater, through the functions the page calls: rate every item handed out."""
    from vt_core.crowd.assignment import Identity, next_item, register_rater, set_rater_status, submit

    store, d = app_store(), study.definition
    rater = register_rater(store, study.id, Identity("prolific", pid), conditions=list(CONDITIONS))
    set_rater_status(store, rater.id, "rating")
    rated = 0
    while item := next_item(store, rater, items_per_rater=d.items_per_rater, k=d.ratings_per_item,
                            lease_minutes=d.lease_minutes):
        answers = {"adherence": 4, "quality": 4, **(item.expected or {})}  # checks passed: their ratings count
        submit(store, rater.id, item.id, answers, k=d.ratings_per_item)
        rated += 1
    return rated


def test_a_full_study_ends_before_consent_with_the_screened_out_code(server):
    study = make_study(ratings_per_item=1)  # 6 regular items, 2 per rater
    for pid in ("other1", "other2", "other3"):
        assert rate_until_nothing_left(study, pid) == TOTAL
    at = open_link(study, PROLIFIC)
    assert "already has all the ratings it needs" in texts(at), texts(at)
    assert [c.value for c in at.code] == [CODES["screened_out"]]
    assert not at.button and raters()[-1] == ("prolific", "pid0001", "screened_out")


def test_a_rater_waits_while_others_hold_the_last_items(server):
    from vt_core.crowd.assignment import Identity, next_item, register_rater, set_rater_status, submit

    study = make_study(ratings_per_item=1)
    for pid in ("other1", "other2"):
        rate_until_nothing_left(study, pid)
    store, d = app_store(), study.definition
    holders = []
    for pid in ("holder1", "holder2"):  # each holds a lease on one of the two items left
        holder = register_rater(store, study.id, Identity("prolific", pid), conditions=list(CONDITIONS))
        set_rater_status(store, holder.id, "rating")
        while (item := next_item(store, holder, items_per_rater=d.items_per_rater, k=1,
                                 lease_minutes=30)).kind != "regular":
            submit(store, holder.id, item.id, {"adherence": 4, "quality": 4, **(item.expected or {})})
        holders.append(holder.id)
    at = open_link(study, PROLIFIC)
    assert "being rated by someone else" in at.info[0].value
    assert [b.label for b in at.button] == ["Check again"]
    assert raters()[-1][2] == "consent" and not at.code
    # the holders leave: their leases expire, and the same screen now lets the rater start
    store.cursor().execute("UPDATE leases SET expires_at = TIMESTAMP '2000-01-01' WHERE rater_id IN (?, ?)", holders)
    at = click(at, "Check again")
    assert [b.label for b in at.button] == ["I agree", "I do not agree"]


def test_a_rater_whose_items_fill_up_midway_completes_early(server):
    study = make_study(ratings_per_item=1, items_per_rater=4)  # 6 regular items
    at = rating_session(study)
    while not current_turns(at)[0].startswith("Question"):
        at = answer_item(at)  # past any check item, to one regular rating
    at = answer_item(at)
    assert rate_until_nothing_left(study, "other1") >= 4  # the others take every regular item left
    rate_until_nothing_left(study, "other2")
    at.run()
    # What is left for this rater: the item they may already hold a lease on (chosen by their seed,
    # a transcript or a check) and the check items, which are exempt from k; then the session ends.
    regular_left = 1
    for _ in range(CHECKS + 1):
        if at.code:
            break
        if not current_turns(at)[0].startswith("This is a check"):
            regular_left -= 1
            assert regular_left >= 0, "a transcript beyond the one leased before the others filled the study"
        at = answer_item(at)
    assert "ended early" in at.success[0].value
    assert [c.value for c in at.code] == [CODES["completed"]]
    assert raters()[0] == ("prolific", "pid0001", "completed")
    flags = app_store().cursor().execute("SELECT flag FROM rater_flags WHERE rater_id = 1").fetchall()
    assert flags == [("study_full",)]


# -- a rater who edits the link -------------------------------------------------------------------

SET_ASIDE = "The address in your browser is not the study link this browser opened"
LONG_PID = "a" * 5000
PATH_PID = "../../../etc/passwd"
HTML = "<img src=x onerror=alert(1)><script>alert(2)</script>"


@pytest.mark.parametrize("edit", [
    {"PROLIFIC_PID": "pid0002"},  # another rater's id
    {"STUDY_ID": "another-prolific-study"},
    {"SESSION_ID": "se-other"},
    {"PROLIFIC_PID": None},  # the id removed
    {"PROLIFIC_PID": LONG_PID},
    {"PROLIFIC_PID": PATH_PID},
    {"STUDY_ID": HTML},
    {"SESSION_ID": "[click me](http://evil.example)"},
], ids=["other-pid", "other-study-id", "other-session", "no-pid", "long-pid", "path-pid", "html", "markdown"])
def test_an_edited_link_keeps_the_rater_on_their_own_items(study, edit):
    at = answer_item(rating_session(study))
    item, bar = current_turns(at), at.progress[0].value
    edited = {"study": study.token, **PROLIFIC, **edit}
    at.query_params.clear()
    at.query_params.update({k: v for k, v in edited.items() if v is not None})
    at.run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Rate conversations"] and not at.sidebar.caption
    assert at.warning[0].value.startswith(SET_ASIDE)  # a fixed sentence: nothing of the edit in it
    assert current_turns(at) == item and at.progress[0].value == bar  # the same rater, the same place
    assert raters() == [("prolific", "pid0001", "rating")]  # nobody else registered
    assert at.query_params["PROLIFIC_PID"] == "pid0001"  # the address bar shows their own link again
    shown = texts(at)
    for value in edit.values():
        assert value is None or value not in shown
    assert not [e for e in at.get("html") if "vt-link-cookie" not in e.proto.body]  # no HTML but the cookie's
    answer_item(at)  # and rating goes on, as pid0001
    assert {r[0] for r in app_store().cursor().execute(
        "SELECT DISTINCT rater_id FROM ratings").fetchall()} == {1}
    assert not at.warning  # said once


def test_an_altered_token_shows_only_a_message_then_the_own_link_resumes(study):
    at = answer_item(rating_session(study))
    item = current_turns(at)
    at.query_params.clear()
    at.query_params.update({"study": study.token[:-2] + "zz", **PROLIFIC})
    at.run()
    assert "not valid" in at.error[0].value and not at.button and not at.radio
    assert [t.value for t in at.title] == ["Rate conversations"] and not at.sidebar.caption
    at.query_params.clear()
    at.query_params.update({"study": study.token, **PROLIFIC})  # the link from the platform again
    at.run()
    assert current_turns(at) == item and raters() == [("prolific", "pid0001", "rating")]


@pytest.mark.parametrize("pid, quoted", [(LONG_PID, "a" * 80), (PATH_PID, PATH_PID), (HTML, HTML[:60])])
def test_a_hostile_id_in_a_fresh_browser_is_refused_as_plain_text(study, pid, quoted):
    at = open_link(study, {**PROLIFIC, "PROLIFIC_PID": pid})
    assert "malformed" in at.error[0].value and quoted in at.text[0].value
    assert len(at.text[0].value) < 300  # not the whole 5,000 characters
    assert not at.button and not at.radio and raters() == []
    assert [t.value for t in at.title] == ["Rate conversations"] and not at.sidebar.caption
    assert not any("onerror" in m.value or "<script" in m.value for m in [*at.markdown, *at.error, *at.caption])
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/researcher/studies.py")


def test_a_study_at_its_cap_asks_a_newcomer_to_come_back_without_registering_them(server):
    study = make_study(max_active_raters=1)
    first = consent(open_link(study, PROLIFIC))
    assert QUESTION in texts(first)
    full = open_link(study, {**PROLIFIC, "PROLIFIC_PID": "pid0002", "SESSION_ID": "se2"})
    assert "The study is full right now" in texts(full) and "Consent" not in texts(full)
    assert raters("external_id") == [("pid0001",)]  # the newcomer is not registered
    assert QUESTION in texts(open_link(study, PROLIFIC))  # the one at work comes back in

    app_store().cursor().execute("UPDATE raters SET status = 'completed'")
    assert "Consent" in texts(click(full, "Try again"))
    assert raters("external_id") == [("pid0001",), ("pid0002",)]
