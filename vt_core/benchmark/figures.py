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
    from statsmodels.stats.inter_rater import cohens_kappa  # a second to import: not on every CLI start

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


def agrees(kappa_value: float | None, agreement: float, shown: bool) -> bool:
    """Whether a pattern's verdicts recall a fault its checker found: kappa >= RECALL_KAPPA; or, where
    kappa is undefined because the checker fired on every conversation, the judge failed the pattern on
    every one too. A fault the checker never found is never recalled."""
    if not shown:
        return False
    return kappa_value >= RECALL_KAPPA if kappa_value is not None else agreement == 1.0


def recall_figures(checker_fires: dict[str, Sequence[bool]], pattern_fails: dict[str, Sequence[bool]]) -> dict:
    """For each planted fault: whether its checker fired on any of the annotated training conversations
    (`shown`), the accepted pattern whose judge verdicts agree with it best, their kappa and raw
    agreement, and whether that pattern recalls the fault (`found`, see `agrees`). `pattern_fails`: per
    accepted pattern, whether the judge failed it on each of the same conversations."""
    faults = {}
    for name, fires in checker_fires.items():
        shown = any(fires)
        scored = []
        for pattern, fails in pattern_fails.items():
            k = kappa(list(fires), list(fails))
            agreement = sum(a == b for a, b in zip(fires, fails)) / len(fires) if fires else 0.0
            scored.append((agrees(k, agreement, shown), -1.0 if k is None else k, agreement, pattern, k))
        found, _, agreement, pattern, k = max(scored, default=(False, -1.0, None, None, None))
        faults[name] = {"shown": shown, "pattern": pattern, "kappa": k, "agreement": agreement, "found": found}
    found = [name for name, f in faults.items() if f["found"]]
    shown = [name for name, f in faults.items() if f["shown"]]
    return {
        "faults": faults,
        "recall": len(found) / len(faults) if faults else None,
        "recall_of_shown": len(found) / len(shown) if shown else None,
        "found": found,
        "shown": shown,
    }


def overall_figures(worlds: dict[str, dict], *, seed: int) -> dict:
    """The figures across worlds (each a loop run's figures, by world name): fault rates, test and interval
    pooled over every world's held-out pairs (the bootstrap resamples within worlds), and recall over every
    planted fault."""
    draft, tuned, strata = [], [], []
    faults = found = 0
    for name, figures in worlds.items():
        for pair in figures["heldout"]:
            draft.append(bool(pair["draft"]))
            tuned.append(bool(pair["tuned"]))
            strata.append(name)
        faults += len(figures["checkers"])
        found += len(figures["found"])
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


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.0%}"


def figures_text(figures: dict) -> str:
    """A loop run's figures as a plain-text table for a terminal."""
    lines = [f"Loop benchmark: world {figures['world']}, seed {figures['settings']['seed']}, "
             f"project {figures['project']!r}", f"Model: {figures['model']}, on the {figures['backend']}"]
    if figures["demo"]:
        lines.append("The small demo model played every part: these figures test the plumbing, they measure nothing.")
    conversations = figures["conversations"]
    lines += [f"{conversations['heldout']} held-out conversations, each under the draft and the tuned prompt "
              f"(the same personas, scenarios and seeds); {conversations['train']} training conversations", "",
              f"{'fault (share of held-out conversations)':42} {'draft':>6} {'tuned':>6} {'diff':>6} "
              f"{'95% CI':>15} {'p':>6}  {'shown':5} {'found':5} {'kappa':>5} {'agree':>5}"]

    def row(name: str, f: dict, recall: dict | None) -> str:
        ci = "n/a" if f["ci95"] is None else f"[{_signed(f['ci95'][0])}, {_signed(f['ci95'][1])}]"
        found = "" if recall is None else (f"{'yes' if recall['shown'] else 'no':5} {'yes' if recall['found'] else 'no':5} "
                                           f"{'n/a' if recall['kappa'] is None else format(recall['kappa'], '.2f'):>5} "
                                           f"{_share(recall['agreement']):>5}")
        return (f"{name[:42]:42} {_share(f['draft']):>6} {_share(f['tuned']):>6} {_signed(f['difference']):>6} "
                f"{ci:>15} {f['test']['p']:6.3f}  {found}").rstrip()

    for name, f in figures["checkers"].items():
        lines.append(row(name, f, f))
    lines.append(row("any fault (the primary figure)", {
        "draft": figures["draft_fault_rate"], "tuned": figures["tuned_fault_rate"],
        "difference": figures["difference"], "ci95": figures["ci95"], "test": figures["test"]}, None))
    test = figures["test"]
    lines += ["", f"Paired test: {test['name']}: {test['fixed']} conversation(s) fixed, {test['broken']} broken, "
                  f"p = {test['p']:.3f}; CI: bootstrap over conversations",
              "Kappa: the judge's verdicts of the best-matching accepted pattern against the checker on the training "
              "conversations (n/a: undefined, one rating throughout); agree: their raw agreement",
              f"Recall: {len(figures['found'])} of {len(figures['checkers'])} planted faults found "
              f"({_share(figures['recall'])}); {len(figures['shown'])} shown in training "
              f"(found {_share(figures['recall_of_shown'])} of those)"]
    patterns = figures["patterns"]
    lines.append(f"Patterns: {patterns['proposed']} proposed, {len(patterns['accepted'])} accepted"
                 + "".join(f"\n  {name}" for name in patterns["accepted"]))
    refinement = figures["refinement"]
    if refinement:
        approved = f"approved as v{refinement['approved_version']}" if "approved_version" in refinement else "none approved"
        lines.append(f"Refinement: run {refinement['refine_run']}, best {refinement['best']}, {approved} "
                     f"({refinement['stopped']})")
    quality = figures["quality"]
    lines.append(f"Quality (1-7, the platform's quality judge): draft "
                 f"{'n/a' if quality['draft'] is None else format(quality['draft'], '.2f')}, tuned "
                 f"{'n/a' if quality['tuned'] is None else format(quality['tuned'], '.2f')}")
    usage = figures["usage"]
    lines.append(f"Cost: {usage['calls']} calls ({usage['cache_hits']} from the cache), {usage['tokens_in']} tokens in, "
                 f"{usage['tokens_out']} out, {figures['wall_s']:.1f} s")
    lines += [f"Note: {note}" for note in figures["notes"]]
    return "\n".join(lines)
