"""The crowd-rating workflow: study definitions, their items, the assignment of items to raters (leases,
counterbalancing, quality flags), exclusion rules, the live monitor, LLM-rater pilots, export, the demo
study, and running a study on Prolific (its API client, decisions and bonuses)."""

from vt_core.crowd.assignment import (
    RATER_KINDS,
    StudyFull,
    active_raters,
    check_platform,
    completion_url,
    end_early,
    ended_early,
    finish,
    identity_from_params,
    next_item,
    rater_progress,
    record_comprehension,
    register_rater,
    room,
    set_rater_status,
    submit,
)
from vt_core.crowd.demo import is_demo_study, seed_demo_study
from vt_core.crowd.exclusion import ExcludedRater, ExclusionRules, excluded_raters, exclusion_label
from vt_core.crowd.export import (
    FORMATS,
    MEDIA_TYPES,
    PER_RATER_COLUMNS,
    export_bytes,
    export_ratings,
    raters_csv,
    raters_rows,
)
from vt_core.crowd.jobs import JOBS, submit_pilot, submit_study_items
from vt_core.crowd.items import (
    add_check_items,
    add_items_from_selfplay,
    import_items_jsonl,
    list_items,
    unresolved_prompts,
)
from vt_core.crowd.monitoring import dimension_agreement, fingerprint, monitor, monitor_summary
from vt_core.crowd.payouts import (
    BONUS_STATES,
    Bonus,
    Decision,
    DecisionResult,
    ProlificLink,
    Proposal,
    add_places,
    apply_decisions,
    create_on_prolific,
    keep_within_cap,
    list_bonuses,
    pay_bonus,
    prolific_link,
    propose_decisions,
    publish_on_prolific,
    set_paused_on_prolific,
    set_up_bonus,
    settle_bonus,
)
from vt_core.crowd.pilot import run_pilot
from vt_core.crowd.prolific import (
    MIN_REJECTION_MESSAGE,
    REJECTION_CATEGORIES,
    ProlificClient,
    ProlificError,
    check_rejection,
)
from vt_core.crowd.studies import (
    CHECKS_CONDITION,
    DEFAULT_LABELS,
    Condition,
    Study,
    StudyError,
    Text,
    create_study,
    create_study_from_file,
    definition_to_toml,
    get_study,
    get_study_by_token,
    list_studies,
    load_study_file,
    parse_definition,
    parse_study,
    parse_toml,
    read_toml,
    repeated,
    set_study_status,
)

__all__ = [
    "active_raters", "add_check_items", "add_items_from_selfplay", "check_platform", "CHECKS_CONDITION", "completion_url",
    "Condition", "create_study", "create_study_from_file", "DEFAULT_LABELS", "definition_to_toml",
    "dimension_agreement", "end_early", "ended_early", "excluded_raters", "ExcludedRater", "exclusion_label",
    "ExclusionRules", "export_bytes", "export_ratings", "fingerprint", "finish", "FORMATS", "get_study",
    "get_study_by_token", "identity_from_params", "import_items_jsonl", "is_demo_study", "JOBS", "list_items",
    "list_studies", "load_study_file", "MEDIA_TYPES", "monitor", "monitor_summary", "next_item",
    "parse_definition", "parse_study", "parse_toml", "RATER_KINDS", "rater_progress", "read_toml",
    "record_comprehension", "register_rater", "repeated", "room", "run_pilot", "seed_demo_study",
    "set_rater_status", "set_study_status", "Study", "StudyError", "StudyFull", "submit", "submit_pilot", "submit_study_items",
    "Text", "unresolved_prompts",
    # Prolific from the platform
    "add_places", "apply_decisions", "Bonus", "BONUS_STATES", "check_rejection", "create_on_prolific", "Decision",
    "DecisionResult", "keep_within_cap", "list_bonuses", "MIN_REJECTION_MESSAGE", "pay_bonus", "ProlificClient",
    "PER_RATER_COLUMNS", "ProlificError", "ProlificLink", "prolific_link", "Proposal", "propose_decisions",
    "publish_on_prolific", "raters_csv", "raters_rows", "REJECTION_CATEGORIES", "set_paused_on_prolific",
    "set_up_bonus", "settle_bonus",
]
