"""The report: APA-style sentences from hand-built results (exact strings: p < .001, p = .032, no
leading zeros, a true minus), the Markdown report and its files from a study rated through the
real rater functions, and `python -m vt_core report` end to end on a real DuckDB file."""

from __future__ import annotations

import atexit
import io
import math
import shutil
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from tests.test_cli import cli
from tests.test_monitor import definition, jsonl
from vt_core.analysis.report import (
    bounded,
    comparison_paragraph,
    counts_sentence,
    friedman_sentence,
    mixed_sentence,
    number,
    p_value,
    report_zip,
    result_paragraphs,
    study_data,
    tables,
    write_report,
)
from vt_core.analysis.stats import Comparison, Counts, Descriptive, Friedman, MixedModel, PairedT, PowerNote, Wilcoxon
from vt_core.core.store import Store
from vt_core.crowd.assignment import Identity
from vt_core.crowd.demo import Crowd, simulate_raters
from vt_core.crowd.exclusion import ExclusionRules
from vt_core.crowd.items import add_check_items, import_items_jsonl
from vt_core.crowd.studies import create_study, parse_study, set_study_status

T0 = datetime(2026, 11, 24, 12, 0, 0)
CONDITIONS = ("baseline", "tuned")


# -- a finished study, rated through the functions the rater page calls ------------------------


def finished_study(store, name: str = "finished study", *, humans: int = 16, llms: int = 4, items: int = 4,
                   seed: int = 5):
    """A closed study: `items` matched transcripts per condition, every human rater rating all of
    them (the first one failing both attention checks), adherence 1.2 points higher under 'tuned',
    and `llms` simulated raters with a smaller lift. More than 13 human raters, so that tied
    differences take the asymptotic Wilcoxon p rather than the (slow) permutation one."""
    study = create_study(store, parse_study(definition(
        name=name, conditions=[{"name": c} for c in CONDITIONS], items_per_rater=2 * items,
        ratings_per_item=humans + llms)))
    for condition in CONDITIONS:
        import_items_jsonl(store, study, condition, jsonl(condition, items))
    add_check_items(store, study)
    study = set_study_status(store, study.id, "open")
    base = {"adherence": 4.0, "quality": 4.5}
    raters = ([(Identity("prolific", f"p{i:03d}"), Crowd(base, {"adherence": 1.2})) for i in range(humans)]
              + [(Identity("llm", f"sim-{i}"), Crowd(base, {"adherence": 0.6})) for i in range(humans, humans + llms)])
    simulate_raters(store, study, raters, np.random.default_rng(seed), failing={"p000"}, now=T0)
    return set_study_status(store, study.id, "closed")


_TEMPLATE: list[Path] = []


def finished_db(path: Path) -> Path:
    """Copy a DuckDB file holding a finished_study (id 1, closed) to path, for tests that read it or
    hand it to another process. The study is built once per test process."""
    if not _TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="vt-finished-study-"))
        atexit.register(shutil.rmtree, folder, True)
        store = Store(folder / "vt.duckdb")
        try:
            finished_study(store)
        finally:
            store.close()
        _TEMPLATE.append(folder / "vt.duckdb")
    shutil.copyfile(_TEMPLATE[0], path)
    return path


# -- numbers -----------------------------------------------------------------------------------


def test_apa_numbers():
    assert [p_value(p) for p in (0.0004, 0.001, 0.0315, 0.5, 0.99951, math.nan)] == [
        "*p* < .001", "*p* = .001", "*p* = .032", "*p* = .500", "*p* > .999", "*p* n/a"]
    assert [bounded(x) for x in (0.54, -0.031, 1.0, 0.999, 0.0)] == [".54", "\u2212.03", "1.00", "> .99", ".00"]
    assert [number(x) for x in (-4.213, -0.001, 12.5, None)] == ["\u22124.21", "0.00", "12.50", "n/a"]


# -- sentences from hand-built results ---------------------------------------------------------

BASE = Descriptive("baseline", 60, 20, 600, median=4.5, q1=3.5, q3=5.5, mean=4.4, sd=0.9)
TUNED = Descriptive("tuned", 60, 20, 600, median=6.0, q1=5.0, q3=6.5, mean=5.8, sd=0.8)


def comparison(**changes) -> Comparison:
    fields = {
        "a": "baseline", "b": "tuned",
        "wilcoxon": Wilcoxon(w=112.0, z=4.2149, p=0.00002, method="asymptotic", r=0.5441, n=60, n_zero=0),
        "t": PairedT(t=4.8012, df=59, p=0.00001, mean_diff=0.85, d_z=0.6198, d_z_ci=(0.3412, 0.8931)),
        "power": PowerNote(n=60, d_z=0.6198, power=0.9934, n_for_80=23, detectable_d_z=0.3665),
        "p_holm": 0.00004,
    }
    return Comparison(**{**fields, **changes})


def test_a_significant_comparison_reads_as_apa():
    text = comparison_paragraph("adherence", comparison(), [BASE, TUNED])
    assert text == (
        "Adherence was higher in the tuned condition (*Mdn* = 6.00, IQR 5.00\u20136.50) than in the baseline "
        "condition (*Mdn* = 4.50, IQR 3.50\u20135.50), Wilcoxon signed-rank *W* = 112.0, *Z* = 4.21, *p* < .001 "
        "(asymptotic), *r* = .54, *N* = 60, no zero differences; Holm-adjusted *p* < .001. Paired *t*-test "
        "(sensitivity): *t*(59) = 4.80, *p* < .001, mean difference = 0.85, *d_z* = 0.62, 95% CI [0.34, 0.89]. "
        "With 60 raters, the power to detect the observed *d_z* = 0.62 (two-sided paired *t*, \u03b1 = .05) was "
        ".99; 80% power would need 23 raters. This sample detects *d_z* \u2265 0.37 with 80% power.")


def test_a_non_significant_comparison_with_exact_p_zeros_and_dropped_units():
    c = comparison(
        wilcoxon=Wilcoxon(w=20.5, z=-1.1, p=0.0315, method="exact", r=0.3175, n=12, n_zero=2),
        t=PairedT(t=-1.9, df=13, p=0.0797, mean_diff=-0.31, d_z=-0.508, d_z_ci=(-1.06, 0.06)),
        power=PowerNote(n=14, d_z=-0.508, power=0.4, n_for_80=33, detectable_d_z=0.81),
        p_holm=0.063, dropped=3)
    text = comparison_paragraph("perceived success", c, [BASE, TUNED], unit="participants")
    # Holm decides: .032 alone would be significant, .063 after the correction is not
    assert text.startswith("Perceived success did not differ significantly between the baseline condition "
                           "(*Mdn* = 4.50, IQR 3.50\u20135.50) and the tuned condition")
    assert ("*W* = 20.5, *Z* = \u22121.10, *p* = .032 (exact), *r* = .32, *N* = 12, 2 zero differences dropped "
            "before ranking; Holm-adjusted *p* = .063.") in text
    assert ("*t*(13) = \u22121.90, *p* = .080, mean difference = \u22120.31, *d_z* = \u22120.51, "
            "95% CI [\u22121.06, 0.06]") in text
    assert "With 14 participants" in text and "would need 33 participants" in text
    assert text.endswith("3 participants without values in both conditions were left out.")


def test_a_lower_result_and_no_holm():
    c = comparison(wilcoxon=Wilcoxon(w=3.0, z=-2.5, p=0.012, method="exact", r=0.7, n=12, n_zero=1), p_holm=None)
    text = comparison_paragraph("quality", c, [BASE, TUNED])
    assert text.startswith("Quality was lower in the tuned condition")
    assert "1 zero difference dropped before ranking. Paired" in text and "Holm" not in text


def test_untestable_values_say_why():
    c = comparison(wilcoxon=Wilcoxon(0.0, None, math.nan, "none", None, 0, 8,
                                     note="all 8 differences are zero: no test"),
                   t=PairedT(math.nan, 7, math.nan, 0.0, math.nan, (math.nan, math.nan),
                             "every difference is the same: t is undefined"),
                   power=PowerNote(8, math.nan, None, None, 1.2), p_holm=None)
    text = comparison_paragraph("adherence", c, [BASE, TUNED])
    assert "did not differ significantly" in text
    assert "no Wilcoxon signed-rank test (all 8 differences are zero\\: no test)" in text
    assert "no paired *t*-test (every difference is the same\\: t is undefined)" in text
    assert "Power could not be computed for 8 raters" in text


def test_friedman_mixed_and_counts_sentences():
    f = Friedman(chi2=12.4, df=2, p=0.00203, n=30, kendall_w=0.2067, p_holm=0.0041)
    assert friedman_sentence("adherence", f, 3) == (
        "Adherence differed across the 3 conditions, Friedman *\u03c7*\u00b2(2) = 12.40, *p* = .002, Holm-adjusted "
        "*p* = .004, Kendall's *W* = .21, *N* = 30 raters. Pairwise Wilcoxon signed-rank tests follow, "
        "Holm-corrected across the 3 pairs.")
    m = MixedModel("tuned", 0.8412, 0.1203, (0.6054, 1.0770), 0.0000001, 0.7111, 0.3222, 1.0233, 1200, 60, 40,
                   True, None, "baseline")
    assert mixed_sentence([m]) == (
        "Mixed model (rating ~ condition, crossed random intercepts for rater and item; 1,200 ratings, 60 raters, "
        "40 items): tuned vs baseline *b* = 0.84, *SE* = 0.12, 95% CI [0.61, 1.08], *p* < .001; random-intercept "
        "*SD*s: rater 0.71, item 0.32, residual 1.02.")
    unconverged = MixedModel("tuned", 0.5, 0.3, (-0.1, 1.1), 0.1, 0.2, 0.3, 1.0, 40, 4, 10, False, "x", "baseline")
    assert mixed_sentence([unconverged]).endswith("The fit did not converge: read *b* and *SE* with caution.")
    counts = Counts(recruited=64, excluded={"failed attention checks": 2, "rated too fast": 1}, analysed=60,
                    no_ratings=1)
    assert counts_sentence(counts, "human raters") == (
        "Human raters: 64 recruited, 3 excluded (failed attention checks: 2; rated too fast: 1), "
        "1 without ratings yet, 60 analysed.")


def test_study_provided_names_are_escaped():
    c = comparison(a="*base*", b="tuned_v2 [new]")
    text = comparison_paragraph("adherence", c, [])
    assert "in the tuned\\_v2 \\[new\\] condition than in the \\*base\\* condition," in text


# -- a rated study: the report and its files ---------------------------------------------------


@pytest.fixture(scope="module")
def rated(tmp_path_factory):
    """The finished study's StudyData under the default rules, and under no exclusion (no mixed model)."""
    store = Store(finished_db(tmp_path_factory.mktemp("rated") / "vt.duckdb"))
    try:
        return (study_data(store, "finished study"),
                study_data(store, 1, ExclusionRules(exclude_failed_attention=False), mixed=False))
    finally:
        store.close()


def test_the_report_of_a_rated_study(rated, tmp_path):
    data, _ = rated
    analysis = data.analysis
    human = analysis.counts["human"]
    assert (human.recruited, human.excluded, human.analysed) == (16, {"failed attention checks": 1}, 15)
    path = write_report(analysis, data.frame, tmp_path / "out", "svg", labels=data.labels)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Statistics report: finished study\n")
    assert "Human raters: 16 recruited, 1 excluded (failed attention checks: 1), 15 analysed." in text
    for result in analysis.results["human"] + analysis.results["llm"]:
        for paragraph in result_paragraphs(result, 2):
            assert paragraph in text
    adherence = analysis.results["human"][0]
    assert adherence.dimension == "adherence" and adherence.comparisons[0].t.mean_diff > 0.5
    assert "Adherence was higher in the tuned condition" in text
    charts = sorted(p.name for p in (tmp_path / "out" / "charts").iterdir())
    assert charts == sorted(["agreement.svg", "effects_dz.svg", "effects_mixed.svg"] +
                            [f"{c}_{k}_{d}.svg" for c in ("likert", "slopes") for k in ("human", "llm")
                             for d in ("adherence", "quality")])
    for name in charts:
        assert f"](charts/{name})" in text
        assert (tmp_path / "out" / "charts" / name).read_text().startswith("<svg")
    written = sorted(p.name for p in (tmp_path / "out" / "tables").iterdir())
    assert written == sorted(f"{name}.csv" for name in tables(analysis))
    descriptives = (tmp_path / "out" / "tables" / "descriptives.csv").read_text().splitlines()
    assert descriptives[0] == "kind,dimension,condition,raters,items,ratings,median,q1,q3,mean,sd"
    assert len(descriptives) == 1 + 2 * 2 * 2  # kinds x dimensions x conditions


def test_the_zip_holds_the_same_files(rated):
    _, data = rated
    assert data.analysis.counts["human"].analysed == 16
    archive = zipfile.ZipFile(io.BytesIO(report_zip(data.analysis, data.frame, "png", data.labels)))
    names = archive.namelist()
    folder = "study-1-report/"
    assert f"{folder}report.md" in names and f"{folder}tables/comparisons.csv" in names
    png = archive.read(f"{folder}charts/effects_dz.png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    text = archive.read(f"{folder}report.md").decode()
    assert "Exclusion rules: none" in text and "Human raters: 16 recruited, 0 excluded, 16 analysed." in text
    assert text.count("The mixed model was not fitted for this report.") == 4  # kinds x dimensions
    assert f"{folder}charts/effects_mixed.png" not in names


def test_a_study_without_ratings_is_refused(store):
    study = create_study(store, parse_study(definition(name="empty")))
    add_check_items(store, study)
    with pytest.raises(ValueError, match="no ratings of its transcripts yet"):
        study_data(store, study.id)


# -- the command line --------------------------------------------------------------------------


def test_report_command_refuses_bad_input(tmp_path):
    """The whole command, with its figures compared to the page's, is in test_statistics_page.py."""
    finished_db(tmp_path / "vt.duckdb")
    out = tmp_path / "report"
    bad = cli(["report", "1", "--out", str(out), "--max-too-fast-share", "2"], {}, tmp_path)
    assert bad.returncode == 1 and "report: FAILED: max_too_fast_share must be a share from 0 to 1" in bad.stderr
    assert not out.exists()
