"""Loop quality: the designer loop on every world with planted faults (or --world), on the configured backend.

The backend is whatever the settings name (OPENAI_BASE_URL / OPENAI_API_KEY / VT_MODEL, else the embedded
demo model). The database is a fresh temporary one, so no answer comes from an earlier run's cache (the
`bench-loop` command stores its runs in the configured database instead, beside the project it makes).
Each world runs as `python -m vt_core bench-loop` runs it: self-play on training scenarios, the oracle's
marks, patterns, refinement, approval, then held-out self-play under the draft and the tuned prompt;
checkers decide the fault rates. On the embedded demo model the figures test the plumbing only.

    python bench/loop_quality.py                  # last line: JSON with `worlds`, `overall`, backend, model
    python bench/loop_quality.py --world support --seed 1 --k 3
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vt_core.benchmark import (  # noqa: E402
    JOBS,
    WORLDS,
    LoopSettings,
    figures_text,
    get_loop_run,
    overall_figures,
    submit_loop,
)
from vt_core.cli import ProgressBar  # noqa: E402
from vt_core.core.config import Settings  # noqa: E402
from vt_core.core.jobs import run_here  # noqa: E402
from vt_core.core.llm import LLM  # noqa: E402
from vt_core.core.store import Store  # noqa: E402

DEMO_NOTE = ("the embedded demo model (SmolLM2-135M) played every part: its replies, verdicts and candidate prompts "
             "are toy-level, so these figures show that the loop runs end to end, not that it works")


def summary(figures: dict) -> dict:
    """The figures of one world, without the per-conversation lists."""
    keys = ("draft_fault_rate", "tuned_fault_rate", "difference", "ci95", "test", "recall", "recall_of_shown",
            "found", "shown", "kappa", "quality", "conversations", "usage", "wall_s", "notes")
    return {**{key: figures[key] for key in keys},
            "by_checker": {name: {"draft": f["draft"], "tuned": f["tuned"], "p": f["test"]["p"], "found": f["found"]}
                           for name, f in figures["checkers"].items()},
            "accepted_patterns": figures["patterns"]["accepted"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", choices=WORLDS, help="one world (default: every world)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=2, help="candidates per refinement round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--noise", type=float, default=0.0, help="share of the oracle's marks flipped")
    parser.add_argument("--no-marks", action="store_true", help="the control: no one marks the transcripts")
    parser.add_argument("--train", type=int, help="training conversations (default: 2 per training scenario)")
    parser.add_argument("--heldout", type=int, help="held-out conversations (default: 2 per held-out scenario)")
    parser.add_argument("--turns", type=int, default=3)
    args = parser.parse_args()
    settings = LoopSettings(seed=args.seed, k=args.k, rounds=args.rounds, noise=args.noise, marks=not args.no_marks,
                            train=args.train, heldout=args.heldout, turns=args.turns)

    worlds = {}
    with tempfile.TemporaryDirectory() as tmp:
        config = Settings.from_env({k: v for k, v in os.environ.items() if k != "VT_DATABASE_URL"}
                                   | {"VT_DB_PATH": f"{tmp}/loop.duckdb"})
        store = Store(config.db_path)
        llm = LLM.from_settings(config, store)
        for name in [args.world] if args.world else WORLDS:
            print(f"world {name} on {llm.backend.describe()}", file=sys.stderr)
            job = run_here(store, llm, submit_loop(store, name, settings), JOBS, ProgressBar().stage)
            figures = get_loop_run(store, job.result["loop_run_id"]).figures
            print(figures_text(figures) + "\n", file=sys.stderr)
            worlds[name] = figures
        model, demo = llm.model, llm.backend.demo

    print(json.dumps({
        "backend": llm.backend.describe(),
        "model": model,
        "demo": demo,
        "note": DEMO_NOTE if demo else "checkers, not the model, decide the fault rates",
        "settings": vars(args),
        "worlds": {name: summary(figures) for name, figures in worlds.items()},
        "overall": overall_figures(worlds, seed=args.seed),
    }))


if __name__ == "__main__":
    main()
