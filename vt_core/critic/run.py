"""Run methods over critics and seeds: one results row per critic x seed x method, and a summary.

Used by `python -m vt_core critic`, bench/critic_sweep.py and the critic page. A method that fails
on a split for an LLM reason (the endpoint, or replies that never validate) gets a row with its
error and no scores, and the run goes on; the summary counts such failures.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import pandas as pd

from vt_core.core.llm import LLM, LLMError
from vt_core.core.progress import StageProgress
from vt_core.critic import tuning
from vt_core.critic.baselines import DEFAULT_BATCH, Method, baseline_methods
from vt_core.critic.data import DEFAULT_VALIDATION_PER_CLASS, Split, choose_critics, movielens_critic, split
from vt_core.critic.metrics import score_predictions

METRICS = ("accuracy", "recall_low", "recall_mid", "recall_high", "macro_f1", "mae", "recall_spread")
COLUMNS = ("method", "critic", "k", "seed", "n_test", *METRICS, "backend", "model", "seconds", "error")


def available_methods(llm: LLM | None, ratings: pd.DataFrame | None = None,
                      batch_size: int = DEFAULT_BATCH) -> list[Method]:
    """Every method, in the order results are shown: the baselines, then Visionary Tuning."""
    methods = baseline_methods(llm, ratings, batch_size)
    if llm is not None:
        methods.append(Method("tuning", lambda s: tuning.predict_test(llm, s), llm))
    return methods


def movielens_splits(n_critics: int, k: int, seeds: Sequence[int], test_per_class: int | None = 10,
                     validation_per_class: int = DEFAULT_VALIDATION_PER_CLASS,
                     ratings: pd.DataFrame | None = None) -> list[Split]:
    """`n_critics` MovieLens users with enough films in every class for the split sizes, drawn with
    the first seed; each is split once per seed."""
    needed = k + validation_per_class + (test_per_class or 1)
    users = choose_critics(n_critics, needed, seeds[0], ratings=ratings)
    critics = [movielens_critic(u, ratings=ratings) for u in users]
    return [split(c, k, s, test_per_class, validation_per_class) for c in critics for s in seeds]


def _select(methods: Sequence[str] | None, llm: LLM | None, ratings: pd.DataFrame | None,
            batch_size: int) -> list[Method]:
    known = available_methods(llm, ratings, batch_size)
    if methods is None:
        return known
    by_name = {m.name: m for m in known}
    unknown = [name for name in methods if name not in by_name]
    if unknown:
        raise ValueError(f"unknown method {', '.join(unknown)}; choose from {', '.join(by_name)}"
                         + ("" if llm else " (the LLM methods need a model)"))
    return [by_name[name] for name in methods]


def result_row(method: Method, one: Split) -> dict:
    """One row of the results table: `method` on `one`, timed and scored (or its LLM error)."""
    row = {"method": method.name, "critic": one.critic.id, "k": one.k, "seed": one.seed, "n_test": len(one.test),
           "backend": method.llm.backend.describe() if method.llm else "",
           "model": method.llm.model if method.llm else "", "error": ""}
    started = time.perf_counter()
    try:
        scores = score_predictions(one, method.predict(one))
    except LLMError as exc:
        row.update(dict.fromkeys(METRICS, math.nan), error=str(exc))
    else:
        row.update(accuracy=scores.accuracy, macro_f1=scores.macro_f1, mae=scores.mae,
                   recall_spread=scores.recall_spread, **{f"recall_{c}": r for c, r in scores.recall.items()})
    row["seconds"] = time.perf_counter() - started
    return row


def run_methods(llm: LLM | None, splits: Sequence[Split], methods: Sequence[str] | None = None,
                progress: StageProgress | None = None, ratings: pd.DataFrame | None = None,
                batch_size: int = DEFAULT_BATCH) -> pd.DataFrame:
    """The results table (columns COLUMNS): every method named in `methods` (default: all) on every split."""
    chosen = _select(methods, llm, ratings, batch_size)
    rows, total = [], len(chosen) * len(splits)
    for one in splits:
        for method in chosen:
            if progress:
                progress(f"{method.name} on {one.critic.id} seed {one.seed}", len(rows), total)
            rows.append(result_row(method, one))
    if progress:
        progress("done", total, total)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per method (in the table's order): runs, failed runs, and the mean and SD (n - 1) of each
    metric over the critics and seeds that ran; the backend and model of LLM methods."""
    rows = []
    for name, group in table.groupby("method", sort=False):
        ok = group[group["error"].fillna("") == ""]
        row = {"method": name, "runs": len(group), "failed": len(group) - len(ok)}
        for metric in METRICS:
            row[f"{metric}_mean"] = ok[metric].mean()
            row[f"{metric}_sd"] = ok[metric].std()
        row["backend"] = "; ".join(sorted(set(group["backend"].fillna("")) - {""}))
        row["model"] = "; ".join(sorted(set(group["model"].fillna("")) - {""}))
        rows.append(row)
    return pd.DataFrame(rows)


def summary_markdown(summary_table: pd.DataFrame) -> str:
    """The summary as a Markdown table: mean ± SD per metric."""
    header = ["method", "runs", "failed", *METRICS, "model"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in summary_table.to_dict("records"):
        cells = [row["method"], str(row["runs"]), str(row["failed"])]
        cells += [_mean_sd(row[f"{m}_mean"], row[f"{m}_sd"]) for m in METRICS]
        lines.append("| " + " | ".join([*cells, row["model"] or "-"]) + " |")
    return "\n".join(lines) + "\n"


def _mean_sd(mean: float, sd: float) -> str:
    if pd.isna(mean):
        return "-"
    return f"{mean:.3f}" if pd.isna(sd) else f"{mean:.3f} ± {sd:.3f}"
