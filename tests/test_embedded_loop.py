"""One whole designer loop on the real embedded model (SmolLM2-135M): scenarios, self-play,
pattern proposal and judging, and one refinement round. The model's words mean nothing, so this
checks structure only: every step runs, stores what it should, and its numbers are in range."""

import pytest

from vt_core.core.config import Settings
from vt_core.core.llm import LLM
from vt_core.core.store import Store
from vt_core.designer.annotations import annotate
from vt_core.designer.patterns import evaluate_patterns, propose_patterns, update_pattern
from vt_core.designer.personas import generate_personas
from vt_core.designer.projects import create_project, update_project
from vt_core.designer.refinement import leaderboard, refine
from vt_core.designer.scenarios import list_scenarios, propose_scenarios, save_drafts
from vt_core.designer.selfplay import plan_for_project, run_conversations
from vt_core.designer.transcripts import list_transcripts

pytestmark = pytest.mark.embedded

PROMPT = "# Role\nYou recommend films.\n\n# Rules\n- Ask what the user likes first.\n- Recommend one film at a time.\n"


def test_one_loop_on_the_embedded_model(tmp_path):
    store = Store(tmp_path / "vt.duckdb")
    llm = LLM.from_settings(Settings.from_env({"VT_DB_PATH": str(tmp_path / "vt.duckdb")}), store)
    assert llm.backend.demo
    project = create_project(store, "Films", goal="recommend a film for tonight", audience="anyone", prompt=PROMPT)
    update_project(store, project.id, prompt_token_budget=200)  # keeps the candidate writer short
    generate_personas(store, project.id, 2, seed=0)

    drafts = propose_scenarios(llm, project.goal, PROMPT, 3, seed=0)
    assert 1 <= len(drafts) <= 3
    save_drafts(store, project.id, drafts, heldout_fraction=0.34, seed=0)
    splits = [s.split for s in list_scenarios(store, project.id)]
    if len(drafts) >= 2:
        assert "train" in splits and "heldout" in splits

    run = run_conversations(store, llm, project.id, plan_for_project(store, project.id, 2, seed=0),
                            max_turns=2, seed=0, version_id=project.current_version_id)
    transcripts = list_transcripts(store, project.id, run_id=run.run_id)
    assert len(transcripts) == 2
    for transcript in transcripts:
        roles = [t.role for t in transcript.turns]
        assert roles == ["user", "assistant"] * (len(roles) // 2) + ["user"] * (len(roles) % 2)
        assert transcript.ended_by in ("user", "max_turns")
    marked = next(t for t in transcripts if len(t.turns) >= 2)
    annotate(store, marked.id, turn_idx=1, label="bad", critique="Too long; ask what I like first.")

    proposed = propose_patterns(llm, store, project.id)
    assert proposed and all(p.kind in ("keep", "avoid") and p.statement for p in proposed)
    [report, *_] = evaluate_patterns(llm, store, project.id, [proposed[0].id])
    assert report.passed + report.failed + report.not_applicable == 1
    update_pattern(store, proposed[0].id, status="accepted")

    if "heldout" not in splits:  # the toy model proposed a single scenario: add a held-out one
        from vt_core.designer.scenarios import add_scenario
        add_scenario(store, project.id, title="held out", description="The user wants a comedy.",
                     user_goal="one comedy", difficulty=1, split="heldout")
    result = refine(store, llm, project.id, rounds=1, k=1, n_train=1, n_heldout=1, max_turns=1, seed=0)
    board = leaderboard(store, result.refine_run_id)
    assert {c.status for c in board} <= {"baseline", "evaluated", "rejected"} and len(board) == 2
    for candidate in board:
        for share in (candidate.train_pass, candidate.heldout_pass):
            assert share is None or 0.0 <= share <= 1.0
        if candidate.status != "rejected":
            assert 1.0 <= candidate.quality <= 7.0
    assert result.best.id in {c.id for c in board}
