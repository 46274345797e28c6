"""Crowd assignment on a real DuckDB file: identity, counterbalancing, leases, submits, finishing."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vt_core.core.design import balanced_latin_square
from vt_core.core.store import Store, naive_utc
from vt_core.crowd.assignment import (
    Identity,
    StudyFull,
    active_raters,
    completion_url,
    finish,
    identity_from_params,
    next_item,
    purge_expired,
    rater_progress,
    record_comprehension,
    register_rater,
    set_rater_status,
    submit,
)

pytestmark = pytest.mark.both_backends  # each test that has a store runs on DuckDB and on PostgreSQL

T0 = datetime(2026, 11, 24, 12, 0, 0)
GOOD = {"adherence": 5, "quality": 6}


def make_study(store, *, conditions=("baseline", "tuned"), per_condition=10, matched=True,
               attention=0, gold=0, name="s") -> int:
    """A study with `per_condition` regular items in each condition (matched across conditions
    by scenario when `matched`), plus attention and gold items, inserted directly."""
    db = store.cursor()
    study_id = db.execute(
        "INSERT INTO studies (name, token, definition, status) VALUES (?, ?, ?, 'open') RETURNING id",
        [name, f"tok-{name}", json.dumps({"dimensions": ["adherence", "quality"]})]).fetchone()[0]
    rows = []
    for condition in conditions:
        for i in range(per_condition):
            rows.append([study_id, condition, "regular", f"scenario-{i}" if matched else None,
                         json.dumps([{"role": "user", "content": f"{condition} {i}"}]), None])
    for i in range(attention):
        rows.append([study_id, conditions[0], "attention", None, json.dumps([{"role": "user",
                     "content": f"select 2 and 3 ({i})"}]), json.dumps({"adherence": 2, "quality": 3})])
    for i in range(gold):
        rows.append([study_id, conditions[0], "gold", None, json.dumps([{"role": "user",
                     "content": f"gold {i}"}]), json.dumps({"adherence": 7, "quality": 7})])
    db.executemany("INSERT INTO study_items (study_id, condition, kind, match_key, turns, expected)"
                   " VALUES (?, ?, ?, ?, ?, ?)", rows)
    return study_id


def rating_rater(store, study_id, name, conditions=("baseline", "tuned"), **kw):
    rater = register_rater(store, study_id, Identity("prolific", name), conditions=list(conditions), **kw)
    set_rater_status(store, rater.id, "rating")
    return rater


def item_condition(store, item_id):
    return store.cursor().execute("SELECT condition FROM study_items WHERE id = ?", [item_id]).fetchone()[0]


def rate_all(store, rater, *, n, k, now=T0, lease=10):
    """Take and rate items until next_item says None; the items in order."""
    seen = []
    while (item := next_item(store, rater, items_per_rater=n, k=k, lease_minutes=lease, now=now)):
        values = item.expected if item.kind == "attention" else GOOD
        assert submit(store, rater.id, item.id, values, now=now + timedelta(seconds=5)).stored
        seen.append(item)
        now += timedelta(seconds=6)
    return seen


# ---------------------------------------------------------------------------------- identity


def test_prolific_link():
    ident = identity_from_params({"PROLIFIC_PID": "5f8a9b0c1d2e3f4a5b6c7d8e", "STUDY_ID": "abc123",
                                  "SESSION_ID": "sess_01"})
    assert (ident.platform, ident.external_id, ident.session_id, ident.preview) == \
        ("prolific", "5f8a9b0c1d2e3f4a5b6c7d8e", "sess_01", False)


def test_mturk_link_and_preview():
    ident = identity_from_params({"workerId": "A1B2C3D4E5", "assignmentId": "3XYZ", "hitId": "3HIT",
                                  "turkSubmitTo": "https://workersandbox.mturk.com"})
    assert (ident.platform, ident.external_id, ident.assignment_id, ident.hit_id, ident.submit_to,
            ident.preview) == ("mturk", "A1B2C3D4E5", "3XYZ", "3HIT", "https://workersandbox.mturk.com",
                               False)
    preview = identity_from_params({"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "3HIT",
                                    "turkSubmitTo": "https://www.mturk.com"})
    assert preview.preview and preview.external_id is None and preview.platform == "mturk"


def test_anonymous_link_generates_or_keeps_an_id():
    a, b = identity_from_params({}), identity_from_params({"other": "x"})
    assert a.platform == "anonymous" and a.external_id != b.external_id
    assert identity_from_params({}, anonymous_id=a.external_id).external_id == a.external_id


@pytest.mark.parametrize("params, message", [
    ({"PROLIFIC_PID": "{{%PROLIFIC_PID%}}"}, "PROLIFIC_PID"),
    ({"PROLIFIC_PID": "x" * 65}, "PROLIFIC_PID"),
    ({"STUDY_ID": "abc"}, "lacks PROLIFIC_PID"),
    ({"PROLIFIC_PID": "abc", "SESSION_ID": "a b"}, "SESSION_ID"),
    ({"workerId": "A1;drop", "assignmentId": "3X", "hitId": "3H",
      "turkSubmitTo": "https://www.mturk.com"}, "workerId"),
    ({"workerId": "A1", "assignmentId": "3X", "hitId": "3H",
      "turkSubmitTo": "https://evil.example.com"}, "turkSubmitTo"),
    ({"assignmentId": "3X", "hitId": "3H", "turkSubmitTo": "https://www.mturk.com"}, "workerId"),
    ({"PROLIFIC_PID": "abc", "workerId": "A1"}, "both"),
])
def test_malformed_links_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        identity_from_params(params)
    with pytest.raises(ValueError, match="anonymous id"):
        identity_from_params({}, anonymous_id="../etc")


# ---------------------------------------------------------------------------------- Latin square


@pytest.mark.parametrize("n", range(1, 9))
def test_balanced_latin_square(n):
    rows = balanced_latin_square(n)
    assert len(rows) == (2 * n if n % 2 and n > 1 else n)
    for row in rows:
        assert sorted(row) == list(range(n))
    for column in zip(*rows):
        assert Counter(column) == Counter({c: len(rows) // n for c in range(n)})
    pairs = Counter((a, b) for row in rows for a, b in itertools.pairwise(row))
    if n > 1:
        assert set(pairs) == {(a, b) for a in range(n) for b in range(n) if a != b}
        assert len(set(pairs.values())) == 1  # every ordered pair adjacent equally often


def test_latin_square_refuses_zero():
    with pytest.raises(ValueError):
        balanced_latin_square(0)


# ---------------------------------------------------------------------------------- raters


def test_register_is_idempotent_and_counterbalances(store):
    study = make_study(store)
    ident = Identity("prolific", "p1", session_id="s1")
    first = register_rater(store, study, ident, conditions=["baseline", "tuned"])
    assert first.status == "consent" and first.condition_order == ["baseline", "tuned"]
    assert register_rater(store, study, ident, conditions=["baseline", "tuned"]).id == first.id
    second = register_rater(store, study, Identity("prolific", "p2"), conditions=["baseline", "tuned"])
    assert second.condition_order == ["tuned", "baseline"] and second.seed != first.seed
    other_platform = register_rater(store, study, Identity("anonymous", "p1"),
                                    conditions=["baseline", "tuned"])
    assert other_platform.id != first.id
    with pytest.raises(ValueError, match="preview"):
        register_rater(store, study, Identity("mturk", None, preview=True), conditions=["a"])


def test_a_cap_on_raters_at_work_refuses_newcomers_unregistered_until_one_finishes_or_leaves(store):
    study = make_study(store)
    cap = {"conditions": ["baseline", "tuned"], "max_active": 2, "lease_minutes": 30}
    first = register_rater(store, study, Identity("prolific", "p1"), **cap)
    register_rater(store, study, Identity("prolific", "p2"), **cap)
    with pytest.raises(StudyFull):
        register_rater(store, study, Identity("prolific", "p3"), **cap)
    assert store.cursor().execute("SELECT count(*) FROM raters").fetchone()[0] == 2  # nothing written
    assert register_rater(store, study, Identity("prolific", "p1"), **cap).id == first.id  # a refresh gets in

    set_rater_status(store, first.id, "completed")
    third = register_rater(store, study, Identity("prolific", "p3"), **cap)
    assert active_raters(store, study) == 2

    # An hour on, nobody holds a lease: those who walked away stop counting; one who is rating does not.
    later = naive_utc() + timedelta(hours=1)
    set_rater_status(store, third.id, "rating")
    assert next_item(store, third, items_per_rater=4, k=2, lease_minutes=30, now=later)
    assert active_raters(store, study, lease_minutes=30, now=later) == 1
    register_rater(store, study, Identity("prolific", "p4"), **cap, now=later)
    with pytest.raises(StudyFull):
        register_rater(store, study, Identity("prolific", "p5"), **cap, now=later)


def test_eight_threads_registering_one_identity_get_one_rater(store):
    study = make_study(store)
    barrier, ids = threading.Barrier(8), []

    def arrive():
        barrier.wait()
        ids.append(register_rater(store, study, Identity("mturk", "W1", assignment_id="A1"),
                                  conditions=["baseline", "tuned"]).id)

    threads = [threading.Thread(target=arrive) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(ids) == 8 and len(set(ids)) == 1
    assert store.cursor().execute("SELECT count(*) FROM raters").fetchone()[0] == 1


def test_comprehension_two_attempts(store):
    study = make_study(store)
    a = register_rater(store, study, Identity("prolific", "a"), conditions=["baseline", "tuned"])
    b = register_rater(store, study, Identity("prolific", "b"), conditions=["baseline", "tuned"])
    assert record_comprehension(store, a.id, False) == "comprehension"
    assert record_comprehension(store, a.id, True) == "rating"
    assert record_comprehension(store, b.id, False) == "comprehension"
    assert record_comprehension(store, b.id, False) == "screened_out"
    assert record_comprehension(store, b.id, True) == "screened_out"  # no third chance
    assert finish(store, b.id).status == "screened_out"
    with pytest.raises(ValueError):
        set_rater_status(store, a.id, "bogus")


# ---------------------------------------------------------------------------------- next_item


def test_within_subject_blocks_follow_condition_order(store):
    study = make_study(store, per_condition=10)
    for name in ("r1", "r2", "r3"):
        rater = rating_rater(store, study, name)
        seen = rate_all(store, rater, n=8, k=3)
        conditions = [item_condition(store, item.id) for item in seen]
        order = rater.condition_order
        assert conditions == [order[0]] * 4 + [order[1]] * 4
        assert [item.position for item in seen] == list(range(1, 9))


def test_not_rated_and_not_leased_yet_returns_none_for_other_status(store):
    study = make_study(store)
    rater = register_rater(store, study, Identity("prolific", "x"), conditions=["baseline", "tuned"])
    assert next_item(store, rater, items_per_rater=4, k=2, lease_minutes=5, now=T0) is None


def test_k_never_exceeded_and_nothing_left_is_reported(store):
    study = make_study(store, per_condition=3, matched=False)
    raters = [rating_rater(store, study, f"r{i}") for i in range(5)]
    for rater in raters:
        rate_all(store, rater, n=6, k=2)
    per_item = store.cursor().execute(
        "SELECT item_id, count(DISTINCT rater_id) FROM ratings GROUP BY item_id").fetchall()
    assert max(n for _, n in per_item) == 2 and sum(n for _, n in per_item) == 12
    last = rater_progress(store, raters[-1], items_per_rater=6, k=2, now=T0)
    assert last.done < last.total and last.left == 0  # nothing left, not finished


def test_live_leases_count_towards_k_and_expired_ones_return_items(store):
    study = make_study(store, conditions=("c",), per_condition=1)
    a, b, c = (rating_rater(store, study, n, conditions=("c",)) for n in "abc")
    assert next_item(store, a, items_per_rater=1, k=1, lease_minutes=5, now=T0) is not None
    assert next_item(store, b, items_per_rater=1, k=1, lease_minutes=5, now=T0 + timedelta(minutes=4)) is None
    item = next_item(store, b, items_per_rater=1, k=1, lease_minutes=5, now=T0 + timedelta(minutes=6))
    assert item is not None  # a's lease expired: the item is back in the pool
    # a comes back late: the lease was taken over, so nothing is stored and k holds
    late = submit(store, a.id, item.id, GOOD, now=T0 + timedelta(minutes=7))
    assert not late.stored and late.reason == "lease_lost"
    assert submit(store, b.id, item.id, GOOD, now=T0 + timedelta(minutes=7)).stored
    assert next_item(store, c, items_per_rater=1, k=1, lease_minutes=5, now=T0 + timedelta(hours=1)) is None


def test_a_rater_who_failed_an_attention_check_does_not_fill_k(store):
    """Their ratings are excluded from the analysis, so the item goes on to another rater."""
    study = make_study(store, conditions=("c",), per_condition=1, attention=1)
    careless, careful, third = (rating_rater(store, study, n, conditions=("c",)) for n in ("careless", "careful", "x"))
    now = T0
    while (item := next_item(store, careless, items_per_rater=1, k=1, lease_minutes=10, now=now)):
        wrong = {"adherence": 7, "quality": 7}  # the check asked for 2 and 3
        assert submit(store, careless.id, item.id, wrong if item.kind == "attention" else GOOD, now=now).stored
        now += timedelta(seconds=10)
    assert rater_progress(store, careless, items_per_rater=1, k=1, now=now).done == 2

    regular = next_item(store, careful, items_per_rater=1, k=1, lease_minutes=10, now=now)
    assert regular is not None and regular.kind == "regular"
    assert submit(store, careful.id, regular.id, GOOD, now=now, k=1).stored
    # The careful rater's rating counts: the item is full for everyone else.
    check = next_item(store, third, items_per_rater=1, k=1, lease_minutes=10, now=now)
    assert check.kind == "attention"
    assert submit(store, third.id, check.id, check.expected, now=now).stored
    assert next_item(store, third, items_per_rater=1, k=1, lease_minutes=10, now=now) is None


def test_late_submit_on_an_expired_lease_nobody_took_is_kept(store):
    study = make_study(store, conditions=("c",), per_condition=2)
    a = rating_rater(store, study, "a", conditions=("c",))
    item = next_item(store, a, items_per_rater=2, k=1, lease_minutes=5, now=T0)
    result = submit(store, a.id, item.id, GOOD, now=T0 + timedelta(minutes=30), k=1)
    assert result.stored
    assert purge_expired(store, T0 + timedelta(days=1)) == 0


def test_least_rated_first(store):
    study = make_study(store, conditions=("c",), per_condition=4, matched=False)
    first = rating_rater(store, study, "first", conditions=("c",))
    seen_first = {i.id for i in rate_all(store, first, n=2, k=3)}
    second = rating_rater(store, study, "second", conditions=("c",))
    seen_second = {i.id for i in rate_all(store, second, n=2, k=3)}
    assert not seen_first & seen_second  # unrated items before once-rated ones
    third = rating_rater(store, study, "third", conditions=("c",))
    assert len(rate_all(store, third, n=4, k=3)) == 4


def test_resume_returns_the_same_item_and_keeps_shown_at(store):
    study = make_study(store)
    rater = rating_rater(store, study, "r")
    item = next_item(store, rater, items_per_rater=4, k=2, lease_minutes=10, now=T0)
    assert item.shown_at == T0
    again = next_item(store, rater.id, items_per_rater=4, k=2, lease_minutes=10, now=T0 + timedelta(minutes=3))
    assert again.id == item.id and again.position == item.position == 1
    assert again.shown_at == T0  # a refresh keeps the first showing
    result = submit(store, rater.id, item.id, GOOD, now=T0 + timedelta(seconds=42))
    assert result.stored and result.seconds == 42
    assert store.cursor().execute("SELECT DISTINCT seconds FROM ratings").fetchall() == [(42.0,)]
    assert store.cursor().execute("SELECT count(*) FROM leases").fetchone()[0] == 0  # released


def test_matched_items_never_back_to_back(store):
    study = make_study(store, per_condition=3, matched=True)
    for i in range(6):
        rater = rating_rater(store, study, f"r{i}")
        seen = rate_all(store, rater, n=6, k=6)
        assert len(seen) == 6
        keys = [s.match_key for s in seen]
        assert all(a != b for a, b in itertools.pairwise(keys)), keys


def test_attention_and_gold_items_at_seeded_positions_outside_k(store):
    study = make_study(store, per_condition=4, matched=False, attention=2, gold=1)
    positions = []
    for i in range(3):
        rater = rating_rater(store, study, f"r{i}", seed=1000 + i)
        seen = rate_all(store, rater, n=4, k=1 if i == 0 else 2)
        assert len(seen) == 7  # 4 regular + every check item, though k=1 for the first rater
        assert {s.kind for s in seen} == {"regular", "attention", "gold"}
        assert seen[0].kind == "regular"
        positions.append(tuple(s.position for s in seen if s.kind != "regular"))
        assert rater_progress(store, rater, items_per_rater=4, k=2, now=T0) == (7, 7, 0)
    # same seed, same positions
    again = rating_rater(store, make_study(store, per_condition=4, matched=False, attention=2, gold=1,
                                           name="t"), "r0", seed=1000)
    assert tuple(s.position for s in rate_all(store, again, n=4, k=2) if s.kind != "regular") == positions[0]


# ---------------------------------------------------------------------------------- submit


def test_double_submit_stores_once(store):
    study = make_study(store)
    rater = rating_rater(store, study, "r")
    item = next_item(store, rater, items_per_rater=4, k=2, lease_minutes=10, now=T0)
    assert submit(store, rater.id, item.id, GOOD, now=T0).stored
    again = submit(store, rater.id, item.id, {"adherence": 1, "quality": 1}, now=T0)
    assert (again.stored, again.duplicate) == (False, True)
    assert store.cursor().execute("SELECT count(*), min(value) FROM ratings").fetchone() == (2, 5)


def test_four_threads_submitting_one_item_store_one_set(store):
    study = make_study(store)
    for round_ in range(5):
        rater = rating_rater(store, study, f"r{round_}")
        item = next_item(store, rater, items_per_rater=4, k=6, lease_minutes=10, now=T0)
        barrier, results = threading.Barrier(4), []

        def click(barrier=barrier, results=results, rater=rater, item=item):
            barrier.wait()
            results.append(submit(store, rater.id, item.id, GOOD, now=T0 + timedelta(seconds=9)))

        threads = [threading.Thread(target=click) for _ in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert sorted(r.stored for r in results) == [False, False, False, True]
        assert all(r.duplicate for r in results if not r.stored)
        assert store.cursor().execute("SELECT count(*) FROM ratings WHERE rater_id = ?",
                                      [rater.id]).fetchone()[0] == 2


def test_values_are_checked_before_writing(store):
    study = make_study(store)
    rater = rating_rater(store, study, "r")
    item = next_item(store, rater, items_per_rater=4, k=2, lease_minutes=10, now=T0)
    for bad, message in [({"adherence": 8, "quality": 3}, "1 to 7"), ({"adherence": 0, "quality": 3}, "1 to 7"),
                         ({"adherence": True, "quality": 3}, "1 to 7"),
                         ({"adherence": 3, "quality": 3, "tone": 3}, "unknown"),
                         ({"adherence": 3}, "missing")]:
        with pytest.raises(ValueError, match=message):
            submit(store, rater.id, item.id, bad, now=T0)
    assert store.cursor().execute("SELECT count(*) FROM ratings").fetchone()[0] == 0


def test_too_fast_and_attention_flags_and_finish(store):
    study = make_study(store, conditions=("c",), per_condition=2, attention=2)
    rater = rating_rater(store, study, "r", conditions=("c",))
    now, kinds = T0, []
    while (item := next_item(store, rater, items_per_rater=2, k=3, lease_minutes=10, now=now)):
        result = submit(store, rater.id, item.id, {"adherence": 1, "quality": 1},
                        now=now + timedelta(seconds=2), min_seconds=3)
        assert result.stored and "too_fast" in result.flags
        kinds.append(item.kind)
        now += timedelta(minutes=1)
    assert sorted(kinds) == ["attention", "attention", "regular", "regular"]
    flags = Counter(f for (f,) in store.cursor().execute("SELECT flag FROM rater_flags").fetchall())
    assert flags == {"too_fast": 4, "attention_failed": 2}
    result = finish(store, rater)
    assert (result.status, result.code_key, result.attention_failures) == ("failed_checks", "failed_checks", 2)
    assert finish(store, rater).status == "failed_checks"  # idempotent


def test_expected_argument_overrides_and_passing_attention_completes(store):
    study = make_study(store, conditions=("c",), per_condition=1, attention=1)
    rater = rating_rater(store, study, "r", conditions=("c",))
    seen = rate_all(store, rater, n=1, k=1)
    assert [s.kind for s in seen] == ["regular", "attention"]
    assert finish(store, rater).status == "completed"
    other = rating_rater(store, study, "o", conditions=("c",))
    item = next_item(store, other, items_per_rater=1, k=1, lease_minutes=5, now=T0)
    assert item is not None and item.kind == "attention"  # the regular item is at k
    assert "attention_failed" in submit(store, other.id, item.id, GOOD, now=T0,
                                        expected={"adherence": 4}).flags


def test_completion_urls():
    assert completion_url("prolific", "C1AB2") == "https://app.prolific.com/submissions/complete?cc=C1AB2"
    assert completion_url("mturk", None, "https://workersandbox.mturk.com") == \
        "https://workersandbox.mturk.com/mturk/externalSubmit"
    assert completion_url("anonymous", "X") is None
    with pytest.raises(ValueError):
        completion_url("mturk", None, "https://evil.example.com")


# ---------------------------------------------------------------------------------- property


ACTIONS = st.lists(st.tuples(st.sampled_from(["arrive", "work", "leave", "late", "tick"]),
                             st.integers(0, 1000)), min_size=5, max_size=60)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS, k=st.integers(1, 3), n=st.integers(1, 4), per_condition=st.integers(2, 6),
       checks=st.integers(0, 2))
def test_random_arrivals_and_departures_keep_the_invariants(store, actions, k, n, per_condition, checks):
    db = store.cursor()
    for table in ("rater_flags", "ratings", "leases", "raters", "study_items", "studies"):
        db.execute(f"DELETE FROM {table}")
    study = make_study(store, per_condition=per_condition, attention=checks, matched=True)
    now, lease = T0, 5
    active, left, held = [], [], {}  # held: rater id -> item of a rater who walked away

    for action, pick in actions:
        if action == "arrive":
            active.append(rating_rater(store, study, f"r{len(active) + len(left)}"))
        elif action == "tick":
            now += timedelta(minutes=pick % 8)
        elif not active:
            continue
        elif action == "work":
            rater = active[pick % len(active)]
            item = next_item(store, rater, items_per_rater=n, k=k, lease_minutes=lease, now=now)
            if item:
                submit(store, rater.id, item.id, item.expected or GOOD, now=now, k=k)
        elif action == "leave":
            rater = active.pop(pick % len(active))
            item = next_item(store, rater, items_per_rater=n, k=k, lease_minutes=lease, now=now)
            left.append(rater)
            if item:
                held[rater.id] = item
        elif action == "late" and held:
            rater_id, item = held.popitem()
            submit(store, rater_id, item.id, item.expected or GOOD, now=now, k=k)  # may be refused

    # Everyone still here finishes, after every abandoned lease has expired.
    now += timedelta(minutes=lease + 1)
    regular_capacity = 2 * per_condition * k
    enough = len(active) + len(left) <= regular_capacity // max(n, 1) - 1 and n <= per_condition
    for rater in active:
        while (item := next_item(store, rater, items_per_rater=n, k=k, lease_minutes=lease, now=now)):
            assert submit(store, rater.id, item.id, item.expected or GOOD, now=now, k=k).stored
        done, total, _ = rater_progress(store, rater, items_per_rater=n, k=k, now=now)
        if enough:
            assert done == total == n + checks

    over_k = db.execute(
        "SELECT count(*) FROM (SELECT r.item_id FROM ratings r JOIN study_items i ON i.id = r.item_id"
        " WHERE i.kind = 'regular' GROUP BY r.item_id HAVING count(DISTINCT r.rater_id) > ?) AS over",
        [k]).fetchone()[0]
    assert over_k == 0
    repeats = db.execute("SELECT count(*) FROM (SELECT rater_id, item_id, dimension FROM ratings"
                         " GROUP BY rater_id, item_id, dimension HAVING count(*) > 1) AS twice").fetchone()[0]
    assert repeats == 0
    per_rater = db.execute("SELECT rater_id, count(DISTINCT item_id), count(*) FROM ratings GROUP BY 1").fetchall()
    assert all(rows == 2 * items for _, items, rows in per_rater)


def test_parallel_raters_never_exceed_k(store):
    study = make_study(store, per_condition=6, matched=True, attention=1)
    raters = [rating_rater(store, study, f"p{i}") for i in range(12)]
    errors = []

    def work(rater):
        try:
            rate_all(store, rater, n=4, k=3)
        except Exception as exc:  # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r,)) for r in raters]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    loads = store.cursor().execute(
        "SELECT max(n), sum(n) FROM (SELECT count(DISTINCT rater_id) AS n FROM ratings r"
        " JOIN study_items i ON i.id = r.item_id WHERE i.kind = 'regular' GROUP BY r.item_id) AS loads").fetchone()
    assert loads[0] == 3 and loads[1] <= 36  # 12 raters want 48 regular ratings; 12 items x k=3 hold 36


def _rate_in_this_process(url: str, study_id: int, names: list[str]) -> None:
    """One app process's share of the raters: its own store on the database, a thread per rater."""
    store = Store(url)
    raters = [rating_rater(store, study_id, name) for name in names]
    threads = [threading.Thread(target=rate_all, args=(store, rater), kwargs={"n": 4, "k": 3}) for rater in raters]
    [t.start() for t in threads]
    [t.join() for t in threads]


def test_raters_served_by_two_processes_never_exceed_k(postgres_url):
    """Two processes on one PostgreSQL database: the study's lock is the database's, not a process's."""
    store = Store(postgres_url)
    study = make_study(store, per_condition=6, matched=True, attention=1)
    shares = [(postgres_url, study, [f"{process}{i}" for i in range(6)]) for process in "ab"]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.starmap(_rate_in_this_process, shares)
    db = store.cursor()
    loads = [n for (n,) in db.execute(
        "SELECT count(DISTINCT rater_id) FROM ratings r JOIN study_items i ON i.id = r.item_id"
        " WHERE i.kind = 'regular' GROUP BY r.item_id").fetchall()]
    assert max(loads) == 3 and sum(loads) == 36  # 12 raters want 48 regular ratings; 12 items x k=3 hold 36
    assert db.execute("SELECT count(*) FROM (SELECT 1 FROM ratings GROUP BY rater_id, item_id, dimension"
                      " HAVING count(*) > 1) AS twice").fetchone()[0] == 0
    orders = Counter(order for (order,) in db.execute("SELECT condition_order FROM raters").fetchall())
    assert sorted(orders.values()) == [6, 6]  # arrivals counted one at a time: the square stays balanced
    store.close()


def test_dimensions_and_scales_come_from_the_study_definition(store):
    db = store.cursor()
    study = db.execute(
        "INSERT INTO studies (name, token, definition, status) VALUES ('d', 'tok-d', ?, 'open') RETURNING id",
        [json.dumps({"dimensions": [{"key": "clarity", "labels": ["a", "b", "c", "d", "e"]}]})]).fetchone()[0]
    db.execute("INSERT INTO study_items (study_id, condition, kind, turns) VALUES (?, 'c', 'regular', '[]')",
               [study])
    rater = rating_rater(store, study, "r", conditions=("c",))
    item = next_item(store, rater, items_per_rater=1, k=1, lease_minutes=5, now=T0)
    with pytest.raises(ValueError, match="1 to 5"):
        submit(store, rater.id, item.id, {"clarity": 6}, now=T0)
    with pytest.raises(ValueError, match="unknown"):
        submit(store, rater.id, item.id, GOOD, now=T0)
    assert submit(store, rater.id, item.id, {"clarity": 5}, now=T0).stored
