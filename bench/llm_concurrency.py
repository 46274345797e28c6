"""Batch throughput and cache effectiveness of vt_core's LLM client.

A scripted OpenAI-compatible server, in a process of its own on loopback, answers every
request after 200 ms. 64 distinct requests at concurrency 16 should take about
ceil(64/16) x 0.2 s; the same 64 again should be answered from the cache without touching
the endpoint (the server's own request count says so).

    python bench/llm_concurrency.py      # last line: JSON with wall_s, ideal_s, ratio, ...
"""

import json
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.scripted_server import request_count, scripted_process  # noqa: E402
from vt_core.core.config import Settings  # noqa: E402
from vt_core.core.llm import LLM, ChatRequest  # noqa: E402
from vt_core.core.store import Store  # noqa: E402

LATENCY_S = 0.2
REQUESTS = 64
CONCURRENCY = 16


def measure(url: str, db_path: str) -> dict:
    settings = Settings.from_env({"VT_DB_PATH": db_path, "OPENAI_BASE_URL": url,
                                  "VT_MODEL": "scripted-model", "VT_CONCURRENCY": str(CONCURRENCY)})
    llm = LLM.from_settings(settings, Store(settings.db_path))
    requests = [ChatRequest([{"role": "user", "content": f"request {i}"}], max_tokens=16)
                for i in range(REQUESTS)]
    # One call first, outside the timing: the openai package builds its response types and
    # imports its modules lazily on first use, a one-off cost of a new process, not of batching.
    llm.chat([{"role": "user", "content": "warm-up"}], max_tokens=16)
    warmup_calls = request_count(url)

    started = time.perf_counter()
    llm.batch(requests)
    wall_s = time.perf_counter() - started
    first_calls = request_count(url) - warmup_calls

    started = time.perf_counter()
    llm.batch(requests)
    repeat_wall_s = time.perf_counter() - started
    repeat_calls = request_count(url) - first_calls - warmup_calls

    ideal_s = math.ceil(REQUESTS / CONCURRENCY) * LATENCY_S
    return {
        "requests": REQUESTS,
        "concurrency": CONCURRENCY,
        "latency_s": LATENCY_S,
        "warmup_calls": warmup_calls,
        "endpoint_calls": first_calls,
        "wall_s": round(wall_s, 3),
        "ideal_s": round(ideal_s, 3),
        "ratio": round(wall_s / ideal_s, 3),
        "ratio_target": "<= 1.15",
        "repeat_endpoint_calls": repeat_calls,
        "repeat_endpoint_calls_target": 0,
        "repeat_wall_s": round(repeat_wall_s, 3),
    }


def main() -> None:
    with scripted_process(LATENCY_S) as url, tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(measure(url, f"{tmp}/bench.duckdb")))


if __name__ == "__main__":
    main()
