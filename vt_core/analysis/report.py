"""What a researcher pastes into a paper: APA-style sentences, tables (CSV) and a Markdown report
with charts, from the results of ``vt_core.analysis.stats``.

Number style (APA 7): statistics that cannot exceed 1 in size (p, r, alpha, power, Kendall's W)
have no leading zero; p is given to three decimals, or as p < .001; negative numbers take a true
minus sign (U+2212); statistic symbols are italic (Markdown ``*p*``). Paragraphs are Markdown:
study-provided names (conditions, notes) are escaped, so they show as written.

The sentences take the dataclasses of vt_core.analysis.stats one by one (``comparison_paragraph``,
``mixed_sentence``, ``descriptives_frame``...), so a user study reports its per-participant
measures with the same words as a crowd study; ``result_paragraphs`` and ``report_files`` put
a whole ``CrowdAnalysis`` together. The statistics page and ``python -m vt_core report`` both
call these, so the figures and the text are the same in both.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vt_core.analysis.charts import CHART_FORMATS, KIND_NAMES, chart_bytes, crowd_charts
from vt_core.analysis.stats import (
    EXACT_MAX_N,
    PERMUTATION_MAX_N,
    Comparison,
    Counts,
    CrowdAnalysis,
    Descriptive,
    DimensionResult,
    Friedman,
    MixedModel,
    PairedT,
    PowerNote,
    Wilcoxon,
    analyse_loaded,
    load_study,
)
from vt_core.core.charts import title_text
from vt_core.core.store import Store
from vt_core.core.text import escape_markdown
from vt_core.crowd import ExclusionRules

MINUS = "\u2212"
DASH = "\u2013"
ALPHA = 0.05
MIXED_MAX_RATINGS = 20_000


# -- numbers -----------------------------------------------------------------------------------


def number(value: float | None, digits: int = 2) -> str:
    """A number with `digits` decimals and a true minus sign; 'n/a' when it is missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = f"{value:.{digits}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]  # no "-0.00"
    return text.replace("-", MINUS)


def bounded(value: float | None, digits: int = 2) -> str:
    """A statistic that cannot exceed 1 in size (r, alpha, power, W): no leading zero."""
    text = number(value, digits)
    if text == "1." + "0" * digits and value < 1:
        return "> ." + "9" * digits  # .996 is not 1.00
    sign = MINUS if text.startswith(MINUS) else ""
    body = text.removeprefix(MINUS)
    return sign + body[1:] if body.startswith("0.") else text


def p_value(p: float | None) -> str:
    """'*p* < .001', '*p* = .032'; '*p* n/a' when there is none."""
    if p is None or math.isnan(p):
        return "*p* n/a"
    if p < 0.001:
        return "*p* < .001"
    text = bounded(p, 3)
    return f"*p* {text}" if text.startswith(">") else f"*p* = {text}"


def measure_name(key: str) -> str:
    """'tone_match' -> 'tone match' (dimension keys are lower-case words joined by '_')."""
    return key.replace("_", " ")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _significant(p: float | None) -> bool:
    return p is not None and not math.isnan(p) and p < ALPHA


# -- sentences on the dataclasses of vt_core.analysis.stats ---------------------------------------------


def descriptive_text(d: Descriptive) -> str:
    """'*Mdn* = 6.00, IQR 5.00–6.50'"""
    return f"*Mdn* = {number(d.median)}, IQR {number(d.q1)}{DASH}{number(d.q3)}"


def wilcoxon_text(w: Wilcoxon) -> str:
    """'Wilcoxon signed-rank *W* = 112.0, *Z* = 4.21, *p* < .001 (asymptotic), *r* = .54, *N* = 60,
    no zero differences'"""
    if w.method == "none":
        return f"no Wilcoxon signed-rank test ({escape_markdown(w.note or 'no pairs')})"
    parts = [f"Wilcoxon signed-rank *W* = {number(w.w, 1)}"]
    if w.z is not None:
        parts.append(f"*Z* = {number(w.z)}")
    parts.append(f"{p_value(w.p)} ({w.method})")
    if w.r is not None:
        parts.append(f"*r* = {bounded(w.r)}")
    parts.append(f"*N* = {w.n}")
    zeros = "no zero differences" if not w.n_zero else \
        f"{_plural(w.n_zero, 'zero difference')} dropped before ranking"
    return ", ".join(parts) + ", " + zeros


def t_text(t: PairedT) -> str:
    """'*t*(59) = 4.80, *p* < .001, mean difference = 0.85, *d_z* = 0.62, 95% CI [0.34, 0.89]'"""
    if t.note and math.isnan(t.t):
        return f"no paired *t*-test ({escape_markdown(t.note)})"
    low, high = t.d_z_ci
    return (f"*t*({t.df}) = {number(t.t)}, {p_value(t.p)}, mean difference = {number(t.mean_diff)}, "
            f"*d_z* = {number(t.d_z)}, 95% CI [{number(low)}, {number(high)}]")


def power_sentence(power: PowerNote, unit: str = "raters") -> str:
    """Power at this N for the observed d_z, the N for 80%, and the d_z this N detects."""
    if power.power is None:
        text = f"Power could not be computed for {power.n} {unit} and *d_z* = {number(power.d_z)}."
    else:
        needed = (f"80% power would need {power.n_for_80} {unit}" if power.n_for_80 is not None
                  else "no practical sample reaches 80% power for an effect this small")
        text = (f"With {power.n} {unit}, the power to detect the observed *d_z* = {number(power.d_z)} "
                f"(two-sided paired *t*, α = .05) was {bounded(power.power)}; {needed}.")
    if power.detectable_d_z is not None:
        text += f" This sample detects *d_z* ≥ {number(power.detectable_d_z)} with 80% power."
    return text


def comparison_paragraph(measure: str, comparison: Comparison, descriptives: Sequence[Descriptive], *,
                         unit: str = "raters") -> str:
    """One comparison in APA style: direction and descriptives, the Wilcoxon test (with the
    Holm-adjusted p when there is one), the paired t with d_z, and power.

    ``measure`` is what was compared ('adherence', 'perceived success'); ``unit`` what the
    paired values belong to ('raters', 'participants')."""
    by_condition = {d.condition: d for d in descriptives}
    a, b = comparison.a, comparison.b
    desc_a = f" ({descriptive_text(by_condition[a])})" if a in by_condition else ""
    desc_b = f" ({descriptive_text(by_condition[b])})" if b in by_condition else ""
    w = comparison.wilcoxon
    decisive = comparison.p_holm if comparison.p_holm is not None else w.p
    direction = w.z if w.z is not None else comparison.t.mean_diff
    if _significant(decisive) and direction:
        higher = "higher" if direction > 0 else "lower"
        lead = (f"{_cap(measure)} was {higher} in the {escape_markdown(b)} condition{desc_b} than in the "
                f"{escape_markdown(a)} condition{desc_a}")
    else:
        lead = (f"{_cap(measure)} did not differ significantly between the {escape_markdown(a)} condition{desc_a} "
                f"and the {escape_markdown(b)} condition{desc_b}")
    holm = f"; Holm-adjusted {p_value(comparison.p_holm)}" if comparison.p_holm is not None else ""
    text = f"{lead}, {wilcoxon_text(w)}{holm}. Paired *t*-test (sensitivity): {t_text(comparison.t)}. "
    text += power_sentence(comparison.power, unit)
    if comparison.dropped:
        text += f" {comparison.dropped} {unit} without values in both conditions were left out."
    return text


def friedman_sentence(measure: str, friedman: Friedman, conditions: int, *, unit: str = "raters") -> str:
    holm = f", Holm-adjusted {p_value(friedman.p_holm)}" if friedman.p_holm is not None else ""
    decisive = friedman.p_holm if friedman.p_holm is not None else friedman.p
    verb = "differed" if _significant(decisive) else "did not differ significantly"
    pairs = conditions * (conditions - 1) // 2
    return (f"{_cap(measure)} {verb} across the {conditions} conditions, Friedman *χ*²({friedman.df}) = "
            f"{number(friedman.chi2)}, {p_value(friedman.p)}{holm}, Kendall's *W* = {bounded(friedman.kendall_w)}, "
            f"*N* = {friedman.n} {unit}. Pairwise Wilcoxon signed-rank tests follow, Holm-corrected across the "
            f"{pairs} pairs.")


def mixed_sentence(models: Sequence[MixedModel]) -> str:
    """The confirmatory mixed model (one or more condition terms of one fit), one clause per term."""
    first = models[0]
    head = (f"Mixed model (rating ~ condition, crossed random intercepts for rater and item; "
            f"{first.ratings:,} ratings, {_plural(first.raters, 'rater')}, {_plural(first.items, 'item')})")
    if all(math.isnan(m.b) for m in models):
        return f"{head}: not estimated ({escape_markdown(first.note or 'no fit')})."
    terms = "; ".join(
        f"{escape_markdown(m.term)} vs {escape_markdown(m.reference or 'the reference')} *b* = {number(m.b)}, "
        f"*SE* = {number(m.se)}, 95% CI [{number(m.ci[0])}, {number(m.ci[1])}], {p_value(m.p)}" for m in models)
    text = (f"{head}: {terms}; random-intercept *SD*s: rater {number(first.sd_rater)}, item "
            f"{number(first.sd_item)}, residual {number(first.sd_residual)}.")
    if not first.converged:
        text += " The fit did not converge: read *b* and *SE* with caution."
    return text


def agreement_sentence(alpha: float | None, items: int, who: str, note: str = "") -> str:
    if alpha is None:
        return (f"Agreement among {who}: Krippendorff's *α* (ordinal) is undefined "
                f"({escape_markdown(note or 'too few ratings')}).")
    return (f"Agreement among {who}: Krippendorff's *α* (ordinal) = {bounded(alpha)} over "
            f"{_plural(items, 'item')} rated more than once.")


def counts_sentence(counts: Counts, who: str) -> str:
    """'Human raters: 64 recruited, 3 excluded (failed attention checks: 2; rated too fast: 1),
    1 without ratings yet, 60 analysed.'"""
    excluded = sum(counts.excluded.values())
    reasons = "; ".join(f"{escape_markdown(reason)}: {n}" for reason, n in counts.excluded.items())
    parts = [f"{counts.recruited} recruited", f"{excluded} excluded" + (f" ({reasons})" if reasons else "")]
    if counts.no_ratings:
        parts.append(f"{counts.no_ratings} without ratings yet")
    parts.append(f"{counts.analysed} analysed")
    return f"{_cap(who)}: {', '.join(parts)}."


def rules_sentence(rules: ExclusionRules | None) -> str:
    rules = rules or ExclusionRules()
    parts = []
    if rules.exclude_failed_attention:
        parts.append("raters who failed an attention check")
    if rules.max_too_fast_share is not None:
        parts.append(f"raters with more than {rules.max_too_fast_share:.0%} of their ratings too fast")
    if rules.max_gold_miss_share is not None:
        parts.append(f"raters who missed more than {rules.max_gold_miss_share:.0%} of the gold items")
    if not parts:
        return "Exclusion rules: none (every rater is analysed)."
    return "Exclusion rules: " + "; ".join(parts) + " (excluded raters stay in the exported data, flagged)."


# -- a whole crowd analysis --------------------------------------------------------------------


def result_paragraphs(result: DimensionResult, conditions: int) -> list[str]:
    """The paragraphs of one dimension and rater kind: Friedman (3+ conditions), each comparison,
    the mixed model, agreement."""
    measure = measure_name(result.dimension)
    out = []
    if result.friedman is not None:
        out.append(friedman_sentence(measure, result.friedman, conditions))
    out += [comparison_paragraph(measure, c, result.descriptives) for c in result.comparisons]
    out.append(mixed_sentence(result.mixed) if result.mixed else "The mixed model was not fitted for this report.")
    out.append(agreement_sentence(result.alpha, result.alpha_items, KIND_NAMES.get(result.kind, result.kind),
                                  result.alpha_note))
    return out


def human_llm_sentences(analysis: CrowdAnalysis) -> list[str]:
    """Agreement between human and LLM raters, per dimension (the item means as two coders)."""
    out = []
    for dimension, alpha in analysis.human_llm_alpha.items():
        items = analysis.human_llm_items.get(dimension, 0)
        if alpha is None:
            out.append(f"{_cap(measure_name(dimension))}: human and LLM raters' agreement is undefined "
                       f"({_plural(items, 'item')} rated by both).")
        else:
            out.append(f"{_cap(measure_name(dimension))}: human and LLM raters agreed at Krippendorff's *α* "
                       f"(ordinal, item means) = {bounded(alpha)} over {_plural(items, 'item')} rated by both.")
    return out


def methods_paragraph(analysis: CrowdAnalysis) -> str:
    reference, *others = analysis.conditions
    multiple = (f"Holm's correction is applied across the {len(analysis.dimensions)} dimensions within each "
                "rater kind" if len(analysis.conditions) == 2 else
                "With three or more conditions, a Friedman test per dimension (Holm-corrected across "
                "dimensions) is followed by pairwise Wilcoxon tests, Holm-corrected across the pairs")
    return (
        f"Each rater's ratings were averaged per condition; raters are the unit of analysis and "
        f"{escape_markdown(reference)} is the reference ({', '.join(escape_markdown(c) for c in others)} minus "
        f"{escape_markdown(reference)}). "
        "The primary test is the Wilcoxon signed-rank test on these per-rater means: zero differences are "
        f"dropped before ranking (Wilcoxon's method); *p* is exact for up to {EXACT_MAX_N} non-zero "
        f"differences without ties, by permutation of all signs for up to {PERMUTATION_MAX_N} pairs with ties, "
        "and asymptotic (normal, tie-corrected) otherwise; *r* = |*Z*|/√*N*. The sensitivity analysis is a "
        "paired *t*-test with *d_z* and its 95% CI (noncentral *t*); the confirmatory analysis a linear mixed "
        "model on the individual ratings (rating ~ condition, crossed random intercepts for rater and item, "
        f"REML, Wald *p*), fitted unless asked otherwise while no rater kind has more than "
        f"{MIXED_MAX_RATINGS:,} ratings of one dimension. {multiple}. Agreement is Krippendorff's *α* (ordinal) "
        "over items rated more than once; human and simulated (LLM) raters are analysed separately, and their "
        "agreement compares the mean human and mean LLM rating of each item. Power is that of a two-sided paired "
        "*t*-test at α = .05. " + rules_sentence(analysis.exclusion))


# -- tables ------------------------------------------------------------------------------------


def descriptive_row(d: Descriptive) -> dict:
    return {"condition": d.condition, "raters": d.raters, "items": d.items, "ratings": d.ratings,
            "median": d.median, "q1": d.q1, "q3": d.q3, "mean": d.mean, "sd": d.sd}


def comparison_row(c: Comparison) -> dict:
    w, t, power = c.wilcoxon, c.t, c.power
    return {"a": c.a, "b": c.b, "w": w.w, "z": w.z, "p": w.p, "p_method": w.method, "r": w.r, "n": w.n,
            "n_zero": w.n_zero, "zero_method": w.zero_method, "p_holm": c.p_holm, "t": t.t, "df": t.df,
            "t_p": t.p, "mean_diff": t.mean_diff, "d_z": t.d_z, "d_z_low": t.d_z_ci[0], "d_z_high": t.d_z_ci[1],
            "power": power.power, "n_for_80": power.n_for_80, "detectable_d_z": power.detectable_d_z,
            "dropped": c.dropped}


def mixed_row(m: MixedModel) -> dict:
    return {"reference": m.reference, "term": m.term, "b": m.b, "se": m.se, "ci_low": m.ci[0], "ci_high": m.ci[1],
            "p": m.p, "sd_rater": m.sd_rater, "sd_item": m.sd_item, "sd_residual": m.sd_residual,
            "ratings": m.ratings, "raters": m.raters, "items": m.items, "converged": m.converged,
            "note": m.note or ""}


def descriptives_frame(descriptives: Sequence[Descriptive]) -> pd.DataFrame:
    return pd.DataFrame([descriptive_row(d) for d in descriptives])


def comparisons_frame(comparisons: Sequence[Comparison]) -> pd.DataFrame:
    return pd.DataFrame([comparison_row(c) for c in comparisons])


def mixed_frame(models: Sequence[MixedModel]) -> pd.DataFrame:
    return pd.DataFrame([mixed_row(m) for m in models])


def tables(analysis: CrowdAnalysis) -> dict[str, pd.DataFrame]:
    """Every figure of the analysis as flat tables (the CSV files of the report), by name."""
    rows: dict[str, list[dict]] = {"counts": [], "descriptives": [], "comparisons": [], "friedman": [],
                                   "mixed_model": [], "agreement": []}
    for kind, counts in analysis.counts.items():
        rows["counts"].append({"kind": kind, "recruited": counts.recruited,
                               "excluded": sum(counts.excluded.values()),
                               "excluded_reasons": "; ".join(f"{r}: {n}" for r, n in counts.excluded.items()),
                               "no_ratings": counts.no_ratings, "analysed": counts.analysed})
    for kind, results in analysis.results.items():
        for r in results:
            key = {"kind": kind, "dimension": r.dimension}
            rows["descriptives"] += [key | descriptive_row(d) for d in r.descriptives]
            rows["comparisons"] += [key | comparison_row(c) for c in r.comparisons]
            if r.friedman is not None:
                f = r.friedman
                rows["friedman"].append(key | {"chi2": f.chi2, "df": f.df, "p": f.p, "p_holm": f.p_holm, "n": f.n,
                                               "kendall_w": f.kendall_w})
            rows["mixed_model"] += [key | mixed_row(m) for m in r.mixed or []]
            rows["agreement"].append({"dimension": r.dimension, "raters": kind, "alpha": r.alpha,
                                      "items": r.alpha_items, "note": r.alpha_note})
    for dimension, alpha in analysis.human_llm_alpha.items():
        rows["agreement"].append({"dimension": dimension, "raters": "human-llm", "alpha": alpha,
                                  "items": analysis.human_llm_items.get(dimension, 0), "note": ""})
    return {name: pd.DataFrame(found) for name, found in rows.items() if found}


def markdown_table(frame: pd.DataFrame) -> str:
    """A pipe table; floats with two decimals, cells escaped."""
    def cell(value) -> str:
        if isinstance(value, float):
            return number(value)
        return escape_markdown("" if value is None else value)
    lines = ["| " + " | ".join(escape_markdown(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def descriptives_markdown(descriptives: Sequence[Descriptive], unit: str = "raters") -> str:
    frame = pd.DataFrame([{"condition": d.condition, unit: d.raters, "items": d.items, "ratings": d.ratings,
                           "Mdn": d.median, "IQR": f"{number(d.q1)}{DASH}{number(d.q3)}", "M": d.mean, "SD": d.sd}
                          for d in descriptives])
    return markdown_table(frame)


# -- the report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudyData:
    """What the page and the CLI report from: the analysis, its ratings frame and each dimension's
    scale labels."""

    analysis: CrowdAnalysis
    frame: pd.DataFrame
    labels: dict[str, list[str]]


def mixed_by_default(frame: pd.DataFrame) -> bool:
    """Whether the mixed model is fitted when nobody says: only while no rater kind has more than
    MIXED_MAX_RATINGS ratings of one dimension (statsmodels' crossed random effects take minutes
    and gigabytes beyond that)."""
    kept = frame[~frame["excluded"].astype(bool)]
    return kept.empty or int(kept.groupby(["rater_kind", "dimension"]).size().max()) <= MIXED_MAX_RATINGS


def study_data(store: Store, study: int | str, rules: ExclusionRules | None = None, *,
               mixed: bool | None = None) -> StudyData:
    """The study (by id or name) analysed under the rules, with the mixed model when `mixed` (None:
    mixed_by_default); ValueError while it has no ratings."""
    loaded = load_study(store, study, rules)
    found = loaded.study
    if loaded.frame.empty:
        raise ValueError(f"study {found.id} {found.name!r} has no ratings of its transcripts yet: nothing to report")
    fit = mixed_by_default(loaded.frame) if mixed is None else mixed
    return StudyData(analyse_loaded(loaded, mixed=fit), loaded.frame,
                     {d.key: list(d.labels) for d in found.definition.dimensions})


def data_fingerprint(store: Store, study_id: int) -> tuple:
    """Changes whenever the analysis could: a rating, a flag or a rater added (the three tables
    only grow). Cheap enough to run on every page rerun, as the key of the page's cache."""
    return store.cursor().execute(
        "SELECT (SELECT count(*) FROM ratings WHERE study_id = ?), (SELECT max(id) FROM ratings WHERE study_id = ?),"
        " (SELECT count(*) FROM rater_flags f JOIN raters r ON r.id = f.rater_id WHERE r.study_id = ?),"
        " (SELECT count(*) FROM raters WHERE study_id = ?)",
        [study_id] * 4).fetchone()


def report_markdown(analysis: CrowdAnalysis, chart_titles: Mapping[str, str], chart_format: str = "png") -> str:
    """The report as Markdown, linking the charts named in chart_titles (name -> title) as
    charts/NAME.FORMAT."""

    def image(name: str) -> list[str]:
        if name not in chart_titles:
            return []
        return [f"![{escape_markdown(chart_titles[name])}](charts/{name}.{chart_format})", ""]

    conditions = ", ".join(escape_markdown(c) for c in analysis.conditions)
    lines = [f"# Statistics report: {escape_markdown(analysis.study_name)}", "",
             f"Study {analysis.study_id}; conditions: {conditions} (the first is the reference); dimensions: "
             f"{', '.join(escape_markdown(measure_name(d)) for d in analysis.dimensions)}.", "",
             "## Method", "", methods_paragraph(analysis), ""]
    if not analysis.counts:
        lines += ["No ratings yet.", ""]
    for kind, results in analysis.results.items():
        who = KIND_NAMES.get(kind, kind)
        lines += [f"## {_cap(who)}", "", counts_sentence(analysis.counts[kind], who), ""]
        for result in results:
            lines += [f"### {_cap(measure_name(result.dimension))}", "", descriptives_markdown(result.descriptives), ""]
            for paragraph in result_paragraphs(result, len(analysis.conditions)):
                lines += [paragraph, ""]
            lines += image(f"slopes_{kind}_{result.dimension}") + image(f"likert_{kind}_{result.dimension}")
    if analysis.human_llm_alpha:
        lines += ["## Human and LLM raters", ""]
        for sentence in human_llm_sentences(analysis):
            lines += [sentence, ""]
    if chart_titles.keys() & {"effects_dz", "effects_mixed", "agreement"}:
        lines += ["## Effect sizes and agreement", ""]
        lines += image("effects_dz") + image("effects_mixed") + image("agreement")
    table_names = list(tables(analysis))
    lines += ["## Tables", "", "Every figure above, unrounded, as CSV: "
              + ", ".join(f"[{name}.csv](tables/{name}.csv)" for name in table_names) + ".", ""]
    return "\n".join(lines)


def report_files(analysis: CrowdAnalysis, frame: pd.DataFrame, chart_format: str = "png",
                 labels: Mapping[str, Sequence[str]] | None = None) -> dict[str, bytes]:
    """The report's files by relative path: report.md, charts/NAME.png|svg, tables/NAME.csv."""
    if chart_format not in CHART_FORMATS:
        raise ValueError(f"chart format must be one of {', '.join(CHART_FORMATS)}, not {chart_format!r}")
    charts = crowd_charts(analysis, frame, labels) if len(frame) else {}
    files = {f"charts/{name}.{chart_format}": chart_bytes(chart, chart_format) for name, chart in charts.items()}
    files |= {f"tables/{name}.csv": table.to_csv(index=False).encode("utf-8")
              for name, table in tables(analysis).items()}
    titles = {name: title_text(chart) for name, chart in charts.items()}
    files["report.md"] = report_markdown(analysis, titles, chart_format).encode("utf-8")
    return files


def write_report(analysis: CrowdAnalysis, frame: pd.DataFrame, out_dir: str | Path, chart_format: str = "png",
                 labels: Mapping[str, Sequence[str]] | None = None) -> Path:
    """Write report.md, charts/ and tables/ into out_dir (created); the path of report.md."""
    out = Path(out_dir)
    for relative, content in report_files(analysis, frame, chart_format, labels).items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return out / "report.md"


def report_zip(analysis: CrowdAnalysis, frame: pd.DataFrame, chart_format: str = "png",
               labels: Mapping[str, Sequence[str]] | None = None) -> bytes:
    """The same files as write_report, in a zip under a folder study-ID-report/."""
    buffer = io.BytesIO()
    folder = f"study-{analysis.study_id}-report"
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative, content in report_files(analysis, frame, chart_format, labels).items():
            archive.writestr(f"{folder}/{relative}", content)
    return buffer.getvalue()
