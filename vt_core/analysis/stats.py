"""The statistics of a crowd-rating study (and of any within-subject comparison): pure functions over
pandas frames, and one loader from DuckDB.

Decisions, in one place:

- **Unit of analysis.** Ratings repeat within raters and within items, so they are never treated
  as independent. The paired tests run on per-unit means (per rater for crowd ratings, per
  participant for user-study measures): one value per unit and condition. A unit missing a
  condition is dropped from the paired tests and counted (``Comparison.dropped``); descriptives
  describe the same complete units, so the medians belong to the test reported next to them.
- **Primary test.** Wilcoxon signed-rank on the differences b - a (a = the reference, the first
  condition). Zero differences are dropped before ranking (``zero_method='wilcox'``, Wilcoxon's
  own rule, as R's ``wilcox.test`` and SPSS do), so N counts the non-zero differences and
  ``n_zero`` says how many were dropped. Differences are rounded to 9 decimals first, so means
  like 4.3 - 3.1 and 2.2 - 1.0 tie as they should. The p-value is *exact* (the exact null
  distribution) when N <= 50 and no |differences| tie; *permutation* (all 2^n sign flips, exact
  given the ties) when there are ties and at most 13 pairs; otherwise *asymptotic* (normal, with
  the tie correction, no continuity correction). W is min(R+, R-). Z is always the asymptotic
  one, (R+ - N(N+1)/4) / SE, signed so that Z > 0 means b is higher, whichever p is reported;
  r = |Z| / sqrt(N).
- **Sensitivity.** Paired t on the same differences, with d_z = mean / SD of the differences and
  its 95% CI from the noncentral t (exact under normality; Steiger & Fouladi's inversion).
- **Confirmatory.** A linear mixed model on the individual ratings, rating ~ condition, with
  crossed random intercepts for rater and item (statsmodels MixedLM, REML, one group holding
  variance components for rater and item). Its p-values are Wald z (statsmodels offers no df
  approximation). A failed or non-converged fit is reported with a note, never raised. The
  per-rater tests generalise over raters for the items that were rated (an item that differs
  between conditions shifts every rater alike); the mixed model generalises over items too.
- **Multiplicity.** Holm's step-down method (not statsmodels' default Holm-Sidak). With two
  conditions, Holm across the dimensions (within a rater kind) on the
  primary p. With three or more: Friedman per dimension (its p Holm-corrected across
  dimensions), then pairwise Wilcoxon with Holm across the pairs of that dimension.
- **Agreement and kinds.** Human and LLM raters are analysed apart. Krippendorff's alpha
  (ordinal) and the human-LLM agreement come from the crowd monitor's computation, so the page's
  figures and the monitor's are the same numbers.
- **Exclusion.** Excluded raters (vt_core.crowd's exclusion rules) stay in the loaded frame with
  ``excluded=True``, the reason and its codes; the analysis leaves them out and counts them by code.
- **Power.** Next to each comparison: the observed d_z, the power at this N for it, the N that
  80% power would need, and the smallest d_z this N detects with 80% (analysis.power). Power at
  the observed effect restates the p-value; the detectable d_z is the figure to plan with.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from itertools import combinations

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import optimize, stats

from vt_core.analysis.power import paired_detectable_d_z, paired_n_for_power, paired_power
from vt_core.core.store import Store
from vt_core.crowd import (
    RATER_KINDS,
    ExcludedRater,
    ExclusionRules,
    Study,
    dimension_agreement,
    excluded_raters,
    exclusion_label,
    get_study,
)

RATING_COLUMNS = ("rater_id", "rater_kind", "item_id", "condition", "match_key", "dimension", "value",
                  "seconds", "excluded", "exclusion_reason", "exclusion_codes")
RATER_COLUMNS = ("rater_id", "rater_kind", "status", "excluded", "exclusion_reason", "exclusion_codes")
ZERO_METHOD = "wilcox"
EXACT_MAX_N = 50        # scipy's own limit for its exact null distribution
PERMUTATION_MAX_N = 13  # 2**13 sign flips fit in scipy's 9,999 resamples, so all of them are enumerated
DECIMALS = 9
LEVEL = 0.95


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Descriptive:
    """One condition, over the per-unit means of the complete units."""

    condition: str
    raters: int
    items: int
    ratings: int
    median: float
    q1: float        # 25th and 75th percentiles (linear interpolation, numpy's default)
    q3: float
    mean: float
    sd: float        # sample SD (n - 1)


@dataclass(frozen=True)
class Wilcoxon:
    w: float                 # min(R+, R-)
    z: float | None          # asymptotic Z, > 0 when b is higher
    p: float                 # two-sided, by `method`; NaN when undefined (see note)
    method: str              # "exact" | "permutation" | "asymptotic" | "none"
    r: float | None          # |Z| / sqrt(n)
    n: int                   # non-zero differences: the N of the test
    n_zero: int              # zero differences, dropped before ranking
    zero_method: str = ZERO_METHOD
    note: str | None = None


@dataclass(frozen=True)
class PairedT:
    t: float
    df: int
    p: float
    mean_diff: float                 # b - a
    d_z: float                       # mean_diff / SD of the differences
    d_z_ci: tuple[float, float]      # 95%, noncentral t
    note: str | None = None


@dataclass(frozen=True)
class PowerNote:
    n: int                           # pairs
    d_z: float                       # observed
    power: float | None              # at n for the observed |d_z|
    n_for_80: int | None             # pairs for 80% power at the observed d_z; None when no N would do
    detectable_d_z: float | None = None   # the smallest d_z that n pairs detect with 80% power


@dataclass(frozen=True)
class Comparison:
    """Condition b minus condition a (the reference), on per-unit means."""

    a: str
    b: str
    wilcoxon: Wilcoxon
    t: PairedT
    power: PowerNote
    p_holm: float | None = None      # Holm across dimensions (2 conditions) or across pairs (>= 3)
    dropped: int = 0                 # units left out for missing a condition


@dataclass(frozen=True)
class Friedman:
    chi2: float
    df: int
    p: float
    n: int
    kendall_w: float
    p_holm: float | None = None      # Holm across dimensions


@dataclass(frozen=True)
class MixedModel:
    """rating ~ condition with crossed random intercepts for rater and item; one per term."""

    term: str                        # the condition compared with the reference
    b: float
    se: float
    ci: tuple[float, float]
    p: float
    sd_rater: float
    sd_item: float
    sd_residual: float
    ratings: int
    raters: int
    items: int
    converged: bool
    note: str | None
    reference: str = ""


@dataclass(frozen=True)
class Counts:
    """recruited = sum(excluded.values()) + no_ratings + analysed."""

    recruited: int
    excluded: dict[str, int]         # reason -> raters
    analysed: int
    no_ratings: int = 0              # not excluded, but no rating of a regular item yet


@dataclass(frozen=True)
class DimensionResult:
    dimension: str
    kind: str                        # "human" | "llm"
    descriptives: list[Descriptive]
    comparisons: list[Comparison]    # one (2 conditions) or all pairs (>= 3)
    friedman: Friedman | None        # only with >= 3 conditions
    mixed: list[MixedModel] | None   # one per non-reference condition; None when skipped
    alpha: float | None              # Krippendorff, ordinal, over items rated more than once
    alpha_items: int
    alpha_note: str = ""


@dataclass(frozen=True)
class CrowdAnalysis:
    study_id: int
    study_name: str
    conditions: list[str]
    dimensions: list[str]
    counts: dict[str, Counts]                         # by kind
    results: dict[str, list[DimensionResult]]         # by kind; Holm across dimensions within a kind
    human_llm_alpha: dict[str, float | None]          # per dimension, when both kinds exist
    human_llm_items: dict[str, int] = field(default_factory=dict)
    exclusion: ExclusionRules | None = None


# -- loading -----------------------------------------------------------------------------------


def _exclusions(store: Store, study_id: int, exclusion: ExclusionRules | None) -> dict[int, ExcludedRater]:
    return {r.rater_id: r for r in excluded_raters(store, study_id, exclusion)}


def _flag_excluded(frame: pd.DataFrame, excluded: dict[int, ExcludedRater]) -> pd.DataFrame:
    """excluded, exclusion_reason (what the rules found, for people) and exclusion_codes (the
    reason codes, comma-separated, for counting)."""
    frame["excluded"] = frame["rater_id"].isin(list(excluded))
    found = frame["rater_id"].map(excluded.get)
    frame["exclusion_reason"] = found.map(lambda r: r.details if r else "").astype(str)
    frame["exclusion_codes"] = found.map(lambda r: ",".join(r.codes) if r else "").astype(str)
    return frame


def _ratings(store: Store, study_id: int, excluded: dict[int, ExcludedRater]) -> pd.DataFrame:
    frame = store.frame(
        "SELECT r.rater_id, ra.kind AS rater_kind, r.item_id, si.condition, si.match_key, r.dimension,"
        " r.value, r.seconds FROM ratings r JOIN raters ra ON ra.id = r.rater_id"
        " JOIN study_items si ON si.id = r.item_id"
        " WHERE r.study_id = ? AND si.kind = 'regular' ORDER BY r.id", [study_id])
    return _flag_excluded(frame, excluded)[list(RATING_COLUMNS)]


def _raters(store: Store, study_id: int, excluded: dict[int, ExcludedRater]) -> pd.DataFrame:
    frame = store.frame(
        "SELECT id AS rater_id, kind AS rater_kind, status FROM raters WHERE study_id = ? ORDER BY id",
        [study_id])
    return _flag_excluded(frame, excluded)[list(RATER_COLUMNS)]


def load_ratings(store: Store, study_id: int, exclusion: ExclusionRules | None = None) -> pd.DataFrame:
    """The study's ratings of regular items (RATING_COLUMNS), one row per rater, item and dimension;
    the raters the rules exclude are kept, with excluded=True and the reasons."""
    study_id = get_study(store, study_id).id
    return _ratings(store, study_id, _exclusions(store, study_id, exclusion))


def load_raters(store: Store, study_id: int, exclusion: ExclusionRules | None = None) -> pd.DataFrame:
    """Every registered rater of the study (RATER_COLUMNS), rated or not, flagged as load_ratings does."""
    study_id = get_study(store, study_id).id
    return _raters(store, study_id, _exclusions(store, study_id, exclusion))


# -- per-unit means and descriptives -----------------------------------------------------------


def per_unit_means(frame: pd.DataFrame, unit: str = "rater_id", conditions=None) -> pd.DataFrame:
    """Mean value per unit and condition: index = unit, one column per condition (in `conditions`'
    order when given; NaN where a unit has no value in a condition)."""
    wide = frame.groupby([unit, "condition"], sort=True)["value"].mean().unstack("condition")
    if conditions is not None:
        wide = wide.reindex(columns=list(conditions))
    wide.columns.name = None
    return wide


def describe_wide(wide: pd.DataFrame, items: dict | None = None, ratings: dict | None = None) -> list[Descriptive]:
    """Descriptives per column over the complete rows of a unit x condition table; `items` and
    `ratings` (condition -> count) default to one per unit."""
    complete = wide.dropna()
    out = []
    for condition in wide.columns:
        values = complete[condition].to_numpy(dtype=float)
        n = len(values)
        q1, median, q3 = np.percentile(values, [25, 50, 75]) if n else (math.nan,) * 3
        out.append(Descriptive(
            condition=str(condition), raters=n,
            items=int((items or {}).get(condition, n)), ratings=int((ratings or {}).get(condition, n)),
            median=float(median), q1=float(q1), q3=float(q3),
            mean=float(values.mean()) if n else math.nan,
            sd=float(values.std(ddof=1)) if n > 1 else math.nan))
    return out


def describe(frame: pd.DataFrame, unit: str = "rater_id", conditions=None) -> list[Descriptive]:
    """Descriptives per condition of a long frame (unit, condition, value, and item_id when there
    are items), over the per-unit means of the units that have every condition."""
    wide = per_unit_means(frame, unit, conditions)
    kept = frame[frame[unit].isin(wide.dropna().index)]
    by_condition = kept.groupby("condition")
    items = by_condition["item_id"].nunique().to_dict() if "item_id" in frame else None
    return describe_wide(wide, items, by_condition.size().to_dict())


# -- the tests ---------------------------------------------------------------------------------


def _as_rows(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same shape, got {a.shape} and {b.shape}")
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("paired values contain NaN; drop the incomplete pairs first")
    return np.atleast_2d(a), np.atleast_2d(b)


def wilcoxon_rows(a, b) -> list[Wilcoxon]:
    """The primary test on many comparisons at once: a and b are (comparisons x pairs) arrays
    (one row per comparison; a 1-D pair of arrays is one comparison). See the module docstring
    for the choice of method, W, Z and r; `wilcoxon` is this with one row."""
    a, b = _as_rows(a, b)
    d = np.round(b - a, DECIMALS)
    rows, pairs = d.shape
    nonzero = (d != 0).sum(axis=1)
    magnitudes = np.sort(np.where(d != 0, np.abs(d), np.nan), axis=1)
    ties = (magnitudes[:, 1:] == magnitudes[:, :-1]).any(axis=1)  # NaN never equals NaN
    method = np.where(nonzero == 0, "none",
                      np.where((nonzero <= EXACT_MAX_N) & ~ties, "exact",
                               np.where(pairs <= PERMUTATION_MAX_N, "permutation", "asymptotic")))
    w = np.full(rows, math.nan)
    p = np.full(rows, math.nan)
    z = np.full(rows, math.nan)
    valid = np.flatnonzero(nonzero > 0)
    if len(valid):
        signed = stats.wilcoxon(d[valid], zero_method=ZERO_METHOD, method="asymptotic", alternative="greater",
                                axis=1)
        z[valid] = signed.zstatistic
    for name in ("exact", "asymptotic"):
        chosen = np.flatnonzero(method == name)
        if len(chosen):
            result = stats.wilcoxon(d[chosen], zero_method=ZERO_METHOD, method=name, axis=1)
            w[chosen], p[chosen] = result.statistic, result.pvalue
    for i in np.flatnonzero(method == "permutation"):
        w[i], p[i] = _sign_flip_test(d[i][d[i] != 0])
    out = []
    for i in range(rows):
        n, n_zero = int(nonzero[i]), int(pairs - nonzero[i])
        if method[i] == "none":
            note = "no pairs" if pairs == 0 else f"all {pairs} differences are zero: no test"
            out.append(Wilcoxon(0.0, None, math.nan, "none", None, 0, n_zero, ZERO_METHOD, note))
            continue
        out.append(Wilcoxon(float(w[i]), float(z[i]), float(min(p[i], 1.0)), str(method[i]),
                            abs(float(z[i])) / math.sqrt(n), n, n_zero, ZERO_METHOD))
    return out


def _sign_flip_test(d: np.ndarray) -> tuple[float, float]:
    """(W, two-sided p) of the signed-rank test by enumerating all 2^n sign flips of the non-zero
    differences d with their tied (average) ranks: what scipy's PermutationMethod computes for
    n <= 13, as one matrix product instead of a generic resampling loop (~1 s per test)."""
    ranks = stats.rankdata(np.abs(d))
    plus = ranks[d > 0].sum()
    flips = (np.arange(2 ** len(d))[:, None] >> np.arange(len(d))) & 1
    centre, distance = ranks.sum() / 2, abs(plus - ranks.sum() / 2)
    p = np.mean(np.abs(flips @ ranks - centre) >= distance - 1e-9)
    return float(min(plus, ranks.sum() - plus)), float(p)


def wilcoxon(a, b) -> Wilcoxon:
    """Wilcoxon signed-rank test of b - a over paired values (1-D)."""
    if np.ndim(a) != 1:
        raise ValueError("wilcoxon takes two 1-D arrays of paired values; use wilcoxon_rows for many")
    return wilcoxon_rows(a, b)[0]


def _ncp_bound(t: float, df: int, q: float) -> float:
    """The noncentrality at which the observed t is the q-quantile. Written with nct.sf, which
    rises with ncp and stays finite far out in the tails, where scipy's nct.cdf returns NaN."""
    def gap(ncp: float) -> float:
        return stats.nct.sf(t, df, ncp) - (1 - q)
    width = max(10.0, abs(t))
    with warnings.catch_warnings():  # bracketing visits far tails, where boost warns about its series
        warnings.simplefilter("ignore", RuntimeWarning)
        while gap(t - width) > 0 or gap(t + width) < 0:
            width *= 2
        return float(optimize.brentq(gap, t - width, t + width, xtol=1e-10))


def d_z_interval(t: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """CI of d_z from the observed paired t with n pairs, by inverting the noncentral t
    (exact under normal differences): the bounds are the ncp / sqrt(n) at which t sits at the
    upper and lower (1 - level) / 2 tail."""
    df = n - 1
    low = _ncp_bound(t, df, (1 + level) / 2)
    high = _ncp_bound(t, df, (1 - level) / 2)
    return low / math.sqrt(n), high / math.sqrt(n)


def paired_t(a, b) -> PairedT:
    """Paired t-test of b - a, with d_z and its 95% CI (noncentral t)."""
    a, b = (np.asarray(x, dtype=float) for x in _as_rows(a, b))
    a, b = a[0], b[0]
    d = b - a
    n = len(d)
    nan = math.nan
    if n < 2:
        return PairedT(nan, max(n - 1, 0), nan, float(d.mean()) if n else nan, nan, (nan, nan),
                       f"{n} pair(s): a paired t-test needs at least 2")
    sd = float(d.std(ddof=1))
    mean = float(d.mean())
    if sd == 0 or np.round(sd, DECIMALS) == 0:
        return PairedT(nan, n - 1, nan, mean, nan, (nan, nan), "every difference is the same: t is undefined")
    result = stats.ttest_rel(b, a)
    t = float(result.statistic)
    return PairedT(t, int(result.df), float(result.pvalue), mean, mean / sd, d_z_interval(t, n))


def power_note(n: int, d_z: float) -> PowerNote:
    """Power at n for the observed d_z, the N for 80%, and the d_z n pairs detect with 80%."""
    if n < 2:
        return PowerNote(n, d_z, None, None, None)
    detectable = paired_detectable_d_z(n)
    if not math.isfinite(d_z):
        return PowerNote(n, d_z, None, None, detectable)
    try:
        needed = paired_n_for_power(d_z)
    except ValueError:  # d_z = 0 or too small for any practical N
        needed = None
    return PowerNote(n, d_z, paired_power(n, d_z), needed, detectable)


def holm(pvalues) -> list[float]:
    """Holm-adjusted p-values; NaN stays NaN and does not count as a test.

    The same figures as statsmodels' multipletests(method='holm') (the tests check it), computed
    here because multipletests runs a full gc.collect() on every call: 0.1-0.2 s in a process as
    large as the app's, for four lines of arithmetic."""
    values = np.asarray(list(pvalues), dtype=float)
    out = np.full(len(values), math.nan)
    finite = np.flatnonzero(~np.isnan(values))
    order = finite[np.argsort(values[finite], kind="stable")]
    steps = values[order] * (len(order) - np.arange(len(order)))  # the i-th smallest times (m - i)
    out[order] = np.minimum(np.maximum.accumulate(steps), 1.0)
    return [float(v) for v in out]


def friedman(wide: pd.DataFrame) -> Friedman:
    """Friedman test over the complete rows of a unit x condition table (>= 3 columns), with
    Kendall's W = chi2 / (n (k - 1))."""
    complete = wide.dropna()
    n, k = complete.shape
    if k < 3:
        raise ValueError(f"the Friedman test needs at least 3 conditions, got {k}")
    if n < 2:
        return Friedman(math.nan, k - 1, math.nan, n, math.nan)
    with np.errstate(divide="ignore", invalid="ignore"):  # every row tied: chi2 is undefined (NaN)
        chi2, p = stats.friedmanchisquare(*(complete[c].to_numpy(dtype=float) for c in complete.columns))
    return Friedman(float(chi2), k - 1, float(p), n, float(chi2) / (n * (k - 1)))


def compare_conditions(wide: pd.DataFrame) -> tuple[list[Comparison], Friedman | None]:
    """Paired comparisons of a unit x condition table (the first column is the reference).

    Units missing any condition are dropped and counted. Two conditions: one Comparison (b = the
    second column minus a = the first). Three or more: Friedman, then every pair (later column
    minus earlier), Holm-corrected across the pairs (p_holm)."""
    conditions = [str(c) for c in wide.columns]
    if len(conditions) < 2:
        raise ValueError(f"a comparison needs at least 2 conditions, got {conditions}")
    complete = wide.dropna()
    dropped = len(wide) - len(complete)
    values = complete.to_numpy(dtype=float).T
    pairs = list(combinations(range(len(conditions)), 2))
    tests = wilcoxon_rows(np.array([values[i] for i, _ in pairs]), np.array([values[j] for _, j in pairs]))
    comparisons = []
    for (i, j), test in zip(pairs, tests, strict=True):
        t = paired_t(values[i], values[j])
        comparisons.append(Comparison(conditions[i], conditions[j], test, t, power_note(len(complete), t.d_z),
                                      dropped=dropped))
    if len(conditions) == 2:
        return comparisons, None
    adjusted = holm(c.wilcoxon.p for c in comparisons)
    comparisons = [replace(c, p_holm=p) for c, p in zip(comparisons, adjusted, strict=True)]
    return comparisons, friedman(complete)


# -- the mixed model ---------------------------------------------------------------------------


def _failed_models(terms, reference, frame, note) -> list[MixedModel]:
    nan = math.nan
    return [MixedModel(term, nan, nan, (nan, nan), nan, nan, nan, nan, len(frame), frame["rater_id"].nunique(),
                       frame["item_id"].nunique(), False, note, reference) for term in terms]


def mixed_model(frame: pd.DataFrame, conditions=None) -> list[MixedModel]:
    """rating ~ condition + (1 | rater) + (1 | item) on one dimension's ratings (columns rater_id,
    item_id, condition, value), REML. The reference is the first of `conditions` (default: the
    conditions in sorted order). Never raises on a bad fit: the note says what happened."""
    conditions = list(conditions) if conditions is not None else sorted(frame["condition"].unique())
    reference, terms = conditions[0], conditions[1:]
    data = frame[frame["condition"].isin(conditions)]
    missing = [c for c in conditions if not (data["condition"] == c).any()]
    if missing:
        return _failed_models(terms, reference, data, f"no ratings in condition(s) {', '.join(missing)}")
    if data["rater_id"].nunique() < 2 or data["item_id"].nunique() < 2:
        return _failed_models(terms, reference, data, "needs at least 2 raters and 2 items")
    columns = [f"c{i}" for i in range(1, len(conditions))]
    model_data = pd.DataFrame({"value": data["value"].to_numpy(dtype=float),
                               "rater_id": data["rater_id"].to_numpy(), "item_id": data["item_id"].to_numpy(),
                               "group": 0})
    for column, term in zip(columns, terms, strict=True):
        model_data[column] = (data["condition"].to_numpy() == term).astype(float)
    with warnings.catch_warnings(record=True) as caught:  # statsmodels says what went wrong as warnings
        warnings.simplefilter("always")
        try:
            model = smf.mixedlm("value ~ " + " + ".join(columns), model_data, groups="group", re_formula="0",
                                vc_formula={"rater": "0 + C(rater_id)", "item": "0 + C(item_id)"},
                                use_sparse=True)  # same estimates as dense, about 40% faster at 10,000 ratings
            # Powell first, then L-BFGS: on variance components near zero statsmodels' default
            # (BFGS, L-BFGS, CG) retries for seconds and can stop short of the REML optimum
            result = model.fit(reml=True, method=["powell", "lbfgs"])
            variances = dict(zip(model.exog_vc.names, np.asarray(result.vcomp, dtype=float), strict=True))
            fe, se, p, ci = result.fe_params, result.bse_fe, result.pvalues, result.conf_int(alpha=1 - LEVEL)
        except Exception as exc:  # noqa: BLE001 - a numerical failure is a result to report, not a crash
            return _failed_models(terms, reference, data, f"the model could not be fitted: "
                                                          f"{type(exc).__name__}: {exc}")
    messages = list(dict.fromkeys(str(w.message).strip() for w in caught))
    converged = bool(result.converged)
    if not converged:
        messages.insert(0, "the fit did not converge; read b and SE with caution")
    out = []
    for column, term in zip(columns, terms, strict=True):
        out.append(MixedModel(
            term=term, b=float(fe[column]), se=float(se[column]), p=float(p[column]),
            ci=(float(ci.loc[column, 0]), float(ci.loc[column, 1])), sd_rater=math.sqrt(max(variances["rater"], 0.0)),
            sd_item=math.sqrt(max(variances["item"], 0.0)), sd_residual=math.sqrt(float(result.scale)),
            ratings=len(data), raters=int(data["rater_id"].nunique()), items=int(data["item_id"].nunique()),
            converged=converged, note="; ".join(messages) or None, reference=reference))
    return out


# -- the whole analysis ------------------------------------------------------------------------


def _counts(frame: pd.DataFrame, raters: pd.DataFrame | None) -> dict[str, Counts]:
    roster = raters if raters is not None else frame.drop_duplicates("rater_id")
    rated = set(frame["rater_id"].unique().tolist())
    out = {}
    for kind in RATER_KINDS:
        mine = roster[roster["rater_kind"] == kind]
        if mine.empty:
            continue
        codes = mine[mine["excluded"]]["exclusion_codes"]
        excluded = codes.map(lambda joined: exclusion_label(joined.split(","))).value_counts()
        kept = mine[~mine["excluded"]]
        analysed = int(kept["rater_id"].isin(rated).sum())
        out[kind] = Counts(recruited=len(mine), excluded={str(k): int(v) for k, v in excluded.items()},
                           analysed=analysed, no_ratings=len(kept) - analysed)
    return out


def _dimension(sub: pd.DataFrame, dimension: str, kind: str, conditions: list[str], agreement,
               mixed: bool) -> DimensionResult:
    wide = per_unit_means(sub, conditions=conditions)
    comparisons, fried = compare_conditions(wide)
    own = next(a for a in agreement if a.group == kind)
    return DimensionResult(
        dimension=dimension, kind=kind, descriptives=describe(sub, conditions=conditions),
        comparisons=comparisons, friedman=fried, mixed=mixed_model(sub, conditions) if mixed else None,
        alpha=own.alpha, alpha_items=own.items, alpha_note=own.note)


def _agreement_of(ratings: pd.DataFrame, dimension: str):
    """vt_core.crowd.monitoring's agreement (alpha per kind and human-LLM) for one dimension's ratings."""
    by_kind = {kind: dict(zip(zip(part["rater_id"].tolist(), part["item_id"].tolist(), strict=True),
                              part["value"].tolist(), strict=True))
               for kind, part in ratings.groupby("rater_kind")}
    return dimension_agreement(dimension, by_kind)


def _holm_across_dimensions(results: list[DimensionResult]) -> list[DimensionResult]:
    if not results:
        return results
    if results[0].friedman is None:
        adjusted = holm(r.comparisons[0].wilcoxon.p for r in results)
        return [replace(r, comparisons=[replace(r.comparisons[0], p_holm=p)])
                for r, p in zip(results, adjusted, strict=True)]
    adjusted = holm(r.friedman.p for r in results)
    return [replace(r, friedman=replace(r.friedman, p_holm=p)) for r, p in zip(results, adjusted, strict=True)]


def analyse_frame(frame: pd.DataFrame, *, study_id: int = 0, study_name: str = "", conditions=None,
                  dimensions=None, raters: pd.DataFrame | None = None, mixed: bool = True,
                  exclusion: ExclusionRules | None = None) -> CrowdAnalysis:
    """The whole crowd analysis of a ratings frame (RATING_COLUMNS), pure. `conditions` (the
    first is the reference) and `dimensions` default to those in the frame, sorted; `raters`
    (RATER_COLUMNS) lets the counts include raters who have not rated yet."""
    conditions = list(conditions) if conditions is not None else sorted(frame["condition"].unique())
    dimensions = list(dimensions) if dimensions is not None else sorted(frame["dimension"].unique())
    counts = _counts(frame, raters)
    kept = frame[~frame["excluded"].astype(bool) & frame["condition"].isin(conditions)]
    results: dict[str, list[DimensionResult]] = {kind: [] for kind in counts}
    human_llm: dict[str, float | None] = {}
    human_llm_items: dict[str, int] = {}
    for dimension in dimensions:
        here = kept[kept["dimension"] == dimension]
        agreement = _agreement_of(here, dimension)
        for a in agreement:
            if a.group == "human-llm":
                human_llm[dimension], human_llm_items[dimension] = a.alpha, a.items
        for kind in results:
            sub = here[here["rater_kind"] == kind]
            if not sub.empty:
                results[kind].append(_dimension(sub, dimension, kind, conditions, agreement, mixed))
    results = {kind: _holm_across_dimensions(found) for kind, found in results.items()}
    return CrowdAnalysis(study_id, study_name, conditions, dimensions, counts, results, human_llm,
                         human_llm_items, exclusion)


@dataclass(frozen=True)
class StudyRatings:
    """A study's ratings (RATING_COLUMNS) and raters (RATER_COLUMNS), flagged under `rules`."""

    study: Study
    rules: ExclusionRules
    frame: pd.DataFrame
    raters: pd.DataFrame


def load_study(store: Store, study_id: int | str, exclusion: ExclusionRules | None = None) -> StudyRatings:
    """A study (by id or name) with its ratings and raters, read once, for analyse_loaded."""
    study = get_study(store, study_id)
    rules = exclusion or ExclusionRules()
    excluded = _exclusions(store, study.id, rules)
    return StudyRatings(study, rules, _ratings(store, study.id, excluded), _raters(store, study.id, excluded))


def analyse_loaded(loaded: StudyRatings, *, mixed: bool = True) -> CrowdAnalysis:
    """analyse_frame on a loaded study, with its conditions, dimensions, raters and rules."""
    study = loaded.study
    return analyse_frame(loaded.frame, study_id=study.id, study_name=study.name,
                         conditions=[c.name for c in study.definition.conditions],
                         dimensions=[d.key for d in study.definition.dimensions],
                         raters=loaded.raters, mixed=mixed, exclusion=loaded.rules)


def analyse_study(store: Store, study_id: int | str, exclusion: ExclusionRules | None = None, *,
                  mixed: bool = True) -> CrowdAnalysis:
    """Load a study (by id or name) with its exclusion rules and analyse it (analyse_frame)."""
    return analyse_loaded(load_study(store, study_id, exclusion), mixed=mixed)
