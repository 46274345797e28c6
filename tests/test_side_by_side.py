"""The side-by-side design on both databases: its definition and messages, pair items from self-play and
from JSONL (both conversations of one match_key, the left/right order recorded and balanced), and the
rating flow (choices and reason stored together, double submit refused, attention checks on the
three-answer scale, the export carrying the order and the reason)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from scipy import stats

from tests.scripted_server import Reply
from tests.test_cli import cli
from tests.test_studies import minimal, project, scripted_conversation  # noqa: F401 - project is a fixture
from vt_core.analysis.preference import preference_data
from vt_core.core.store import Store
from vt_core.crowd import export_bytes, run_pilot
from vt_core.crowd.assignment import (
    REASON_MAX_CHARS,
    Identity,
    next_item,
    register_rater,
    set_rater_status,
    submit,
)
from vt_core.crowd.export import ratings_rows
from vt_core.crowd.items import add_check_items, add_items_from_selfplay, import_items_jsonl, import_pairs_jsonl
from vt_core.crowd.pairs import first_on_left, item_pair, pair_orders
from vt_core.crowd.studies import (
    PAIR_CONDITION,
    SIDE_LABELS,
    StudyError,
    StudyFileError,
    create_study,
    definition_to_toml,
    load_study_file,
    parse_study,
    parse_toml,
    set_study_status,
)
from vt_core.designer.transcripts import get_transcript

pytestmark = pytest.mark.both_backends

T0 = datetime(2026, 12, 1, 12, 0, 0)
CHECKS = [{"instruction": "This is a check: answer Right to the first question.", "dimension": "adherence",
           "expected": 3},
          {"instruction": "This is a check: answer Left to the second question.", "dimension": "quality",
           "expected": 1}]


def sbs(**changes) -> dict:
    return minimal(design="side_by_side", attention_checks=CHECKS, **changes)


# -- the definition ------------------------------------------------------------------------------


def test_a_side_by_side_study_asks_the_two_preference_questions_by_default():
    definition = parse_study(sbs())
    assert definition.side_by_side
    assert [d.key for d in definition.dimensions] == ["adherence", "quality"]
    assert all(d.labels == list(SIDE_LABELS) for d in definition.dimensions)
    assert "follows the instructions" in definition.dimensions[0].question
    assert definition.dimensions[0].show_instructions and not definition.dimensions[1].show_instructions
    assert parse_study(parse_toml(definition_to_toml(definition).encode(), "again")) == definition
    assert not parse_study(minimal()).side_by_side and parse_study(minimal()).dimensions[0].points == 7


@pytest.mark.parametrize(("changes", "expected"), [
    ({"conditions": [{"name": "a"}, {"name": "b"}, {"name": "c"}]},
     "conditions: a side-by-side study compares exactly 2 conditions (the baseline and the one compared with it), "
     "found 3"),
    ({"dimensions": [{"key": "adherence", "question": "Which?"}]},
     "dimensions[0].labels: a side-by-side question has 3 answers, in this order: left, about the same, right "
     "(e.g. Left, About the same, Right), found 7"),
    ({"gold_items": [{"turns": [{"role": "assistant", "content": "hi"}], "expected": {"quality": 1}}]},
     "gold_items: a side-by-side study has no gold items (a gold item is one transcript); use attention checks"),
    ({"attention_checks": [{**CHECKS[0], "expected": 5}, CHECKS[1]]},
     "attention_checks[0].expected: 5 is off the scale of 'adherence', which runs from 1 to 3"),
    ({"design": "pairwise"}, "design: must be one of 'per_transcript' or 'side_by_side', found 'pairwise'"),
])
def test_a_bad_side_by_side_definition_is_refused_with_its_field_named(changes, expected):
    with pytest.raises(StudyFileError) as caught:
        parse_study({**sbs(), **changes}, "study.toml")
    assert f"study.toml: {expected}" in str(caught.value).splitlines()


def test_the_shipped_side_by_side_study_loads_and_a_bad_variant_names_its_problems(tmp_path):
    shipped = Path(__file__).parent.parent / "studies" / "side_by_side_study.toml"
    definition = load_study_file(shipped)
    assert definition.side_by_side and [c.name for c in definition.conditions] == ["baseline", "tuned"]
    assert [d.labels for d in definition.dimensions] == [list(SIDE_LABELS)] * 2
    bad = tmp_path / "study.toml"
    bad.write_text(shipped.read_text().replace('labels = ["Left", "About the same", "Right"]\nshow',
                                               'labels = ["Left", "Right"]\nshow')
                   + '\n[[conditions]]\nname = "third"\n')
    with pytest.raises(StudyFileError) as caught:
        load_study_file(bad)
    assert str(caught.value).splitlines()[1:] == [
        f"{bad}: attention_checks[0].expected: 3 is off the scale of 'adherence', which runs from 1 to 2",
        f"{bad}: conditions: a side-by-side study compares exactly 2 conditions (the baseline and the one compared "
        "with it), found 3",
        f"{bad}: dimensions[0].labels: a side-by-side question has 3 answers, in this order: left, about the same, "
        "right (e.g. Left, About the same, Right), found 2"]


# -- items ---------------------------------------------------------------------------------------


def test_the_order_is_balanced_seeded_and_differs_between_seeds():
    for n in (1, 2, 7, 40):
        draws = first_on_left(n, seed=3)
        assert abs(sum(draws) - (n - sum(draws))) <= 1
        assert first_on_left(n, seed=3) == draws
    assert first_on_left(40, seed=3) != first_on_left(40, seed=4)


def test_selfplay_builds_one_pair_per_scenario_persona_and_seed(store, make_llm, scripted, project):  # noqa: F811
    scripted.respond = scripted_conversation
    conditions = [{"name": "baseline", "project": project.name, "version": 1},
                  {"name": "tuned", "project": project.name, "version": 2}]
    study = create_study(store, parse_study(sbs(name="pairs", conditions=conditions)))
    items = add_items_from_selfplay(store, make_llm(), study, n=6, max_turns=1, seed=5)

    assert len(items) == 6 and {i.condition for i in items} == {PAIR_CONDITION}
    assert len({i.match_key for i in items}) == 6
    lefts = []
    for item in items:
        pair = item_pair(store, item.id)
        assert {pair.left.condition, pair.right.condition} == {"baseline", "tuned"}
        left, right = get_transcript(store, pair.left.transcript_id), get_transcript(store, pair.right.transcript_id)
        assert (left.scenario_id, left.persona_id, left.seed) == (right.scenario_id, right.persona_id, right.seed)
        assert item.match_key == f"{left.scenario_id}:{left.seed}"
        assert pair.left.turns == left.turns and pair.right.turns == right.turns
        prompt = {"baseline": "You recommend movies.", "tuned": "You recommend at most three movies."}
        assert pair.left.turns[1].content == f"bot under [{prompt[pair.left.condition]}]"
        lefts.append(pair.left.condition)
    assert Counter(lefts) == {"baseline": 3, "tuned": 3}
    assert pair_orders(store, study.id) == {i.id: item_pair(store, i.id).left.condition for i in items}


def chat(key: str, text: str) -> str:
    return json.dumps({"messages": [{"role": "user", "content": f"hi {key}"},
                                    {"role": "assistant", "content": text}], "match_key": key})


def imported_study(store, n=10, name="imported", seed=0):
    study = create_study(store, parse_study(sbs(name=name)))
    import_pairs_jsonl(store, study, {"a": [chat(f"k{i}", f"a says {i}") for i in range(n)],
                                      "b": [chat(f"k{i}", f"b says {i}") for i in range(n)]}, seed=seed)
    return study


def test_jsonl_pairs_are_matched_by_key_and_a_lone_key_stores_nothing(store):
    study = imported_study(store)
    orders = pair_orders(store, study.id)
    assert Counter(orders.values()) == {"a": 5, "b": 5}
    for item_id in orders:
        pair = item_pair(store, item_id)
        key = pair.left.turns[0].content.removeprefix("hi ")
        assert pair.right.turns[0].content == f"hi {key}"
        assert pair.left.turns[1].content == f"{pair.left.condition} says {key.removeprefix('k')}"
        assert pair.right.turns[1].content == f"{pair.right.condition} says {key.removeprefix('k')}"

    other = create_study(store, parse_study(sbs(name="lonely")))
    with pytest.raises(StudyError, match="only one condition has: k2"):
        import_pairs_jsonl(store, other, {"a": [chat("k1", "x"), chat("k2", "y")], "b": [chat("k1", "z")]})
    with pytest.raises(StudyError, match="import both conditions' files together"):
        import_items_jsonl(store, other, "a", [chat("k1", "x")])
    assert store.cursor().execute("SELECT count(*) FROM study_items WHERE study_id = ?",
                                  [other.id]).fetchone()[0] == 0


# -- rating --------------------------------------------------------------------------------------


def open_study(store, **kw):
    study = imported_study(store, **kw)
    add_check_items(store, study)
    return set_study_status(store, study.id, "open")


def rater_in(store, study, name):
    rater = register_rater(store, study.id, Identity("prolific", name), conditions=["a", "b"])
    set_rater_status(store, rater.id, "rating")
    return rater


def test_a_rater_gets_pairs_and_checks_and_their_choices_and_reason_are_stored_once(store):
    study = open_study(store)
    definition = study.definition
    rater = rater_in(store, study, "r1")
    plan = {"items_per_rater": definition.items_per_rater, "k": definition.ratings_per_item, "lease_minutes": 30}
    now, seen = T0, []
    while item := next_item(store, rater, now=now, **plan):
        values = {"adherence": 2, "quality": 2} | item.expected if item.kind == "attention" else \
            {"adherence": 3, "quality": 2}
        reason = "" if item.kind == "attention" else f"right is clearer {item.id}"
        result = submit(store, rater.id, item.id, values, now=now + timedelta(seconds=9), reason=reason,
                        expected=item.expected if item.kind == "attention" else None)
        assert result.stored and not result.flags
        again = submit(store, rater.id, item.id, {"adherence": 1, "quality": 1}, reason="changed my mind",
                       now=now + timedelta(seconds=10))
        assert (again.stored, again.duplicate) == (False, True)
        seen.append(item)
        now += timedelta(seconds=20)
    pairs = [i for i in seen if i.kind == "regular"]
    assert len(pairs) == definition.items_per_rater and all(i.condition == PAIR_CONDITION for i in pairs)
    assert sum(i.kind == "attention" for i in seen) == 2

    db = store.cursor()
    stored = db.execute("SELECT item_id, dimension, value FROM ratings WHERE rater_id = ? ORDER BY item_id, dimension",
                        [rater.id]).fetchall()
    assert [(i, d, v) for i, d, v in stored if i in {p.id for p in pairs}] == \
        [(p.id, d, v) for p in sorted(pairs, key=lambda p: p.id) for d, v in (("adherence", 3), ("quality", 2))]
    reasons = dict(db.execute("SELECT item_id, reason FROM rating_reasons WHERE rater_id = ?", [rater.id]).fetchall())
    assert reasons == {p.id: f"right is clearer {p.id}" for p in pairs}  # blank reasons are not stored

    rows = [r for r in ratings_rows(store, study.id) if r["item_kind"] == "regular"]
    assert len(rows) == 2 * len(pairs)
    orders = pair_orders(store, study.id)
    for row in rows:
        assert row["left_condition"] == orders[row["item_id"]]
        assert {row["left_condition"], row["right_condition"]} == {"a", "b"}
        assert row["choice"] == {3: "right", 2: "same"}[row["value"]]
        assert row["reason"] == f"right is clearer {row['item_id']}"
    checks = [r for r in ratings_rows(store, study.id) if r["item_kind"] == "attention"]
    assert checks and all(r["left_condition"] == r["choice"] == r["reason"] == "" for r in checks)
    assert b"left_condition,right_condition,choice,reason" in export_bytes(store, study.id, "csv").splitlines()[0]


def test_a_wrong_answer_on_a_check_is_flagged_and_a_long_reason_stores_nothing(store):
    study = open_study(store, name="checks")
    rater = rater_in(store, study, "r2")
    plan = {"items_per_rater": 4, "k": 2, "lease_minutes": 30}
    now = T0
    flagged = False
    while item := next_item(store, rater, now=now, **plan):
        if item.kind == "regular":
            with pytest.raises(ValueError, match=f"at most {REASON_MAX_CHARS:,}"):
                submit(store, rater.id, item.id, {"adherence": 1, "quality": 1}, reason="x" * (REASON_MAX_CHARS + 1),
                       now=now + timedelta(seconds=9))
            assert store.cursor().execute("SELECT count(*) FROM ratings WHERE item_id = ? AND rater_id = ?",
                                          [item.id, rater.id]).fetchone()[0] == 0
            values = {"adherence": 1, "quality": 1}
        else:
            values = {d: (2 if item.expected.get(d) != 2 else 1) for d in ("adherence", "quality")}
            flagged = True
        result = submit(store, rater.id, item.id, values, now=now + timedelta(seconds=9),
                        expected=item.expected if item.kind == "attention" else None)
        assert result.stored
        assert ("attention_failed" in result.flags) == (item.kind == "attention")
        now += timedelta(seconds=20)
    assert flagged


def pick_b(request: dict) -> Reply:
    """A simulated rater who reads both sides and picks the one where b speaks; follows the checks."""
    text = request["messages"][-1]["content"]
    if "This is a check" in text:
        values = {"adherence": 2, "quality": 2} | ({"adherence": 3} if "Right to the first" in text else {"quality": 1})
    else:
        left = text.split("RIGHT conversation:")[0]
        side = 1 if "b says" in left else 3
        values = {"adherence": side, "quality": side}
    return Reply(content=json.dumps({"reason": "read both", **values}))


def test_simulated_raters_read_both_sides_and_the_analysis_of_the_store_finds_their_preference(store, make_llm,
                                                                                               scripted):
    scripted.respond = pick_b
    study = open_study(store, name="piloted")
    run_pilot(store, make_llm(), study, raters=3, seed=2)
    assert store.cursor().execute("SELECT count(*) FROM rater_flags").fetchone()[0] == 0

    data = preference_data(store, study.id)
    analysis = data.analysis
    assert analysis.conditions == ["a", "b"] and list(analysis.results) == ["llm"]
    for result in analysis.results["llm"]:
        n = 3 * study.definition.items_per_rater
        assert (result.prefer_b, result.prefer_a, result.ties) == (n, 0, 0)
        assert result.preference.p == pytest.approx(stats.binomtest(n, n).pvalue)
        left = int((data.frame[(data.frame["dimension"] == result.dimension)]["side"] == "left").sum())
        assert (result.position.k, result.position.n) == (left, n)
    orders = pair_orders(store, study.id)
    choices = data.frame[["item_id", "value"]].drop_duplicates()
    assert all(value == (1 if orders[item] == "b" else 3) for item, value in choices.itertuples(index=False))


def test_the_report_command_writes_the_preference_report(tmp_path):
    store = Store(tmp_path / "vt.duckdb")
    try:
        study = open_study(store, name="reported")
        for name in ("r1", "r2", "r3"):
            rater = rater_in(store, study, name)
            now = T0
            while item := next_item(store, rater, now=now, items_per_rater=4, k=3, lease_minutes=30):
                tuned_side = 1 if item.kind == "regular" and pair_orders(store, study.id)[item.id] == "b" else 3
                values = {"adherence": 2, "quality": 2} | item.expected if item.kind == "attention" else \
                    {"adherence": tuned_side, "quality": 2}
                assert submit(store, rater.id, item.id, values, now=now + timedelta(seconds=9)).stored
                now += timedelta(seconds=20)
    finally:
        store.close()
    out = tmp_path / "report"
    result = cli(["report", str(study.id), "--out", str(out), "--format", "svg"], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    report = (out / "report.md").read_text()
    assert "On adherence, b was preferred in 12 of 12 choices, a in 0, and 0 were rated about the same." in report
    assert "On quality, b was preferred in 0 of 12 choices, a in 0, and 12 were rated about the same." in report
    assert (out / "charts" / "position.svg").exists() and (out / "tables" / "choices.csv").exists()


def test_the_export_carries_both_conversations_and_the_launch_estimate_reads_both(store):
    from vt_core.crowd import expected_timing

    study = open_study(store, name="exported")
    rater = rater_in(store, study, "r9")
    item = next_item(store, rater, now=T0, items_per_rater=4, k=2, lease_minutes=30)
    if item.kind != "regular":
        submit(store, rater.id, item.id, {"adherence": 2, "quality": 2} | item.expected, now=T0)
        item = next_item(store, rater, now=T0, items_per_rater=4, k=2, lease_minutes=30)
    submit(store, rater.id, item.id, {"adherence": 1, "quality": 3}, now=T0 + timedelta(seconds=9))
    pair = item_pair(store, item.id)
    row = next(r for r in ratings_rows(store, study.id) if r["item_id"] == item.id)
    assert row["transcript"] == (f"Left:\nUser: {pair.left.turns[0].content}\nChatbot: {pair.left.turns[1].content}"
                                 f"\n\nRight:\nUser: {pair.right.turns[0].content}\n"
                                 f"Chatbot: {pair.right.turns[1].content}")
    timing = expected_timing(store, study)
    # each pair: "hi kN" + "a says N" + "hi kN" + "b says N" = 10 words, at 200 a minute, and 6 s per question
    assert timing.basis == "length" and timing.seconds_per_item == pytest.approx(10 / 200 * 60 + 6 * 2)
