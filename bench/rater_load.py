"""Raters at once on the real server: simulated raters drive app.py's rater page over Streamlit's websocket
protocol (bench/streamlit_session.py), each through a real Prolific study link: consent, instructions and
the comprehension check, every item (attention checks answered as asked) with a think time, and the
completion code. Every click is timed until the server finished its script runs.

    python bench/rater_load.py                     # 10, 30 and 100 raters, think time 10 s
    python bench/rater_load.py --raters 30 --think 2

Afterwards the database is checked: ratings stored vs acknowledged (a rating is acknowledged when the page
moved on to the next item or the code), repeated (rater, item, dimension) rows, items above k. The
server's CPU time per click and its peak memory come from /proc. Last line: one JSON object with `runs`
(one entry per number of raters) and `raters_per_process_at_p95_1s`, the largest number of raters tried
whose click p95 was at most 1 s.
"""

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.streamlit_session import Session  # noqa: E402
from tests.browser import streamlit_app  # noqa: E402
from vt_core.core.store import Store  # noqa: E402
from vt_core.crowd import add_check_items, create_study, import_items_jsonl, list_items, set_study_status  # noqa: E402
from vt_core.crowd.studies import StudyDefinition  # noqa: E402

ITEMS_PER_RATER = 10  # of which CHECKS are attention checks
CHECKS = 2
K = 3
ARRIVAL_S = 10.0
CODE = "LOAD-DONE"


def make_study(store: Store, raters: int) -> tuple[str, dict[int, dict[str, int]]]:
    """An open study with enough items for every rater; its token and the checks' expected answers by item id."""
    study = create_study(store, StudyDefinition.model_validate({
        "name": "load", "conditions": [{"name": "baseline"}, {"name": "tuned"}],
        "instructions": ["Answer in one sentence."],
        "items_per_rater": ITEMS_PER_RATER - CHECKS, "ratings_per_item": K,
        "attention_checks": [
            {"instruction": "This is a check: choose Disagree for the first question.", "dimension": "adherence",
             "expected": 2},
            {"instruction": "This is a check: choose Agree for the second question.", "dimension": "quality",
             "expected": 6}],
        "comprehension": {"question": "What do you rate?", "options": ["the bot", "the user"], "answer": "the bot"},
        "consent_text": "You agree to read chatbot conversations.",
        "instruction_text": "Read each conversation, then rate the bot.",
        "completion_codes": {"completed": CODE, "screened_out": "OUT", "failed_checks": "FAIL"},
        "min_seconds_per_item": 0.0,
    }))
    per_condition = math.ceil(raters * (ITEMS_PER_RATER - CHECKS) / K / 2) + 2
    for condition in ("baseline", "tuned"):
        import_items_jsonl(store, study, condition, [
            json.dumps({"messages": [{"role": "user", "content": f"Which film tonight? ({i})"},
                                     {"role": "assistant", "content": f"Try a comedy, number {i}."}],
                        "match_key": f"m{i}"}) for i in range(per_condition)])
    add_check_items(store, study)
    set_study_status(store, study.id, "open")
    checks = {item.id: item.expected for item in list_items(store, study.id) if item.kind == "attention"}
    return study.token, checks


def think(rng: random.Random, mean_s: float) -> None:
    time.sleep(rng.uniform(0.5, 1.5) * mean_s)


def rater(url: str, token: str, index: int, think_s: float, checks: dict,
          clicks: list[float], acknowledged: set, errors: list[str]) -> bool:
    """One rater's visit; whether it ended with the completion code."""
    rng = random.Random(index)
    query = f"study={token}&PROLIFIC_PID={index:024x}&STUDY_ID=load&SESSION_ID=s{index}"
    tab = Session(url, page="rater", query=query)
    try:
        tab.run()  # opening the link
        think(rng, think_s)
        clicks.append(tab.run(click="I agree"))
        think(rng, think_s)
        tab.choose("comprehension-0", 0)  # the first attempt's answer
        clicks.append(tab.run(click="Check my answer"))
        while True:
            if "Your completion code:" in tab.texts:
                return CODE in tab.texts
            if "Check again" in tab.widgets:
                think(rng, think_s)
                clicks.append(tab.run(click="Check again"))
                continue
            keys = [key for key in tab.widgets if key.startswith("rating-")]
            if not keys:
                raise RuntimeError(f"neither an item nor the code on the page: {tab.texts[:6]}")
            item_id = int(keys[0].split("-")[1])
            think(rng, think_s)
            for key in keys:
                dimension = key.split("-", 2)[2]
                value = checks[item_id].get(dimension, 4) if item_id in checks else rng.randint(1, 7)
                tab.choose(key, value - 1)
            clicks.append(tab.run(click="Submit and continue"))
            if not any("was not stored" in text for text in tab.texts):
                acknowledged.add((f"{index:024x}", item_id))
    except Exception as exc:  # noqa: BLE001 - counted and reported in the JSON
        errors.append(f"rater {index}: {type(exc).__name__}: {exc}")
        return False
    finally:
        tab.close()


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def peak_mib(pid: int) -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def measure(raters: int, think_s: float, folder: Path) -> dict:
    store = Store(folder / "vt.duckdb")
    token, checks = make_study(store, raters)
    store.close()
    clicks: list[float] = []
    acknowledged: set = set()
    errors: list[str] = []
    processes: list = []
    with streamlit_app(folder, {}, processes) as url:
        pid = processes[0].pid
        warm = Session(url, page="rater", query=f"study={token}")  # imports and caches, outside the figures
        warm.run()
        warm.close()
        cpu_before, started = cpu_s(pid), time.perf_counter()
        arrivals = sorted(random.Random(raters).uniform(0, ARRIVAL_S) for _ in range(raters))

        def visit(index: int) -> bool:
            time.sleep(arrivals[index])
            return rater(url, token, index, think_s, checks, clicks, acknowledged, errors)

        with ThreadPoolExecutor(max_workers=raters) as pool:
            completed = sum(pool.map(visit, range(raters)))
        wall_s = time.perf_counter() - started
        server_cpu_s = cpu_s(pid) - cpu_before
        peak = peak_mib(pid)

    store = Store(folder / "vt.duckdb")
    db = store.cursor()
    stored = {(external, item) for external, item in db.execute(
        "SELECT DISTINCT r.external_id, x.item_id FROM ratings x JOIN raters r ON r.id = x.rater_id").fetchall()}
    duplicates = db.execute("SELECT count(*) FROM (SELECT rater_id, item_id, dimension FROM ratings"
                            " GROUP BY rater_id, item_id, dimension HAVING count(*) > 1)").fetchone()[0]
    k_violations = db.execute("SELECT count(*) FROM (SELECT x.item_id FROM ratings x JOIN study_items i"
                              " ON i.id = x.item_id WHERE i.kind = 'regular' GROUP BY x.item_id"
                              " HAVING count(DISTINCT x.rater_id) > ?)", [K]).fetchone()[0]
    store.close()
    ms = sorted(t * 1000 for t in clicks)
    return {
        "processes": 1, "store": "duckdb", "raters": raters, "think_s": think_s,
        "items_per_rater": ITEMS_PER_RATER, "k": K, "clicks": len(ms),
        "p50_ms": round(statistics.median(ms), 1) if ms else None,
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1) if ms else None,
        "reruns_per_s": round(len(ms) / wall_s, 2),  # clicks per second; a click may be more than one run
        "server_cpu_ms_per_click": round(server_cpu_s * 1000 / max(len(ms), 1), 1),
        "server_peak_mib": round(peak, 1),
        "completed": completed, "acknowledged": len(acknowledged), "stored": len(stored),
        "lost": len(acknowledged - stored), "duplicates": duplicates, "k_violations": k_violations,
        "errors": len(errors), "first_error": errors[0] if errors else None,
        "wall_s": round(wall_s, 1), "load_1min": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raters", default="10,30,100", help="numbers of raters, one run each")
    parser.add_argument("--think", type=float, default=10.0, help="mean seconds between a rater's clicks")
    args = parser.parse_args()
    runs = []
    for raters in (int(n) for n in args.raters.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(measure(raters, args.think, Path(tmp)))
        print(json.dumps(runs[-1]), flush=True)
    fine = [run["raters"] for run in runs if run["p95_ms"] is not None and run["p95_ms"] <= 1000]
    print(json.dumps({"runs": runs, "raters_per_process_at_p95_1s": max(fine, default=0)}))


if __name__ == "__main__":
    main()
