"""Within-subject statistics of rating studies (paired tests, mixed models, agreement), power, charts
and the APA report."""

from vt_core.analysis.charts import (
    KIND_NAMES,
    chart_bytes,
    crowd_charts,
    dz_chart,
    dz_interval,
    likert_chart,
    slope_chart,
)
from vt_core.analysis.preference import PreferenceData, preference_data
from vt_core.analysis.preference_report import (
    preference_charts,
    preference_methods,
    preference_paragraphs,
    preference_report_zip,
    preference_tables,
    write_preference_report,
)
from vt_core.analysis.report import (
    DASH,
    MINUS,
    MIXED_MAX_RATINGS,
    StudyData,
    bounded,
    comparison_paragraph,
    comparisons_frame,
    counts_sentence,
    data_fingerprint,
    descriptive_row,
    descriptives_frame,
    human_llm_sentences,
    markdown_table,
    measure_name,
    methods_paragraph,
    mixed_frame,
    number,
    p_value,
    report_zip,
    result_paragraphs,
    rules_sentence,
    study_data,
    tables,
    write_report,
)
from vt_core.analysis.stats import (
    Comparison,
    Descriptive,
    analyse_study,
    compare_conditions,
    describe_wide,
    holm,
    load_ratings,
    mixed_model,
    per_unit_means,
)

__all__ = [
    "analyse_study", "bounded", "chart_bytes", "compare_conditions", "Comparison", "comparison_paragraph",
    "comparisons_frame", "counts_sentence", "crowd_charts", "DASH", "data_fingerprint", "describe_wide",
    "Descriptive", "descriptive_row", "descriptives_frame", "dz_chart", "dz_interval", "holm",
    "human_llm_sentences", "KIND_NAMES", "likert_chart", "load_ratings", "markdown_table", "measure_name",
    "methods_paragraph", "MINUS", "mixed_frame", "MIXED_MAX_RATINGS", "mixed_model", "number", "p_value",
    "per_unit_means", "report_zip", "result_paragraphs", "rules_sentence", "slope_chart", "study_data",
    "StudyData", "tables", "write_report", "PreferenceData", "preference_charts", "preference_data",
    "preference_methods", "preference_paragraphs", "preference_report_zip", "preference_tables",
    "write_preference_report",
]
