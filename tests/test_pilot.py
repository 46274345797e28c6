"""Simulated raters pilot a study through the same assignment logic as people."""

import json
import re

import pytest

from tests.scripted_server import Reply
from tests.test_monitor import build_study
from vt_core.crowd.monitoring import monitor
from vt_core.crowd.pilot import PERSONAS, run_pilot

pytestmark = pytest.mark.both_backends  # each test that has a store runs on DuckDB and on PostgreSQL


def scripted_rater(request: dict) -> Reply:
    """Rates 'a' items 6 and 'b' items 3, and follows the attention checks' instructions."""
    item = request["messages"][-1]["content"]
    if instructed := re.search(r"Answer (\d) for (\w+)", item):
        value, dimension = int(instructed[1]), instructed[2]
        values = {"adherence": 4, "quality": 4, dimension: value}
    else:
        score = 6 if "a answer" in item else 3
        values = {"adherence": score, "quality": score}
    return Reply(content=json.dumps({"reason": "read it", **values}))


def test_a_pilot_rates_every_planned_item_as_llm_raters(store, make_llm, scripted):
    scripted.respond = scripted_rater
    study = build_study(store, n_items=6)
    seen = []
    result = run_pilot(store, make_llm(), study, raters=3, seed=1, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (3, 3)
    # 4 regular items and 2 attention checks each
    assert result.ratings == 3 * 6
    kinds = store.cursor().execute(
        "SELECT DISTINCT kind, platform, status FROM raters WHERE study_id = ?", [study.id]).fetchall()
    assert kinds == [("llm", "llm", "completed")]
    personas = [json.loads(p) for (p,) in store.cursor().execute(
        "SELECT persona FROM raters ORDER BY id").fetchall()]
    assert sorted(p["name"] for p in personas) == sorted(p["name"] for p in PERSONAS[:3])
    assert store.cursor().execute("SELECT count(*) FROM rater_flags").fetchone()[0] == 0  # checks followed

    m = monitor(store, study.id)
    assert m.raters["llm"].completed == 3 and m.raters["human"].started == 0
    per_item = store.cursor().execute(
        "SELECT max(n) FROM (SELECT item_id, count(DISTINCT rater_id) AS n FROM ratings GROUP BY item_id) AS per_item"
    ).fetchone()[0]
    assert per_item <= study.definition.ratings_per_item


def test_running_the_pilot_again_resumes_the_same_raters(store, make_llm, scripted):
    scripted.respond = scripted_rater
    study = build_study(store, n_items=6)
    llm = make_llm()
    first = run_pilot(store, llm, study, raters=2, seed=4)
    again = run_pilot(store, llm, study, raters=2, seed=4)
    assert again.rater_ids == first.rater_ids and again.ratings == 0
