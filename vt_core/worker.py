"""The platform's background work: every workflow's job kinds, and a worker that runs them.

The app runs a `Runner` of these in its own process. `python -m vt_core worker` runs one on its own,
from the same database: beside the app on a database several processes share, or alone on the
embedded DuckDB file (which one process opens at a time), e.g. to finish what the CLI queued.
"""

from __future__ import annotations

import signal
import threading

from vt_core.benchmark import JOBS as BENCHMARK_JOBS
from vt_core.core.jobs import Handler, Runner, count_jobs
from vt_core.core.llm import LLM
from vt_core.core.store import Store
from vt_core.critic import JOBS as CRITIC_JOBS
from vt_core.crowd import JOBS as CROWD_JOBS
from vt_core.designer import JOBS as DESIGNER_JOBS

HANDLERS: dict[str, Handler] = {**DESIGNER_JOBS, **CROWD_JOBS, **CRITIC_JOBS, **BENCHMARK_JOBS}

IDLE_POLL_S = 0.5


def work(store: Store, llm: LLM, *, workers: int, until_idle: bool = False) -> None:
    """Run queued jobs with `workers` threads until SIGINT or SIGTERM (or, with `until_idle`, until no
    job is queued or running). The first signal stops taking jobs and waits for those running to end;
    a second one ends the process at once, and its jobs are found interrupted and can be resumed."""
    runner = Runner(store, llm, HANDLERS, workers=workers).start()
    stop = threading.Event()

    def on_signal(signum, _frame) -> None:
        if stop.is_set():
            raise SystemExit(128 + signum)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(IDLE_POLL_S):
            if until_idle and count_jobs(store)[1] == 0:
                break
        runner.stop(wait=True)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
