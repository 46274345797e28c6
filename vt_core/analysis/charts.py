"""Charts of a within-subject comparison (Altair / Vega-Lite), each readable on its own: a title
that says what is shown and axis titles that say in what unit.

The building blocks take plain data or the dataclasses of ``vt_core.analysis.stats`` (a wide frame of
units x conditions, a list of answers, ``Comparison``, ``MixedModel``), so a crowd study and a
user study draw the same charts; ``crowd_charts`` draws every chart of a ``CrowdAnalysis``.
Data go into the spec as inline values (``alt.Data``), already aggregated where that is possible
(per-unit means, counts per scale point), so a study of any size makes a small spec.
``chart_bytes`` renders a chart to PNG or SVG through vl-convert, with no browser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import altair as alt
import pandas as pd
import vl_convert as vlc

from vt_core.analysis.stats import Comparison, CrowdAnalysis, MixedModel, per_unit_means
from vt_core.core.charts import chart_title
from vt_core.crowd import DEFAULT_LABELS

CHART_FORMATS = ("png", "svg")
KIND_NAMES = {"human": "human raters", "llm": "LLM raters", "human-llm": "human vs LLM"}
WIDTH = 600
MEDIAN_COLOUR = "#d62728"


@dataclass(frozen=True)
class Interval:
    """One estimate with its 95% CI, as an interval chart draws it."""

    label: str       # the row, e.g. "adherence: tuned − baseline"
    group: str       # the colour, e.g. "human raters"
    estimate: float
    low: float
    high: float


def _records(frame: pd.DataFrame) -> alt.Data:
    return alt.Data(values=frame.to_dict("records"))


# The width fits the space given (Streamlit's container, or `width` in an export), the height is
# the plot's plus its titles and legends: Streamlit's default ("fit" both ways) squeezes the plot
# of a short chart to nothing.
AUTOSIZE = alt.AutoSizeParams(type="fit-x", contains="padding")


# -- paired slopes ------------------------------------------------------------------------------


def slope_chart(wide: pd.DataFrame, *, title: str, y_title: str, unit: str = "rater",
                domain: tuple[float, float] | None = None) -> alt.LayerChart:
    """One grey line per unit from condition to condition, and the condition medians in red.

    ``wide``: index = unit, columns = conditions in order, values = the unit's measure (what
    ``stats.compare_conditions`` takes); units missing a condition are left out, as there."""
    conditions = [str(c) for c in wide.columns]
    complete = wide.dropna()
    long = complete.rename(columns=str).rename_axis("unit").reset_index().melt(
        id_vars="unit", var_name="condition", value_name="value")
    long["unit"] = long["unit"].astype(str)
    medians = pd.DataFrame({"condition": conditions, "median": [float(complete[c].median()) for c in complete]})
    x = alt.X("condition:N", sort=conditions, title="Condition", axis=alt.Axis(labelAngle=0))
    scale = alt.Scale(domain=list(domain)) if domain else alt.Scale(zero=False)
    lines = alt.Chart(_records(long)).mark_line(color="grey", opacity=0.35, strokeWidth=1).encode(
        x=x, y=alt.Y("value:Q", title=y_title, scale=scale), detail="unit:N",
        tooltip=[alt.Tooltip("unit:N", title=unit), "condition:N", alt.Tooltip("value:Q", format=".2f")])
    median_line = alt.Chart(_records(medians)).mark_line(color=MEDIAN_COLOUR, strokeWidth=3).encode(
        x=x, y="median:Q")
    median_points = alt.Chart(_records(medians)).mark_point(color=MEDIAN_COLOUR, filled=True, size=90).encode(
        x=x, y="median:Q", tooltip=["condition:N", alt.Tooltip("median:Q", title="median", format=".2f")])
    subtitle = f"one grey line per {unit} (N = {len(complete)}); red: the median of each condition"
    return alt.layer(lines, median_line, median_points).properties(
        title=chart_title(title, subtitle), width=WIDTH, height=300, autosize=AUTOSIZE)


# -- Likert distributions -----------------------------------------------------------------------


def likert_shares(answers: pd.DataFrame, conditions: Sequence[str], labels: Sequence[str]) -> pd.DataFrame:
    """Per condition and scale point (1..len(labels)): count, percent, and where its bar starts
    and ends when the bars are centred on the neutral point (the middle of the scale; with an even
    number of points, the line between the two middle ones)."""
    points = len(labels)
    outside = sorted(set(answers["value"]) - set(range(1, points + 1)))
    if outside:
        raise ValueError(f"answers outside the {points}-point scale: {', '.join(map(str, outside))}")
    neutral = (points + 1) // 2 if points % 2 else None
    rows = []
    for condition in conditions:
        values = answers.loc[answers["condition"] == condition, "value"]
        counts = values.value_counts().reindex(range(1, points + 1), fill_value=0)
        total = int(counts.sum())
        percent = counts / total * 100 if total else counts * 0.0
        start = -float(percent[percent.index <= points // 2].sum()) - (percent[neutral] / 2 if neutral else 0.0)
        for value in counts.index:
            rows.append({"condition": condition, "value": int(value), "label": f"{value} {labels[value - 1]}",
                         "count": int(counts[value]), "percent": float(percent[value]),
                         "start": start, "end": start + float(percent[value]), "answers": total})
            start += float(percent[value])
    return pd.DataFrame(rows)


def likert_chart(answers: pd.DataFrame, *, title: str, conditions: Sequence[str] | None = None,
                 labels: Sequence[str] = DEFAULT_LABELS) -> alt.Chart:
    """Diverging stacked bars of the answers per condition, centred on the neutral point.

    ``answers``: one row per answer with columns ``condition`` and ``value`` (1..len(labels))."""
    conditions = list(conditions) if conditions is not None else list(dict.fromkeys(answers["condition"]))
    shares = likert_shares(answers, conditions, labels)
    order = [f"{v} {label}" for v, label in enumerate(labels, start=1)]
    # a symmetric axis with a tick at 0, so the neutral point sits in the middle
    reach = max(10.0, float(shares["start"].abs().max()), float(shares["end"].abs().max())) if len(shares) else 100.0
    step = 10 if reach <= 50 else 25
    reach = int(min(100, step * -(-reach // step)))
    return alt.Chart(_records(shares)).mark_bar().encode(
        x=alt.X("start:Q", title="Share of answers (%); left of 0: below the neutral point",
                scale=alt.Scale(domain=[-reach, reach]),
                axis=alt.Axis(values=list(range(-reach, reach + 1, step)), labelExpr="abs(datum.value) + '%'")),
        x2="end:Q",
        y=alt.Y("condition:N", sort=conditions, title="Condition"),
        color=alt.Color("label:O", title="Answer", sort=order,
                        scale=alt.Scale(domain=order, scheme="redblue")),
        order=alt.Order("value:Q"),
        tooltip=["condition:N", alt.Tooltip("label:N", title="answer"), "count:Q",
                 alt.Tooltip("percent:Q", format=".1f", title="%"), alt.Tooltip("answers:Q", title="of")],
    ).properties(title=chart_title(title, "each bar is 100% of the condition's answers, centred on the neutral point"),
                 width=WIDTH, height=max(60, 40 * len(conditions)), autosize=AUTOSIZE)


# -- effect sizes -------------------------------------------------------------------------------


def interval_chart(intervals: Sequence[Interval], *, title: str, x_title: str,
                   subtitle: str | None = None) -> alt.LayerChart:
    """Estimates with their 95% CIs, one row each, coloured by group, and a line at zero."""
    frame = pd.DataFrame([vars(i) for i in intervals], columns=["label", "group", "estimate", "low", "high"])
    labels = list(dict.fromkeys(frame["label"]))
    groups = list(dict.fromkeys(frame["group"]))
    y = alt.Y("label:N", sort=labels, title=None)
    colour = alt.Color("group:N", title=None, scale=alt.Scale(domain=groups), legend=alt.Legend(orient="bottom"))
    offset = alt.YOffset("group:N", sort=groups)
    data = _records(frame)
    rules = alt.Chart(data).mark_rule(strokeWidth=2).encode(
        x=alt.X("low:Q", title=x_title), x2="high:Q", y=y, yOffset=offset, color=colour)
    points = alt.Chart(data).mark_point(filled=True, size=80).encode(
        x="estimate:Q", y=y, yOffset=offset, color=colour,
        tooltip=["label:N", "group:N", alt.Tooltip("estimate:Q", format=".2f"),
                 alt.Tooltip("low:Q", format=".2f", title="95% CI low"),
                 alt.Tooltip("high:Q", format=".2f", title="95% CI high")])
    zero = alt.Chart(_records(pd.DataFrame({"zero": [0.0]}))).mark_rule(strokeDash=[4, 4], color="black").encode(
        x="zero:Q")
    return alt.layer(zero, rules, points).properties(
        title=chart_title(title, subtitle), width=WIDTH, height=max(80, 36 * len(labels)), autosize=AUTOSIZE)


def comparison_label(comparison: Comparison, measure: str | None = None) -> str:
    difference = f"{comparison.b} \u2212 {comparison.a}"
    return f"{measure}: {difference}" if measure else difference


def dz_interval(comparison: Comparison, *, measure: str | None = None, group: str = "") -> Interval | None:
    """The comparison's d_z with its 95% CI; None when d_z is undefined (no variation)."""
    t = comparison.t
    values = (t.d_z, *t.d_z_ci)
    if any(v is None or pd.isna(v) for v in values):
        return None
    return Interval(comparison_label(comparison, measure), group, *map(float, values))


def mixed_interval(model: MixedModel, *, measure: str | None = None, group: str = "") -> Interval | None:
    """The model's b for one condition term with its 95% CI; None when the model was not estimated."""
    if pd.isna(model.b):
        return None
    difference = f"{model.term} \u2212 {model.reference}" if model.reference else model.term
    return Interval(f"{measure}: {difference}" if measure else difference, group, model.b, *model.ci)


def dz_chart(intervals: Sequence[Interval], *, title: str = "Effect sizes (d_z) with 95% CIs") -> alt.LayerChart:
    return interval_chart(intervals, title=title, x_title="d_z (mean paired difference / SD of differences)",
                          subtitle="paired t on per-unit means; right of 0: higher in the later condition")


def mixed_chart(intervals: Sequence[Interval], *,
                title: str = "Mixed-model estimates with 95% CIs") -> alt.LayerChart:
    return interval_chart(intervals, title=title, x_title="b (difference in rating points from the reference)",
                          subtitle="rating ~ condition, crossed random intercepts for rater and item")


# -- agreement ----------------------------------------------------------------------------------


def agreement_chart(rows: Sequence[tuple[str, str, float | None]], *,
                    title: str = "Agreement (Krippendorff's alpha, ordinal)") -> alt.LayerChart:
    """Alpha per dimension and rater group, as (dimension, group, alpha) rows; an undefined alpha
    (None) draws no bar. Dashed lines at .667 and .80, the usual lowest acceptable values."""
    frame = pd.DataFrame([{"dimension": d, "group": g, "alpha": a} for d, g, a in rows if a is not None],
                         columns=["dimension", "group", "alpha"])
    dimensions = list(dict.fromkeys(d for d, _, _ in rows))
    groups = list(dict.fromkeys(g for _, g, _ in rows))
    bars = alt.Chart(_records(frame)).mark_bar().encode(
        x=alt.X("dimension:N", sort=dimensions, title="Dimension", axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("group:N", sort=groups),
        y=alt.Y("alpha:Q", title="Krippendorff's alpha (ordinal)",
                scale=alt.Scale(domain=[min(0.0, *frame["alpha"]), 1])),
        color=alt.Color("group:N", title="Raters", scale=alt.Scale(domain=groups), legend=alt.Legend(orient="bottom")),
        tooltip=["dimension:N", "group:N", alt.Tooltip("alpha:Q", format=".3f")])
    lines = alt.Chart(_records(pd.DataFrame({"threshold": [0.667, 0.8]}))).mark_rule(
        strokeDash=[4, 4], color="black").encode(y="threshold:Q")
    return alt.layer(bars, lines).properties(
        title=chart_title(title, "items rated more than once; dashed: .667 and .80"), width=WIDTH, height=260,
        autosize=AUTOSIZE)


# -- a whole crowd study ------------------------------------------------------------------------


def _included(frame: pd.DataFrame, kind: str, dimension: str) -> pd.DataFrame:
    return frame[~frame["excluded"].astype(bool) & (frame["rater_kind"] == kind) & (frame["dimension"] == dimension)]


def crowd_charts(analysis: CrowdAnalysis, frame: pd.DataFrame,
                 labels: Mapping[str, Sequence[str]] | None = None) -> dict[str, alt.TopLevelMixin]:
    """Every chart of a crowd study, by file name (no extension): per rater kind and dimension a
    slope chart and the Likert bars, then effect sizes (d_z, mixed-model b) and agreement.

    ``frame`` is the ratings frame the analysis came from (``stats.load_ratings``; excluded raters
    are left out here as there); ``labels`` gives each dimension's scale labels (default: the
    7-point agreement scale)."""
    labels = labels or {}
    charts: dict[str, alt.TopLevelMixin] = {}
    dz, mixed = [], []
    for kind, results in analysis.results.items():
        who = KIND_NAMES.get(kind, kind)
        for result in results:
            dimension = result.dimension
            scale = list(labels.get(dimension, DEFAULT_LABELS))
            ratings = _included(frame, kind, dimension)
            wide = per_unit_means(ratings, conditions=analysis.conditions) if len(ratings) else None
            if wide is not None:
                charts[f"slopes_{kind}_{dimension}"] = slope_chart(
                    wide, title=f"{dimension.capitalize()} per rater ({who})",
                    y_title=f"Mean {dimension} rating (1\u2013{len(scale)})", domain=(1, len(scale)))
                charts[f"likert_{kind}_{dimension}"] = likert_chart(
                    ratings, title=f"{dimension.capitalize()} ratings by condition ({who})",
                    conditions=analysis.conditions, labels=scale)
            dz += [i for c in result.comparisons if (i := dz_interval(c, measure=dimension, group=who))]
            mixed += [i for m in result.mixed or [] if (i := mixed_interval(m, measure=dimension, group=who))]
    if dz:
        charts["effects_dz"] = dz_chart(dz)
    if mixed:
        charts["effects_mixed"] = mixed_chart(mixed)
    agreement = [(r.dimension, KIND_NAMES.get(kind, kind), r.alpha)
                 for kind, results in analysis.results.items() for r in results]
    agreement += [(d, KIND_NAMES["human-llm"], a) for d, a in analysis.human_llm_alpha.items()]
    if any(a is not None for _, _, a in agreement):
        charts["agreement"] = agreement_chart(agreement)
    return charts


# -- export -------------------------------------------------------------------------------------


def chart_bytes(chart: alt.TopLevelMixin, fmt: str = "png", *, scale: float = 2.0) -> bytes:
    """The chart as a PNG (``scale`` x its size, for print) or an SVG file, rendered by vl-convert."""
    if fmt not in CHART_FORMATS:
        raise ValueError(f"chart format must be one of {', '.join(CHART_FORMATS)}, not {fmt!r}")
    spec = chart.to_dict()
    if fmt == "png":
        return vlc.vegalite_to_png(spec, scale=scale)
    return vlc.vegalite_to_svg(spec).encode("utf-8")
