"""Launching a study (the full rater link, places, expected minutes, hourly pay, the checklist) and
replacement places for excluded raters, on both databases, through the real assignment functions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.test_monitor import T0, add_rater, build_study, definition, flag, item_ids, jsonl
from vt_core.crowd.assignment import finish, next_item, submit
from vt_core.crowd.exclusion import ExclusionRules
from vt_core.crowd.items import add_check_items, import_items_jsonl
from vt_core.crowd.launch import (
    Pay,
    checklist,
    expected_timing,
    launch_pay,
    places_needed,
    rater_url,
    record_preview,
    save_launch,
)
from vt_core.crowd.monitoring import monitor
from vt_core.crowd.replacement import places_for, replace_excluded, shortfall
from vt_core.crowd.studies import StudyError, create_study, get_study, parse_study

pytestmark = pytest.mark.both_backends


def test_the_rater_link_is_whole_and_carries_the_platforms_placeholders():
    assert rater_url("https://rate.example.org/vt/", "tok", "prolific") == (
        "https://rate.example.org/vt/?study=tok&PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}"
        "&SESSION_ID={{%SESSION_ID%}}")
    assert rater_url("http://10.0.0.5:8501", "tok", "mturk") == "http://10.0.0.5:8501/?study=tok"
    assert rater_url("https://rate.example.org", "a b", "anonymous") == "https://rate.example.org/?study=a+b"
    with pytest.raises(StudyError, match="http:// or https://"):
        rater_url("rate.example.org", "tok", "prolific")


def test_places_give_every_item_its_k_ratings():
    assert places_needed(40, 5, 10) == 20  # 200 ratings at 10 a rater
    assert places_needed(41, 5, 10) == 21
    assert places_needed(6, 3, 20) == 3  # a rater rates all 6 items; each item needs 3 different raters
    assert places_needed(0, 3, 20) == 0


def test_hourly_pay_against_prolifics_minimum_and_recommendation():
    assert Pay(100, "GBP", 10).hourly == pytest.approx(6.0)
    assert Pay(99, "GBP", 10).level == "below minimum"
    assert Pay(100, "GBP", 10).level == "below fair"
    assert Pay(150, "GBP", 10).level == "fair"
    assert Pay(140, "USD", 10).level == "below fair" and Pay(130, "USD", 10).level == "below minimum"
    assert Pay(150, "GBP", 10).text() == "£1.50 for about 10 minutes is £9.00 an hour"


def test_expected_minutes_from_the_items_length_then_from_the_people_who_finished(store):
    study = create_study(store, parse_study(definition(items_per_rater=2, ratings_per_item=1)))
    long_turn = " ".join(["word"] * 198)  # with "a question 0" etc. each item has 200 or 202 words
    for condition in ("a", "b"):
        import_items_jsonl(store, study, condition, [
            line.replace(f'"{condition} answer', f'"{long_turn} {condition} answer') for line in jsonl(condition, 2)])
    add_check_items(store, study)
    timing = expected_timing(store, study)
    assert timing.basis == "length" and timing.items == 2 + 2  # two regular items and both checks
    words = 3 + 198 + 3  # "a question 0" + the long turn + "a answer 0"
    assert timing.seconds_per_item == pytest.approx(words / 200 * 60 + 6 * 2)
    assert timing.minutes == pytest.approx(2 + 4 * timing.seconds_per_item / 60)

    from vt_core.crowd.studies import set_study_status

    set_study_status(store, study.id, "open")
    now = T0
    for i, seconds in enumerate((10, 20, 30)):
        rater = add_rater(store, study.id, f"p{i}")
        while item := next_item(store, rater, items_per_rater=2, k=1, lease_minutes=30, now=now):
            submit(store, rater.id, item.id, {"adherence": 4, "quality": 4, **(item.expected or {})},
                   now=now + timedelta(seconds=seconds))
            now += timedelta(minutes=1)
        assert finish(store, rater, now=now).status == "completed"
        if i < 2:
            assert expected_timing(store, study).basis == "length"  # two people are too few to go by
    timing = expected_timing(store, study)
    assert (timing.basis, timing.people, timing.seconds_per_item) == ("people", 3, 20.0)


def test_the_checklist_says_what_is_missing_and_follows_the_work(store):
    study = create_study(store, parse_study(definition()))
    checks = {c.name: c for c in checklist(store, study)}
    assert not checks["Items in every condition"].ok and checks["Items in every condition"].detail == \
           "no items yet in a, b"
    assert not checks["Attention checks present"].ok and not checks["Pilot run"].ok
    assert not checks["Link tested"].ok
    assert checks["Completion codes set"].detail.startswith("completed DONE, screened out OUT, failed checks FAIL")
    assert not checks["Pay at least Prolific's minimum"].ok
    assert checks["Pay at least Prolific's minimum"].detail == "set the reward per rater"

    for condition in ("a", "b"):
        import_items_jsonl(store, study, condition, jsonl(condition, 3))
    add_check_items(store, study)
    save_launch(store, study.id, places=10, reward_cents=50, currency="GBP", minutes=10)
    record_preview(store, study.id, T0)
    checks = {c.name: c for c in checklist(store, study)}
    assert checks["Items in every condition"].ok and checks["Items in every condition"].detail == "a: 3, b: 3"
    assert checks["Attention checks present"].ok and checks["Link tested"].ok
    assert not checks["Pay at least Prolific's minimum"].ok  # £3 an hour
    assert checks["Pay at least Prolific's minimum"].detail == "£0.50 for about 10 minutes is £3.00 an hour"
    save_launch(store, study.id, places=10, reward_cents=150, currency="GBP", minutes=None)  # the estimate
    pay = launch_pay(store, study)
    assert pay.minutes == pytest.approx(expected_timing(store, study).minutes)
    assert {c.name: c.ok for c in checklist(store, study)}["Pay at least Prolific's minimum"] is (pay.hourly >= 6)
    with pytest.raises(StudyError, match="reward must be more than zero"):
        save_launch(store, study.id, places=10, reward_cents=-5, currency="GBP", minutes=None)
    with pytest.raises(StudyError, match="currency"):
        save_launch(store, study.id, places=10, reward_cents=5, currency="EUR", minutes=None)


def test_places_for_the_lacking_ratings():
    assert places_for([2, 1, 0, 3], items_per_rater=4) == 3  # the item lacking 3 needs 3 different raters
    assert places_for([1] * 10, items_per_rater=4) == 3  # 10 ratings at 4 a rater
    assert places_for([], items_per_rater=4) == 0


def test_replacing_excluded_raters_reopens_their_items_to_new_raters(store):
    study = build_study(store, n_items=2, items_per_rater=4, ratings_per_item=2)
    regular = item_ids(store, study.id)
    rules = ExclusionRules(max_too_fast_share=0.5)
    now = T0
    raters = [add_rater(store, study.id, name) for name in ("fast", "good")]
    for rater in raters:  # both rate all four regular items (and the checks) to the end
        while item := next_item(store, rater, items_per_rater=4, k=2, lease_minutes=30, now=now):
            submit(store, rater.id, item.id, {"adherence": 4, "quality": 4, **(item.expected or {})}, now=now + timedelta(
                seconds=1 if rater.external_id == "fast" else 30), min_seconds=4)
            now += timedelta(minutes=1)
        finish(store, rater, now=now)
    latecomer = add_rater(store, study.id, "late")
    assert next_item(store, latecomer, items_per_rater=4, k=2, lease_minutes=30, now=now).kind != "regular"

    before = shortfall(store, study.id, rules)
    assert (before.items, before.ratings, before.places) == (4, 4, 1)
    assert before.to_replace == (raters[0].id,)
    after = replace_excluded(store, study.id, rules)
    assert after.to_replace == () and after.places == 1
    assert replace_excluded(store, study.id, rules) == after  # replacing again adds nothing
    replaced = store.cursor().execute("SELECT count(*) FROM rater_flags WHERE flag = 'replaced'").fetchone()[0]
    assert replaced == 1

    # The new rater is now given the items the replaced one rated, and they reach k again.
    seen = []
    while item := next_item(store, latecomer, items_per_rater=4, k=2, lease_minutes=30, now=now):
        seen.append(item.id)
        submit(store, latecomer.id, item.id, {"adherence": 5, "quality": 5, **(item.expected or {})},
               now=now + timedelta(seconds=30), min_seconds=4)
        now += timedelta(minutes=1)
    assert sorted(i for i in seen if i in regular) == regular
    assert shortfall(store, study.id, rules).ratings == 0
    # The replaced rater's ratings stay in the database, excluded.
    m = monitor(store, study.id, exclusion=rules)
    assert [r.rater_id for r in m.excluded] == [raters[0].id]
    assert get_study(store, study.id).status == "open"
