"""The crowd workflow's long work as jobs (vt_core.core.jobs): self-play items for a study, and the
pilot with simulated raters."""

from __future__ import annotations

from collections.abc import Mapping

from vt_core.core.jobs import Handler, Job, JobContext, submit
from vt_core.core.store import Store
from vt_core.crowd.items import add_items_from_selfplay
from vt_core.crowd.pilot import run_pilot
from vt_core.crowd.studies import Study, get_study


def submit_study_items(store: Store, study: Study, *, n: int, max_turns: int, seed: int) -> Job:
    """Queue self-play items: `n` conversations under every condition's prompt version."""
    return submit(store, "study_items", {"study_id": study.id, "n": n, "max_turns": max_turns, "seed": seed},
                  title=f"Self-play items: {n} conversations per condition", study_id=study.id)


def _study_items(job: JobContext) -> dict:
    p = job.params
    items = add_items_from_selfplay(job.store, job.llm, get_study(job.store, p["study_id"]), n=p["n"],
                                    max_turns=p["max_turns"], seed=p["seed"], progress=job.stage("conversations"))
    return {"items": len(items)}


def submit_pilot(store: Store, study: Study, *, raters: int, seed: int) -> Job:
    """Queue a pilot: `raters` simulated raters through the whole rater flow."""
    return submit(store, "pilot", {"study_id": study.id, "raters": raters, "seed": seed},
                  title=f"Pilot: {raters} simulated raters", study_id=study.id)


def _pilot(job: JobContext) -> dict:
    p = job.params
    result = run_pilot(job.store, job.llm, get_study(job.store, p["study_id"]), raters=p["raters"], seed=p["seed"],
                       progress=job.stage("raters"))
    return {"rater_ids": list(result.rater_ids), "ratings": result.ratings}


JOBS: Mapping[str, Handler] = {"study_items": _study_items, "pilot": _pilot}
