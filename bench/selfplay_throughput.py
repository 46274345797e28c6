"""Self-play throughput: 32 conversations x 4 exchanges at concurrency 16.

A scripted OpenAI-compatible server, in a process of its own on loopback, answers every request
(the simulated user's and the bot's) after 200 ms and never sends the end signal, so every
conversation is 8 sequential calls and the ideal is ceil(32/16) x 8 x 0.2 s. The identical run
is then repeated from the first run's plan; the LLM cache should answer all of it.

    python bench/selfplay_throughput.py   # last line: JSON with wall_s, ideal_s, ratio, ...
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
from vt_core.core.llm import LLM  # noqa: E402
from vt_core.core.store import Store  # noqa: E402
from vt_core.designer import (  # noqa: E402
    Project,
    add_scenario,
    create_project,
    generate_personas,
    plan_for_project,
    replan,
    run_conversations,
)

LATENCY_S = 0.2
CONVERSATIONS = 32
TURNS = 4
CONCURRENCY = 16


def bench_project(store: Store) -> Project:
    """The project every self-play benchmark plays: 8 personas, 8 scenarios."""
    project = create_project(store, "bench", goal="answer questions", audience="anyone",
                             prompt="You are a helpful assistant.")
    generate_personas(store, project.id, 8, seed=0)
    for i in range(8):
        add_scenario(store, project.id, title=f"s{i}", description=f"situation {i}", user_goal=f"goal {i}",
                     difficulty=1 + i % 3)
    return project


def measure(url: str, db_path: str) -> dict:
    settings = Settings.from_env({"VT_DB_PATH": db_path, "OPENAI_BASE_URL": url,
                                  "VT_MODEL": "scripted-model", "VT_CONCURRENCY": str(CONCURRENCY)})
    store = Store(settings.db_path)
    llm = LLM.from_settings(settings, store)
    project = bench_project(store)
    plan = plan_for_project(store, project.id, CONVERSATIONS, seed=0)
    # One call first, outside the timing: the openai package builds its types on first use.
    llm.chat([{"role": "user", "content": "warm-up"}], max_tokens=8)
    warmup_calls = request_count(url)

    started = time.perf_counter()
    first = run_conversations(store, llm, project.id, plan, max_turns=TURNS, seed=0,
                              version_id=project.current_version_id)
    wall_s = time.perf_counter() - started
    calls = request_count(url) - warmup_calls

    started = time.perf_counter()
    run_conversations(store, llm, project.id, replan(store, first.run_id), max_turns=TURNS, seed=0,
                      version_id=project.current_version_id)
    repeat_wall_s = time.perf_counter() - started
    repeat_calls = request_count(url) - warmup_calls - calls

    ideal_s = math.ceil(CONVERSATIONS / CONCURRENCY) * 2 * TURNS * LATENCY_S
    return {
        "conversations": CONVERSATIONS,
        "turns": TURNS,
        "concurrency": CONCURRENCY,
        "latency_s": LATENCY_S,
        "warmup_calls": warmup_calls,
        "endpoint_calls": calls,
        "wall_s": round(wall_s, 3),
        "ideal_s": round(ideal_s, 3),
        "ratio": round(wall_s / ideal_s, 3),
        "ratio_target": "<= 1.2",
        "repeat_endpoint_calls": repeat_calls,
        "repeat_endpoint_calls_target": 0,
        "repeat_wall_s": round(repeat_wall_s, 3),
    }


def main() -> None:
    with scripted_process(LATENCY_S) as url, tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(measure(url, f"{tmp}/bench.duckdb")))


if __name__ == "__main__":
    main()
