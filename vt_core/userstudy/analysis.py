"""The statistics of a designer user study (vt_core.userstudy): per measure, the paired
comparison of vt_core.analysis.stats on per-participant values, Holm across the measures of a family, and a
check for order effects; APA-style text from vt_core.analysis.report and charts from vt_core.analysis.charts.

Kept out of the package's API (import vt_core.userstudy.analysis) so that the participant's pages,
which only run the study, do not load the statistics libraries.
"""

from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
from scipy import stats as sps

from vt_core.analysis import (
    DASH,
    MINUS,
    Comparison,
    Descriptive,
    bounded,
    chart_bytes,
    compare_conditions,
    comparison_paragraph,
    comparisons_frame,
    describe_wide,
    descriptive_row,
    dz_chart,
    dz_interval,
    holm,
    likert_chart,
    load_ratings,
    markdown_table,
    number,
    p_value,
    per_unit_means,
    slope_chart,
)
from vt_core.core.charts import title_text
from vt_core.core.store import Store
from vt_core.core.text import escape_markdown
from vt_core.crowd import ExclusionRules, get_study
from vt_core.userstudy.definition import TLX_SCALES, UserStudyError
from vt_core.userstudy.flow import get_user_study, session_label, task_records
from vt_core.userstudy.measures import measures_frame, set_prompt_quality


def quality_from_crowd(store: Store, study_id: int, crowd_study: int | str, dimension: str,
                       exclusion: ExclusionRules | None = None) -> int:
    """Set each final prompt's quality to its crowd rating: the mean over raters of each rater's
    mean rating on `dimension`, in the crowd condition named session_label(participant, condition).
    Excluded raters are left out. Returns how many prompts were linked."""
    crowd = get_study(store, crowd_study)
    if dimension not in {d.key for d in crowd.definition.dimensions}:
        raise UserStudyError(f"crowd study {crowd.name!r} has no dimension {dimension!r}")
    ratings = load_ratings(store, crowd.id, exclusion)
    ratings = ratings[~ratings["excluded"] & (ratings["dimension"] == dimension)]
    means = per_unit_means(ratings).mean() if not ratings.empty else pd.Series(dtype=float)
    linked = 0
    for record in task_records(store, study_id):
        label = session_label(record.participant, record.condition)
        if label in means.index and not math.isnan(means[label]):
            set_prompt_quality(store, study_id, record.participant, record.condition, float(means[label]),
                               source=f"crowd:{crowd.id}:{dimension}")
            linked += 1
    return linked


# -- the analysis ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    key: str                         # the column of the table of measures
    label: str                       # a heading or axis title
    noun: str                        # in a sentence: "{noun} was higher in ..."
    family: str                      # Holm runs within a family: "primary" or "workload subscales"


MEASURES = (
    Measure("patterns", "Patterns identified", "the number of patterns identified", "primary"),
    Measure("prompt_quality", "Quality of the final prompt", "the quality of the final prompt", "primary"),
    Measure("success", "Perceived success", "perceived success", "primary"),
    Measure("workload", "Workload (raw TLX, 0-100)", "workload (raw TLX)", "primary"),
    Measure("minutes", "Time on task (minutes)", "time on task", "primary"),
    *(Measure(key, f"TLX {label.lower()} (0-100)", f"{label.lower()} (TLX)", "workload subscales")
      for key, (label, *_) in TLX_SCALES.items()),
)


@dataclass(frozen=True)
class OrderCell:
    """One cell of the 2 x 2 design: participants of one order group in one condition."""

    group: str                       # the condition done first, e.g. "control first"
    condition: str
    n: int
    median: float
    mean: float
    sd: float


@dataclass(frozen=True)
class OrderCheck:
    """Does the condition difference depend on the order? See order_check."""

    groups: tuple[str, str]          # (reference first, other first), e.g. ("control first", "tool first")
    n: tuple[int, int]
    median_diff: tuple[float, float]  # of b - a in each group
    u: float                         # Mann-Whitney U of the first group's differences
    p: float
    method: str                      # "exact" | "permutation" | "asymptotic"
    r: float                         # rank-biserial: > 0 when the first group's differences are larger
    period: float                    # second task minus first, from the group means of b - a
    adjusted: float                  # b - a with the period effect balanced out
    cells: list[OrderCell]
    note: str | None = None


@dataclass(frozen=True)
class MeasureResult:
    measure: Measure
    n: int                           # participants with a value in both conditions
    missing: int                     # participants with a value in one condition only
    descriptives: list[Descriptive]
    comparison: Comparison | None    # b minus a, p_holm within the measure's family
    order: OrderCheck | None
    wide: pd.DataFrame               # participant x condition (a, b), complete rows: for charts
    note: str | None = None


@dataclass(frozen=True)
class UserStudyAnalysis:
    study_id: int
    study_name: str
    conditions: tuple[str, str]      # (a, b): every comparison is b minus a
    participants: int                # with any row
    results: list[MeasureResult]     # in MEASURES order; measures without values are left out


MIN_PAIRS = 3  # fewer complete participants give no test worth printing


def _cells(wide: pd.DataFrame, first: pd.Series, groups: dict[str, str]) -> list[OrderCell]:
    cells = []
    for done_first, group in groups.items():
        rows = wide[first.reindex(wide.index) == done_first]
        for condition in wide.columns:
            values = rows[condition].to_numpy(dtype=float)
            cells.append(OrderCell(group, str(condition), len(values),
                                   float(np.median(values)) if len(values) else math.nan,
                                   float(values.mean()) if len(values) else math.nan,
                                   float(values.std(ddof=1)) if len(values) > 1 else math.nan))
    return cells


def order_check(wide: pd.DataFrame, first: pd.Series) -> OrderCheck | None:
    """Order effects in the two-period crossover: `wide` is participant x (a, b), complete rows;
    `first` says, per participant, which condition came first.

    The test compares the differences b - a between the two order groups with a Mann-Whitney U
    test (the nonparametric form of the 2 x 2 crossover analysis, Koch 1972). When a comes first,
    b - a = effect + period; when b comes first, it is effect - period. So the groups differ by
    twice the period effect (practice or fatigue from the first task to the second), and a
    difference between them means the order matters. Half their gap estimates the period effect
    (`period`, second minus first); their mean, the condition effect with the period balanced out
    (`adjusted`). The 2 x 2 cells (order group x condition, Mdn, M, SD) show where it comes from.
    A separate test of carryover (on the per-participant sums) is not run: it has little power in
    a study this size, and deciding the main analysis on it biases that analysis (Freeman 1989);
    the design guards against carryover with counterbalancing and a different task per condition.
    The p-value is exact when no value ties and the groups are small (at most 20 in all), a
    permutation p (every split enumerated, so exact given the ties) when values tie and there are
    at most 9,999 splits, and asymptotic (normal, tie-corrected, continuity-corrected) otherwise.
    """
    a, b = wide.columns
    groups = {a: f"{a} first", b: f"{b} first"}
    d = (wide[b] - wide[a]).round(9)
    first = first.reindex(wide.index)
    x, y = d[first == a].to_numpy(dtype=float), d[first == b].to_numpy(dtype=float)
    if len(x) < 2 or len(y) < 2:
        return None
    values = np.concatenate([x, y])
    ties = len(np.unique(values)) < len(values)
    if not ties and len(values) <= 20:
        method = "exact"
    elif ties and math.comb(len(values), len(x)) <= 9_999:
        method = "permutation"
    else:
        method = "asymptotic"
    test = sps.mannwhitneyu(x, y, alternative="two-sided",
                            method=sps.PermutationMethod() if method == "permutation" else method)
    u = float(test.statistic)
    note = None
    if np.all(values == values[0]):
        note = "every difference is the same: no order effect can show"
    return OrderCheck(
        groups=(groups[a], groups[b]), n=(len(x), len(y)), median_diff=(float(np.median(x)), float(np.median(y))),
        u=u, p=float(min(test.pvalue, 1.0)), method=method, r=2 * u / (len(x) * len(y)) - 1,
        period=float((x.mean() - y.mean()) / 2), adjusted=float((x.mean() + y.mean()) / 2),
        cells=_cells(wide, first, groups), note=note)


def _first_conditions(frame: pd.DataFrame) -> pd.Series:
    """Per participant, the condition done first (at the lowest position)."""
    ordered = frame.dropna(subset=["position"]).sort_values("position")
    return ordered.groupby("participant")["condition"].first()


def analyse_measures(frame: pd.DataFrame, conditions: tuple[str, str], *, study_id: int = 0,
                     study_name: str = "") -> UserStudyAnalysis:
    """The analysis of a table of measures (measures_frame's columns; pure): per measure, the
    descriptives over the participants with both conditions, vt_core.analysis.stats' paired comparison
    (Wilcoxon signed-rank primary, paired t with d_z, power), Holm across the measures of a family
    (the primary measures; the TLX subscales), and the order check."""
    a, b = conditions
    frame = frame[frame["condition"].isin(conditions)]
    first = _first_conditions(frame)
    found = []
    for measure in MEASURES:
        values = frame.dropna(subset=[measure.key])
        if values.empty:
            continue
        wide = (values.pivot(index="participant", columns="condition", values=measure.key)
                .reindex(columns=[a, b]).astype(float))
        complete = wide.dropna()
        descriptives = describe_wide(complete)
        missing = len(wide) - len(complete)
        if len(complete) < MIN_PAIRS:
            found.append(MeasureResult(measure, len(complete), missing, descriptives, None, None, complete,
                                       f"{len(complete)} participant(s) with both conditions; "
                                       f"a comparison needs at least {MIN_PAIRS}"))
            continue
        (comparison,), _ = compare_conditions(wide)
        found.append(MeasureResult(measure, len(complete), missing, descriptives, comparison,
                                   order_check(complete, first), complete))
    results = []
    for family in dict.fromkeys(m.family for m in MEASURES):
        members = [r for r in found if r.measure.family == family]
        tested = [r for r in members if r.comparison is not None]
        adjusted = dict(zip((r.measure.key for r in tested), holm(r.comparison.wilcoxon.p for r in tested),
                            strict=True))
        results += [r if r.comparison is None else replace(r, comparison=replace(r.comparison,
                                                                                  p_holm=adjusted[r.measure.key]))
                    for r in members]
    order = [m.key for m in MEASURES]
    results.sort(key=lambda r: order.index(r.measure.key))
    return UserStudyAnalysis(study_id, study_name, (a, b), int(frame["participant"].nunique()), results)


def analyse_user_study(store: Store, study: int | str) -> UserStudyAnalysis:
    """Load a user study's measures (by study id or name) and analyse them."""
    found = get_user_study(store, study)
    return analyse_measures(measures_frame(store, found.id), found.definition.analysed_conditions,
                            study_id=found.id, study_name=found.name)


# -- text, tables and charts --------------------------------------------------------------------


def methods_paragraph(analysis: UserStudyAnalysis) -> str:
    a, b = (escape_markdown(c) for c in analysis.conditions)
    primary = ", ".join(m.noun for m in MEASURES if m.family == "primary")
    return (f"Each measure was compared within participants ({analysis.participants} participants; differences are "
            f"{b} {MINUS} {a}) with a Wilcoxon signed-rank test on the per-participant values (zero "
            f"differences dropped before ranking), reported with *Mdn* and IQR per condition, *W*, *Z*, the exact, "
            f"permutation or asymptotic *p*, and *r* = |*Z*|/√*N*; a paired *t*-test with *d_z* and its 95% CI is "
            f"the sensitivity analysis. *p*-values are Holm-corrected across the primary measures ({primary}) and, "
            f"separately, across the six TLX subscales. Order effects: the differences were compared between the "
            f"two order groups with a Mann{DASH}Whitney *U* test (the 2 × 2 crossover analysis), "
            f"uncorrected. Power is that of a two-sided paired *t*-test at α = .05.")


def order_sentence(measure: Measure, check: OrderCheck, conditions: tuple[str, str]) -> str:
    a, b = (escape_markdown(c) for c in conditions)
    verb = "differed" if check.p < 0.05 else "did not differ significantly"
    groups = [f"{escape_markdown(g)} (*n* = {n}, *Mdn* difference = {number(m)})"
              for g, n, m in zip(check.groups, check.n, check.median_diff, strict=True)]
    text = (f"Order check: the difference in {measure.noun} ({b} {MINUS} {a}) {verb} between participants "
            f"who did {groups[0]} and those who did {groups[1]}, Mann{DASH}Whitney *U* = {number(check.u, 1)}, "
            f"{p_value(check.p)} ({check.method}), rank-biserial *r* = {bounded(check.r)}. Estimated period "
            f"effect (second task {MINUS} first) = {number(check.period)}; the {b} {MINUS} {a} difference "
            f"with the period balanced out = {number(check.adjusted)}.")
    return text + (f" ({escape_markdown(check.note)}.)" if check.note else "")


def result_paragraphs(result: MeasureResult, conditions: tuple[str, str]) -> list[str]:
    """The APA paragraph of one measure (vt_core.analysis.report's words) and its order check."""
    if result.comparison is None:
        return [f"{escape_markdown(result.measure.label)}: {escape_markdown(result.note or 'no comparison')}."]
    paragraphs = [comparison_paragraph(result.measure.noun, result.comparison, result.descriptives,
                                       unit="participants")]
    if result.order is not None:
        paragraphs.append(order_sentence(result.measure, result.order, conditions))
    return paragraphs


def descriptives_table(descriptives: list[Descriptive]) -> pd.DataFrame:
    return pd.DataFrame([{"condition": d.condition, "participants": d.raters, "Mdn": d.median,
                          "IQR": f"{number(d.q1)}{DASH}{number(d.q3)}", "M": d.mean, "SD": d.sd}
                         for d in descriptives])


def tables(analysis: UserStudyAnalysis) -> dict[str, pd.DataFrame]:
    """Every figure, unrounded, as flat tables by name (the report's CSV files)."""
    descriptives, comparisons, order = [], [], []
    for r in analysis.results:
        key = {"measure": r.measure.key, "family": r.measure.family}
        descriptives += [key | descriptive_row(d) for d in r.descriptives]
        if r.comparison is not None:
            comparisons.append(key | comparisons_frame([r.comparison]).iloc[0].to_dict())
        if r.order is not None:
            o = r.order
            order.append(key | {"group_1": o.groups[0], "n_1": o.n[0], "median_diff_1": o.median_diff[0],
                                "group_2": o.groups[1], "n_2": o.n[1], "median_diff_2": o.median_diff[1],
                                "u": o.u, "p": o.p, "method": o.method, "r_rank_biserial": o.r,
                                "period": o.period, "adjusted": o.adjusted, "note": o.note or ""})
            order += [key | {"cell_group": c.group, "cell_condition": c.condition, "n": c.n, "median": c.median,
                             "mean": c.mean, "sd": c.sd} for c in o.cells]
    found = {"descriptives": descriptives, "comparisons": comparisons, "order": order}
    return {name: pd.DataFrame(rows) for name, rows in found.items() if rows}


def charts(analysis: UserStudyAnalysis, frame: pd.DataFrame,
           success_labels: list[str]) -> dict[str, alt.TopLevelMixin]:
    """A slope chart per compared measure, the perceived-success answers as diverging bars, and
    the effect sizes; by name."""
    found: dict[str, alt.TopLevelMixin] = {}
    for r in analysis.results:
        if r.comparison is not None:
            found[f"slopes_{r.measure.key}"] = slope_chart(r.wide, title=f"{r.measure.label}, per participant",
                                                           y_title=r.measure.label, unit="participant")
    answers = frame.dropna(subset=["success"])
    if not answers.empty:
        found["likert_success"] = likert_chart(
            pd.DataFrame({"condition": answers["condition"], "value": answers["success"].astype(int)}),
            title="Perceived success, all answers", conditions=list(analysis.conditions), labels=success_labels)
    intervals = [i for r in analysis.results if r.comparison is not None
                 if (i := dz_interval(r.comparison, measure=r.measure.label, group=r.measure.family))]
    if intervals:
        found["effects_dz"] = dz_chart(intervals)
    return found


def report_markdown(analysis: UserStudyAnalysis, chart_titles: dict[str, str], chart_format: str = "png") -> str:
    def image(name: str) -> list[str]:
        if name not in chart_titles:
            return []
        return [f"![{escape_markdown(chart_titles[name])}](charts/{name}.{chart_format})", ""]

    lines = [f"# User study report: {escape_markdown(analysis.study_name)}", "", "## Method", "",
             methods_paragraph(analysis), ""]
    if not analysis.results:
        lines += ["No measures yet.", ""]
    for r in analysis.results:
        lines += [f"## {escape_markdown(r.measure.label)}", "", markdown_table(descriptives_table(r.descriptives)), ""]
        lines += [line for paragraph in result_paragraphs(r, analysis.conditions) for line in (paragraph, "")]
        lines += image(f"slopes_{r.measure.key}") + (image("likert_success") if r.measure.key == "success" else [])
    lines += image("effects_dz")
    return "\n".join(lines)


def report_files(store: Store, study: int | str, chart_format: str = "png") -> dict[str, bytes]:
    """The user study's report by relative path: report.md, charts/NAME.FORMAT, tables/NAME.csv
    and measures.csv (the table of measures analysed)."""
    found = get_user_study(store, study)
    frame = measures_frame(store, found.id)
    analysis = analyse_measures(frame, found.definition.analysed_conditions, study_id=found.id,
                                study_name=found.name)
    drawn = charts(analysis, frame, found.definition.questionnaire.success_labels)
    files = {f"charts/{name}.{chart_format}": chart_bytes(chart, chart_format) for name, chart in drawn.items()}
    files |= {f"tables/{name}.csv": table.to_csv(index=False).encode("utf-8")
              for name, table in tables(analysis).items()}
    files["measures.csv"] = frame.to_csv(index=False).encode("utf-8")
    titles = {name: title_text(chart) for name, chart in drawn.items()}
    links = ", ".join(f"[{name.removeprefix('tables/')}]({name})" for name in files if name.startswith("tables/"))
    files["report.md"] = (report_markdown(analysis, titles, chart_format) + "\n## Tables\n\nEvery figure above, "
                          f"unrounded, as CSV: {links}; the measures analysed: [measures.csv](measures.csv).\n"
                          ).encode("utf-8")
    return files


def write_report(store: Store, study: int | str, out_dir: str | Path, chart_format: str = "png") -> Path:
    """Write the report's files into out_dir (created); the path of report.md."""
    out = Path(out_dir)
    for relative, content in report_files(store, study, chart_format).items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_bytes(content)
    return out / "report.md"


def report_zip(store: Store, study: int | str, chart_format: str = "png") -> bytes:
    """The report's files in a zip, under a folder userstudy-ID-report/."""
    found = get_user_study(store, study)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative, content in report_files(store, found.id, chart_format).items():
            archive.writestr(f"userstudy-{found.id}-report/{relative}", content)
    return buffer.getvalue()
