"""The loop benchmark: its figures on hand-made data, the oracle designer's marks, the loop on the honest
scripted worlds (it finds the faults the marks show and only those, refinement lowers their held-out
rate, and without marks nothing is found and nothing improves), the stored runs and the Overview's
section, the CLI and the bench script end to end, and one world on the embedded model (structure only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scipy.stats import binomtest
from streamlit.testing.v1 import AppTest

from tests.conftest import app_store
from tests.scripted_server import ScriptedServer
# FaultWorld: from tests.scripted_worlds, once merged
from vt_core.benchmark import (
    RECALL_KAPPA,
    WORLDS,
    LoopSettings,
    bootstrap_difference,
    fault_figures,
    fault_rate,
    get_loop_run,
    kappa,
    list_loop_runs,
    load_world,
    mark_transcripts,
    overall_figures,
    paired_test,
    recall_figures,
    run_loop,
)
from vt_core.designer import (
    Turn,
    create_project,
    current_annotations,
    get_transcript,
    list_patterns,
    list_projects,
    plan_for_project,
    run_conversations,
    versions,
)
from vt_core.designer.transcripts import save_transcript

ROOT = Path(__file__).resolve().parent.parent
TINY = LoopSettings(seed=0, k=2, rounds=1, turns=2)  # every scenario twice, two exchanges each


# -- figures on hand-made data ------------------------------------------------------------------


def test_fault_rates_per_checker_and_in_total():
    draft = [["a"], ["a", "b"], [], ["b"]]
    tuned = [[], ["b"], [], []]
    assert (fault_rate(draft, "a"), fault_rate(draft, "b"), fault_rate(draft)) == (0.5, 0.5, 0.75)
    assert (fault_rate(tuned, "a"), fault_rate(tuned, "b"), fault_rate(tuned)) == (0.0, 0.25, 0.25)
    assert fault_rate([]) is None
    figures = fault_figures(draft, tuned, ["a", "b"], seed=0)
    assert set(figures) == {"a", "b", "total"}
    assert figures["total"]["draft"] == 0.75 and figures["total"]["tuned"] == 0.25
    assert figures["total"]["difference"] == pytest.approx(-0.5)
    assert figures["a"]["test"] == {"fixed": 2, "broken": 0, "p": 0.5}


def test_the_paired_test_is_exact_mcnemar_as_scipy_computes_it():
    draft = [True] * 9 + [False] * 3 + [True] * 4
    tuned = [False] * 9 + [True] * 3 + [True] * 4  # 9 fixed, 3 broken, 4 faulty under both
    test = paired_test(draft, tuned)
    assert (test.fixed, test.broken) == (9, 3)
    assert test.p == pytest.approx(binomtest(9, 12, 0.5).pvalue)
    assert test.p == pytest.approx(2 * sum(__import__("math").comb(12, k) for k in range(0, 4)) / 2 ** 12)
    assert paired_test([True, False], [True, False]).p == 1.0  # no discordant pair: no evidence either way
    with pytest.raises(ValueError):
        paired_test([True], [True, False])


def test_kappa_matches_a_hand_computation():
    a = [True, True, True, False, False, False, True, False]
    b = [True, True, False, False, False, True, True, False]
    # 3 both True, 3 both False, 1 each way: p_o = 6/8; each rater says True 4 of 8: p_e = 0.5.
    assert kappa(a, b) == pytest.approx((6 / 8 - 0.5) / (1 - 0.5))
    assert kappa(a, a) == pytest.approx(1.0)
    assert kappa([True, False], [False, True]) == pytest.approx(-1.0)
    assert kappa([True, True, True], [True, True, True]) is None  # one category only: undefined
    assert kappa([True], [True]) is None


def test_the_bootstrap_interval_contains_the_difference_and_is_seeded():
    draft = [True] * 14 + [False] * 6
    tuned = [False] * 10 + [True] * 4 + [False] * 6
    difference = sum(tuned) / 20 - sum(draft) / 20
    low, high = bootstrap_difference(draft, tuned, seed=3)
    assert low <= difference <= high and low < high < 0  # ten fixed, none broken: clearly below zero
    assert bootstrap_difference(draft, tuned, seed=3) == (low, high)
    assert bootstrap_difference([], [], seed=0) is None
    same = bootstrap_difference(draft, draft, seed=0)
    assert same == (0.0, 0.0)


def test_recall_needs_agreement_with_the_checker_on_a_shown_fault():
    fires = {"shown": [True, True, False, False, True, False], "hidden": [False] * 6,
             "everywhere": [True] * 6}
    fails = {"P1 matches": [True, True, False, False, True, False],
             "P2 noise": [True, False, True, False, False, True],
             "P3 always": [True] * 6}
    recall = recall_figures(fires, fails)
    assert recall["faults"]["shown"] == {"shown": True, "pattern": "P1 matches", "kappa": pytest.approx(1.0),
                                         "agreement": 1.0, "found": True}
    assert recall["faults"]["hidden"]["found"] is False and recall["faults"]["hidden"]["shown"] is False
    assert recall["faults"]["everywhere"]["found"] is True  # kappa undefined, agreement total
    assert recall["faults"]["everywhere"]["pattern"] == "P3 always"
    assert recall["recall"] == pytest.approx(2 / 3) and recall["recall_of_shown"] == 1.0
    nothing = recall_figures(fires, {})
    assert nothing["recall"] == 0.0 and nothing["found"] == []
    weak = recall_figures({"f": fires["shown"]}, {"P2 noise": fails["P2 noise"]})
    assert weak["faults"]["f"]["kappa"] < RECALL_KAPPA and not weak["faults"]["f"]["found"]


def test_overall_figures_pool_the_worlds():
    worlds = {
        "w1": {"heldout": [{"draft": ["a"], "tuned": []}, {"draft": [], "tuned": []}],
               "recall": {"faults": {"a": {}, "b": {}}, "found": ["a"]}},
        "w2": {"heldout": [{"draft": ["c"], "tuned": ["c"]}, {"draft": ["c"], "tuned": []}],
               "recall": {"faults": {"c": {}}, "found": ["c"]}},
    }
    overall = overall_figures(worlds, seed=0)
    assert overall["conversations"] == 4
    assert (overall["draft_fault_rate"], overall["tuned_fault_rate"]) == (0.75, 0.25)
    assert overall["test"]["fixed"] == 2 and overall["recall"] == pytest.approx(2 / 3)
    assert overall["ci95"][0] <= -0.5 <= overall["ci95"][1]


# -- the oracle designer ------------------------------------------------------------------------


def stored(store, *conversations: list[str]) -> list:
    """Transcripts whose turns alternate user and bot, as self-play stores them."""
    project = create_project(store, f"oracle {len(list_projects(store))}", "recommend films", "fans",
                             "You recommend films.")
    ids = [save_transcript(store, run_id=1, project_id=project.id, version_id=project.current_version_id,
                           persona_id=1, scenario_id=1, seed=i, simulator_model="m", bot_model="m", ended_by="user",
                           turns=[Turn("user" if j % 2 == 0 else "assistant", text) for j, text in enumerate(texts)])
           for i, texts in enumerate(conversations)]
    return [get_transcript(store, i) for i in ids]


FIVE = 'Try "Alien", "Brazil", "Heat", "Ran" or "Jaws".'
ONE = 'What mood are you in?'


@pytest.mark.both_backends
def test_the_oracle_marks_every_bot_turn_through_the_annotations(store):
    world = load_world("movie_night")
    long = " ".join(["word"] * 130) + "?"
    clean, faulty = stored(store, ["Hi, a film?", ONE, "Thrillers.", 'Then "Heat".'],
                           ["Hi, a film?", FIVE, "Hmm.", long])
    marks = mark_transcripts(store, [clean, faulty], world.checkers)
    current = {(a.transcript_id, a.turn_idx): a for a in current_annotations(store)}
    assert {k: a.label for k, a in current.items() if k[0] == clean.id} == {
        (clean.id, None): "good", (clean.id, 1): "good", (clean.id, 3): "good"}
    bad = current[faulty.id, 1]
    assert bad.label == "bad"
    by_name = {c.name: c for c in world.checkers}
    # Several faults on one turn: all their critiques, in the oracle's words, not the rules'.
    for name in ("too_many_films", "recommends_before_asking"):
        assert by_name[name].critique in bad.critique and by_name[name].rule not in bad.critique
    assert current[faulty.id, 3].critique == by_name["long_reply"].critique
    assert current[faulty.id, None].label == "bad"
    assert (faulty.id, 0) not in current and (faulty.id, 2) not in current  # the user's turns are not the bot's
    assert (marks.bad_turns, marks.good_turns, marks.missed, marks.wrong) == (2, 2, 0, 0)
    assert marks.by_checker["too_many_films"] == 1 and marks.by_checker["quotes_price"] == 0


def test_the_oracles_noise_is_seeded_counted_and_both_ways(store):
    world = load_world("movie_night")
    conversations = [["Hi", FIVE if i % 2 else ONE] for i in range(40)]
    transcripts = stored(store, *conversations)
    marks = mark_transcripts(store, transcripts, world.checkers, noise=0.3, seed=5)
    assert marks.missed > 0 and marks.wrong > 0 and marks.missed + marks.wrong < 24  # about 12 of 40
    labels = {a.transcript_id: a.label for a in current_annotations(store) if a.turn_idx == 1}
    flipped = sum((labels[t.id] == "bad") != (i % 2 == 1) for i, t in enumerate(transcripts))
    assert flipped == marks.missed + marks.wrong
    again = stored(store, *conversations)  # the same conversations and seeds: the same flips
    assert mark_transcripts(store, again, world.checkers, noise=0.3, seed=5) == marks
    with pytest.raises(ValueError, match="from 0 to 1"):
        mark_transcripts(store, transcripts, world.checkers, noise=1.5)
