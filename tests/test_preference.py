"""The side-by-side preference statistics against reference computations: scipy's binomtest on the same
counts, a Bradley-Terry fit on a hand-made case whose maximum-likelihood answer is known in closed form,
the mixed logistic model's direction, and Krippendorff's alpha on a hand-made reliability matrix."""

from __future__ import annotations

import io
import math

import krippendorff
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vt_core.analysis.preference import (
    SAME,
    analyse_preference_frame,
    binomial,
    bradley_terry,
    preference_frame,
)

A, B = "baseline", "tuned"


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def ratings(rows) -> pd.DataFrame:
    """rows: (rater, item, dimension, value) of human raters, none excluded."""
    frame = pd.DataFrame(rows, columns=["rater_id", "item_id", "dimension", "value"])
    frame["rater_kind"], frame["condition"], frame["match_key"] = "human", "_pair", frame["item_id"].astype(str)
    frame["seconds"], frame["excluded"], frame["exclusion_reason"], frame["exclusion_codes"] = 5.0, False, "", ""
    return frame


def hand_made():
    """40 items, tuned on the left of items 0-19 and on the right of 20-39; one rater per item (10 raters
    of 4 items). Tuned on the left wins 15 of 20, on the right 9 of 20; ties none."""
    left = {i: (B if i < 20 else A) for i in range(40)}
    rows = []
    for i in range(40):
        tuned_wins = i < 15 or 20 <= i < 29
        tuned_side = 1 if left[i] == B else 3
        rows.append((i % 10, i, "quality", tuned_side if tuned_wins else 4 - tuned_side))
    return ratings(rows), left


def test_choices_are_read_by_side_and_by_condition():
    frame = ratings([(1, 10, "quality", 1), (1, 11, "quality", 1), (1, 12, "quality", 2), (1, 13, "quality", 3)])
    out = preference_frame(frame, {10: A, 11: B, 12: A, 13: A}, [A, B])
    assert out["side"].tolist() == ["left", "left", "same", "right"]
    assert out["preferred"].tolist() == [A, B, SAME, B]
    assert out["b_left"].tolist() == [False, True, False, False]
    assert out["b_won"].tolist()[:2] == [0.0, 1.0] and math.isnan(out["b_won"].tolist()[2])


@pytest.mark.parametrize(("k", "n"), [(24, 40), (0, 7), (13, 13), (51, 100), (3, 20)])
def test_binomial_is_scipys_binomtest_with_the_exact_interval(k, n):
    mine = binomial(k, n)
    reference = stats.binomtest(k, n, 0.5, alternative="two-sided")
    ci = reference.proportion_ci(0.95, method="exact")
    assert mine.p == pytest.approx(reference.pvalue, rel=1e-12)
    assert mine.share == k / n and mine.ci == pytest.approx((ci.low, ci.high), rel=1e-12)


def test_bradley_terry_recovers_the_closed_form_answer_of_a_saturated_case():
    frame, left = hand_made()
    choices = preference_frame(frame, left, [A, B])
    fit = bradley_terry(choices)
    # logit P(tuned) = beta + gamma * s, s = +1 on the left: beta + gamma = logit(15/20), beta - gamma = logit(9/20)
    assert fit.beta == pytest.approx((logit(0.75) + logit(0.45)) / 2, abs=1e-6)
    assert fit.gamma == pytest.approx((logit(0.75) - logit(0.45)) / 2, abs=1e-6)
    assert fit.choices == 40 and fit.raters == 10 and fit.beta_se > 0
    assert fit.beta_ci[0] < fit.beta < fit.beta_ci[1]


def test_the_whole_analysis_on_the_hand_made_case():
    frame, left = hand_made()
    tie_rows = ratings([(0, 0, "adherence", 2), (1, 1, "adherence", 2)] +
                       [(r, i, "adherence", 1 if left[i] == B else 3) for r, i in ((2, 2), (3, 3), (4, 4), (5, 25))])
    analysis = analyse_preference_frame(pd.concat([frame, tie_rows], ignore_index=True), left, [A, B],
                                        ["adherence", "quality"], mixed=True)
    adherence, quality = analysis.results["human"]
    assert (quality.prefer_b, quality.prefer_a, quality.ties) == (24, 16, 0)
    assert quality.preference.p == pytest.approx(stats.binomtest(24, 40).pvalue)
    # Left chosen: tuned-left wins (15) + tuned-right losses (11) = 26 of 40
    assert (quality.position.k, quality.position.n) == (26, 40)
    assert quality.position.p == pytest.approx(stats.binomtest(26, 40).pvalue)
    assert (adherence.prefer_b, adherence.prefer_a, adherence.ties) == (4, 0, 2)
    assert adherence.preference.p == pytest.approx(stats.binomtest(4, 4).pvalue)
    holm = sorted([adherence.preference.p, quality.preference.p])
    assert sorted([adherence.p_holm, quality.p_holm]) == pytest.approx([2 * holm[0], max(2 * holm[0], holm[1])])
    # raters: each of the 10 raters' net preference for tuned over baseline
    net = {r: 0 for r in range(10)}
    for i in range(40):
        net[i % 10] += 1 if (i < 15 or 20 <= i < 29) else -1
    leaning = [v for v in net.values() if v != 0]
    assert quality.raters.k == sum(v > 0 for v in leaning) and quality.raters.n == len(leaning)
    assert quality.raters_even == sum(v == 0 for v in net.values())
    assert quality.mixed is not None and quality.mixed.beta > 0 and quality.mixed.choices == 40


def test_nominal_alpha_is_krippendorffs_on_the_choices_coded_by_condition():
    left = {1: A, 2: B, 3: A}
    # items 1-3, raters 1-3: values are sides; coded by condition: a=0, same=1, b=2
    rows = [(1, 1, "q", 1), (2, 1, "q", 1), (3, 1, "q", 3),
            (1, 2, "q", 1), (2, 2, "q", 1), (3, 2, "q", 2),
            (1, 3, "q", 3), (2, 3, "q", 3)]
    analysis = analyse_preference_frame(ratings(rows), left, [A, B], ["q"], mixed=False)
    result = analysis.results["human"][0]
    matrix = np.array([[0, 2, 2], [0, 2, 2], [2, 1, np.nan]], dtype=float)  # raters x items
    assert result.alpha == pytest.approx(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))
    assert result.alpha_items == 3 and result.mixed is None


def test_excluded_raters_are_left_out_and_counted():
    frame, left = hand_made()
    frame.loc[frame["rater_id"] == 0, ["excluded", "exclusion_codes"]] = (True, "attention_failed")
    analysis = analyse_preference_frame(frame, left, [A, B], ["quality"], mixed=False)
    quality = analysis.results["human"][0]
    assert quality.prefer_a + quality.prefer_b == 36
    assert analysis.counts["human"].analysed == 9 and sum(analysis.counts["human"].excluded.values()) == 1


def test_the_report_says_the_figures_in_apa_style_and_carries_charts_and_tables():
    from vt_core.analysis.preference import PreferenceData
    from vt_core.analysis.preference_report import preference_paragraphs, preference_report_files

    frame, left = hand_made()
    analysis = analyse_preference_frame(frame, left, [A, B], ["quality"], mixed=True, study_id=3, study_name="pref")
    quality = analysis.results["human"][0]
    text = preference_paragraphs(quality)
    p = stats.binomtest(24, 40).pvalue
    assert text[0].startswith("On quality, tuned was preferred in 24 of 40 choices, baseline in 16, and 0 were rated "
                              "about the same. Of the 40 non-tied choices, 60.0%, 95% CI [")
    assert f"exact binomial test against .50, *p* = {f'{p:.3f}'[1:]}" in text[0]
    assert "the left conversation was chosen in 26 of 40 non-tied choices (65.0%" in text[4]
    assert f"*β* = {quality.bradley_terry.beta:.2f}" in text[2]
    files = preference_report_files(PreferenceData(analysis, preference_frame(frame, left, [A, B])), "svg")
    assert {"report.md", "charts/preference.svg", "charts/position.svg", "tables/preference.csv",
            "tables/counts.csv", "tables/choices.csv"} <= set(files)
    report = files["report.md"].decode()
    assert text[0] in report and "(charts/position.svg)" in report and "(charts/preference.svg)" in report
    table = pd.read_csv(io.BytesIO(files["tables/preference.csv"]))
    assert table.loc[0, ["prefer_a", "ties", "prefer_b", "left", "non_tied"]].tolist() == [16, 0, 24, 26, 40]
