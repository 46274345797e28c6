"""Prolific from the platform, against a scripted server that follows Prolific's documented API over real HTTP
(tests/scripted_prolific.py): the study created as a draft with its codes and link, published, paused at the
cap and started again, submissions approved and rejected only when confirmed, bonuses paid once whatever
happens to the pay call, places added, errors reported clearly and the token never shown; the per-rater CSV."""

from __future__ import annotations

import csv
import logging
import threading
import time
from datetime import datetime, timedelta

import pytest

from tests.scripted_prolific import TOKEN, ScriptedProlific
from tests.test_monitor import build_study, flag, item_ids, rate
from vt_core.core.config import Settings
from vt_core.crowd.assignment import Identity, register_rater, set_rater_status
from vt_core.crowd.exclusion import ExclusionRules
from vt_core.crowd.export import PER_RATER_COLUMNS, raters_csv, raters_rows
from vt_core.crowd.payouts import (
    Decision,
    add_places,
    apply_decisions,
    create_on_prolific,
    keep_within_cap,
    list_bonuses,
    pay_bonus,
    prolific_link,
    propose_decisions,
    publish_on_prolific,
    set_paused_on_prolific,
    set_up_bonus,
    settle_bonus,
)
from vt_core.crowd.prolific import ProlificClient, ProlificError, check_rejection
from vt_core.crowd.studies import StudyError

pytestmark = pytest.mark.both_backends  # each test that has a store runs on DuckDB and on PostgreSQL

BASE = "https://vt.example.org"
T0 = datetime(2026, 12, 1, 12, 0, 0)
LONG = "We are sorry: your answers to the two instructed checks differ from what each one asked for, so the " \
       "submission cannot be approved."


@pytest.fixture
def prolific():
    with ScriptedProlific() as server:
        yield server


@pytest.fixture
def client(prolific):
    with ProlificClient(TOKEN, prolific.url, attempts=3, backoff_s=0.01) as client:
        yield client


def launched(store, client, prolific, **changes):
    """A built, open study with its Prolific study created and published."""
    study = build_study(store, n_items=2, **changes)
    create_on_prolific(store, client, study, base_url=BASE, places=10, minutes=12, reward_cents=250)
    publish_on_prolific(store, client, study.id)
    return study, prolific_link(store, study.id).prolific_id


def arrive(store, study, pid, *, status="rating", now=T0, session=None):
    identity = Identity("prolific", pid, session_id=session or f"sess-{pid}", platform_study_id="PSTUDY")
    rater = register_rater(store, study.id, identity, conditions=["a", "b"], now=now)
    if status != "consent":
        set_rater_status(store, rater.id, status, now=now)
    return rater


def test_the_study_is_created_as_a_draft_with_its_codes_and_link(store, client, prolific):
    study = build_study(store, n_items=2)
    link = create_on_prolific(store, client, study, base_url=BASE, places=30, minutes=12, reward_cents=250)
    created = prolific.studies[link.prolific_id]
    assert created["status"] == "UNPUBLISHED" and link.places == 30 and link.published_at is None
    assert created["external_study_url"] == (f"{BASE}/?study={study.token}&PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}"
                                             "&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}")
    assert created["prolific_id_option"] == "url_parameters"
    assert [(c["code"], c["code_type"], c["actions"]) for c in created["completion_codes"]] == [
        ("DONE", "COMPLETED", [{"action": "MANUALLY_REVIEW"}]),
        ("FAIL", "FAILED_ATTENTION_CHECK", [{"action": "MANUALLY_REVIEW"}]),
        ("OUT", "OTHER", [{"action": "MANUALLY_REVIEW"}])]
    assert (created["total_available_places"], created["estimated_completion_time"], created["reward"]) == (30, 12, 250)
    assert created["name"] == "monitor study"
    with pytest.raises(StudyError, match="has a Prolific study already"):
        create_on_prolific(store, client, study, base_url=BASE, places=30, minutes=12, reward_cents=250)
    assert prolific.calls("POST", r"^/api/v1/studies/$") == 1

    assert publish_on_prolific(store, client, study.id) == "ACTIVE"
    assert prolific.studies[link.prolific_id]["status"] == "ACTIVE"
    assert prolific_link(store, study.id).published_at is not None


def test_a_study_of_another_platform_is_refused(store, client, prolific):
    study = build_study(store, n_items=1, platform="anonymous")
    with pytest.raises(StudyError, match="runs on anonymous"):
        create_on_prolific(store, client, study, base_url=BASE, places=3, minutes=5, reward_cents=100)
    assert prolific.requests == []


def test_paused_at_the_cap_and_started_again_below_it(store, client, prolific):
    study, prolific_id = launched(store, client, prolific, max_active_raters=2)
    arrive(store, study, "p1")
    assert keep_within_cap(store, client, study, now=T0) is None
    second = arrive(store, study, "p2")
    assert keep_within_cap(store, client, study, now=T0) == "paused"
    assert prolific.studies[prolific_id]["status"] == "PAUSED"
    assert keep_within_cap(store, client, study, now=T0) is None  # paused already
    set_rater_status(store, second.id, "completed", now=T0)
    assert keep_within_cap(store, client, study, now=T0) == "started"
    assert prolific.studies[prolific_id]["status"] == "ACTIVE"
    # paused by the researcher's hand: the cap never starts it again
    assert set_paused_on_prolific(store, client, study.id, True) == "PAUSED"
    assert keep_within_cap(store, client, study, now=T0 + timedelta(hours=2)) is None
    assert prolific.studies[prolific_id]["status"] == "PAUSED"
    assert set_paused_on_prolific(store, client, study.id, False) == "ACTIVE"


def rated_raters(store, study):
    """good (completed), careless (failed checks), out (screened out), fast (completed, every rating too fast)."""
    raters = {pid: arrive(store, study, pid) for pid in ("good", "careless", "out", "fast")}
    regular = item_ids(store, study.id)
    for pid in ("good", "careless", "fast"):
        rate(store, study.id, raters[pid].id, regular[0], 4, 5)
    flag(store, raters["fast"].id, "too_fast", regular[0])
    for pid, status in (("good", "completed"), ("careless", "failed_checks"), ("out", "screened_out"),
                        ("fast", "completed")):
        set_rater_status(store, raters[pid].id, status, now=T0 + timedelta(minutes=9))
    return raters


def test_proposals_follow_the_rules_and_only_confirmed_decisions_are_sent(store, client, prolific):
    study, prolific_id = launched(store, client, prolific)
    raters = rated_raters(store, study)
    once = arrive(store, study, "once")
    flag(store, once.id, "attention_failed", item_ids(store, study.id, "attention")[0])
    set_rater_status(store, once.id, "completed", now=T0)
    subs = {pid: prolific.add_submission(prolific_id, pid, study_code=code) for pid, code in (
        ("good", "DONE"), ("careless", "FAIL"), ("out", "OUT"), ("fast", "DONE"), ("once", "DONE"))}
    prolific.add_submission(prolific_id, "stranger", study_code="DONE")
    prolific.add_submission(prolific_id, "early", status="APPROVED")
    rules = ExclusionRules(max_too_fast_share=0.5)
    proposals = {p.participant_id: p for p in propose_decisions(store, study, client.submissions(prolific_id), rules)}
    assert {pid: (p.action, p.category) for pid, p in proposals.items()} == {
        "good": ("APPROVE", None), "careless": ("REJECT", "FAILED_CHECK"), "out": (None, None),
        "fast": ("REJECT", "TOO_QUICKLY"), "once": ("APPROVE", None), "stranger": (None, None),
        "early": (None, None)}
    assert "only after two failed checks" in proposals["once"].reason
    assert proposals["good"].rater_id == raters["good"].id and proposals["careless"].entered_code == "FAIL"
    assert "screened out" in proposals["out"].reason and "no rater" in proposals["stranger"].reason
    assert len(proposals["careless"].message) >= 100

    decisions = [Decision.of(p) for p in proposals.values() if p.action]
    results = apply_decisions(store, client, study.id, decisions,
                              confirmed={subs["good"]["id"], subs["careless"]["id"]}, confirmed_by="dr. lee", now=T0)
    assert [(r.decision.participant_id, r.done) for r in results] == [("good", True), ("careless", True)]
    assert prolific.submissions[subs["good"]["id"]]["status"] == "APPROVED"
    rejected = prolific.submissions[subs["careless"]["id"]]
    assert rejected["status"] == "REJECTED" and rejected["rejection"]["category"] == "FAILED_CHECK"
    assert prolific.submissions[subs["fast"]["id"]]["status"] == "AWAITING REVIEW"  # proposed, never confirmed
    rows = store.cursor().execute(
        "SELECT participant_id, action, category, confirmed_by, outcome FROM prolific_decisions ORDER BY id").fetchall()
    assert rows == [("good", "APPROVE", None, "dr. lee", "done"),
                    ("careless", "REJECT", "FAILED_CHECK", "dr. lee", "done")]
    again = {p.participant_id: p for p in propose_decisions(store, study, client.submissions(prolific_id), rules)}
    assert again["good"].action is None and again["fast"].action == "REJECT"


def test_a_rejection_is_refused_locally_without_its_message_or_category(store, client, prolific):
    study, prolific_id = launched(store, client, prolific)
    arrive(store, study, "good", status="completed")
    submission = prolific.add_submission(prolific_id, "good")
    sent = len(prolific.requests)
    with pytest.raises(ValueError, match="at least 100 characters"):
        client.reject(submission["id"], "Too short.", "LOW_EFFORT")
    with pytest.raises(ValueError, match="categories"):
        client.reject(submission["id"], LONG, None)
    with pytest.raises(ValueError, match="categor"):
        check_rejection(LONG, "RUDE")
    approve = Decision(submission["id"], "good", "APPROVE")
    short = Decision("other-id", "x", "REJECT", message="No.", category="LOW_EFFORT")
    with pytest.raises(ValueError, match="submission other-id: a rejection needs a message"):
        apply_decisions(store, client, study.id, [approve, short], confirmed={submission["id"], "other-id"},
                        confirmed_by="dr. lee")
    assert len(prolific.requests) == sent  # nothing at all was sent
    assert prolific.submissions[submission["id"]]["status"] == "AWAITING REVIEW"


def test_prolifics_own_error_is_reported_and_recorded(store, client, prolific):
    study, prolific_id = launched(store, client, prolific)
    submission = prolific.add_submission(prolific_id, "someone", status="APPROVED")
    with pytest.raises(ProlificError) as caught:
        client.reject(submission["id"], LONG, "FAILED_CHECK")
    message = str(caught.value)
    assert f"rejecting submission {submission['id']} failed (HTTP 400)" in message
    assert "cannot be moved by REJECT" in message and caught.value.status == 400
    prolific.fail("POST", "/transition/$", 400, detail={"message": ["It must be at least 100 chars long."]})
    other = prolific.add_submission(prolific_id, "another")
    [result] = apply_decisions(store, client, study.id, [Decision(other["id"], "another", "REJECT", message=LONG,
                                                                   category="LOW_EFFORT")],
                               confirmed={other["id"]}, confirmed_by="dr. lee")
    assert not result.done and "message: It must be at least 100 chars long." in result.error
    recorded = store.cursor().execute("SELECT outcome, error FROM prolific_decisions").fetchone()
    assert recorded == ("failed", result.error)
    with pytest.raises(ProlificError, match=r"reading study nope failed \(HTTP 404\): Not Found: Not found\."):
        client.get_study("nope")


def bonus_for(store, client, prolific, pid="good"):
    study, prolific_id = launched(store, client, prolific)
    rater = arrive(store, study, pid, status="completed")
    prolific.add_submission(prolific_id, pid, status="APPROVED")
    bonus = set_up_bonus(store, client, study.id, rater.id, 150, requested_by="dr. lee", now=T0)
    assert bonus.state == "created" and bonus.bonus_id in prolific.bonuses
    assert prolific.bonuses[bonus.bonus_id]["lines"] == [(pid, 1.5)]
    return study, bonus


def test_a_bonus_is_paid_once_however_often_pay_is_asked(store, client, prolific):
    study, bonus = bonus_for(store, client, prolific)
    assert set_up_bonus(store, client, study.id, bonus.rater_id, 150, requested_by="dr. lee").id == bonus.id
    with pytest.raises(ValueError, match="who asks"):
        set_up_bonus(store, client, study.id, bonus.rater_id, 150, requested_by=" ")
    assert len(prolific.bonuses) == 1  # asking again set up nothing new
    paid = pay_bonus(store, client, bonus.id, now=T0)
    assert paid.state == "paid" and paid.paid_at == T0
    with pytest.raises(StudyError, match="paid already"):
        pay_bonus(store, client, bonus.id)
    assert prolific.pay_calls == {bonus.bonus_id: 1}
    assert prolific.calls("POST", "/pay/$") == 1


def test_two_payers_at_once_send_one_pay_call(store, client, prolific):
    _, bonus = bonus_for(store, client, prolific)
    start, outcomes = threading.Barrier(2), []

    def pay() -> None:
        start.wait()
        try:
            outcomes.append(pay_bonus(store, client, bonus.id).state)
        except StudyError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=pay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("paid") == 1 and prolific.pay_calls == {bonus.bonus_id: 1}


def test_a_dropped_connection_after_paying_is_never_paid_again_until_settled(store, client, prolific):
    study, bonus = bonus_for(store, client, prolific)
    prolific.fail("POST", "/pay/$", drop=True)
    with pytest.raises(ProlificError) as caught:
        pay_bonus(store, client, bonus.id)
    assert caught.value.unclear and "connection" in str(caught.value)
    assert prolific.pay_calls == {bonus.bonus_id: 1}  # Prolific did pay
    [unclear] = list_bonuses(store, study.id)
    assert unclear.state == "unclear" and "connection" in unclear.error
    with pytest.raises(StudyError, match="may have been paid"):
        pay_bonus(store, client, bonus.id)
    assert prolific.calls("POST", "/pay/$") == 1  # refused before any call
    settled = settle_bonus(store, bonus.id, paid=True, resolved_by="dr. lee")
    assert (settled.state, settled.resolved_by) == ("paid", "dr. lee")
    with pytest.raises(StudyError, match="paid already"):
        pay_bonus(store, client, bonus.id)
    assert prolific.pay_calls == {bonus.bonus_id: 1}


def test_a_refused_pay_call_is_not_retried_and_can_be_paid_later(store, client, prolific):
    _, bonus = bonus_for(store, client, prolific)
    prolific.fail("POST", "/pay/$", 429, detail="Request was throttled.", retry_after=1)
    with pytest.raises(ProlificError, match="too many requests") as caught:
        pay_bonus(store, client, bonus.id)
    assert not caught.value.unclear and prolific.calls("POST", "/pay/$") == 1  # never retried blindly
    assert prolific.pay_calls == {}
    assert pay_bonus(store, client, bonus.id).state == "paid"
    assert prolific.pay_calls == {bonus.bonus_id: 1}


def test_an_unclear_bonus_found_unpaid_can_be_paid(store, client, prolific):
    _, bonus = bonus_for(store, client, prolific)
    prolific.fail("POST", "/pay/$", 500)
    with pytest.raises(ProlificError, match=r"HTTP 500"):
        pay_bonus(store, client, bonus.id)
    assert prolific.calls("POST", "/pay/$") == 1
    assert settle_bonus(store, bonus.id, paid=False, resolved_by="dr. lee").state == "created"
    assert pay_bonus(store, client, bonus.id).state == "paid"
    assert prolific.pay_calls == {bonus.bonus_id: 1}


def test_more_places(store, client, prolific):
    study, prolific_id = launched(store, client, prolific)
    assert add_places(store, client, study.id, 3) == 13
    assert prolific.studies[prolific_id]["total_available_places"] == 13
    assert prolific_link(store, study.id).places == 13
    with pytest.raises(ValueError):
        add_places(store, client, study.id, 0)


def test_idempotent_calls_are_retried_and_others_are_not(store, client, prolific):
    study = build_study(store, n_items=1)
    prolific.fail("POST", r"^/api/v1/studies/$", 500)
    with pytest.raises(ProlificError) as caught:
        create_on_prolific(store, client, study, base_url=BASE, places=5, minutes=5, reward_cents=100)
    assert caught.value.unclear and prolific.calls("POST", r"^/api/v1/studies/$") == 1
    assert prolific_link(store, study.id) is None
    link = create_on_prolific(store, client, study, base_url=BASE, places=5, minutes=5, reward_cents=100)
    prolific.fail("POST", "/transition/$", 500)
    assert publish_on_prolific(store, client, study.id) == "ACTIVE"
    assert prolific.calls("POST", "/transition/$") == 2
    prolific.fail("GET", f"/studies/{link.prolific_id}/$", 429, retry_after=1)
    began = time.monotonic()
    assert client.get_study(link.prolific_id)["status"] == "ACTIVE"
    assert time.monotonic() - began >= 1.0  # Retry-After honoured
    prolific.fail("GET", f"/studies/{link.prolific_id}/$", 503, times=3)
    with pytest.raises(ProlificError, match="HTTP 503"):
        client.get_study(link.prolific_id)
    assert prolific.calls("GET", f"/studies/{link.prolific_id}/$") == 5  # 2 + 3 attempts


def test_submissions_are_read_page_after_page(store, client, prolific):
    study, prolific_id = launched(store, client, prolific)
    made = [prolific.add_submission(prolific_id, f"p{i}")["id"] for i in range(7)]
    prolific.add_submission("another-study", "q")
    assert [s["id"] for s in client.submissions(prolific_id, page_size=3)] == made
    assert prolific.calls("GET", "^/api/v1/submissions/$") == 3


def test_the_token_is_never_shown(store, prolific, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-secret-token-0123"
    with ProlificClient(wrong, prolific.url, attempts=1) as client:
        assert wrong not in repr(client)
        with pytest.raises(ProlificError, match="HTTP 401") as caught:
            client.get_study("x")
        assert wrong not in str(caught.value) and "Invalid token" in str(caught.value)
    assert prolific.requests[-1][3]["Authorization"] == f"Token {wrong}"  # it was sent, as Prolific wants
    dead = ProlificClient(wrong, "http://127.0.0.1:9", attempts=1)
    with pytest.raises(ProlificError, match="cannot connect") as caught:
        dead.get_study("x")
    assert wrong not in str(caught.value) and not caught.value.unclear
    settings = Settings.from_env({"PROLIFIC_TOKEN": wrong, "PROLIFIC_API_URL": prolific.url})
    assert wrong not in repr(settings) and settings.prolific_token == wrong
    assert repr(ProlificClient.from_settings(settings)) == f"ProlificClient(base_url={prolific.url!r})"
    assert ProlificClient.from_settings(Settings.from_env({})) is None
    assert wrong not in caplog.text


def test_the_study_id_from_the_link_is_kept_on_the_rater(store):
    study = build_study(store, n_items=1)
    plain = register_rater(store, study.id, Identity("prolific", "p1"), conditions=["a", "b"])
    again = register_rater(store, study.id, Identity("prolific", "p1", platform_study_id="S1"), conditions=["a", "b"])
    assert again.id == plain.id
    later = register_rater(store, study.id, Identity("prolific", "p1", platform_study_id="S2"), conditions=["a", "b"])
    assert later.id == plain.id
    assert store.cursor().execute("SELECT platform_study_id FROM raters WHERE id = ?", [plain.id]).fetchone() == ("S1",)


def test_the_per_rater_csv_carries_status_times_codes_reasons_and_platform_ids(store, client, prolific):
    study, prolific_id = launched(store, client, prolific)
    raters = rated_raters(store, study)
    worker = register_rater(store, study.id, Identity("mturk", "W1", assignment_id="A1", hit_id="H1",
                                                      submit_to="https://www.mturk.com"), conditions=["a", "b"])
    subs = {pid: prolific.add_submission(prolific_id, pid, study_code="DONE") for pid in ("good", "careless")}
    apply_decisions(store, client, study.id, [Decision(subs["good"]["id"], "good", "APPROVE", raters["good"].id)],
                    confirmed={subs["good"]["id"]}, confirmed_by="dr. lee")
    rules = ExclusionRules(max_too_fast_share=0.5)
    listed = client.submissions(prolific_id)
    rows = {r["rater_id"]: r for r in raters_rows(store, study.id, rules, listed)}
    good, careless, fast, out = (rows[raters[p].id] for p in ("good", "careless", "fast", "out"))
    assert (good["status"], good["completion_code"], good["items_rated"], good["excluded"]) == \
        ("completed", "DONE", 1, False)
    assert good["seconds"] == 540.0 and good["finished_at"] == T0 + timedelta(minutes=9)
    assert (good["prolific_pid"], good["prolific_study_id"], good["prolific_session_id"]) == \
        ("good", "PSTUDY", "sess-good")
    assert (good["submission_id"], good["submission_status"], good["decision"]) == \
        (subs["good"]["id"], "APPROVED", "APPROVE")
    assert (careless["completion_code"], careless["submission_status"], careless["decision"]) == \
        ("FAIL", "AWAITING REVIEW", None)
    assert fast["excluded"] and "too fast" in fast["exclusion_reasons"]
    assert (out["completion_code"], out["submission_id"], out["submission_status"]) == ("OUT", "sess-out", None)
    mturk = rows[worker.id]
    assert (mturk["platform"], mturk["mturk_worker_id"], mturk["mturk_assignment_id"], mturk["mturk_hit_id"],
            mturk["prolific_pid"], mturk["completion_code"]) == ("mturk", "W1", "A1", "H1", None, None)

    read = list(csv.DictReader(raters_csv(store, study.id, rules, listed).decode("utf-8").splitlines()))
    assert list(read[0]) == list(PER_RATER_COLUMNS) and len(read) == 5
    by_id = {int(r["rater_id"]): r for r in read}
    assert by_id[raters["good"].id]["prolific_study_id"] == "PSTUDY"
    assert by_id[raters["good"].id]["submission_status"] == "APPROVED"
    assert by_id[raters["fast"].id]["excluded"] == "True"
    assert by_id[worker.id]["mturk_assignment_id"] == "A1" and by_id[worker.id]["prolific_pid"] == ""
