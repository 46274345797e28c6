"""The loop's figures, from checkers, not from a model: on the held-out conversations played under the
draft and under the tuned prompt (the same personas, scenarios and seeds, so paired), the share of
conversations in which each checker fires and the share with any fault; an exact McNemar test over the
pairs and a seeded bootstrap interval of the difference; and the agreement (Cohen's kappa) of the
accepted patterns' judge verdicts with each checker, which decides pattern recall.

Why McNemar: a conversation's outcome is binary (fault or none) and each held-out conversation is played
under both prompts, so the information is in the discordant pairs alone (fixed under the tuned prompt vs
broken by it); the exact binomial test on them holds for the handful of pairs a run has, where the
chi-square approximation and a t-test on shares do not.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import binomtest
from statsmodels.stats.inter_rater import cohens_kappa

RECALL_KAPPA = 0.6  # a planted fault counts as found when an accepted pattern agrees with its checker this well
BOOTSTRAP_REPS = 2000
TOTAL = "total"


@dataclass(frozen=True)
class PairedTest:
    """Exact McNemar test: `fixed` pairs had the fault under the draft only, `broken` under the tuned
    prompt only; p is two-sided, from the binomial test of `fixed` of `fixed + broken` at one half."""

    fixed: int
    broken: int
    p: float


def fault_rate(faults: Sequence[Sequence[str]], checker: str = TOTAL) -> float | None:
    """The share of conversations in which `checker` fires (TOTAL: any checker); None without any."""
    if not faults:
        return None
    return sum(_has(f, checker) for f in faults) / len(faults)


def _has(faults: Sequence[str], checker: str) -> bool:
    return bool(faults) if checker == TOTAL else checker in faults


def paired_test(draft: Sequence[bool], tuned: Sequence[bool]) -> PairedTest:
    """Exact McNemar test over paired binary outcomes (True: the conversation shows the fault)."""
    if len(draft) != len(tuned):
        raise ValueError(f"paired outcomes need as many tuned ({len(tuned)}) as draft ({len(draft)}) conversations")
    fixed = sum(d and not t for d, t in zip(draft, tuned))
    broken = sum(t and not d for d, t in zip(draft, tuned))
    p = binomtest(fixed, fixed + broken, 0.5).pvalue if fixed + broken else 1.0
    return PairedTest(fixed, broken, float(p))


def bootstrap_difference(draft: Sequence[bool], tuned: Sequence[bool], *, seed: int,
                         strata: Sequence[object] | None = None, reps: int = BOOTSTRAP_REPS,
                         level: float = 0.95) -> tuple[float, float] | None:
    """Percentile bootstrap interval of (tuned share - draft share), resampling conversation pairs with
    replacement (within each stratum, e.g. world, when given); None without pairs."""
    if not draft:
        return None
    strata = list(strata) if strata is not None else [0] * len(draft)
    groups: dict[object, list[int]] = {}
    for i, stratum in enumerate(strata):
        groups.setdefault(stratum, []).append(i)
    diff = np.array(tuned, dtype=float) - np.array(draft, dtype=float)
    rng = random.Random(f"bootstrap:{seed}")
    means = []
    for _ in range(reps):
        picked = [rng.choice(members) for members in groups.values() for _ in members]
        means.append(diff[picked].mean())
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's kappa of two binary ratings of the same items (statsmodels); None when undefined (fewer
    than two items, or both raters give one and the same rating to every item)."""
    if len(a) != len(b):
        raise ValueError("kappa needs two ratings of the same items")
    if len(a) < 2:
        return None
    table = np.zeros((2, 2))
    for x, y in zip(a, b):
        table[int(x), int(y)] += 1
    rows, cols = table.sum(axis=1) / len(a), table.sum(axis=0) / len(a)
    if float((rows * cols).sum()) >= 1.0:  # chance agreement is total: kappa is 0/0
        return None
    return float(cohens_kappa(table, return_results=False))


def fault_figures(draft: Sequence[Sequence[str]], tuned: Sequence[Sequence[str]], checkers: Sequence[str], *,
                  seed: int, strata: Sequence[object] | None = None) -> dict:
    """Per checker and in total: draft and tuned fault rates, their difference, the paired test and the
    bootstrap interval of the difference, over paired held-out conversations."""
    figures = {}
    for name in [*checkers, TOTAL]:
        d, t = [_has(f, name) for f in draft], [_has(f, name) for f in tuned]
        test = paired_test(d, t)
        low_high = bootstrap_difference(d, t, seed=seed, strata=strata)
        rate_d, rate_t = fault_rate(draft, name), fault_rate(tuned, name)
        figures[name] = {
            "draft": rate_d, "tuned": rate_t,
            "difference": None if rate_d is None else rate_t - rate_d,
            "ci95": list(low_high) if low_high else None,
            "test": asdict(test),
        }
    return figures


def recall_figures(checker_fires: dict[str, Sequence[bool]], pattern_fails: dict[str, Sequence[bool]]) -> dict:
    """For each planted fault: whether its checker fired on any of the annotated training conversations
    (`shown`), the accepted pattern whose judge verdicts agree with it best and their kappa, and whether
    that kappa reaches RECALL_KAPPA (`found`). `pattern_fails`: per accepted pattern, whether the judge
    failed it on each of the same conversations."""
    faults = {}
    for name, fires in checker_fires.items():
        scored = [(k, pattern) for pattern, fails in pattern_fails.items()
                  if (k := kappa(list(fires), list(fails))) is not None]
        best_kappa, best = max(scored, default=(None, None))
        faults[name] = {"shown": any(fires), "pattern": best, "kappa": best_kappa,
                        "found": best_kappa is not None and best_kappa >= RECALL_KAPPA}
    found = [name for name, f in faults.items() if f["found"]]
    shown = [name for name, f in faults.items() if f["shown"]]
    return {
        "faults": faults,
        "recall": len(found) / len(faults) if faults else None,
        "recall_of_shown": len(set(found) & set(shown)) / len(shown) if shown else None,
        "found": found,
        "shown": shown,
    }


def overall_figures(worlds: dict[str, dict], *, seed: int) -> dict:
    """The figures across worlds: fault rates, test and interval pooled over every world's held-out pairs
    (the bootstrap resamples within worlds), and recall over every planted fault."""
    draft, tuned, strata = [], [], []
    faults = found = 0
    for name, figures in worlds.items():
        for pair in figures["heldout"]:
            draft.append(bool(pair["draft"]))
            tuned.append(bool(pair["tuned"]))
            strata.append(name)
        faults += len(figures["recall"]["faults"])
        found += len(figures["recall"]["found"])
    total = fault_figures([["x"] if d else [] for d in draft], [["x"] if t else [] for t in tuned], [],
                          seed=seed, strata=strata)[TOTAL]
    return {
        "worlds": sorted(worlds),
        "conversations": len(draft),
        "draft_fault_rate": total["draft"],
        "tuned_fault_rate": total["tuned"],
        "difference": total["difference"],
        "ci95": total["ci95"],
        "test": total["test"],
        "recall": found / faults if faults else None,
    }
