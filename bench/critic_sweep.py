"""Critic sweep: 10 MovieLens critics, K=10, seed 0, every method, on the configured backend.

The backend is whatever the settings name (OPENAI_BASE_URL / OPENAI_API_KEY / VT_MODEL, else the
embedded demo model). The database is a fresh temporary one, so no answer comes from an earlier
run's cache. On a slow backend the test set is sized to fit the time budget: one uncached batch
call of the zero-shot baseline is timed, and the largest test_per_class (at most 10) whose planned
calls (LLM baselines plus tuning's plan) fit in --budget-s at that pace is used. The critics are
drawn once, with enough films for 10 test films per class, so the size does not change who they are.

    python bench/critic_sweep.py                       # last line: JSON with per-method figures
    python bench/critic_sweep.py --budget-s 600 --out /tmp/sweep   # also results.csv and summary.csv
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vt_core.cli import ProgressBar  # noqa: E402
from vt_core.core.config import Settings  # noqa: E402
from vt_core.core.llm import LLM  # noqa: E402
from vt_core.core.store import Store  # noqa: E402
from vt_core.critic import (  # noqa: E402
    DEFAULT_BATCH,
    choose_critics,
    class_request,
    movielens_critic,
    planned_calls,
    run_methods,
    split,
    summarise,
)

MAX_TEST_PER_CLASS = 10


def call_seconds(llm: LLM, one) -> float:
    """One uncached zero-shot batch call, timed after a warm-up call (which starts the embedded server)."""
    llm.check()
    request = class_request(llm, "critic_predict_zero_shot", one.test[:DEFAULT_BATCH], seed=one.seed, examples="",
                            low="0.5", high="5", low_max="2.5", high_min="4")
    started = time.perf_counter()
    llm.complete(request, fresh=True)
    return time.perf_counter() - started


def sweep_calls(splits, batch_size: int) -> int:
    baselines = sum(2 * math.ceil(len(s.test) / batch_size) for s in splits)
    return baselines + sum(planned_calls(s) for s in splits)


def _number(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--critics", type=int, default=10)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--validation-per-class", type=int, default=3)
    parser.add_argument("--test-per-class", type=int, help="fixed size instead of one fitted to the budget")
    parser.add_argument("--budget-s", type=float, default=1800, help="time the sweep should take at most, roughly")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--methods", nargs="+", help="default: every method")
    parser.add_argument("--out", help="folder for results.csv and summary.csv")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env({**os.environ, "VT_DB_PATH": f"{tmp}/sweep.duckdb"})
        llm = LLM.from_settings(settings, Store(settings.db_path))
        needed = args.k + args.validation_per_class + MAX_TEST_PER_CLASS
        critics = [movielens_critic(u) for u in choose_critics(args.critics, needed, args.seed)]

        def splits_of(size: int):
            return [split(c, args.k, args.seed, size, args.validation_per_class) for c in critics]

        call_s = call_seconds(llm, splits_of(MAX_TEST_PER_CLASS)[0])
        size = args.test_per_class
        if size is None:
            fitting = [t for t in range(1, MAX_TEST_PER_CLASS + 1)
                       if sweep_calls(splits_of(t), args.batch_size) * call_s <= args.budget_s]
            size = max(fitting, default=1)
        splits = splits_of(size)
        estimated_s = sweep_calls(splits, args.batch_size) * call_s
        print(f"{llm.backend.describe()}: one batch call {call_s:.1f} s; {args.critics} critics, K={args.k}, "
              f"validation {args.validation_per_class} and test {size} films per class "
              f"({len(splits[0].test)} test films per critic); about {estimated_s / 60:.0f} min if every planned "
              f"call takes as long", file=sys.stderr)

        started = time.perf_counter()
        table = run_methods(llm, splits, args.methods, progress=ProgressBar().stage, batch_size=args.batch_size)
        wall_s = time.perf_counter() - started
        totals = summarise(table)
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            table.to_csv(Path(args.out) / "results.csv", index=False)
            totals.to_csv(Path(args.out) / "summary.csv", index=False)
        usage = llm.usage()

    print(json.dumps({
        "backend": llm.backend.describe(),
        "model": llm.model,
        "critics": args.critics, "k": args.k, "seed": args.seed,
        "validation_per_class": args.validation_per_class, "test_per_class": size,
        "test_films_per_critic": len(splits[0].test), "batch_size": args.batch_size,
        "call_s": round(call_s, 2), "estimated_s": round(estimated_s), "wall_s": round(wall_s, 1),
        "llm_calls": usage.calls, "tokens_in": usage.tokens_in, "tokens_out": usage.tokens_out,
        "methods": {row["method"]: {
            "macro_f1_mean": _number(row["macro_f1_mean"]), "macro_f1_sd": _number(row["macro_f1_sd"]),
            "recall_spread_mean": _number(row["recall_spread_mean"]), "accuracy_mean": _number(row["accuracy_mean"]),
            "mae_mean": _number(row["mae_mean"]), "runs": int(row["runs"]), "failed": int(row["failed"]),
        } for row in totals.to_dict("records")},
    }))


if __name__ == "__main__":
    main()
