"""The loop benchmark: its figures on hand-made data, the oracle designer's marks, the loop on the honest
scripted worlds (it finds the faults the marks show and only those, refinement lowers their held-out
rate, and without marks nothing is found and nothing improves), the stored runs and the Overview's
section, the CLI and the bench script end to end, and one world on the embedded model (structure only)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scipy.stats import binomtest
from streamlit.testing.v1 import AppTest

from tests.conftest import app_store
from tests.scripted_server import ScriptedServer
from tests.scripted_worlds import FAULTS, FaultWorld
from vt_core.benchmark import (
    RECALL_KAPPA,
    WORLDS,
    LoopSettings,
    bootstrap_difference,
    fault_figures,
    fault_rate,
    figures_text,
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
from vt_core.core.store import Store
from vt_core.designer import (
    CleanupError,
    Turn,
    blockers,
    create_project,
    current_annotations,
    delete,
    get_transcript,
    list_patterns,
    list_projects,
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
    assert test.p == pytest.approx(2 * sum(math.comb(12, k) for k in range(0, 4)) / 2 ** 12)
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
               "checkers": {"a": {}, "b": {}}, "found": ["a"]},
        "w2": {"heldout": [{"draft": ["c"], "tuned": ["c"]}, {"draft": ["c"], "tuned": []}],
               "checkers": {"c": {}}, "found": ["c"]},
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


# -- the loop on the honest scripted worlds -----------------------------------------------------


def shown_in_training(store, run) -> set[str]:
    """The faults the checkers find in the loop's training conversations (the marks show these)."""
    world = load_world(run.world)
    project_transcripts = [get_transcript(store, a.transcript_id) for a in current_annotations(store, run.project_id)
                           if a.turn_idx is None]
    return {c.name for c in world.checkers for t in project_transcripts if c.fires(t.turns)}


@pytest.mark.parametrize("world_name", WORLDS)
def test_the_loop_finds_the_faults_the_marks_show_and_lowers_their_held_out_rate(store, make_llm, scripted,
                                                                                  world_name):
    world = load_world(world_name)
    scripted.respond = FaultWorld(world)
    run = run_loop(store, make_llm(), world, TINY)
    f = run.figures
    assert run.status == "done" and f["conversations"] == {"train": 8, "heldout": 8}

    shown = shown_in_training(store, run)
    assert shown and shown != {c.name for c in world.checkers}  # some faults only arise on held-out scenarios
    assert set(f["shown"]) == shown
    assert set(f["found"]) == shown  # every fault the marks show, and no other
    assert f["recall"] == pytest.approx(len(shown) / len(world.checkers)) and f["recall_of_shown"] == 1.0
    assert f["marks"]["bad_turns"] > 0 and f["marks"]["missed"] == f["marks"]["wrong"] == 0
    # The accepted patterns name exactly those faults (the scripted proposer words each fault its own way).
    accepted = list_patterns(store, run.project_id, status="accepted")
    assert sorted(p.statement for p in accepted) == sorted(FAULTS[name].statement for name in shown)
    assert {c["pattern"] for c in f["checkers"].values() if c["found"]} <= {p.name for p in accepted}

    for name, checker in f["checkers"].items():
        if name in shown:  # refinement learned a rule the bot heeds: the fault is gone on held-out scenarios
            assert checker["draft"] > 0 and checker["tuned"] < checker["draft"], name
            assert checker["agreement"] == 1.0
        else:  # nothing taught the bot this one
            assert checker["tuned"] == checker["draft"], name
            assert not checker["found"]
    # A fix learnt in training helps on held-out scenarios, but less than a fix of every fault would:
    # the plain held-out scenario is clean now, those with a fault of their own are not.
    assert 0 < f["tuned_fault_rate"] < f["draft_fault_rate"]
    assert [v.author for v in versions(store, run.project_id)] == ["designer", "refinement"]
    assert f["refinement"]["approved_version"] == 2
    assert f["quality"]["tuned"] > f["quality"]["draft"]  # shorter, tidier replies rate higher in FaultWorld
    assert f["usage"]["calls"] > 0 and f["usage"]["tokens_in"] > 0 and f["wall_s"] > 0
    # The held-out conversations were paired: the same personas, scenarios and seeds under both prompts.
    assert len(f["heldout"]) == 8 and len({(c["scenario"], c["seed"]) for c in f["heldout"]}) == 8


@pytest.mark.both_backends
def test_without_marks_nothing_is_found_and_nothing_improves(store, make_llm, scripted):
    world = load_world("movie_night")
    scripted.respond = fault_world = FaultWorld(world)
    run = run_loop(store, make_llm(), world, LoopSettings(seed=0, marks=False, turns=2))
    f = run.figures
    assert run.status == "done"
    assert current_annotations(store, run.project_id) == []
    assert list_patterns(store, run.project_id) == []  # the loop "found" nothing
    assert fault_world.calls["proposer"] == fault_world.calls["writer"] == 0
    assert f["found"] == [] and f["recall"] == 0.0 and f["patterns"] == {"proposed": 0, "accepted": []}
    assert f["refinement"] is None and len(versions(store, run.project_id)) == 1
    assert f["draft_fault_rate"] > 0
    assert all(c["tuned"] == c["draft"] for c in f["checkers"].values())
    assert all(c["draft"] == c["tuned"] for c in f["heldout"])
    assert f["test"]["fixed"] == f["test"]["broken"] == 0 and f["difference"] == 0
    assert "no marks: nothing to propose patterns from" in f["notes"]

    # Stored like any run, beside the project it made.
    assert [r.id for r in list_loop_runs(store, project_id=run.project_id)] == [run.id]
    stored_run = get_loop_run(store, run.id)
    assert (stored_run.world, stored_run.status, stored_run.model, stored_run.demo) == (
        "movie_night", "done", "scripted-model", False)
    assert stored_run.settings["marks"] is False and stored_run.figures == f
    assert stored_run.finished_at >= stored_run.created_at
    assert [p.name for p in list_projects(store)] == ["bench: movie_night (seed 0)"]


def test_a_second_run_gets_a_project_of_its_own_and_noise_is_reported(store, make_llm, scripted):
    world = load_world("support")
    scripted.respond = FaultWorld(world)
    first = run_loop(store, make_llm(), world, LoopSettings(seed=1, marks=False, turns=1))
    noisy = run_loop(store, make_llm(), world, LoopSettings(seed=1, noise=0.4, turns=1, train=10, heldout=3))
    assert [p.name for p in list_projects(store)] == ["bench: support (seed 1)", "bench: support (seed 1) #2"]
    assert noisy.project_id != first.project_id
    marks = noisy.figures["marks"]
    assert marks["missed"] + marks["wrong"] > 0 and marks["bad_turns"] + marks["good_turns"] == 10


def test_a_running_loops_project_is_not_deleted_and_its_figures_outlive_the_project(store, make_llm, scripted):
    world = load_world("support")
    scripted.respond = FaultWorld(world)
    seen = []

    def progress(stage, done, total):  # while the loop runs, its project exists and is in use
        if stage == "marks":
            project_id = list_loop_runs(store)[0].project_id
            seen.extend(blockers(store, "project", project_id))
            with pytest.raises(CleanupError, match="still running"):
                delete(store, "project", project_id)

    run = run_loop(store, make_llm(), world, LoopSettings(seed=2, turns=1, train=2, heldout=2), progress=progress)
    assert seen == [f"project 'bench: support (seed 2)' is played by loop benchmark run {run.id} on world "
                    "'support', still running"]
    assert blockers(store, "project", run.project_id) == []
    delete(store, "project", run.project_id)
    assert list_projects(store) == [] and list_loop_runs(store, project_id=run.project_id) == []
    kept = get_loop_run(store, run.id)  # the measurement stays, without the link to a project that is gone
    assert (kept.project_id, kept.status, kept.figures) == (None, "done", run.figures)


def test_a_failed_loop_is_stored_as_failed(store, make_llm, scripted):
    from tests.scripted_server import Reply

    scripted.respond = lambda request: Reply(status=400)
    world = load_world("movie_night")
    with pytest.raises(Exception):
        run_loop(store, make_llm({"VT_LLM_ATTEMPTS": "1"}), world, TINY)
    [run] = list_loop_runs(store)
    assert run.status == "failed" and run.error and run.figures is None


def test_the_loop_is_a_job_kind_of_the_worker():
    from vt_core.worker import HANDLERS

    assert "bench_loop" in HANDLERS


# -- the Overview's section, the CLI and the bench script -----------------------------------------


def test_the_overview_lists_the_projects_loop_runs(app_env):
    world = load_world("movie_night")
    with ScriptedServer(respond=FaultWorld(world)) as server:
        app_env(server.url)
        at = AppTest.from_file("../app.py", default_timeout=30).run()
        store = app_store()
        from vt_core.core.config import Settings
        from vt_core.core.llm import LLM

        llm = LLM.from_settings(Settings.from_env({"OPENAI_BASE_URL": server.url, "VT_DB_PATH": str(store.path)}),
                                store)
        run = run_loop(store, llm, world, TINY)
        at.switch_page("views/designer/overview.py").run()
    assert not at.exception
    assert "Loop benchmark" in [s.value for s in at.subheader]
    [table] = [d.value for d in at.dataframe if "world" in d.value.columns]
    row = table.iloc[0]
    assert (row["run"], row["world"], row["status"], row["demo model"]) == (run.id, "movie_night", "done", "no")
    assert row["draft fault rate"] == f"{run.figures['draft_fault_rate']:.0%}"
    assert row["recall"] == f"{run.figures['recall']:.0%}"
    assert not [w for w in at.warning if "demo model" in w.value]


def command(args: list[str], url: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "VT_"))}
    env.update({"VT_DB_PATH": str(tmp_path / "vt.duckdb"), "OPENAI_BASE_URL": url})
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_bench_loop_from_the_command_line(tmp_path):
    world = load_world("support")
    with ScriptedServer(respond=FaultWorld(world)) as server:
        as_json = command(["-m", "vt_core", "bench-loop", "--world", "support", "--turns", "2", "--json"],
                          server.url, tmp_path)
        assert as_json.returncode == 0, as_json.stderr
        table = command(["-m", "vt_core", "bench-loop", "--world", "support", "--turns", "2", "--no-marks",
                         "--seed", "4"], server.url, tmp_path)
        assert table.returncode == 0, table.stderr
        unknown = command(["-m", "vt_core", "bench-loop", "--world", "nowhere"], server.url, tmp_path)
    figures = json.loads(as_json.stdout)
    assert figures["world"] == "support" and figures["model"] == "scripted-model"
    assert set(figures["found"]) == {"long_reply", "too_many_steps", "jargon"}
    assert "marks" in as_json.stderr and "held-out self-play under the tuned prompt" in as_json.stderr  # stages
    lines = table.stdout.splitlines()
    assert lines[0] == "Loop benchmark: world support, seed 4, project 'bench: support (seed 4)'"
    assert any(line.startswith("any fault (the primary figure)") for line in lines)
    assert "Recall: 0 of 6 planted faults found (0%)" in table.stdout
    assert "Note: no marks: nothing to propose patterns from" in table.stdout
    assert unknown.returncode == 1 and "no world 'nowhere'" in unknown.stderr
    store = Store(tmp_path / "vt.duckdb")
    assert [(r.world, r.seed, r.settings["marks"]) for r in list_loop_runs(store)] == [
        ("support", 4, False), ("support", 0, True)]


class EveryWorld:
    """FaultWorld for each world, one after the other as the bench script plays them: a simulated user's
    prompt names the bot's goal, and so the world whose loop is running."""

    def __init__(self):
        self.worlds = {load_world(name).goal: FaultWorld(load_world(name)) for name in WORLDS}
        self.current = None

    def __call__(self, request):
        first = request["messages"][0]["content"]
        if "role-playing a USER" in first:
            self.current = next(w for goal, w in self.worlds.items() if goal in first)
        return self.current(request)


SITUATIONAL = {"movie_night": "too_many_films", "support": "too_many_steps"}


def test_the_bench_script_measures_every_world(tmp_path):
    with ScriptedServer(respond=EveryWorld()) as server:
        result = command(["bench/loop_quality.py", "--turns", "2"], server.url, tmp_path)
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(last["worlds"]) == set(WORLDS) and last["model"] == "scripted-model" and last["demo"] is False
    for name, figures in last["worlds"].items():
        assert figures["tuned_fault_rate"] <= figures["draft_fault_rate"]
        assert 0 < figures["recall"] < 1  # the held-out-only faults are not found
        assert all(f["tuned"] < f["draft"] for f in figures["by_checker"].values() if f["found"])
        assert set(figures["kappa"]) == {c.name for c in load_world(name).checkers}
        # A fault that some training conversations show and others do not gives kappa a value: the judge
        # agrees with its checker on every one. (One shown everywhere leaves kappa undefined.)
        assert figures["kappa"][SITUATIONAL[name]] == pytest.approx(1.0)
    assert last["overall"]["worlds"] == sorted(WORLDS)
    assert "Loop benchmark: world movie_night" in result.stderr  # each world's table on the way
    assert not (tmp_path / "vt.duckdb").exists()  # a fresh database of its own


# -- the embedded model -------------------------------------------------------------------------


@pytest.mark.embedded
def test_one_world_end_to_end_on_the_embedded_model(tmp_path):
    from vt_core.core.config import Settings
    from vt_core.core.llm import LLM

    store = Store(tmp_path / "vt.duckdb")
    llm = LLM.from_settings(Settings.from_env({"VT_DB_PATH": str(tmp_path / "vt.duckdb")}), store)
    assert llm.backend.demo
    run = run_loop(store, llm, load_world("movie_night"), LoopSettings(k=1, rounds=1, train=2, heldout=1, turns=1))
    f = run.figures
    assert run.status == "done" and run.demo and f["demo"]
    assert f["conversations"] == {"train": 2, "heldout": 1}
    for share in (f["draft_fault_rate"], f["tuned_fault_rate"], f["recall"]):
        assert 0.0 <= share <= 1.0
    assert set(f["checkers"]) == {c.name for c in load_world("movie_night").checkers}
    assert all(q is None or 1.0 <= q <= 7.0 for q in f["quality"].values())
    assert f["usage"]["calls"] > 0
    assert "The small demo model played every part" in figures_text(f)
