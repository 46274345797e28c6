"""The crowd-study statistics, each against an independent computation: hand-worked small cases
(Wilcoxon with ties and zero differences, paired t, Holm, Friedman, descriptives), closed forms
(the mixed model on a balanced crossed design), planted effects, and the monitor's own alpha on
a real DuckDB study with excluded raters and missing ratings."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from tests.test_monitor import add_rater, build_study, flag, item_ids, rate
from vt_core.analysis.stats import (
    RATER_COLUMNS,
    RATING_COLUMNS,
    analyse_frame,
    analyse_study,
    compare_conditions,
    d_z_interval,
    describe,
    describe_wide,
    friedman,
    holm,
    load_raters,
    load_ratings,
    mixed_model,
    paired_t,
    per_unit_means,
    wilcoxon,
    wilcoxon_rows,
)
from vt_core.crowd.exclusion import ExclusionRules, Reason, exclusion_label
from vt_core.crowd.monitoring import monitor

pytestmark = pytest.mark.both_backends  # each test that has a store runs on DuckDB and on PostgreSQL


def two_sided_normal_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


# -- Wilcoxon, worked by hand ------------------------------------------------------------------


def test_wilcoxon_exact_with_zero_differences():
    # d = 0 0 1 -2 3 4 5 6: the zeros are dropped; ranks 1..6, R- = 2, R+ = 19, W = 2.
    # Exact: of the 2^6 = 64 sign patterns, R- <= 2 in 3 ({}, {1}, {2}); two-sided p = 6/64.
    # Z = (19 - 6*7/4) / sqrt(6*7*13/24) = 8.5 / sqrt(22.75)
    a = np.arange(8.0)
    result = wilcoxon(a, a + np.array([0, 0, 1, -2, 3, 4, 5, 6]))
    assert (result.w, result.n, result.n_zero, result.method, result.zero_method) == (2, 6, 2, "exact", "wilcox")
    assert result.p == pytest.approx(6 / 64, abs=1e-12)
    assert result.z == pytest.approx(8.5 / math.sqrt(22.75), abs=1e-12)
    assert result.r == pytest.approx(result.z / math.sqrt(6), abs=1e-12)


def test_wilcoxon_ties_in_a_small_sample_use_all_sign_flips():
    # d = 0 0 1 -1 3 3 5 6: |d| ranks 1.5 1.5 3.5 3.5 5 6; R- = 1.5, R+ = 19.5, W = 1.5.
    # All 64 sign patterns: R+ <= 1.5 for {}, {1.5a}, {1.5b}: 3, so p = 2 * 3/64.
    # Tie correction: two pairs, sum(t^3 - t) = 12, variance 22.75 - 12/48 = 22.5, Z = 9 / sqrt(22.5).
    a = np.zeros(8)
    result = wilcoxon(a, np.array([0, 0, 1, -1, 3, 3, 5, 6.0]))
    assert (result.w, result.n, result.n_zero, result.method) == (1.5, 6, 2, "permutation")
    assert result.p == pytest.approx(6 / 64, abs=1e-12)
    assert result.z == pytest.approx(9 / math.sqrt(22.5), abs=1e-12)


def test_wilcoxon_asymptotic_with_ties_and_zeros():
    # 20 pairs, 2 zero differences, 18 left with tie groups of 4 (|d|=1), 3 (2), 4 (3), 2 (5).
    # Ranks: 1 -> 2.5, 2 -> 6, 3 -> 9.5, 4 -> 12, 5 -> 13.5, 6..9 -> 15..18. The negatives are
    # -1, -2, -4: R- = 2.5 + 6 + 12 = 20.5, R+ = 171 - 20.5 = 150.5. Mean 18*19/4 = 85.5;
    # variance 18*19*37/24 - (60 + 24 + 60 + 6)/48 = 527.25 - 3.125 = 524.125.
    d = np.array([0, 0, 1, 1, 1, -1, 2, 2, -2, 3, 3, 3, 3, -4, 5, 5, 6, 7, 8, 9.0])
    result = wilcoxon(np.zeros(20), d)
    z = 65 / math.sqrt(524.125)
    assert (result.w, result.n, result.n_zero, result.method) == (20.5, 18, 2, "asymptotic")
    assert result.z == pytest.approx(z, abs=1e-12)
    assert result.p == pytest.approx(two_sided_normal_p(z), abs=1e-12)
    assert result.r == pytest.approx(z / math.sqrt(18), abs=1e-12)


def test_wilcoxon_direction_and_order():
    a, b = np.zeros(8), np.array([0, 0, 1, -2, 3, 4, 5, 6.0])
    up, down = wilcoxon(a, b), wilcoxon(b, a)
    assert up.z > 0 > down.z
    assert (up.w, up.p, abs(up.z)) == (down.w, down.p, abs(down.z))


def test_means_that_differ_only_by_float_error_tie():
    # per-rater means of integer ratings: 4.3 - 3.1 = 1.1999999999999997, 2.2 - 1.0 = 1.2000000000000002
    a = np.array([3.1, 1.0, 2.5, 3.0, 1.5])
    b = np.array([4.3, 2.2, 2.0, 5.0, 1.5])
    exact_tenths = wilcoxon(np.zeros(5), np.array([12, 12, -5, 20, 0.0]))
    assert wilcoxon(a, b) == exact_tenths
    assert exact_tenths.method == "permutation"  # the tie was seen


def test_wilcoxon_undefined_cases_say_why():
    same = wilcoxon(np.ones(5), np.ones(5))
    assert (same.method, same.n, same.n_zero, same.z, same.r) == ("none", 0, 5, None, None)
    assert math.isnan(same.p) and "all 5 differences are zero" in same.note
    assert wilcoxon([], []).note == "no pairs"
    with pytest.raises(ValueError, match="NaN"):
        wilcoxon([1.0, np.nan], [2.0, 3.0])
    with pytest.raises(ValueError, match="same shape"):
        wilcoxon([1.0, 2.0], [2.0])


def test_rows_give_the_same_result_as_one_at_a_time():
    rng = np.random.default_rng(3)
    a = np.round(rng.normal(4, 1, (6, 30)), 1)
    b = np.round(a + rng.normal(0.3, 1, (6, 30)), 1)
    b[2, :10] = a[2, :10]  # zero differences in one row only
    b[4] = a[4]            # a row of nothing but zeros
    rows = wilcoxon_rows(a, b)
    assert rows == [wilcoxon(a[i], b[i]) for i in range(6)]
    for i in (0, 2):  # and each row agrees with scipy called on its own, on whole tenths (exact ties)
        called = stats.wilcoxon(np.round((b[i] - a[i]) * 10), method="asymptotic")
        assert rows[i].p == pytest.approx(called.pvalue, abs=1e-12)
        assert abs(rows[i].z) == pytest.approx(abs(called.zstatistic), abs=1e-12)


# -- paired t, Holm, Friedman, descriptives ----------------------------------------------------


def test_paired_t_by_hand():
    # d = 1 2 3 4 10: mean 4, sum of squares 9+4+1+0+36 = 50, SD sqrt(12.5), t = 4 / (sqrt(12.5)/sqrt(5))
    result = paired_t(np.zeros(5), np.array([1, 2, 3, 4, 10.0]))
    t = 4 / (math.sqrt(12.5) / math.sqrt(5))
    assert (result.df, result.mean_diff) == (4, 4.0)
    assert result.t == pytest.approx(t, abs=1e-12)
    assert result.p == pytest.approx(2 * stats.t.sf(t, 4), abs=1e-12)
    assert result.d_z == pytest.approx(4 / math.sqrt(12.5), abs=1e-12)
    low, high = result.d_z_ci
    # the bounds are the noncentralities at which the observed t is the 97.5th and 2.5th percentile
    assert stats.nct.ppf(0.975, 4, low * math.sqrt(5)) == pytest.approx(t, abs=1e-6)
    assert stats.nct.ppf(0.025, 4, high * math.sqrt(5)) == pytest.approx(t, abs=1e-6)
    assert low < result.d_z < high


def test_d_z_interval_approaches_the_normal_approximation():
    n, d = 400, 0.3
    low, high = d_z_interval(d * math.sqrt(n), n)
    half = 1.959964 * math.sqrt(1 / n + d * d / (2 * n))
    assert (low, high) == (pytest.approx(d - half, abs=0.002), pytest.approx(d + half, abs=0.002))
    assert d_z_interval(-d * math.sqrt(n), n) == (pytest.approx(-high, abs=1e-8), pytest.approx(-low, abs=1e-8))
    far = d_z_interval(40.0, 900)  # far in the tails, where scipy's nct.cdf gives NaN
    assert far[0] < 40 / 30 < far[1] and all(math.isfinite(x) for x in far)


def test_paired_t_undefined_cases():
    assert "at least 2" in paired_t([1.0], [2.0]).note
    constant = paired_t([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])
    assert math.isnan(constant.t) and constant.mean_diff == 1.0 and "same" in constant.note


def test_holm_by_hand():
    # sorted 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1, but not below 0.06)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-12)
    adjusted = holm([0.01, math.nan, 0.04])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)
    assert holm([0.4, 0.6]) == pytest.approx([0.8, 0.8])
    assert holm([0.3, 0.6, 0.9]) == pytest.approx([0.9, 1.0, 1.0])  # capped at 1
    assert holm([]) == []


def test_holm_matches_statsmodels():
    rng = np.random.default_rng(9)
    for size in (1, 2, 3, 7, 20):
        p = rng.uniform(0, 0.2, size) ** 2
        p[0] = p[-1]  # a tie
        assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]), abs=1e-15)


FRIEDMAN_RANKS = [(1, 2, 3), (2, 3, 1), (1, 3, 2), (1, 2, 3), (1, 3, 2), (2, 3, 1)]


def test_friedman_by_hand():
    # rank sums 8, 16, 12 over n = 6, k = 3:
    # chi2 = 12 / (6*3*4) * (64 + 256 + 144) - 3*6*4 = 16/3; df 2: p = exp(-chi2 / 2); W = chi2 / (6*2)
    wide = pd.DataFrame([[r + 0.5 * i for r in row] for i, row in enumerate(FRIEDMAN_RANKS)], columns=["a", "b", "c"])
    result = friedman(wide)
    assert (result.df, result.n) == (2, 6)
    assert result.chi2 == pytest.approx(16 / 3, abs=1e-12)
    assert result.p == pytest.approx(math.exp(-8 / 3), abs=1e-12)
    assert result.kendall_w == pytest.approx(16 / 3 / 12, abs=1e-12)
    with pytest.raises(ValueError, match="at least 3 conditions"):
        friedman(wide[["a", "b"]])


def test_three_conditions_friedman_then_holm_over_pairs_with_a_missing_unit():
    rng = np.random.default_rng(11)
    wide = pd.DataFrame({"a": rng.normal(4, 1, 25)})
    wide["b"] = wide["a"] + rng.normal(0.6, 0.8, 25)
    wide["c"] = wide["a"] + rng.normal(0.1, 0.8, 25)
    wide.loc[3, "c"] = np.nan  # a unit missing a condition
    comparisons, fried = compare_conditions(wide)
    complete = wide.dropna()
    assert [(c.a, c.b) for c in comparisons] == [("a", "b"), ("a", "c"), ("b", "c")]
    assert all(c.dropped == 1 and c.power.n == 24 for c in comparisons)
    assert fried.n == 24 and fried.p == pytest.approx(stats.friedmanchisquare(*(complete[c] for c in "abc")).pvalue)
    raw = [wilcoxon(complete[a], complete[b]).p for a, b in (("a", "b"), ("a", "c"), ("b", "c"))]
    assert [c.wilcoxon.p for c in comparisons] == raw
    assert [c.p_holm for c in comparisons] == pytest.approx(holm(raw))


def test_two_conditions_power_note():
    rng = np.random.default_rng(5)
    wide = pd.DataFrame({"base": rng.normal(4, 1, 30)})
    wide["tuned"] = wide["base"] + rng.normal(0.5, 1, 30)
    (comparison,), fried = compare_conditions(wide)
    assert fried is None and comparison.p_holm is None and comparison.dropped == 0
    note = comparison.power
    assert note.n == 30 and note.d_z == comparison.t.d_z
    assert note.detectable_d_z == pytest.approx(0.5295, abs=0.001)  # 30 pairs, 80%: G*Power gives 0.53
    assert (note.n_for_80 - 1) < 30 if note.power >= 0.8 else note.n_for_80 > 30


def test_descriptives_by_hand_over_complete_raters():
    # rater means in a: 2, 3, 4, 5 -> median 3.5, quartiles 2.75 and 4.25 (linear), SD sqrt(5/3);
    # rater 5 has no rating in b and is left out
    rows = []
    for rater, (mean_a, mean_b) in enumerate([(2, 3), (3, 3), (4, 6), (5, 6)], start=1):
        rows += [(rater, "a", 10 + rater, mean_a - 1), (rater, "a", 20 + rater, mean_a + 1),
                 (rater, "b", 30 + rater, mean_b)]
    rows += [(5, "a", 11, 7)]
    frame = pd.DataFrame(rows, columns=["rater_id", "condition", "item_id", "value"])
    a, b = describe(frame, conditions=["a", "b"])
    assert (a.condition, a.raters, a.items, a.ratings) == ("a", 4, 8, 8)
    assert (a.median, a.q1, a.q3, a.mean) == (3.5, 2.75, 4.25, 3.5)
    assert a.sd == pytest.approx(math.sqrt(5 / 3), abs=1e-12)
    assert (b.raters, b.items, b.ratings, b.median) == (4, 4, 4, 4.5)
    wide = per_unit_means(frame, conditions=["a", "b"])
    assert wide.loc[5].isna().tolist() == [False, True]
    only_means = describe_wide(wide)[0]  # without item and rating counts: one per rater
    assert (only_means.raters, only_means.items, only_means.ratings, only_means.median) == (4, 4, 4, 3.5)


# -- the mixed model ---------------------------------------------------------------------------


def crossed(rng, raters=30, items=12, effect=0.5, sd_rater=0.8, sd_item=0.4, sd_residual=1.0, rounded=False):
    """Every rater rates every item; half the items are in condition b."""
    u, v = rng.normal(0, sd_rater, raters), rng.normal(0, sd_item, items)
    rater, item = np.repeat(np.arange(raters), items), np.tile(np.arange(items), raters)
    in_b = item % 2 == 1
    value = 4 + u[rater] + v[item] + effect * in_b + rng.normal(0, sd_residual, raters * items)
    if rounded:
        value = np.clip(np.round(value), 1, 7)
    return pd.DataFrame({"rater_id": rater, "item_id": item + 100, "condition": np.where(in_b, "b", "a"),
                         "value": value})


def test_mixed_model_closed_form_on_a_balanced_crossed_design():
    # Balanced and fully crossed: the GLS estimate is the difference of the condition means, and
    # (raters cancel) Var(b) = 2 (sd_item^2 + sd_residual^2 / raters) / items per condition.
    frame = crossed(np.random.default_rng(2), raters=30, items=12)
    (model,) = mixed_model(frame, ["a", "b"])
    means = frame.groupby("condition")["value"].mean()
    assert model.converged and (model.term, model.reference) == ("b", "a")
    assert model.b == pytest.approx(means["b"] - means["a"], abs=1e-6)
    se = math.sqrt(2 * (model.sd_item ** 2 + model.sd_residual ** 2 / 30) / 6)
    assert model.se == pytest.approx(se, rel=1e-3)
    assert model.ci == (pytest.approx(model.b - 1.959964 * model.se, abs=1e-5),
                        pytest.approx(model.b + 1.959964 * model.se, abs=1e-5))
    assert model.p == pytest.approx(two_sided_normal_p(model.b / model.se), abs=1e-9)
    assert (model.ratings, model.raters, model.items) == (360, 30, 12)


def test_mixed_model_recovers_a_planted_effect_from_rounded_ratings_with_gaps():
    frame = crossed(np.random.default_rng(4), raters=60, items=40, effect=0.6, rounded=True)
    frame = frame.sample(frac=0.5, random_state=1)  # each rater rates about half the items
    (model,) = mixed_model(frame, ["a", "b"])
    assert model.converged
    assert model.ci[0] < 0.6 < model.ci[1] and abs(model.b - 0.6) < 0.25
    assert model.sd_rater == pytest.approx(0.8, abs=0.25) and model.sd_residual == pytest.approx(1.0, abs=0.15)


def test_mixed_model_reports_instead_of_raising():
    one_rater = crossed(np.random.default_rng(1), raters=1, items=6)
    (model,) = mixed_model(one_rater, ["a", "b"])
    assert not model.converged and "at least 2 raters" in model.note and math.isnan(model.b)
    (model,) = mixed_model(one_rater[one_rater["condition"] == "a"], ["a", "b"])
    assert "no ratings in condition(s) b" in model.note
    flat = crossed(np.random.default_rng(1), raters=5, items=6).assign(value=3.0)
    (model,) = mixed_model(flat, ["a", "b"])  # nothing varies: whatever statsmodels does, no exception
    assert model.note


# -- the whole analysis, from a real store -----------------------------------------------------


def test_exclusion_labels():
    assert exclusion_label([Reason.ATTENTION_FAILED]) == "failed attention checks"
    assert exclusion_label(["attention_failed", "too_fast"]) == "failed attention checks + rated too fast"
    assert exclusion_label([Reason.GOLD_MISSED]) == "missed gold items"
    with pytest.raises(ValueError):
        exclusion_label(["something new"])  # a code, never a sentence to guess from


def populate(store):
    """Study with 3 matched items per condition. Humans h1..h4 rate all 6 regular items; h5 rates
    only condition a (missing ratings); h6 fails an attention check; h7 never rates; two LLM
    raters rate everything. Adherence: b is higher; quality: 8 - adherence."""
    study = build_study(store, n_items=3)
    regular = item_ids(store, study.id)  # a1 a2 a3 b1 b2 b3
    attention = item_ids(store, study.id, "attention")
    humans = {name: add_rater(store, study.id, name) for name in ("h1", "h2", "h3", "h4", "h5", "h6", "h7")}
    llms = [add_rater(store, study.id, name, kind="llm") for name in ("l1", "l2")]
    values = {"h1": [3, 4, 3, 5, 6, 5], "h2": [2, 3, 3, 4, 4, 5], "h3": [4, 4, 5, 6, 7, 6],
              "h4": [3, 2, 4, 3, 5, 5], "h6": [1, 1, 1, 7, 7, 7]}
    for name, row in values.items():
        for item, value in zip(regular, row, strict=True):
            rate(store, study.id, humans[name].id, item, value, 8 - value)
    for item, value in zip(regular[:3], [3, 3, 4], strict=True):
        rate(store, study.id, humans["h5"].id, item, value, 8 - value)
    for name in ("h1", "h2", "h6"):
        rate(store, study.id, humans[name].id, attention[0], 2, 5)  # a check item: never analysed
    flag(store, humans["h6"].id, "attention_failed", attention[0])
    for rater, row in zip(llms, ([3, 3, 4, 5, 5, 5], [2, 4, 4, 5, 6, 6]), strict=True):
        for item, value in zip(regular, row, strict=True):
            rate(store, study.id, rater.id, item, value, 8 - value)
    return study, humans, values


def test_loader_flags_excluded_raters_and_keeps_only_regular_items(store):
    study, humans, _ = populate(store)
    frame = load_ratings(store, study.id)
    assert tuple(frame.columns) == RATING_COLUMNS
    assert len(frame) == (5 * 6 + 3 + 2 * 6) * 2  # no attention-check ratings
    h6 = frame[frame["rater_id"] == humans["h6"].id]
    assert h6["excluded"].all() and (h6["exclusion_reason"] == "failed 1 attention check(s)").all()
    assert not frame[frame["rater_id"] != humans["h6"].id]["excluded"].any()
    assert set(frame["rater_kind"]) == {"human", "llm"} and set(frame["match_key"]) == {"m0", "m1", "m2"}
    kept = load_ratings(store, study.id, ExclusionRules(exclude_failed_attention=False))
    assert not kept["excluded"].any()
    raters = load_raters(store, study.id)
    assert tuple(raters.columns) == RATER_COLUMNS and len(raters) == 9
    assert raters.set_index("rater_id").loc[humans["h7"].id, "status"] == "rating"


def test_analyse_study_end_to_end(store):
    study, humans, values = populate(store)
    result = analyse_study(store, study.id, mixed=False)
    assert (result.study_name, result.conditions, result.dimensions) == (
        "monitor study", ["a", "b"], ["adherence", "quality"])
    counts = result.counts["human"]
    assert (counts.recruited, counts.excluded, counts.analysed, counts.no_ratings) == (
        7, {"failed attention checks": 1}, 5, 1)
    assert result.counts["llm"].recruited == 2 and result.counts["llm"].analysed == 2

    adherence, quality = result.results["human"]
    assert (adherence.dimension, adherence.kind, adherence.mixed) == ("adherence", "human", None)
    (comparison,) = adherence.comparisons
    # h1..h4 (h5 dropped for missing b, h6 excluded): per-rater means of a and b
    a = [np.mean(values[h][:3]) for h in ("h1", "h2", "h3", "h4")]
    b = [np.mean(values[h][3:]) for h in ("h1", "h2", "h3", "h4")]
    assert comparison.dropped == 1 and comparison.wilcoxon == wilcoxon(a, b)
    assert comparison.t == paired_t(a, b)
    assert [d.raters for d in adherence.descriptives] == [4, 4]
    assert adherence.descriptives[1].median == float(np.median(b))
    assert quality.comparisons[0].t.d_z == pytest.approx(-comparison.t.d_z)  # quality = 8 - adherence
    ps = [adherence.comparisons[0].wilcoxon.p, quality.comparisons[0].wilcoxon.p]
    assert [adherence.comparisons[0].p_holm, quality.comparisons[0].p_holm] == pytest.approx(holm(ps))

    # agreement: the monitor's figures, for each kind and between kinds
    m = monitor(store, study.id)
    for dimension in ("adherence", "quality"):
        for kind in ("human", "llm"):
            expected = next(x for x in m.agreement if x.dimension == dimension and x.group == kind)
            found = next(r for r in result.results[kind] if r.dimension == dimension)
            assert (found.alpha, found.alpha_items) == (expected.alpha, expected.items)
        expected = next(x for x in m.agreement if x.dimension == dimension and x.group == "human-llm")
        assert result.human_llm_alpha[dimension] == expected.alpha and expected.alpha is not None
    # and the human alpha against krippendorff directly: raters h1..h5 x items a1..b3
    matrix = np.array([values[h] for h in ("h1", "h2", "h3", "h4")] + [[3, 3, 4, np.nan, np.nan, np.nan]], float)
    direct = krippendorff.alpha(reliability_data=matrix, level_of_measurement="ordinal")
    assert adherence.alpha == pytest.approx(direct, abs=1e-12)


def test_analyse_frame_with_three_conditions_and_the_mixed_model():
    rng = np.random.default_rng(8)
    rater_effect, item_effect = rng.normal(0, 0.6, 24), rng.normal(0, 0.4, 18)
    rows = []
    for rater in range(24):
        for item in range(18):
            condition = "abc"[item % 3]
            adherence = 4 + rater_effect[rater] + item_effect[item] + {"a": 0, "b": 0.8, "c": 0.2}[condition]
            for dimension, latent in (("adherence", adherence), ("quality", 4 + rater_effect[rater])):
                value = int(np.clip(np.round(latent + rng.normal()), 1, 7))
                rows.append((rater, "human", item, condition, f"m{item // 3}", dimension, value, 10.0, False, "", ""))
    frame = pd.DataFrame(rows, columns=list(RATING_COLUMNS))
    result = analyse_frame(frame, conditions=["a", "b", "c"])
    assert list(result.results) == ["human"] and result.human_llm_alpha == {}
    adherence, quality = result.results["human"]
    assert len(adherence.comparisons) == 3 and adherence.friedman is not None
    assert [adherence.friedman.p_holm, quality.friedman.p_holm] == pytest.approx(
        holm([adherence.friedman.p, quality.friedman.p]))
    assert [m.term for m in adherence.mixed] == ["b", "c"] and all(m.reference == "a" for m in adherence.mixed)
    b_model = adherence.mixed[0]
    assert b_model.converged and b_model.ci[0] < 0.8 < b_model.ci[1]
    first = adherence.comparisons[0]
    assert first.wilcoxon.p < 0.05 and first.p_holm >= first.wilcoxon.p
