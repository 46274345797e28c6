"""Crowd-rating load: many raters at once through the functions the rater page calls.

60 simulated raters arrive at random over 2 s and each rates 20 items of a study with two
conditions x 100 matched items and k = 6 (1,200 ratings of capacity for 60 x 20 wanted), on a
real DuckDB file, one thread per rater in a pool of 16. Each rater registers, passes the
comprehension check, then loops next_item -> submit until next_item says None,
and finishes. Once per rater a submit is sent twice (a double click); the second must store
nothing. Afterwards the database is checked: ratings stored vs expected, repeated
(rater, item, dimension) rows, double submits stored twice, items above k.

    python bench/crowd_load.py      # last line: JSON with raters, ratings_expected, ...
    POOL=1 python bench/crowd_load.py   # one thread: the uncontended latency of each call

next_item takes a per-study lock (see vt_core.crowd.assignment), so under 16 threads its latency is
mostly the wait for that lock; POOL=1 shows the cost of one call.
"""

import json
import os
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vt_core.core.store import Store
from vt_core.crowd import (
    finish,
    identity_from_params,
    next_item,
    record_comprehension,
    register_rater,
    submit,
)

RATERS = 60
ITEMS_PER_RATER = 20
CONDITIONS = ("baseline", "tuned")
ITEMS_PER_CONDITION = 100
K = 6
ARRIVAL_WINDOW_S = 2.0
POOL = int(os.environ.get("POOL", 16))
LEASE_MINUTES = 20
DIMENSIONS = ("adherence", "quality")


def make_study(store: Store) -> int:
    db = store.cursor()
    study_id = db.execute(
        "INSERT INTO studies (name, token, definition, status) VALUES (?, ?, ?, 'open') RETURNING id",
        ["load", "tok-load", json.dumps({"dimensions": list(DIMENSIONS)})]).fetchone()[0]
    db.executemany(
        "INSERT INTO study_items (study_id, condition, kind, match_key, turns) VALUES (?, ?, 'regular', ?, ?)",
        [[study_id, condition, f"scenario-{i}",
          json.dumps([{"role": "user", "content": f"question {i}"},
                      {"role": "assistant", "content": f"{condition} answer {i}"}])]
         for condition in CONDITIONS for i in range(ITEMS_PER_CONDITION)])
    return study_id


def rater_session(store: Store, study_id: int, index: int, delay_s: float, timings: list,
                  next_timings: list, double_stored: list, errors: list) -> None:
    time.sleep(delay_s)
    rng = random.Random(index)
    try:
        identity = identity_from_params({"PROLIFIC_PID": f"{index:024x}", "STUDY_ID": "load",
                                         "SESSION_ID": f"s{index}"})
        rater = register_rater(store, study_id, identity, conditions=list(CONDITIONS))
        record_comprehension(store, rater.id, True)
        doubled = False
        while True:
            started = time.perf_counter()
            item = next_item(store, rater, items_per_rater=ITEMS_PER_RATER, k=K,
                             lease_minutes=LEASE_MINUTES)
            next_timings.append(time.perf_counter() - started)
            if item is None:
                break
            values = {d: rng.randint(1, 7) for d in DIMENSIONS}
            started = time.perf_counter()
            result = submit(store, rater.id, item.id, values, min_seconds=0.0)
            timings.append(time.perf_counter() - started)
            if not result.stored:
                errors.append(f"rater {index}: item {item.id} not stored ({result.reason})")
            if not doubled:
                doubled = True
                again = submit(store, rater.id, item.id, values)
                if again.stored:
                    double_stored.append((rater.id, item.id))
        finish(store, rater)
    except Exception as exc:  # noqa: BLE001 - counted and reported in the JSON
        errors.append(f"rater {index}: {type(exc).__name__}: {exc}")


def measure(db_path: str) -> dict:
    store = Store(db_path)
    study_id = make_study(store)
    timings: list[float] = []
    next_timings: list[float] = []
    double_stored: list = []
    errors: list[str] = []
    arrivals = sorted(random.Random(7).uniform(0, ARRIVAL_WINDOW_S) for _ in range(RATERS))
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=POOL) as pool:
        t0 = time.perf_counter()
        futures = [pool.submit(lambda i=i, at=at: rater_session(
            store, study_id, i, max(0.0, at - (time.perf_counter() - t0)), timings, next_timings,
            double_stored, errors))
            for i, at in enumerate(arrivals)]
        for future in futures:
            future.result()
    wall_s = time.perf_counter() - started

    db = store.cursor()
    expected = RATERS * ITEMS_PER_RATER  # one rating = one (rater, item), a row per dimension
    stored = db.execute("SELECT count(*) FROM (SELECT DISTINCT rater_id, item_id FROM ratings)").fetchone()[0]
    rows = db.execute("SELECT count(*) FROM ratings").fetchone()[0]
    repeats = db.execute("SELECT count(*) FROM (SELECT rater_id, item_id, dimension FROM ratings"
                         " GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
    k_violations = db.execute("SELECT count(*) FROM (SELECT item_id FROM ratings GROUP BY item_id"
                              " HAVING count(DISTINCT rater_id) > ?)", [K]).fetchone()[0]
    statuses = dict(db.execute("SELECT status, count(*) FROM raters GROUP BY 1").fetchall())
    per_condition = dict(db.execute(
        "SELECT i.condition, count(*) FROM ratings r JOIN study_items i ON i.id = r.item_id"
        " WHERE r.dimension = ? GROUP BY 1", [DIMENSIONS[0]]).fetchall())
    store.close()
    ms = sorted(t * 1000 for t in timings)
    nt = sorted(t * 1000 for t in next_timings)
    return {
        "raters": RATERS,
        "items_per_rater": ITEMS_PER_RATER,
        "k": K,
        "pool": POOL,
        "ratings_expected": expected,
        "ratings_stored": stored,
        "rating_rows_expected": expected * len(DIMENSIONS),
        "rating_rows_stored": rows,
        "duplicates": repeats + len(double_stored),
        "duplicate_rows": repeats,
        "double_submits_tried": RATERS,
        "double_submits_stored_twice": len(double_stored),
        "lost": expected - stored,
        "k_violations": k_violations,
        "completed": statuses.get("completed", 0),
        "ratings_per_condition": per_condition,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "submits": len(ms),
        "submit_p50_ms": round(statistics.median(ms), 2) if ms else None,
        "submit_p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2) if ms else None,
        "submit_p95_ms_target": "<= 50",
        "next_item_p50_ms": round(statistics.median(nt), 2) if nt else None,
        "next_item_p95_ms": round(nt[int(0.95 * (len(nt) - 1))], 2) if nt else None,
        "wall_s": round(wall_s, 2),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(measure(f"{tmp}/crowd.duckdb")))


if __name__ == "__main__":
    main()
