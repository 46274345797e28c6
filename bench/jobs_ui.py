"""Pages stay responsive while a job runs: the Self-play page of the real server (`streamlit run app.py`),
rerun back to back over Streamlit's websocket protocol as a browser tab does (bench/streamlit_session.py),
without a job and while a 32-conversation x 4-exchange self-play job, started from that page, runs in the
server's job threads at concurrency 16 against a scripted server in a process of its own (200 ms per
reply): the run and the project of bench/selfplay_throughput.py. Three such jobs, one after the other
with new seeds, and the reruns during all three pooled: one job gives too few for a steady p95.

    python bench/jobs_ui.py            # last line: JSON with page_rerun_p95_s (during, idle), ratio, job_ratio
    python bench/jobs_ui.py --worker   # the jobs in a worker process, the app and it on PostgreSQL

With --worker the app runs no jobs (VT_WORKERS=0) and `python -m vt_core worker` runs them, both on a new
database of the tests' PostgreSQL server (VT_TEST_POSTGRES_URL): the page's process no longer shares its
interpreter lock with the job's threads.

ratio = p95 during / p95 idle (target <= 1.5); job_ratio = the median job's wall time (from its row) /
ideal_s, where ideal_s = ceil(32/16) x 8 x 0.2 s (target <= 1.2, as for self-play without a page).
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.selfplay_throughput import CONCURRENCY, CONVERSATIONS, LATENCY_S, TURNS, bench_project  # noqa: E402
from bench.streamlit_session import Session  # noqa: E402
from tests.browser import streamlit_app  # noqa: E402
from tests.postgres import postgres_database  # noqa: E402
from tests.scripted_server import scripted_process  # noqa: E402
from vt_core.core.jobs import list_jobs  # noqa: E402
from vt_core.core.store import Store  # noqa: E402

SELFPLAY_PAGE = "designer_selfplay"
IDLE_RERUNS = 100
JOBS = 3


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20, method="inclusive")[-1] if len(times) > 1 else times[0]


@contextmanager
def worker_process(env: dict[str, str], folder: Path):
    """`python -m vt_core worker` with no model or store settings but `env`; stopped afterwards."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "VT_"))}
    with open(folder / "worker.log", "w") as log:
        worker = subprocess.Popen([sys.executable, "-m", "vt_core", "worker"], cwd=ROOT,
                                  env={**environment, **env}, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield worker
        finally:
            worker.terminate()
            worker.wait(timeout=30)


def measure(llm_url: str, folder: Path, in_worker: bool = False) -> dict:
    jobs: list = []
    env = {"OPENAI_BASE_URL": llm_url, "VT_MODEL": "scripted-model", "VT_CONCURRENCY": str(CONCURRENCY)}
    with ExitStack() as stack:
        where = stack.enter_context(postgres_database()) if in_worker else str(folder / "vt.duckdb")
        store = Store(where)
        bench_project(store)
        store.close()

        def read_jobs() -> None:  # once the app has stopped (DuckDB lets one process open the file)
            store = Store(where)
            jobs.extend(list_jobs(store))
            store.close()

        stack.callback(read_jobs)
        if in_worker:
            env |= {"VT_DATABASE_URL": where, "VT_WORKERS": "0"}
            stack.enter_context(worker_process(env, folder))
        url = stack.enter_context(streamlit_app(folder, env))
        tab = Session(url, page=SELFPLAY_PAGE)
        tab.run()  # the first run imports and caches what every later one uses
        idle = [tab.run() for _ in range(IDLE_RERUNS)]
        tab.set("sp_n", CONVERSATIONS)
        tab.set("sp_turns", TURNS)
        during = []
        for seed in range(JOBS):  # a new seed each time: new conversations, none answered from the cache
            tab.set("sp_seed", seed)
            tab.run()
            tab.run(click="sp_run")
            while "Cancel" in tab.texts:  # the job panel's button: shown while the job runs
                during.append(tab.run())
        tab.close()
    if [job.status for job in jobs] != ["done"] * JOBS:
        raise RuntimeError(f"the jobs ended {[(job.status, job.error) for job in jobs]}")
    ideal_s = math.ceil(CONVERSATIONS / CONCURRENCY) * 2 * TURNS * LATENCY_S
    job_ratios = sorted((job.finished_at - job.started_at).total_seconds() / ideal_s for job in jobs)
    idle_p95, during_p95 = p95(idle), p95(during)
    return {
        "jobs_in": "a worker process, on PostgreSQL" if in_worker else "the app's process, on DuckDB",
        "conversations": CONVERSATIONS, "turns": TURNS, "concurrency": CONCURRENCY, "latency_s": LATENCY_S,
        "jobs": JOBS, "page_reruns_idle": len(idle), "page_reruns_during": len(during),
        "page_rerun_median_idle_s": round(statistics.median(idle), 3),
        "page_rerun_median_during_s": round(statistics.median(during), 3),
        "page_rerun_p95_idle_s": round(idle_p95, 3), "page_rerun_p95_during_s": round(during_p95, 3),
        "ratio": round(during_p95 / idle_p95, 3), "ratio_target": "<= 1.5",
        "ideal_s": round(ideal_s, 3), "job_ratios": [round(r, 3) for r in job_ratios],
        "job_ratio": round(statistics.median(job_ratios), 3), "job_ratio_target": "<= 1.2",
        "transcripts": sum(len(job.result["transcript_ids"]) for job in jobs),
        "load_1min": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", action="store_true", help="run the jobs in a worker process, on PostgreSQL")
    args = parser.parse_args()
    with scripted_process(LATENCY_S) as url, tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(measure(url, Path(tmp), args.worker)))


if __name__ == "__main__":
    main()
