"""Statistics at scale: the crowd analysis of a study of 1,000 raters x 100 items x 2 dimensions
(200,000 ratings) in a real DuckDB file.

The study goes in through the real schema: the definition and items through vt_core.crowd.studies,
raters, ratings and flags as bulk inserts into the real tables (DuckDB reading a pandas frame).
900 raters are human (10 of them fail an attention check, so the default rules exclude them) and
100 are simulated (LLM); every rater rates every item, 50 per condition (matched pairs), on
adherence (tuned is 0.3 points higher on the latent scale) and quality (no difference), with
random intercepts for raters and for scenarios (shared by a matched pair), rounded and clipped
to 1..7.

Timed: `analysis_s` is analyse_study(mixed=False), everything the statistics page computes except
the mixed model (loading, exclusion, descriptives, Wilcoxon, paired t, power, Holm, Krippendorff's
alpha per kind and human-LLM), target <= 2 s; `mixed_model_s` is mixed_model on a 20,000-rating
subset (the first 100 human raters, both dimensions, one fit each). `page_rerun_s` is the median of
5 reruns of the statistics page (AppTest, in this process) once its first run has analysed the study
and cached the result, target <= 0.3 s; `page_first_run_s` is that first run.

`studies_page_rerun_s` is the median of 7 reruns of the Rating studies page (AppTest through app.py,
as a researcher's click reruns it: monitor, items, status, pilot form and export buttons) after its
first run, on a study of its own size in another DuckDB file: 60 raters (54 human, 2 of them failing
an attention check, and 6 LLM) who each rated all 20 items (10 per condition) on both dimensions,
with a lease per rated item (2,400 rating rows); target <= 0.3 s. `studies_page_first_run_s` is
that first run.

    python bench/stats_scale.py                 # last line: JSON with ratings, analysis_s, mixed_model_s, ...
    python bench/stats_scale.py --studies-page  # only the Rating studies page (seconds, not minutes)
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vt_core.analysis import analyse_study, load_ratings, mixed_model
from vt_core.core.store import Store
from vt_core.crowd import add_check_items, create_study, import_items_jsonl, parse_study

HUMANS, LLMS, EXCLUDED = 900, 100, 10
ITEMS_PER_CONDITION = 50
CONDITIONS = ("baseline", "tuned")
DIMENSIONS = {"adherence": 0.3, "quality": 0.0}  # planted latent effect of 'tuned'
MIXED_RATERS = 100
SEED = 20261124
# The Rating studies page's study: 60 raters x 20 items.
PAGE_HUMANS, PAGE_LLMS, PAGE_EXCLUDED, PAGE_ITEMS_PER_CONDITION = 54, 6, 2, 10
STUDIES_PAGE = "views/researcher/studies.py"


def _definition(items_per_condition: int = ITEMS_PER_CONDITION, raters: int = HUMANS + LLMS) -> dict:
    return {
        "name": "stats scale", "conditions": [{"name": c} for c in CONDITIONS], "instructions": ["Be brief."],
        "items_per_rater": 2 * items_per_condition, "ratings_per_item": raters,
        "attention_checks": [
            {"instruction": "Answer 2 for adherence.", "dimension": "adherence", "expected": 2},
            {"instruction": "Answer 6 for quality.", "dimension": "quality", "expected": 6}],
        "comprehension": {"question": "What do you rate?", "options": ["the bot", "the user"], "answer": "the bot"},
        "consent_text": "I agree.", "instruction_text": "Rate each conversation.",
        "completion_codes": {"completed": "DONE", "screened_out": "OUT", "failed_checks": "FAIL"},
    }


def build_study(store: Store, humans: int = HUMANS, llms: int = LLMS, excluded: int = EXCLUDED,
                items_per_condition: int = ITEMS_PER_CONDITION, leases: bool = False) -> int:
    """Create the study in `store` (by default the 200,000-rating one; with `leases`, each rated item
    also leased and shown, as the assignment leaves it); returns its id."""
    study = create_study(store, parse_study(_definition(items_per_condition, humans + llms)))
    for condition in CONDITIONS:
        import_items_jsonl(store, study, condition, [json.dumps(
            {"messages": [{"role": "user", "content": f"question {i}"},
                          {"role": "assistant", "content": f"{condition} answer {i}"}], "match_key": f"m{i}"})
            for i in range(items_per_condition)])
    add_check_items(store, study)
    db = store.cursor()
    kinds = ["human"] * humans + ["llm"] * llms
    new_raters = pd.DataFrame({
        "study_id": study.id, "kind": kinds, "platform": ["prolific" if k == "human" else "llm" for k in kinds],
        "external_id": [f"r{i:04d}" for i in range(len(kinds))], "seed": np.arange(len(kinds)),
        "condition_order": [json.dumps(CONDITIONS[::1 if i % 2 == 0 else -1]) for i in range(len(kinds))],
        "status": "completed"})
    db.register("new_raters", new_raters)
    db.execute("INSERT INTO raters (study_id, kind, platform, external_id, seed, condition_order, status)"
               " SELECT study_id, kind, platform, external_id, seed, condition_order, status FROM new_raters")
    db.unregister("new_raters")
    raters = db.execute("SELECT id, kind FROM raters WHERE study_id = ? ORDER BY external_id", [study.id]).fetchall()
    items = db.execute("SELECT id, condition, match_key FROM study_items WHERE study_id = ? AND kind = 'regular'"
                       " ORDER BY id", [study.id]).fetchall()

    rng = np.random.default_rng(SEED)
    rater_ids = np.array([r for r, _ in raters])
    llm = np.array([k == "llm" for _, k in raters])
    item_ids = np.array([i for i, _, _ in items])
    tuned = np.array([c == "tuned" for _, c, _ in items], dtype=float)
    scenario = np.array([int(m.removeprefix("m")) for _, _, m in items])
    frames = []
    for dimension, effect in DIMENSIONS.items():
        rater_effect = rng.normal(0, 0.7, len(rater_ids)) + 0.4 * llm
        item_effect = rng.normal(0, 0.5, items_per_condition)[scenario]
        latent = (4 + rater_effect[:, None] + item_effect[None, :] + effect * tuned[None, :]
                  + rng.normal(0, 1, (len(rater_ids), len(item_ids))))
        frames.append(pd.DataFrame({
            "study_id": study.id, "rater_id": np.repeat(rater_ids, len(item_ids)),
            "item_id": np.tile(item_ids, len(rater_ids)), "dimension": dimension,
            "value": np.clip(np.round(latent), 1, 7).astype(int).ravel(),
            "seconds": rng.uniform(5, 60, latent.size)}))
    new_ratings = pd.concat(frames, ignore_index=True)
    db.register("new_ratings", new_ratings)
    db.execute("INSERT INTO ratings (study_id, rater_id, item_id, dimension, value, seconds)"
               " SELECT study_id, rater_id, item_id, dimension, value, seconds FROM new_ratings")
    db.unregister("new_ratings")
    if leases:
        db.execute("INSERT INTO leases (item_id, rater_id, position, shown_at, expires_at)"
                   " SELECT item_id, rater_id, row_number() OVER (PARTITION BY rater_id ORDER BY item_id),"
                   " min(created_at) - INTERVAL 30 SECOND, min(created_at) + INTERVAL 30 MINUTE"
                   " FROM ratings WHERE study_id = ? GROUP BY item_id, rater_id", [study.id])
    check = db.execute("SELECT id FROM study_items WHERE study_id = ? AND kind = 'attention' ORDER BY id LIMIT 1",
                       [study.id]).fetchone()[0]
    db.executemany("INSERT INTO rater_flags (rater_id, flag, detail) VALUES (?, 'attention_failed', ?)",
                   [[int(r), json.dumps({"item_id": check})] for r in rater_ids[:excluded]])
    return study.id


def page_runs(db_path: str, reruns: int = 5) -> tuple[float, float]:
    """The statistics page on this database: its first run (analysis, charts) and the median rerun
    once that is cached. No model is called; the endpoint only has to be set."""
    from streamlit.testing.v1 import AppTest

    os.environ.update({"VT_DB_PATH": db_path, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    page = AppTest.from_file(str(ROOT / "views" / "researcher" / "statistics.py"), default_timeout=600)
    first = _timed_run(page)
    if page.exception:
        raise RuntimeError(f"the statistics page failed: {page.exception}")
    return first, statistics.median(_timed_run(page) for _ in range(reruns))


def _timed_run(page) -> float:
    start = time.perf_counter()
    page.run()
    return time.perf_counter() - start


def studies_page_runs(db_path: str, reruns: int = 7) -> tuple[float, float]:
    """The Rating studies page (through app.py, as in the browser) on a 60-rater x 20-item study in
    a database of its own: its first run and the median rerun. No model is called."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    store = Store(db_path)
    try:
        build_study(store, PAGE_HUMANS, PAGE_LLMS, PAGE_EXCLUDED, PAGE_ITEMS_PER_CONDITION, leases=True)
    finally:
        store.close()
    os.environ.update({"VT_DB_PATH": db_path, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    st.cache_resource.clear()  # the services of an earlier page (another database)
    page = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
    page.switch_page(STUDIES_PAGE)
    first = _timed_run(page)
    if page.exception or not page.get("download_button"):
        raise RuntimeError(f"the Rating studies page failed: {page.exception}")
    rerun = statistics.median(_timed_run(page) for _ in range(reruns))
    if page.exception:
        raise RuntimeError(f"the Rating studies page failed on a rerun: {page.exception}")
    return first, rerun


def measure_studies_page(tmp: str) -> dict:
    first, rerun = studies_page_runs(f"{tmp}/studies.duckdb")
    return {"studies_page_rerun_s": round(rerun, 3), "studies_page_rerun_target_s": 0.3,
            "studies_page_first_run_s": round(first, 3),
            "studies_page_study": {"raters": PAGE_HUMANS + PAGE_LLMS, "items": 2 * PAGE_ITEMS_PER_CONDITION,
                                   "rating_rows": (PAGE_HUMANS + PAGE_LLMS) * 2 * PAGE_ITEMS_PER_CONDITION
                                   * len(DIMENSIONS)}}


def measure(db_path: str) -> dict:
    store = Store(db_path)
    try:
        start = time.perf_counter()
        study_id = build_study(store)
        build_s = time.perf_counter() - start

        start = time.perf_counter()
        analysis = analyse_study(store, study_id, mixed=False)
        analysis_s = time.perf_counter() - start

        frame = load_ratings(store, study_id)
        humans = frame[(frame["rater_kind"] == "human") & ~frame["excluded"]]
        subset = humans[humans["rater_id"].isin(sorted(humans["rater_id"].unique())[:MIXED_RATERS])]
        start = time.perf_counter()
        models = {d: mixed_model(subset[subset["dimension"] == d], CONDITIONS)[0] for d in DIMENSIONS}
        mixed_model_s = time.perf_counter() - start
    finally:
        store.close()
    page_first_run_s, page_rerun_s = page_runs(db_path)
    human = {r.dimension: r for r in analysis.results["human"]}
    return {
        "ratings": len(frame), "raters": {k: c.recruited for k, c in analysis.counts.items()},
        "excluded": {k: c.excluded for k, c in analysis.counts.items()},
        "analysis_s": round(analysis_s, 3), "analysis_target_s": 2.0,
        "mixed_model_s": round(mixed_model_s, 3), "mixed_model_ratings": len(subset),
        "page_rerun_s": round(page_rerun_s, 3), "page_rerun_target_s": 0.3,
        "page_first_run_s": round(page_first_run_s, 2),
        "build_s": round(build_s, 2),
        "human": {d: {"W": r.comparisons[0].wilcoxon.w, "Z": round(r.comparisons[0].wilcoxon.z, 2),
                      "p": r.comparisons[0].wilcoxon.p, "d_z": round(r.comparisons[0].t.d_z, 3),
                      "alpha": None if r.alpha is None else round(r.alpha, 3)} for d, r in human.items()},
        "human_llm_alpha": {d: None if a is None else round(a, 3) for d, a in analysis.human_llm_alpha.items()},
        "mixed": {d: {"b": round(m.b, 3), "se": round(m.se, 3), "sd_rater": round(m.sd_rater, 3),
                      "sd_item": round(m.sd_item, 3), "converged": m.converged} for d, m in models.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies-page", action="store_true",
                        help="only the Rating studies page's figures (skips the 200,000-rating study)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vt-stats-") as tmp:
        result = {} if args.studies_page else measure(f"{tmp}/stats.duckdb")
        result.update(measure_studies_page(tmp))
        print(json.dumps(result))


if __name__ == "__main__":
    main()
