"""The critic case study's long work as jobs (vt_core.core.jobs): a tuning run, a run again with the
kept patterns, and every baseline on a run's split."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pandas as pd

from vt_core.core.jobs import Handler, Job, JobContext, submit
from vt_core.core.store import Store
from vt_core.critic.baselines import Method
from vt_core.critic.data import Split
from vt_core.critic.run import available_methods, result_row, run_methods
from vt_core.critic.tuning import (
    _split_from,
    _split_json,
    load_run,
    retune,
    save_run,
    tune,
)


def submit_tuning(store: Store, split: Split, *, rounds: int, candidates: int, seed: int) -> Job:
    """Queue a tuning run on `split` (kept in the job whole, so an uploaded critic's too)."""
    return submit(store, "critic_tune", {"split": _split_json(split), "rounds": rounds, "candidates": candidates,
                                         "seed": seed},
                  title=f"Critic {split.critic.id}: tuning, {rounds} rounds of {candidates}")


def _tune(job: JobContext) -> dict:
    p = job.params
    run = save_run(job.store, tune(job.llm, _split_from(p["split"]), rounds=p["rounds"], candidates=p["candidates"],
                                   seed=p["seed"], progress=job.progress))
    return {"run_id": run.id}


def submit_retuning(store: Store, run_id: int) -> Job:
    """Queue a run again from run `run_id`, with the patterns the designer kept."""
    return submit(store, "critic_retune", {"run_id": run_id}, title=f"Critic run #{run_id}: again with the kept patterns")


def _retune(job: JobContext) -> dict:
    return {"run_id": retune(job.llm, job.store, job.params["run_id"], progress=job.progress).id}


def submit_baselines(store: Store, run_id: int) -> Job:
    """Queue every baseline on run `run_id`'s split, beside the run's own predictions."""
    return submit(store, "critic_baselines", {"run_id": run_id}, title=f"Critic run #{run_id}: every baseline")


def _baselines(job: JobContext) -> dict:
    run = load_run(job.store, job.params["run_id"])
    baselines = [m.name for m in available_methods(job.llm) if m.name != "tuning"]
    table = run_methods(job.llm, [run.split], methods=baselines, progress=job.progress)
    ours = result_row(Method("tuning", lambda _: list(run.predictions), job.llm), run.split)
    table = pd.concat([table, pd.DataFrame([{**ours, "backend": run.backend, "model": run.model}])],
                      ignore_index=True)
    return {"rows": json.loads(table.to_json(orient="records"))}  # plain JSON types, NaN as null


JOBS: Mapping[str, Handler] = {"critic_tune": _tune, "critic_retune": _retune, "critic_baselines": _baselines}
