"""Charts: each builds a Vega-Lite spec that Altair validates against the schema, with the expected
data, encodings, titles and axis titles (worked by hand on small data), and renders to PNG and
SVG through vl-convert."""

import math

import pandas as pd
import pytest

from vt_core.analysis.charts import (
    agreement_chart,
    chart_bytes,
    crowd_charts,
    dz_chart,
    dz_interval,
    likert_chart,
    likert_shares,
    mixed_interval,
    slope_chart,
)
from vt_core.analysis.stats import (
    Comparison,
    Counts,
    CrowdAnalysis,
    Descriptive,
    DimensionResult,
    MixedModel,
    PairedT,
    PowerNote,
    Wilcoxon,
)
from vt_core.crowd.exclusion import ExclusionRules


def layers(spec: dict) -> list[dict]:
    return spec["layer"]


def values(spec: dict) -> list[dict]:
    return spec["data"]["values"]


# -- paired slopes ----------------------------------------------------------------------------


def test_slope_chart_draws_complete_units_and_the_medians():
    wide = pd.DataFrame({"baseline": [3.0, 4.0, 5.0, 2.0], "tuned": [5.0, 4.5, 6.0, math.nan]},
                        index=pd.Index([11, 12, 13, 14], name="rater_id"))
    spec = slope_chart(wide, title="Adherence per rater", y_title="Mean adherence (1-7)", domain=(1, 7)).to_dict()
    assert spec["title"]["text"] == "Adherence per rater"
    assert spec["title"]["subtitle"] == "one grey line per rater (N = 3); red: the median of each condition"
    lines, median_line, median_points = layers(spec)
    assert {(v["unit"], v["condition"], v["value"]) for v in values(lines)} == {
        ("11", "baseline", 3.0), ("12", "baseline", 4.0), ("13", "baseline", 5.0),
        ("11", "tuned", 5.0), ("12", "tuned", 4.5), ("13", "tuned", 6.0)}  # rater 14 misses a condition
    assert values(median_line) == [{"condition": "baseline", "median": 4.0}, {"condition": "tuned", "median": 5.0}]
    enc = lines["encoding"]
    assert enc["x"]["field"] == "condition" and enc["x"]["sort"] == ["baseline", "tuned"]
    assert enc["x"]["title"] == "Condition"
    assert enc["y"]["title"] == "Mean adherence (1-7)" and enc["y"]["scale"]["domain"] == [1, 7]
    assert enc["detail"]["field"] == "unit"
    assert median_points["mark"]["type"] == "point" and median_line["mark"]["type"] == "line"


# -- Likert distributions ---------------------------------------------------------------------


def test_likert_shares_are_centred_on_the_neutral_point():
    answers = pd.DataFrame({"condition": ["a"] * 4 + ["b"] * 2, "value": [1, 4, 4, 7, 6, 7]})
    labels = [str(v) for v in range(1, 8)]
    shares = likert_shares(answers, ["a", "b"], labels).set_index(["condition", "value"])
    # a: 25% at 1, 50% at the neutral 4 (half of it left of 0), 25% at 7
    assert shares.loc[("a", 1), ["start", "end"]].tolist() == [-50.0, -25.0]
    assert shares.loc[("a", 4), ["start", "end"]].tolist() == [-25.0, 25.0]
    assert shares.loc[("a", 7), ["start", "end"]].tolist() == [25.0, 50.0]
    assert shares.loc[("b", 6), ["start", "end", "percent", "count"]].tolist() == [0.0, 50.0, 50.0, 1]
    assert shares.loc[("b", 7), ["start", "end"]].tolist() == [50.0, 100.0]
    assert shares.loc[("a", 2), "count"] == 0 and shares.loc[("a", 2), "label"] == "2 2"
    # an even scale has no neutral point: the bars meet between its two middle values
    even = likert_shares(pd.DataFrame({"condition": ["a"] * 4, "value": [1, 2, 3, 4]}), ["a"], ["1", "2", "3", "4"])
    assert even["start"].tolist() == [-50.0, -25.0, 0.0, 25.0]
    with pytest.raises(ValueError, match="answers outside the 4-point scale: 0, 5"):
        likert_shares(pd.DataFrame({"condition": ["a"] * 3, "value": [0, 2, 5]}), ["a"], ["1", "2", "3", "4"])


def test_likert_chart_encodings():
    answers = pd.DataFrame({"condition": ["tuned", "baseline", "tuned"], "value": [7, 2, 5]})
    spec = likert_chart(answers, title="Adherence ratings", conditions=["baseline", "tuned"]).to_dict()
    assert spec["title"]["text"] == "Adherence ratings"
    enc = spec["encoding"]
    assert enc["x"]["field"] == "start" and enc["x2"]["field"] == "end"
    assert enc["x"]["title"] == "Share of answers (%); left of 0: below the neutral point"
    assert enc["x"]["scale"]["domain"] == [-100, 100] and 0 in enc["x"]["axis"]["values"]
    assert enc["y"]["sort"] == ["baseline", "tuned"] and enc["y"]["title"] == "Condition"
    assert enc["color"]["scale"]["domain"][0] == "1 Strongly disagree"
    assert enc["color"]["scale"]["domain"][3] == "4 Neither agree nor disagree"
    assert len(values(spec)) == 2 * 7


# -- effect sizes and agreement ---------------------------------------------------------------

WILCOXON = Wilcoxon(40.0, 2.1, 0.03, "exact", 0.5, 18, 0)
POWER = PowerNote(18, 0.6, 0.7, 24, 0.7)


def comparison(d_z=0.6, ci=(0.1, 1.1)) -> Comparison:
    return Comparison("baseline", "tuned", WILCOXON, PairedT(2.5, 17, 0.02, 0.4, d_z, ci), POWER)


def test_effect_size_intervals():
    interval = dz_interval(comparison(), measure="adherence", group="human raters")
    assert (interval.label, interval.group, interval.estimate, interval.low, interval.high) == (
        "adherence: tuned \u2212 baseline", "human raters", 0.6, 0.1, 1.1)
    assert dz_interval(comparison(math.nan, (math.nan, math.nan))) is None  # no variation: nothing to draw
    model = MixedModel("tuned", 0.5, 0.1, (0.3, 0.7), 0.001, 0.4, 0.2, 1.0, 100, 10, 10, True, None, "baseline")
    assert mixed_interval(model, measure="quality").label == "quality: tuned \u2212 baseline"
    spec = dz_chart([interval, dz_interval(comparison(0.2, (-0.3, 0.7)), measure="quality", group="LLM raters")]
                    ).to_dict()
    zero, rules, points = layers(spec)
    assert spec["title"]["text"] == "Effect sizes (d_z) with 95% CIs"
    assert rules["encoding"]["x"]["field"] == "low" and rules["encoding"]["x2"]["field"] == "high"
    assert rules["encoding"]["x"]["title"] == "d_z (mean paired difference / SD of differences)"
    assert points["encoding"]["x"]["field"] == "estimate"
    assert points["encoding"]["color"]["scale"]["domain"] == ["human raters", "LLM raters"]
    assert values(zero) == [{"zero": 0.0}]
    assert [v["estimate"] for v in values(points)] == [0.6, 0.2]


def test_agreement_chart_leaves_out_undefined_alpha():
    spec = agreement_chart([("adherence", "human raters", 0.62), ("adherence", "LLM raters", None),
                            ("quality", "human raters", -0.1)]).to_dict()
    bars, thresholds = layers(spec)
    assert values(bars) == [{"dimension": "adherence", "group": "human raters", "alpha": 0.62},
                            {"dimension": "quality", "group": "human raters", "alpha": -0.1}]
    assert bars["encoding"]["y"]["title"] == "Krippendorff's alpha (ordinal)"
    assert bars["encoding"]["y"]["scale"]["domain"] == [-0.1, 1]
    assert bars["encoding"]["x"]["sort"] == ["adherence", "quality"]
    assert [v["threshold"] for v in values(thresholds)] == [0.667, 0.8]


# -- a whole crowd analysis -------------------------------------------------------------------


def crowd() -> tuple[CrowdAnalysis, pd.DataFrame]:
    rows = []
    for rater, kind, excluded in ((1, "human", False), (2, "human", False), (3, "human", True), (4, "llm", False)):
        for condition, value in (("baseline", 2), ("tuned", 4)):
            for item in (1, 2) if condition == "baseline" else (3, 4):
                rows.append({"rater_id": rater, "rater_kind": kind, "item_id": item, "condition": condition,
                             "match_key": f"m{item % 2}", "dimension": "adherence", "value": value + rater % 2,
                             "seconds": 9.0, "excluded": excluded, "exclusion_reason": "x" if excluded else ""})
    frame = pd.DataFrame(rows)
    descriptives = [Descriptive("baseline", 2, 2, 4, 3.5, 3.2, 3.8, 3.5, 0.7),
                    Descriptive("tuned", 2, 2, 4, 5.5, 5.2, 5.8, 5.5, 0.7)]
    model = MixedModel("tuned", 2.0, 0.1, (1.8, 2.2), 0.001, 0.5, 0.0, 0.1, 8, 2, 4, True, None, "baseline")

    def result(kind, mixed, alpha):
        return DimensionResult("adherence", kind, descriptives, [comparison()], None, mixed, alpha, 4)

    analysis = CrowdAnalysis(
        9, "study", ["baseline", "tuned"], ["adherence"],
        {"human": Counts(3, {"failed attention checks": 1}, 2), "llm": Counts(1, {}, 1)},
        {"human": [result("human", [model], 0.8)], "llm": [result("llm", None, None)]},
        {"adherence": 0.5}, {"adherence": 4}, ExclusionRules())
    return analysis, frame


def test_crowd_charts_per_kind_and_dimension():
    analysis, frame = crowd()
    charts = crowd_charts(analysis, frame, {"adherence": ["no", "rather no", "neutral", "rather yes", "yes"]})
    assert list(charts) == ["slopes_human_adherence", "likert_human_adherence", "slopes_llm_adherence",
                            "likert_llm_adherence", "effects_dz", "effects_mixed", "agreement"]
    slopes = charts["slopes_human_adherence"].to_dict()
    assert slopes["title"]["text"] == "Adherence per rater (human raters)"
    assert {v["unit"] for v in values(layers(slopes)[0])} == {"1", "2"}  # rater 3 is excluded
    assert layers(slopes)[0]["encoding"]["y"]["title"] == "Mean adherence rating (1\u20135)"
    likert = charts["likert_human_adherence"].to_dict()
    assert likert["encoding"]["color"]["scale"]["domain"] == ["1 no", "2 rather no", "3 neutral", "4 rather yes",
                                                              "5 yes"]
    assert sum(v["count"] for v in values(likert)) == 8  # two raters x four ratings
    agreement = values(layers(charts["agreement"].to_dict())[0])
    assert [(v["group"], v["alpha"]) for v in agreement] == [("human raters", 0.8), ("human vs LLM", 0.5)]
    assert [v["group"] for v in values(layers(charts["effects_mixed"].to_dict())[2])] == ["human raters"]


def test_charts_render_to_png_and_svg():
    analysis, frame = crowd()
    chart = crowd_charts(analysis, frame)["slopes_human_adherence"]
    png, svg = chart_bytes(chart, "png"), chart_bytes(chart, "svg").decode()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    assert svg.startswith("<svg") and "Adherence per rater (human raters)" in svg and "Condition" in svg
    with pytest.raises(ValueError, match="chart format must be one of png, svg, not 'pdf'"):
        chart_bytes(chart, "pdf")
