"""The statistics of a side-by-side preference study: which of two conditions raters prefer, per question.

Each rating of a pair item says Left (1), About the same (2) or Right (3); the item records which condition
was on the left (vt_core.crowd.pair_orders), so every choice becomes "a preferred", "about the same" or
"b preferred", where a is the first condition (the reference, e.g. the baseline) and b the second.

Decisions, in one place:

- **Preference share and the binomial test.** Per dimension and rater kind: the share of non-tied choices
  that prefer b, with its exact (Clopper-Pearson) 95% CI, and the ties reported beside it; the exact
  two-sided binomial (sign) test of that count against one half (scipy.stats.binomtest). It treats choices
  as independent, which they are not (they repeat within raters and items), so two analyses that respect
  the repetition go with it, and Holm's method corrects the binomial p across the dimensions.
- **Sign test across raters.** Each rater's net preference (choices for b minus choices for a); raters with
  a net of zero are dropped, and the binomial test runs on how many of the rest lean to b: raters are the
  unit, as in the per-transcript design's Wilcoxon test.
- **Bradley-Terry with a position term.** With two conditions the Bradley-Terry model is a logistic
  regression of "b preferred" on the non-tied choices: logit P(b) = beta + gamma * s, with s = +1 when b
  was on the left and -1 when on the right, so beta = strength(b) - strength(a) with the position effect
  taken out and gamma = the pull of the left side. Fitted by maximum likelihood (statsmodels GLM, binomial);
  its standard errors are clustered by rater (sandwich), so repeated choices of one rater do not count as
  independent evidence. Ties are left out (a Davidson tie parameter would add little with two conditions).
- **Mixed-effects logistic model.** The same predictor with crossed random intercepts for rater and item
  (statsmodels BinomialBayesMixedGLM, variational Bayes): the confirmatory model that generalises over items
  too. Being Bayesian, it gives a posterior mean, SD and a 95% credible interval, not a p-value.
- **Position bias.** The share of non-tied choices for the Left side, with the exact binomial test against
  one half: with positions balanced over items, a preference for a side shows up here and not as a
  preference for a condition.
- **Agreement.** Krippendorff's alpha, nominal, over items with two or more ratings, on the choices coded by
  condition (a / same / b).
- **Exclusion.** Excluded raters are left out, as in the per-transcript analysis (stats.load_study).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

import krippendorff
import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

from vt_core.analysis.stats import LEVEL, Counts, StudyRatings, _counts, holm, load_study
from vt_core.core.store import Store
from vt_core.crowd import CHOICES, ExclusionRules, pair_orders

SAME = "about the same"
Z95 = stats.norm.ppf(0.5 + LEVEL / 2)


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Binomial:
    """k successes of n, the share k/n with its exact 95% CI, and the two-sided exact test of p = 1/2."""

    k: int
    n: int
    share: float
    ci: tuple[float, float]
    p: float


@dataclass(frozen=True)
class BradleyTerry:
    """logit P(b preferred) = beta + gamma * s (s = +1: b on the left); SEs clustered by rater."""

    beta: float
    beta_se: float
    beta_ci: tuple[float, float]
    beta_p: float
    gamma: float
    gamma_se: float
    gamma_p: float
    choices: int
    raters: int
    note: str | None = None


@dataclass(frozen=True)
class MixedLogit:
    """The same predictor with crossed random intercepts for rater and item (variational Bayes)."""

    beta: float                      # posterior mean of the log-odds of b over a
    beta_sd: float
    beta_ci: tuple[float, float]     # 95% credible interval
    gamma: float                     # position (left) effect
    sd_rater: float
    sd_item: float
    choices: int
    note: str | None = None


@dataclass(frozen=True)
class PreferenceResult:
    dimension: str
    kind: str
    a: str
    b: str
    prefer_a: int
    prefer_b: int
    ties: int
    preference: Binomial             # b over a, on non-tied choices
    p_holm: float | None
    raters: Binomial                 # raters leaning to b among raters with a non-zero net preference
    raters_even: int                 # raters whose choices for a and for b balance (left out)
    position: Binomial               # Left over Right, on non-tied choices
    bradley_terry: BradleyTerry
    mixed: MixedLogit | None
    alpha: float | None              # Krippendorff, nominal
    alpha_items: int
    alpha_note: str = ""


@dataclass(frozen=True)
class PreferenceAnalysis:
    study_id: int
    study_name: str
    conditions: list[str]            # [a, b]: b is compared with a
    dimensions: list[str]
    counts: dict[str, Counts]
    results: dict[str, list[PreferenceResult]]
    exclusion: ExclusionRules | None = None


# -- the frame -----------------------------------------------------------------------------------


def preference_frame(frame: pd.DataFrame, left: dict[int, str], conditions: list[str]) -> pd.DataFrame:
    """The ratings of pair items (stats.RATING_COLUMNS) with what each choice means: side ('left', 'same',
    'right'), left_condition, preferred (a condition, or SAME), b_left (b was on the left) and b_won
    (1.0, 0.0, or NaN for a tie)."""
    a, b = conditions
    out = frame[frame["item_id"].isin(list(left))].copy()
    out["left_condition"] = out["item_id"].map(left)
    out["side"] = out["value"].map(CHOICES)
    out["b_left"] = out["left_condition"] == b
    right = out["left_condition"].map({a: b, b: a})
    out["preferred"] = np.where(out["side"] == "left", out["left_condition"],
                                np.where(out["side"] == "right", right, SAME))
    out["b_won"] = np.where(out["preferred"] == b, 1.0, np.where(out["preferred"] == a, 0.0, np.nan))
    return out


# -- the tests ---------------------------------------------------------------------------------


def binomial(k: int, n: int) -> Binomial:
    """Exact two-sided binomial test of k of n against 1/2, with the Clopper-Pearson CI of k/n."""
    if n == 0:
        return Binomial(0, 0, math.nan, (math.nan, math.nan), math.nan)
    result = stats.binomtest(k, n, 0.5)
    ci = result.proportion_ci(confidence_level=LEVEL, method="exact")
    return Binomial(k, n, k / n, (float(ci.low), float(ci.high)), float(result.pvalue))


def _nan_bt(choices: int, raters: int, note: str) -> BradleyTerry:
    nan = math.nan
    return BradleyTerry(nan, nan, (nan, nan), nan, nan, nan, nan, choices, raters, note)


def bradley_terry(choices: pd.DataFrame) -> BradleyTerry:
    """The Bradley-Terry fit (see the module docstring) on non-tied choices: columns b_won (0/1), b_left
    (bool) and rater_id. Never raises on a bad fit: the note says what happened."""
    n, raters = len(choices), int(choices["rater_id"].nunique()) if len(choices) else 0
    if n < 2 or choices["b_won"].nunique() < 2:
        return _nan_bt(n, raters, "needs non-tied choices for both conditions")
    y = choices["b_won"].to_numpy(dtype=float)
    s = np.where(choices["b_left"].to_numpy(dtype=bool), 1.0, -1.0)
    both_sides = len(np.unique(s)) == 2
    x = np.column_stack([np.ones(n), s]) if both_sides else np.ones((n, 1))
    groups = pd.factorize(choices["rater_id"])[0]
    cov = {"cov_type": "cluster", "cov_kwds": {"groups": groups}} if raters >= 2 else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = sm.GLM(y, x, family=sm.families.Binomial()).fit(**cov)
        except Exception as exc:  # noqa: BLE001 - a numerical failure is a result to report
            return _nan_bt(n, raters, f"the model could not be fitted: {type(exc).__name__}: {exc}")
    params, se, p = (np.asarray(v, dtype=float) for v in (fit.params, fit.bse, fit.pvalues))
    notes = list(dict.fromkeys(str(w.message).strip() for w in caught))
    if not both_sides:
        notes.insert(0, "every choice had b on the same side: the position term is not estimable")
    if raters < 2:
        notes.insert(0, "one rater: standard errors are not clustered")
    gamma = (params[1], se[1], p[1]) if both_sides else (math.nan, math.nan, math.nan)
    beta, beta_se = float(params[0]), float(se[0])
    return BradleyTerry(beta, beta_se, (beta - Z95 * beta_se, beta + Z95 * beta_se), float(p[0]), float(gamma[0]),
                        float(gamma[1]), float(gamma[2]), n, raters, "; ".join(notes) or None)


def mixed_logit(choices: pd.DataFrame) -> MixedLogit | None:
    """The mixed-effects logistic model on non-tied choices (columns b_won, b_left, rater_id, item_id);
    None with fewer than 2 raters or 2 items, or choices for one condition only."""
    if len(choices) < 2 or choices["rater_id"].nunique() < 2 or choices["item_id"].nunique() < 2 \
            or choices["b_won"].nunique() < 2:
        return None
    data = pd.DataFrame({"y": choices["b_won"].to_numpy(dtype=float),
                         "s": np.where(choices["b_left"].to_numpy(dtype=bool), 1.0, -1.0),
                         "rater": choices["rater_id"].astype(str).to_numpy(),
                         "item": choices["item_id"].astype(str).to_numpy()})
    formula = "y ~ s" if data["s"].nunique() == 2 else "y ~ 1"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = BinomialBayesMixedGLM.from_formula(formula, {"rater": "0 + C(rater)", "item": "0 + C(item)"},
                                                       data)
            fit = model.fit_vb()
        except Exception as exc:  # noqa: BLE001
            nan = math.nan
            return MixedLogit(nan, nan, (nan, nan), nan, nan, nan, len(data),
                              f"the model could not be fitted: {type(exc).__name__}: {exc}")
    names = list(model.exog_names)
    mean, sd = np.asarray(fit.fe_mean, dtype=float), np.asarray(fit.fe_sd, dtype=float)
    sds = dict(zip(model.vcp_names, np.exp(np.asarray(fit.vcp_mean, dtype=float)), strict=True))
    beta, beta_sd = mean[names.index("Intercept")], sd[names.index("Intercept")]
    notes = list(dict.fromkeys(str(w.message).strip() for w in caught))
    return MixedLogit(float(beta), float(beta_sd), (float(beta - Z95 * beta_sd), float(beta + Z95 * beta_sd)),
                      float(mean[names.index("s")]) if "s" in names else math.nan,
                      float(sds["rater"]), float(sds["item"]), len(data), "; ".join(notes) or None)


def nominal_alpha(sub: pd.DataFrame) -> tuple[float | None, int, str]:
    """(alpha, items, note): Krippendorff's alpha, nominal, over items with two or more choices."""
    coded = sub.assign(code=sub["preferred"].map({SAME: 1}).fillna(sub["b_won"].map({0.0: 0, 1.0: 2})))
    per_item = coded.groupby("item_id")["rater_id"].nunique()
    items = per_item[per_item >= 2].index
    if len(items) == 0:
        return None, 0, "no item has two ratings yet"
    shared = coded[coded["item_id"].isin(items)]
    if shared["code"].nunique() < 2:
        return None, len(items), "every choice is the same"
    matrix = shared.pivot_table(index="rater_id", columns="item_id", values="code", aggfunc="first")
    alpha = float(krippendorff.alpha(reliability_data=matrix.to_numpy(dtype=float), level_of_measurement="nominal"))
    return (None, len(items), "undefined") if math.isnan(alpha) else (alpha, len(items), "")


def _result(sub: pd.DataFrame, dimension: str, kind: str, a: str, b: str, mixed: bool) -> PreferenceResult:
    decided = sub[sub["b_won"].notna()]
    wins_b, wins_a = int((decided["b_won"] == 1).sum()), int((decided["b_won"] == 0).sum())
    net = decided.groupby("rater_id")["b_won"].agg(lambda v: int((v == 1).sum() - (v == 0).sum()))
    net = net.reindex(sub["rater_id"].unique(), fill_value=0)
    left = int((decided["side"] == "left").sum())
    alpha, alpha_items, alpha_note = nominal_alpha(sub)
    return PreferenceResult(
        dimension=dimension, kind=kind, a=a, b=b, prefer_a=wins_a, prefer_b=wins_b, ties=len(sub) - len(decided),
        preference=binomial(wins_b, wins_a + wins_b), p_holm=None,
        raters=binomial(int((net > 0).sum()), int((net != 0).sum())), raters_even=int((net == 0).sum()),
        position=binomial(left, len(decided)), bradley_terry=bradley_terry(decided),
        mixed=mixed_logit(decided) if mixed else None, alpha=alpha, alpha_items=alpha_items, alpha_note=alpha_note)


def analyse_preference_frame(frame: pd.DataFrame, left: dict[int, str], conditions: list[str], dimensions: list[str],
                             *, raters: pd.DataFrame | None = None, mixed: bool = True, study_id: int = 0,
                             study_name: str = "", exclusion: ExclusionRules | None = None) -> PreferenceAnalysis:
    """The whole preference analysis of a ratings frame (stats.RATING_COLUMNS) and the items' left
    conditions; pure. Excluded raters are counted and left out."""
    a, b = conditions
    counts = _counts(frame, raters)
    data = preference_frame(frame[~frame["excluded"].astype(bool)], left, conditions)
    results: dict[str, list[PreferenceResult]] = {kind: [] for kind in counts}
    for kind in results:
        for dimension in dimensions:
            sub = data[(data["rater_kind"] == kind) & (data["dimension"] == dimension)]
            if not sub.empty:
                results[kind].append(_result(sub, dimension, kind, a, b, mixed))
        adjusted = holm(r.preference.p for r in results[kind])
        results[kind] = [replace(r, p_holm=p) for r, p in zip(results[kind], adjusted, strict=True)]
    return PreferenceAnalysis(study_id, study_name, list(conditions), list(dimensions), counts, results, exclusion)


@dataclass(frozen=True)
class PreferenceData:
    """What the page and the report use: the analysis and the choices it was computed from."""

    analysis: PreferenceAnalysis
    frame: pd.DataFrame              # preference_frame of every rater, excluded ones flagged


def analyse_loaded_preference(loaded: StudyRatings, left: dict[int, str], *, mixed: bool = True) -> PreferenceData:
    study = loaded.study
    conditions = [c.name for c in study.definition.conditions]
    analysis = analyse_preference_frame(
        loaded.frame, left, conditions, [d.key for d in study.definition.dimensions], raters=loaded.raters,
        mixed=mixed, study_id=study.id, study_name=study.name, exclusion=loaded.rules)
    return PreferenceData(analysis, preference_frame(loaded.frame, left, conditions))


def preference_data(store: Store, study: int | str, rules: ExclusionRules | None = None, *,
                    mixed: bool = True) -> PreferenceData:
    """A side-by-side study (by id or name) analysed under the rules; ValueError while it has no ratings."""
    loaded = load_study(store, study, rules)
    if not loaded.study.definition.side_by_side:
        raise ValueError(f"study {loaded.study.name!r} is not a side-by-side study")
    if loaded.frame.empty:
        raise ValueError(f"study {loaded.study.id} {loaded.study.name!r} has no choices yet: nothing to analyse")
    return analyse_loaded_preference(loaded, pair_orders(store, loaded.study.id), mixed=mixed)
