"""The movie-critic case study: a critic's ratings (MovieLens or an own CSV) and their splits, the
metrics, the baselines, Visionary Tuning for taste, and runs of every method over critics and seeds."""

from vt_core.critic.baselines import DEFAULT_BATCH, Method, class_request
from vt_core.critic.charts import (
    confusion_chart,
    methods_chart,
    recall_chart,
    recall_rows,
    validation_chart,
)
from vt_core.critic.data import (
    DEFAULT_VALIDATION_PER_CLASS,
    Thresholds,
    choose_critics,
    class_counts,
    eligible_critics,
    load_critic_csv,
    movielens_critic,
    split,
)
from vt_core.critic.jobs import JOBS, submit_baselines, submit_retuning, submit_tuning
from vt_core.critic.metrics import confusion
from vt_core.critic.run import (
    available_methods,
    movielens_splits,
    result_row,
    run_methods,
    summarise,
    summary_markdown,
)
from vt_core.critic.tuning import (
    add_taste_pattern,
    estimate,
    list_taste_runs,
    load_run,
    planned_calls,
    retune,
    save_run,
    tune,
    update_taste_pattern,
)

__all__ = [
    "add_taste_pattern", "available_methods", "choose_critics", "class_counts", "class_request", "confusion",
    "confusion_chart", "DEFAULT_BATCH", "DEFAULT_VALIDATION_PER_CLASS", "eligible_critics", "estimate", "JOBS",
    "list_taste_runs", "load_critic_csv", "load_run", "Method", "methods_chart", "movielens_critic",
    "movielens_splits", "planned_calls", "recall_chart", "recall_rows", "result_row", "retune", "run_methods",
    "save_run", "split", "submit_baselines", "submit_retuning", "submit_tuning", "summarise", "summary_markdown",
    "Thresholds", "tune", "update_taste_pattern", "validation_chart"
]
