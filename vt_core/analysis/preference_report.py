"""A side-by-side study's results for people: APA-style sentences, tables (CSV), charts and the Markdown
report, from vt_core.analysis.preference; in the number style of vt_core.analysis.report (whose helpers it
uses), so the statistics page and `python -m vt_core study report` say the same."""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import altair as alt
import pandas as pd

from vt_core.analysis.charts import AUTOSIZE, CHART_FORMATS, KIND_NAMES, WIDTH, chart_bytes
from vt_core.analysis.preference import SAME, Binomial, PreferenceAnalysis, PreferenceData, PreferenceResult
from vt_core.analysis.report import (
    DASH,
    bounded,
    counts_sentence,
    markdown_table,
    measure_name,
    number,
    p_value,
    rules_sentence,
)
from vt_core.core.charts import chart_title, title_text
from vt_core.core.text import escape_markdown


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value * 100:.1f}%"


def _share(b: Binomial) -> str:
    """'68.0%, 95% CI [54.3%, 80.5%]'"""
    return f"{_percent(b.share)}, 95% CI [{_percent(b.ci[0])}, {_percent(b.ci[1])}]"


def preference_paragraphs(r: PreferenceResult) -> list[str]:
    """One dimension and rater kind: preference with the binomial test, raters' sign test, the Bradley-Terry
    model, the mixed logistic model, the position check and agreement."""
    a, b = escape_markdown(r.a), escape_markdown(r.b)
    measure = measure_name(r.dimension)
    pref = r.preference
    total = r.prefer_a + r.prefer_b + r.ties
    holm = f" (Holm-adjusted across the questions {p_value(r.p_holm)})" if r.p_holm is not None else ""
    out = [f"On {measure}, {b} was preferred in {r.prefer_b} of {total} choices, {a} in {r.prefer_a}, and "
           f"{r.ties} were rated about the same. Of the {pref.n} non-tied choices, {_share(pref)} preferred {b}; "
           f"exact binomial test against .50, {p_value(pref.p)}{holm}."]
    raters = r.raters
    out.append(f"Sign test across raters: {raters.k} of the {raters.n} raters with a net preference leaned towards "
               f"{b} ({r.raters_even} balanced), {p_value(raters.p)}.")
    bt = r.bradley_terry
    if math.isnan(bt.beta):
        out.append(f"Bradley{DASH}Terry model: not estimated ({escape_markdown(bt.note or 'no fit')}).")
    else:
        position = (f"; the left side's pull *γ* = {number(bt.gamma)}, *SE* = {number(bt.gamma_se)}, "
                    f"{p_value(bt.gamma_p)}" if not math.isnan(bt.gamma) else "")
        out.append(f"Bradley{DASH}Terry model with a position term ({bt.choices} non-tied choices, SEs clustered by "
                   f"{bt.raters} raters): log-odds of {b} over {a} *β* = {number(bt.beta)}, *SE* = "
                   f"{number(bt.beta_se)}, 95% CI [{number(bt.beta_ci[0])}, {number(bt.beta_ci[1])}], "
                   f"odds ratio {number(math.exp(bt.beta))}, {p_value(bt.beta_p)}{position}."
                   + (f" Note: {escape_markdown(bt.note)}." if bt.note else ""))
    m = r.mixed
    if m is None:
        out.append("The mixed-effects logistic model was not fitted (it needs two raters, two items and choices "
                   "for both conditions).")
    elif math.isnan(m.beta):
        out.append(f"Mixed-effects logistic model: not estimated ({escape_markdown(m.note or 'no fit')}).")
    else:
        out.append(f"Mixed-effects logistic model (random intercepts for rater and item, variational Bayes): "
                   f"log-odds of {b} over {a} {number(m.beta)}, posterior *SD* = {number(m.beta_sd)}, 95% credible "
                   f"interval [{number(m.beta_ci[0])}, {number(m.beta_ci[1])}]; random-intercept *SD*s: rater "
                   f"{number(m.sd_rater)}, item {number(m.sd_item)}.")
    pos = r.position
    biased = pos.n and not math.isnan(pos.p) and pos.p < 0.05
    out.append(f"Position: the left conversation was chosen in {pos.k} of {pos.n} non-tied choices "
               f"({_share(pos)}), exact binomial test against .50, {p_value(pos.p)}: "
               + ("a position bias." if biased else "no evidence of a position bias."))
    who = KIND_NAMES.get(r.kind, r.kind)
    out.append(f"Agreement among {who}: Krippendorff's *α* (nominal) = {bounded(r.alpha)} over {r.alpha_items} items "
               "rated more than once." if r.alpha is not None else
               f"Agreement among {who}: Krippendorff's *α* (nominal) is undefined "
               f"({escape_markdown(r.alpha_note or 'too few ratings')}).")
    return out


def preference_methods(analysis: PreferenceAnalysis) -> str:
    a, b = (escape_markdown(c) for c in analysis.conditions)
    return (f"Raters read the {a} and the {b} conversation of the same scenario, persona and seed side by side; "
            "which one was on the left was drawn per item (balanced, seeded) and recorded. Each question was "
            "answered Left, About the same or Right; answers are turned into preferences for a condition. "
            f"Per question, the share of non-tied choices preferring {b} has an exact (Clopper{DASH}Pearson) 95% "
            "CI and an exact two-sided binomial test against .50 (Holm-corrected across the questions); as choices "
            "repeat within raters and items, a sign test on each rater's net preference and two models follow: a "
            f"Bradley{DASH}Terry model with a position term (logistic regression on the non-tied choices, "
            "maximum likelihood, SEs clustered by rater) and a mixed-effects logistic model with crossed random "
            "intercepts for rater and item (variational Bayes). The position check tests the share of non-tied "
            "choices for the left side against .50. Agreement is Krippendorff's *α* (nominal) on the choices coded "
            "by condition, over items rated more than once. Human and simulated (LLM) raters are analysed apart. "
            + rules_sentence(analysis.exclusion))


def preference_tables(analysis: PreferenceAnalysis) -> dict[str, pd.DataFrame]:
    """Every figure, unrounded, as flat tables by name (the report's CSV files)."""
    counts = [{"kind": kind, "recruited": c.recruited, "excluded": sum(c.excluded.values()),
               "excluded_reasons": "; ".join(f"{k}: {n}" for k, n in c.excluded.items()),
               "no_ratings": c.no_ratings, "analysed": c.analysed} for kind, c in analysis.counts.items()]
    rows = []
    for kind, results in analysis.results.items():
        for r in results:
            bt, m = r.bradley_terry, r.mixed
            rows.append({
                "kind": kind, "dimension": r.dimension, "a": r.a, "b": r.b, "prefer_a": r.prefer_a,
                "prefer_b": r.prefer_b, "ties": r.ties, "share_b": r.preference.share,
                "share_b_low": r.preference.ci[0], "share_b_high": r.preference.ci[1], "p": r.preference.p,
                "p_holm": r.p_holm, "raters_b": r.raters.k, "raters_leaning": r.raters.n,
                "raters_even": r.raters_even, "raters_p": r.raters.p, "left": r.position.k,
                "non_tied": r.position.n, "share_left": r.position.share, "position_p": r.position.p,
                "bt_beta": bt.beta, "bt_se": bt.beta_se, "bt_low": bt.beta_ci[0], "bt_high": bt.beta_ci[1],
                "bt_p": bt.beta_p, "bt_gamma": bt.gamma, "bt_gamma_se": bt.gamma_se, "bt_gamma_p": bt.gamma_p,
                "bt_note": bt.note or "", "mixed_beta": m.beta if m else None, "mixed_sd": m.beta_sd if m else None,
                "mixed_low": m.beta_ci[0] if m else None, "mixed_high": m.beta_ci[1] if m else None,
                "mixed_sd_rater": m.sd_rater if m else None, "mixed_sd_item": m.sd_item if m else None,
                "alpha": r.alpha, "alpha_items": r.alpha_items, "alpha_note": r.alpha_note})
    tables = {"counts": pd.DataFrame(counts), "preference": pd.DataFrame(rows)}
    return {name: frame for name, frame in tables.items() if len(frame)}


# -- charts --------------------------------------------------------------------------------------

_PERCENT_AXIS = alt.Axis(format="%", values=[0, 0.25, 0.5, 0.75, 1])


def preference_chart(analysis: PreferenceAnalysis) -> alt.Chart:
    """One 100% bar per question and rater kind: choices for a, about the same, for b."""
    a, b = analysis.conditions
    order = [f"{a} better", SAME, f"{b} better"]
    rows = []
    for kind, results in analysis.results.items():
        for r in results:
            total = r.prefer_a + r.prefer_b + r.ties
            for answer, n in zip(order, (r.prefer_a, r.ties, r.prefer_b), strict=True):
                rows.append({"question": f"{measure_name(r.dimension)} ({KIND_NAMES.get(kind, kind)})",
                             "answer": answer, "rank": order.index(answer), "choices": n,
                             "share": n / total if total else 0.0})
    frame = pd.DataFrame(rows)
    return alt.Chart(alt.Data(values=frame.to_dict("records"))).mark_bar().encode(
        y=alt.Y("question:N", title="Question"),
        x=alt.X("share:Q", title="Share of choices", stack="normalize", axis=_PERCENT_AXIS),
        color=alt.Color("answer:N", title="Answer", sort=order, scale=alt.Scale(domain=order),
                        legend=alt.Legend(orient="bottom")),
        order=alt.Order("rank:Q"),
        tooltip=["question:N", "answer:N", "choices:Q", alt.Tooltip("share:Q", format=".1%")],
    ).properties(title=chart_title(f"Which conversation raters preferred: {a} vs {b}",
                                   "each bar is 100% of the question's choices"),
                 width=WIDTH, height=max(80, 40 * len(frame) // 3), autosize=AUTOSIZE)


def position_chart(analysis: PreferenceAnalysis) -> alt.LayerChart:
    """The share of non-tied choices for the left side with its 95% CI; the dashed line is no bias (.50)."""
    rows = [{"question": f"{measure_name(r.dimension)} ({KIND_NAMES.get(kind, kind)})", "share": r.position.share,
             "low": r.position.ci[0], "high": r.position.ci[1], "choices": r.position.n}
            for kind, results in analysis.results.items() for r in results if r.position.n]
    data = alt.Data(values=rows)
    y = alt.Y("question:N", title="Question")
    rules = alt.Chart(data).mark_rule().encode(
        y=y, x=alt.X("low:Q", title="Share choosing the left side", scale=alt.Scale(domain=[0, 1]), axis=_PERCENT_AXIS),
        x2="high:Q")
    points = alt.Chart(data).mark_point(filled=True, size=90).encode(
        y=y, x="share:Q", tooltip=["question:N", alt.Tooltip("share:Q", format=".1%"), "choices:Q"])
    half = alt.Chart(alt.Data(values=[{"x": 0.5}])).mark_rule(strokeDash=[4, 4], color="black").encode(x="x:Q")
    return alt.layer(half, rules, points).properties(
        title=chart_title("Position bias: choices for the left side", "95% CI; dashed: no bias (50%)"),
        width=WIDTH, height=max(80, 40 * len(rows)), autosize=AUTOSIZE)


def preference_charts(analysis: PreferenceAnalysis) -> dict[str, alt.TopLevelMixin]:
    if not any(analysis.results.values()):
        return {}
    return {"preference": preference_chart(analysis), "position": position_chart(analysis)}


# -- the report ----------------------------------------------------------------------------------


def preference_markdown(analysis: PreferenceAnalysis, chart_titles: dict[str, str], chart_format: str = "png") -> str:
    a, b = (escape_markdown(c) for c in analysis.conditions)
    lines = [f"# Statistics report: {escape_markdown(analysis.study_name)}", "",
             f"Study {analysis.study_id}, side by side: {b} compared with {a}; questions: "
             f"{', '.join(escape_markdown(measure_name(d)) for d in analysis.dimensions)}.", "",
             "## Method", "", preference_methods(analysis), ""]
    for kind, results in analysis.results.items():
        who = KIND_NAMES.get(kind, kind)
        lines += [f"## {who[:1].upper()}{who[1:]}", "", counts_sentence(analysis.counts[kind], who), ""]
        for r in results:
            lines += [f"### {measure_name(r.dimension).capitalize()}", ""]
            for paragraph in preference_paragraphs(r):
                lines += [paragraph, ""]
    for name, title in chart_titles.items():
        lines += [f"![{escape_markdown(title)}](charts/{name}.{chart_format})", ""]
    names = list(preference_tables(analysis))
    lines += ["## Tables", "", "Every figure above, unrounded, as CSV: "
              + ", ".join(f"[{name}.csv](tables/{name}.csv)" for name in names)
              + "; every choice with its item's order: [choices.csv](tables/choices.csv).", ""]
    if "preference" in names:
        lines += [markdown_table(preference_tables(analysis)["preference"][
            ["kind", "dimension", "prefer_a", "ties", "prefer_b", "share_b", "p", "share_left", "position_p"]]), ""]
    return "\n".join(lines)


def preference_report_files(data: PreferenceData, chart_format: str = "png") -> dict[str, bytes]:
    """report.md, charts/NAME.FORMAT and tables/NAME.csv (the choices too) by relative path."""
    if chart_format not in CHART_FORMATS:
        raise ValueError(f"chart format must be one of {', '.join(CHART_FORMATS)}, not {chart_format!r}")
    analysis = data.analysis
    charts = preference_charts(analysis)
    files = {f"charts/{name}.{chart_format}": chart_bytes(chart, chart_format) for name, chart in charts.items()}
    files |= {f"tables/{name}.csv": table.to_csv(index=False).encode("utf-8")
              for name, table in preference_tables(analysis).items()}
    files["tables/choices.csv"] = data.frame.to_csv(index=False).encode("utf-8")
    files["report.md"] = preference_markdown(analysis, {n: title_text(c) for n, c in charts.items()},
                                             chart_format).encode("utf-8")
    return files


def write_preference_report(data: PreferenceData, out_dir: str | Path, chart_format: str = "png") -> Path:
    """Write report.md, charts/ and tables/ into out_dir (created); the path of report.md."""
    out = Path(out_dir)
    for relative, content in preference_report_files(data, chart_format).items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return out / "report.md"


def preference_report_zip(data: PreferenceData, chart_format: str = "png") -> bytes:
    buffer = io.BytesIO()
    folder = f"study-{data.analysis.study_id}-report"
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative, content in preference_report_files(data, chart_format).items():
            archive.writestr(f"{folder}/{relative}", content)
    return buffer.getvalue()
