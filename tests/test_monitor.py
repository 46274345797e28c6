"""The study monitor on a real DuckDB file: counts per rater kind, exclusion rules, and Krippendorff's
alpha (ordinal) checked by hand and against the krippendorff package on a fixed matrix."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import krippendorff
import numpy as np
import pytest

from vt_core.crowd.assignment import Identity, finish, next_item, register_rater, set_rater_status, submit
from vt_core.crowd.exclusion import NO_EXCLUSION, ExclusionRules
from vt_core.crowd.items import add_check_items, import_items_jsonl
from vt_core.crowd.monitoring import alpha_ordinal, fingerprint, monitor, monitor_summary
from vt_core.crowd.studies import create_study, parse_study, set_study_status

pytestmark = pytest.mark.both_backends  # each test that has a store runs on DuckDB and on PostgreSQL

T0 = datetime(2026, 11, 24, 12, 0, 0)
NAN = np.nan


def definition(**changes) -> dict:
    data = {
        "name": "monitor study",
        "conditions": [{"name": "a"}, {"name": "b"}],
        "instructions": ["Be brief."],
        "items_per_rater": 4,
        "ratings_per_item": 3,
        "attention_checks": [
            {"instruction": "Answer 2 for adherence.", "dimension": "adherence", "expected": 2},
            {"instruction": "Answer 6 for quality.", "dimension": "quality", "expected": 6},
        ],
        "comprehension": {"question": "What do you rate?", "options": ["the bot", "the user"], "answer": "the bot"},
        "consent_text": "I agree.",
        "instruction_text": "Rate each conversation.",
        "completion_codes": {"completed": "DONE", "screened_out": "OUT", "failed_checks": "FAIL"},
    }
    data.update(changes)
    return data


def jsonl(condition: str, n: int) -> list[str]:
    return [json.dumps({"messages": [{"role": "user", "content": f"{condition} question {i}"},
                                     {"role": "assistant", "content": f"{condition} answer {i}"}],
                        "match_key": f"m{i}"}) for i in range(n)]


def build_study(store, n_items: int = 3, **changes):
    study = create_study(store, parse_study(definition(**changes)))
    for condition in ("a", "b"):
        import_items_jsonl(store, study, condition, jsonl(condition, n_items))
    add_check_items(store, study)
    return set_study_status(store, study.id, "open")


def item_ids(store, study_id, kind="regular") -> list[int]:
    return [i for (i,) in store.cursor().execute(
        "SELECT id FROM study_items WHERE study_id = ? AND kind = ? ORDER BY id", [study_id, kind]).fetchall()]


def add_rater(store, study_id, name, kind="human", status="rating"):
    identity = Identity("llm" if kind == "llm" else "prolific", name)
    rater = register_rater(store, study_id, identity, kind=kind, conditions=["a", "b"])
    set_rater_status(store, rater.id, status)
    return rater


def rate(store, study_id, rater_id, item_id, adherence, quality, seconds=10.0):
    """A rating written directly (the hand-worked cases need exact raters x items layouts)."""
    store.cursor().executemany(
        "INSERT INTO ratings (study_id, rater_id, item_id, dimension, value, seconds) VALUES (?, ?, ?, ?, ?, ?)",
        [[study_id, rater_id, item_id, "adherence", adherence, seconds],
         [study_id, rater_id, item_id, "quality", quality, seconds]])


def flag(store, rater_id, name, item_id):
    store.cursor().execute("INSERT INTO rater_flags (rater_id, flag, detail) VALUES (?, ?, ?)",
                           [rater_id, name, json.dumps({"item_id": item_id})])


def alpha_of(m, dimension, group):
    return next(a for a in m.agreement if a.dimension == dimension and a.group == group)


# -- counts ------------------------------------------------------------------------------------


def test_counts_through_the_real_rater_functions(store):
    study = build_study(store)
    d = study.definition
    statuses = {}
    for n, name in enumerate(["p1", "p2", "p3", "p4"]):
        rater = add_rater(store, study.id, name, status="rating")
        statuses[name] = rater
    set_rater_status(store, statuses["p4"].id, "screened_out")
    now = T0
    for name in ("p1", "p2"):  # rate everything; p2 fails both attention checks
        rater = statuses[name]
        while item := next_item(store, rater, items_per_rater=d.items_per_rater, k=d.ratings_per_item,
                                   lease_minutes=30, now=now):
            values = {"adherence": 4, "quality": 5}
            if item.kind == "attention" and name == "p1":
                values = {**values, **item.expected}
            submit(store, rater.id, item.id, values, now=now + timedelta(seconds=6 if name == "p1" else 2),
                   min_seconds=d.min_seconds_per_item)
            now += timedelta(seconds=10)
        finish(store, rater, now=now)
    llm_rater = add_rater(store, study.id, "sim-1", kind="llm")
    item = next_item(store, llm_rater, items_per_rater=4, k=3, lease_minutes=30, now=now)
    submit(store, llm_rater.id, item.id, {"adherence": 3, "quality": 3}, now=now + timedelta(seconds=30))

    m = monitor(store, study.id)
    human, llm = m.raters["human"], m.raters["llm"]
    assert (human.started, human.rating, human.completed, human.failed_checks, human.screened_out) == (4, 1, 1, 1, 1)
    assert (llm.started, llm.rating, llm.completed) == (1, 1, 0)
    assert m.ratings("human") == 2 * 6 and m.ratings("llm") == 1  # 4 regular + 2 checks each
    conditions = {row["condition"]: row for row in m.per_condition}
    assert [row["condition"] for row in m.per_condition] == ["a", "b", "_checks"]
    assert conditions["a"]["human"] + conditions["b"]["human"] == 8 and conditions["_checks"]["human"] == 4
    assert conditions["a"]["items"] == 3 and conditions["_checks"]["items"] == 2
    assert sum(row["llm"] for row in m.per_item) == 1
    assert sum(row["human"] for row in m.per_item) == 12
    assert m.median_seconds["human"] == 4.0  # six ratings at 6 s and six at 2 s
    assert m.median_seconds["llm"] == 30.0
    # p2 failed the attention checks, and every one of their ratings was too fast
    assert [(r.external_id, len(r.reasons)) for r in m.excluded] == [("p2", 1)]
    strict = monitor(store, study.id, exclusion=ExclusionRules(True, max_too_fast_share=0.5))
    assert [(r.external_id, len(r.reasons)) for r in strict.excluded] == [("p2", 2)]
    assert "human raters: 4 started" in monitor_summary(m) and "excluded raters: 1" in monitor_summary(m)


def test_an_empty_study(store):
    study = build_study(store)
    m = monitor(store, study.id)
    assert m.raters["human"].started == 0 and m.median_seconds == {"human": None, "llm": None}
    assert [a.alpha for a in m.agreement] == [None, None, None, None]  # no human-llm rows without both kinds
    assert {a.group for a in m.agreement} == {"human", "llm"}
    assert m.excluded == []


# -- the data fingerprint ----------------------------------------------------------------------


def test_the_fingerprint_changes_with_everything_the_monitor_shows_and_only_then(store):
    """The Rating studies page caches the monitor on this key: every change below must give a key
    never seen before, reading it again without a change must give the same key, and another
    study's data must not move it."""
    keys = []

    def changed() -> None:
        key = fingerprint(store, study.id)
        assert key not in keys
        assert fingerprint(store, study.id) == key
        keys.append(key)

    study = create_study(store, parse_study(definition()))
    changed()
    import_items_jsonl(store, study, "a", jsonl("a", 2))
    changed()
    import_items_jsonl(store, study, "b", jsonl("b", 2))
    changed()
    add_check_items(store, study)
    changed()
    set_study_status(store, study.id, "open")
    changed()
    rater = register_rater(store, study.id, Identity("prolific", "p1"), conditions=["a", "b"])
    changed()
    set_rater_status(store, rater.id, "rating")  # a status change alone: no row is added
    changed()
    item = next_item(store, rater, items_per_rater=4, k=3, lease_minutes=30, now=T0)  # a lease
    changed()
    submit(store, rater.id, item.id, {"adherence": 4, "quality": 5}, now=T0 + timedelta(seconds=10))
    changed()
    flag(store, rater.id, "attention_failed", item.id)  # a flag alone
    changed()
    finish(store, rater, now=T0 + timedelta(minutes=1))
    changed()

    other = build_study(store, name="another study")
    someone = add_rater(store, other.id, "p1")
    rate(store, other.id, someone.id, item_ids(store, other.id)[0], 3, 3)
    flag(store, someone.id, "attention_failed", item_ids(store, other.id)[0])
    assert fingerprint(store, study.id) == keys[-1]
    assert fingerprint(store, other.id) not in keys


# -- exclusion rules ---------------------------------------------------------------------------


def test_exclusion_rules(store):
    study = build_study(store, n_items=2)
    regular, attention = item_ids(store, study.id), item_ids(store, study.id, "attention")
    careless = add_rater(store, study.id, "careless")   # one failed check, nothing too fast
    hasty = add_rater(store, study.id, "hasty")         # 2 of 4 ratings too fast
    fine = add_rater(store, study.id, "fine")
    for rater in (careless, hasty, fine):
        for item in regular:
            rate(store, study.id, rater.id, item, 4, 4)
    flag(store, careless.id, "attention_failed", attention[0])
    flag(store, hasty.id, "too_fast", regular[0])
    flag(store, hasty.id, "too_fast", regular[1])

    def excluded(rules):
        return {r.external_id for r in monitor(store, study.id, exclusion=rules).excluded}

    assert excluded(NO_EXCLUSION) == set()
    assert excluded(ExclusionRules()) == {"careless"}
    assert excluded(ExclusionRules(False, 0.5)) == set()  # 50% does not exceed 50%
    assert excluded(ExclusionRules(False, 0.49)) == {"hasty"}
    assert excluded(ExclusionRules(True, 0.25)) == {"careless", "hasty"}
    with pytest.raises(ValueError, match="share"):
        ExclusionRules(max_too_fast_share=1.5)
    # excluded raters stay in the data: their ratings are still counted
    assert monitor(store, study.id).ratings("human") == 12

    def valid_and_lacking(rules):
        return {(row["kind"], row["valid"], row["lacking"]) for row in monitor(store, study.id, exclusion=rules).per_item}

    # k is 3: each regular item lacks the valid ratings of the raters the rules exclude; checks lack none
    assert valid_and_lacking(NO_EXCLUSION) == {("regular", 3, 0), ("attention", 0, 0)}
    assert valid_and_lacking(ExclusionRules()) == {("regular", 2, 1), ("attention", 0, 0)}
    assert valid_and_lacking(ExclusionRules(True, 0.25)) == {("regular", 1, 2), ("attention", 0, 0)}


# -- agreement ---------------------------------------------------------------------------------


def test_alpha_hand_worked():
    # Perfect agreement on two distinct values: alpha = 1.
    assert alpha_ordinal([[1, 2], [1, 2]]) == (1.0, "")
    # Two coders, two units, values crossed: D_o = D_e * 2 for ordinal here, alpha = -1 ... worked out:
    # values {1,2}, pairable n = 4; observed disagreement counts both units as (1,2) pairs.
    # o_12 = o_21 = 2, n_1 = n_2 = 2; D_o = (2 + 2) * d / 4, D_e = (2*2 + 2*2) * d / (4 * 3)
    # so alpha = 1 - D_o / D_e = 1 - 1 / (2/3) = -0.5.
    alpha, _ = alpha_ordinal([[1, 2], [2, 1]])
    assert alpha == pytest.approx(-0.5)
    assert alpha_ordinal([[3, 3], [3, 3]]) == (None, "every rating has the same value")
    assert alpha_ordinal([[1, NAN], [NAN, 2]]) == (None, "no item has two ratings yet")


FIXED = [  # 4 raters x 6 items, 1-7, with gaps
    [1, 2, 3, 3, 2, 1],
    [1, 2, 3, 3, 2, 2],
    [NAN, 3, 3, 3, 2, 3],
    [1, 2, 4, NAN, 7, NAN],
]


def ordinal_alpha_by_hand(matrix) -> float:
    """Krippendorff's ordinal alpha from its definition (Krippendorff 2011): the coincidences of the
    pairable values, the ordinal distance between two values (the values ranked between them, ends
    counted half), and 1 - (n - 1) * observed / expected disagreement."""
    units = [[v for v in column if not math.isnan(v)] for column in zip(*matrix)]
    units = [u for u in units if len(u) >= 2]
    values = sorted({v for u in units for v in u})
    o = {(c, k): 0.0 for c in values for k in values}
    for u in units:
        for i, c in enumerate(u):
            for j, k in enumerate(u):
                if i != j:
                    o[c, k] += 1 / (len(u) - 1)
    n_c = {c: sum(o[c, k] for k in values) for c in values}
    n = sum(n_c.values())

    def distance(c, k):
        return (sum(n_c[g] for g in values if min(c, k) <= g <= max(c, k)) - (n_c[c] + n_c[k]) / 2) ** 2

    observed = sum(o[c, k] * distance(c, k) for c in values for k in values)
    expected = sum(n_c[c] * n_c[k] * distance(c, k) for c in values for k in values)
    return 1 - (n - 1) * observed / expected


def test_alpha_matches_the_definition_on_a_fixed_matrix():
    assert ordinal_alpha_by_hand(FIXED) == pytest.approx(0.4885234669)  # 21 pairable values, 6 units
    assert alpha_ordinal(FIXED)[0] == pytest.approx(ordinal_alpha_by_hand(FIXED))


def test_monitor_alpha_per_kind_and_human_llm(store):
    study = build_study(store, n_items=3)
    regular = item_ids(store, study.id)  # a0 a1 a2 b0 b1 b2
    humans = [add_rater(store, study.id, f"h{i}") for i in range(4)]
    for r, row in enumerate(FIXED):  # adherence follows FIXED; quality is 8 - adherence
        for c, value in enumerate(row):
            if not np.isnan(value):
                rate(store, study.id, humans[r].id, regular[c], int(value), 8 - int(value))
    # check items do not enter agreement: everyone rates them, identically
    for h in humans:
        rate(store, study.id, h.id, item_ids(store, study.id, "attention")[0], 2, 2)
    m = monitor(store, study.id, exclusion=NO_EXCLUSION)
    expected = krippendorff.alpha(reliability_data=np.array(FIXED), level_of_measurement="ordinal")
    human = alpha_of(m, "adherence", "human")
    assert human.alpha == pytest.approx(expected) and (human.items, human.raters) == (6, 4)
    assert alpha_of(m, "quality", "human").alpha == pytest.approx(expected)  # reversed scale, same agreement
    assert alpha_of(m, "adherence", "llm").alpha is None
    assert not [a for a in m.agreement if a.group == "human-llm"]

    # LLM raters: a separate pool; agreement among them, and human-LLM agreement on item means
    llms = [add_rater(store, study.id, f"sim{i}", kind="llm") for i in range(2)]
    llm_values = [[1, 2, 3, 3, 2, 1], [2, 2, 3, 4, 2, 1]]
    for r, row in enumerate(llm_values):
        for c, value in enumerate(row):
            rate(store, study.id, llms[r].id, regular[c], value, value)
    m = monitor(store, study.id, exclusion=NO_EXCLUSION)
    assert alpha_of(m, "adherence", "human").alpha == pytest.approx(expected)  # unchanged by LLM ratings
    llm = alpha_of(m, "adherence", "llm")
    assert llm.alpha == pytest.approx(krippendorff.alpha(reliability_data=np.array(llm_values, dtype=float),
                                                         level_of_measurement="ordinal"))
    human_means = np.nanmean(np.array(FIXED), axis=0)
    llm_means = np.mean(np.array(llm_values, dtype=float), axis=0)
    both = alpha_of(m, "adherence", "human-llm")
    assert both.items == 6 and both.raters == 2
    assert both.alpha == pytest.approx(krippendorff.alpha(reliability_data=np.vstack([human_means, llm_means]),
                                                          level_of_measurement="ordinal"))

    # an excluded rater leaves the agreement (and stays in the counts)
    flag(store, humans[3].id, "attention_failed", regular[0])
    m = monitor(store, study.id)
    assert alpha_of(m, "adherence", "human").alpha == pytest.approx(
        krippendorff.alpha(reliability_data=np.array(FIXED[:3]), level_of_measurement="ordinal"))
    assert m.ratings("human") == sum(1 for row in FIXED for v in row if not np.isnan(v)) + 4


def test_gold_items_are_compared_with_their_known_answer(store):
    gold = {"turns": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "BUY NOW!!!"}],
            "expected": {"adherence": 1}}
    study = build_study(store, n_items=1, items_per_rater=2, gold_items=[gold, gold])
    golds = item_ids(store, study.id, "gold")
    near, far = add_rater(store, study.id, "near"), add_rater(store, study.id, "far")

    def answer(rater, adherence):
        """Rate whatever comes next through the page's functions until a gold item is answered."""
        while True:
            item = next_item(store, rater, items_per_rater=2, k=3, lease_minutes=5, now=T0)
            value = adherence if item.kind == "gold" else 4
            expected = item.expected if item.kind == "attention" else None
            result = submit(store, rater.id, item.id, {"adherence": value, "quality": 4},
                            now=T0 + timedelta(seconds=10), expected=expected)
            if item.kind == "gold":
                return result

    assert answer(near, 2).flags == ()                 # one point off the known 1: within tolerance
    assert answer(far, 4).flags == ("gold_missed",)    # three points off
    assert answer(far, 1).flags == ()
    missed = store.cursor().execute("SELECT detail FROM rater_flags WHERE rater_id = ? AND flag = 'gold_missed'",
                                    [far.id]).fetchall()
    assert [json.loads(d)["given"] for (d,) in missed] == [{"adherence": 4}]
    assert json.loads(missed[0][0])["item_id"] in golds

    def excluded(share):
        rules = ExclusionRules(exclude_failed_attention=False, max_gold_miss_share=share)
        return {r.external_id for r in monitor(store, study.id, exclusion=rules).excluded}

    assert excluded(None) == set()
    assert excluded(0.5) == set()      # 1 of 2 missed does not exceed a half
    assert excluded(0.4) == {"far"}
    with pytest.raises(ValueError, match="max_gold_miss_share"):
        ExclusionRules(max_gold_miss_share=2)
