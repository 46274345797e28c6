"""The designer's long work as jobs (vt_core.core.jobs): each kind calls the domain function a page
used to call in its own script thread, with the job's LLM and progress."""

from __future__ import annotations

from collections.abc import Mapping

from vt_core.core.jobs import Handler, Job, JobContext, submit
from vt_core.core.progress import Cancelled
from vt_core.core.store import Store
from vt_core.designer.patterns import evaluate_patterns
from vt_core.designer.projects import get_version
from vt_core.designer.personas import get_persona
from vt_core.designer.scenarios import get_scenario
from vt_core.designer.refinement import refine
from vt_core.designer.selfplay import Conversation, run_conversations


def submit_selfplay(store: Store, project_id: int, version_id: int, plan: list[Conversation], *, max_turns: int,
                    seed: int, llm_run: str | None = None) -> Job:
    """Queue a self-play run of `plan` under prompt version `version_id`."""
    return submit(store, "selfplay", {
        "project_id": project_id, "version_id": version_id, "max_turns": max_turns, "seed": seed,
        "plan": [[c.persona.id, c.scenario.id, c.seed] for c in plan],
    }, title=f"Self-play: {len(plan)} conversations of v{get_version(store, version_id).number}",
        project_id=project_id, llm_run=llm_run)


def submit_judging(store: Store, project_id: int, *, llm_run: str | None = None) -> Job:
    """Queue the judging of the project's candidate and accepted patterns on its annotated transcripts."""
    return submit(store, "judge", {"project_id": project_id}, title="Testing patterns against your labels",
                  project_id=project_id, llm_run=llm_run)


def _judge(job: JobContext) -> dict:
    reports = evaluate_patterns(job.llm, job.store, job.params["project_id"], progress=job.stage("verdicts"))
    return {"pattern_ids": [r.pattern_id for r in reports]}


def submit_refine(store: Store, project_id: int, *, rounds: int, k: int, n_train: int, n_heldout: int,
                  max_turns: int, seed: int, llm_run: str | None = None) -> Job:
    """Queue a refinement of the project's current prompt."""
    return submit(store, "refine", {
        "project_id": project_id, "rounds": rounds, "k": k, "n_train": n_train, "n_heldout": n_heldout,
        "max_turns": max_turns, "seed": seed,
    }, title=f"Refinement: {rounds} rounds of {k} candidates", project_id=project_id, llm_run=llm_run)


def _refine(job: JobContext) -> dict:
    p = job.params
    result = refine(job.store, job.llm, p["project_id"], rounds=p["rounds"], k=p["k"], n_train=p["n_train"],
                    n_heldout=p["n_heldout"], max_turns=p["max_turns"], seed=p["seed"], progress=job.progress)
    return {"refine_run_id": result.refine_run_id, "number": result.number, "best": result.best.id,
            "stopped": result.stopped}


def _selfplay(job: JobContext) -> dict:
    p = job.params
    plan = [Conversation(get_persona(job.store, persona), get_scenario(job.store, scenario), seed)
            for persona, scenario, seed in p["plan"]]
    try:
        result = run_conversations(job.store, job.llm, p["project_id"], plan, max_turns=p["max_turns"],
                                   seed=p["seed"], version_id=p["version_id"], progress=job.stage("conversations"))
    except Cancelled as exc:
        result = exc.kept  # the conversations that had ended
    return {"run_id": result.run_id, "number": result.number, "transcript_ids": result.transcript_ids}


JOBS: Mapping[str, Handler] = {"selfplay": _selfplay, "refine": _refine, "judge": _judge}
