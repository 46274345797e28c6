"""Pages stay responsive while a job runs: the Self-play page rerun (AppTest, through app.py) while a
32-conversation x 4-exchange self-play job runs in the app's own job threads at concurrency 16 against
a scripted server in a process of its own (200 ms per reply), and without a job: the run and the project
of bench/selfplay_throughput.py.

    python bench/jobs_ui.py   # last line: JSON with page_rerun_p95_s (during, idle), ratio, job_ratio

ratio = p95 during / p95 idle (target <= 1.5); job_ratio = the job's wall time / ideal_s, where
ideal_s = ceil(32/16) x 8 x 0.2 s (target <= 1.2, as for self-play without a page).
"""

import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.selfplay_throughput import CONCURRENCY, CONVERSATIONS, LATENCY_S, TURNS, bench_project  # noqa: E402
from tests.scripted_server import scripted_process  # noqa: E402
from vt_core.core.jobs import get_job  # noqa: E402
from vt_core.core.store import Store  # noqa: E402

SELFPLAY_PAGE = "views/designer/selfplay.py"
IDLE_RERUNS = 15


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20, method="inclusive")[-1] if len(times) > 1 else times[0]


def timed(page) -> float:
    started = time.perf_counter()
    page.run()
    if page.exception:
        raise RuntimeError(f"the Self-play page failed: {page.exception}")
    return time.perf_counter() - started


def measure(url: str, db_path: str) -> dict:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    store = Store(db_path)
    bench_project(store)
    store.close()
    os.environ.update({"VT_DB_PATH": db_path, "OPENAI_BASE_URL": url, "VT_MODEL": "scripted-model",
                       "VT_CONCURRENCY": str(CONCURRENCY)})
    st.cache_resource.clear()
    page = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
    page.switch_page(SELFPLAY_PAGE)
    timed(page)  # the first run imports and caches what every later one uses
    idle = [timed(page) for _ in range(IDLE_RERUNS)]

    page.number_input(key="sp_n").set_value(CONVERSATIONS)
    page.number_input(key="sp_turns").set_value(TURNS)
    timed(page)
    page.button(key="sp_run").click()
    timed(page)
    from views.shared.services import services  # the app's store, in this process

    app_store = services().store
    [job_id] = [j for (j,) in app_store.cursor().execute("SELECT id FROM jobs").fetchall()]
    during = []
    while get_job(app_store, job_id).active:
        during.append(timed(page))
    job = get_job(app_store, job_id)
    if job.status != "done":
        raise RuntimeError(f"the job ended {job.status}: {job.error}")
    wall_s = (job.finished_at - job.started_at).total_seconds()
    ideal_s = math.ceil(CONVERSATIONS / CONCURRENCY) * 2 * TURNS * LATENCY_S
    idle_p95, during_p95 = p95(idle), p95(during)
    return {
        "conversations": CONVERSATIONS, "turns": TURNS, "concurrency": CONCURRENCY, "latency_s": LATENCY_S,
        "page_reruns_idle": len(idle), "page_reruns_during": len(during),
        "page_rerun_p95_idle_s": round(idle_p95, 3), "page_rerun_p95_during_s": round(during_p95, 3),
        "ratio": round(during_p95 / idle_p95, 3), "ratio_target": "<= 1.5",
        "job_wall_s": round(wall_s, 3), "ideal_s": round(ideal_s, 3), "job_ratio": round(wall_s / ideal_s, 3),
        "job_ratio_target": "<= 1.2", "transcripts": len(job.result["transcript_ids"]),
        "load_1min": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    with scripted_process(LATENCY_S) as url, tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(measure(url, f"{tmp}/bench.duckdb")))


if __name__ == "__main__":
    main()
