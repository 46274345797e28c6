"""The loop benchmark as a job (vt_core.core.jobs), so that a page or a worker runs it, and the CLI runs
the same job in the foreground."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict

from vt_core.benchmark.loop import LoopSettings, run_loop
from vt_core.benchmark.world import load_world
from vt_core.core.jobs import Handler, Job, JobContext, submit
from vt_core.core.store import Store


def submit_loop(store: Store, world: str, settings: LoopSettings = LoopSettings(), *, project_id: int | None = None,
                llm_run: str | None = None) -> Job:
    """Queue a loop benchmark run on the world named `world` (checked now, so a typo fails at once)."""
    load_world(world)
    marks = "" if settings.marks else ", no marks"
    return submit(store, "bench_loop", {"world": world, "settings": asdict(settings)},
                  title=f"Loop benchmark: {world} (seed {settings.seed}{marks})", project_id=project_id,
                  llm_run=llm_run)


def _bench_loop(job: JobContext) -> dict:
    run = run_loop(job.store, job.llm, load_world(job.params["world"]), LoopSettings(**job.params["settings"]),
                   progress=job.progress)
    return {"loop_run_id": run.id, "project_id": run.project_id}


JOBS: Mapping[str, Handler] = {"bench_loop": _bench_loop}
