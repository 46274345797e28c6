"""The demo project: seeded from its JSON files with no model call, with judged patterns and a finished
refinement run whose pass rates agree with its verdicts, and every designer page renders on it."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.scripted_server import Reply, ScriptedServer
from vt_core.designer import (
    comparison,
    leaderboard,
    list_patterns,
    list_refine_runs,
    list_scenarios,
    list_transcripts,
    seed_demo,
)
from vt_core.designer.demo import REFINEMENT
from vt_core.designer.patterns import judgements, passes

DESIGNER_PAGES = ("overview", "projects", "setup", "selfplay", "review", "patterns", "refine", "playground", "calls")


def checks(store, transcript_ids, patterns):
    """(passed, checked) over the verdicts of the accepted patterns on these transcripts, counted here
    from the stored rows."""
    kinds = {p.id: p.kind for p in patterns}
    rows = store.cursor().execute(
        "SELECT pattern_id, verdict FROM judgements WHERE transcript_id = ANY(CAST(? AS BIGINT[]))",
        [transcript_ids]).fetchall()
    outcomes = [passes(kinds[p], v) for p, v in rows if p in kinds]
    outcomes = [o for o in outcomes if o is not None]
    return sum(outcomes), len(outcomes)


@pytest.mark.both_backends
def test_the_demo_has_a_finished_refinement_whose_pass_rates_agree_with_its_verdicts(store):
    project = seed_demo(store)
    assert seed_demo(store).id == project.id  # a second seed leaves it as it is
    accepted = list_patterns(store, project.id, status="accepted")
    designer = [t for t in list_transcripts(store, project.id) if t.run_id == 1]
    for pattern in list_patterns(store, project.id):  # every pattern judged on every designer transcript
        assert {j.transcript_id for j in judgements(store, pattern.id)} == {t.id for t in designer}
        assert all(j.reason for j in judgements(store, pattern.id))

    [run] = list_refine_runs(store, project.id)
    assert (run.status, run.parent_version_id) == ("done", project.current_version_id)
    board = leaderboard(store, run.id)
    assert [c.status for c in board].count("baseline") == 1 and len(board) == 3
    split = {s.id: s.split for s in list_scenarios(store, project.id)}
    played = {c.id: [t for t in list_transcripts(store, project.id)
                     if (t.candidate_id == c.id if c.status != "baseline" else
                         t.candidate_id is None and t not in designer)] for c in board}
    baseline = next(c for c in board if c.status == "baseline")
    plan = sorted((t.scenario_id, t.persona_id, t.seed) for t in played[baseline.id])
    for candidate in board:
        assert sorted((t.scenario_id, t.persona_id, t.seed) for t in played[candidate.id]) == plan
        for which, value in (("train", candidate.train_pass), ("heldout", candidate.heldout_pass)):
            passed, checked = checks(store, [t.id for t in played[candidate.id] if split[t.scenario_id] == which],
                                     accepted)
            assert checked > 0 and value == pytest.approx(passed / checked), (candidate.id, which)
        assert set(candidate.pass_by_pattern) == {str(p.id) for p in accepted}
        assert 1 <= candidate.quality <= 7
    best = board[0]
    assert best.status == "evaluated"
    assert best.train_pass > baseline.train_pass and best.heldout_pass > baseline.heldout_pass
    assert {i for change in best.changes for i in change["pattern_ids"]} == {p.id for p in accepted}
    assert all(change["rationale"] for c in board for change in c.changes)
    # the comparison view pairs every candidate conversation with the baseline's of this run
    pairs = comparison(store, run.id, best.id).pairs
    assert len(pairs) == len(plan) and all(p.baseline is not None for p in pairs)
    assert any(p.changed() for p in pairs)
    # the data file names the verdicts, not the rates: nothing there can drift from them
    assert "train_pass" not in REFINEMENT.read_text() and "pass" not in json.loads(REFINEMENT.read_text())


@pytest.fixture
def demo_app(app_env):
    with ScriptedServer(respond=lambda request: Reply(content="unused")) as server:
        app_env(server.url)
        at = AppTest.from_file("../app.py", default_timeout=30).run()
        at.button(key="ov_demo").click().run()
        assert not at.exception
        yield at, server


def test_every_designer_page_renders_on_the_demo_without_a_model_call(demo_app):
    at, server = demo_app
    assert not [b for b in at.button if b.key == "ov_demo"]  # the demo exists: no button
    for page in DESIGNER_PAGES:
        at.switch_page(f"views/designer/{page}.py").run()
        assert not at.exception, page
    assert server.requests == []


def test_refine_patterns_and_review_show_the_demo_data(demo_app):
    at, _ = demo_app
    at.switch_page("views/designer/refine.py").run()
    board = at.dataframe[0].value
    assert list(board["status"]) == ["evaluated", "evaluated", "baseline"]
    assert list(board["training pass"]) == ["100%", "60%", "40%"]
    assert list(board["held-out pass"]) == ["75%", "50%", "50%"]
    assert any("The designer marked a spoiled twist as bad" in c.value for c in at.caption)
    assert at.button(key="rf_approve") is not None

    at.switch_page("views/designer/patterns.py").run()
    reports = [m.value for m in at.markdown if m.value.startswith("Passes")]
    assert len(reports) == 3 and all("transcripts compared: " in r for r in reports)
    assert "Passes **3** · fails **1**" in reports[1]  # the spoiled twist: 1 of 4 transcripts fails

    at.switch_page("views/designer/review.py").run()
    assert not at.exception
    verdicts = at.dataframe[0].value  # the first transcript: seven films at once
    assert list(verdicts["verdict"]) == ["not_exhibited", "exhibited", "not_exhibited"]
    assert "Its first reply lists seven films." in list(verdicts["reason"])
