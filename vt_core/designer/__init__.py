"""The designer workflow: a project's prompt versions, simulated users (personas) and situations
(scenarios), self-play transcripts, the designer's marks (annotations) and the review queue, patterns
judged on the transcripts, refinement of the prompt against them, study sessions and the demo project."""

from vt_core.designer.annotations import ANNOTATION_LABELS, annotate, current_annotations
from vt_core.designer.cleanup import KINDS, CleanupError, Deleted, archive, blockers, delete, describe
from vt_core.designer.demo import seed_demo
from vt_core.designer.exchange import (
    FORMAT,
    FORMAT_VERSION,
    ExchangeError,
    ProjectFile,
    export_json,
    export_markdown,
    export_project,
    import_project,
    project_markdown,
    read_project_file,
)
from vt_core.designer.jobs import JOBS, submit_judging, submit_refine, submit_selfplay
from vt_core.designer.patterns import (
    PATTERN_KINDS,
    add_pattern,
    evaluate_patterns,
    get_pattern,
    judgements_for_transcript,
    list_patterns,
    merge_patterns,
    pattern_report,
    propose_patterns,
    update_pattern,
)
from vt_core.designer.personas import ATTRIBUTES, add_persona, generate_personas, list_personas, update_persona
from vt_core.designer.projects import (
    Project,
    ProjectError,
    PromptVersion,
    add_version,
    create_project,
    current_version,
    get_project,
    get_version,
    list_projects,
    project_counts,
    set_current,
    unified_diff,
    update_project,
    versions,
)
from vt_core.designer.refinement import (
    REMOVED_SHARE_WARNING,
    RefineError,
    Removal,
    approve,
    leaderboard,
    linked_diff,
    list_refine_runs,
    planned_calls,
    refine,
    removal,
)
from vt_core.designer.review import UNLABELLED, filter_transcripts, next_to_review
from vt_core.designer.scenarios import (
    DIFFICULTIES,
    SPLITS,
    add_scenario,
    list_scenarios,
    propose_scenarios,
    save_drafts,
    update_scenario,
)
from vt_core.designer.selfplay import (
    SelfPlayError,
    bot_reply,
    estimate_run,
    list_selfplay_runs,
    plan_for_project,
    replan,
    run_conversations,
)
from vt_core.designer.sessions import log_event, session_events, session_measures, session_run_id
from vt_core.designer.transcripts import Turn, get_transcript, list_transcripts

__all__ = [
    "archive", "blockers", "CleanupError", "delete", "Deleted", "describe", "ExchangeError", "export_json",
    "export_markdown", "export_project", "FORMAT", "FORMAT_VERSION", "import_project", "KINDS", "ProjectFile",
    "project_counts", "project_markdown", "read_project_file",
    "add_pattern", "add_persona", "add_scenario", "add_version", "annotate", "ANNOTATION_LABELS", "approve",
    "ATTRIBUTES", "bot_reply", "create_project", "current_annotations", "current_version", "DIFFICULTIES",
    "estimate_run", "evaluate_patterns", "filter_transcripts", "generate_personas", "get_pattern", "get_project",
    "get_transcript", "get_version", "JOBS", "judgements_for_transcript", "leaderboard", "linked_diff",
    "list_patterns", "list_personas", "list_projects", "list_refine_runs", "list_scenarios", "list_selfplay_runs",
    "list_transcripts", "log_event", "merge_patterns", "next_to_review", "PATTERN_KINDS", "pattern_report",
    "plan_for_project", "planned_calls", "Project", "ProjectError", "PromptVersion", "propose_patterns",
    "propose_scenarios", "refine", "RefineError", "removal", "Removal", "REMOVED_SHARE_WARNING", "replan", "run_conversations", "save_drafts", "seed_demo",
    "SelfPlayError", "session_events", "session_measures", "session_run_id", "set_current", "SPLITS",
    "submit_judging", "submit_refine", "submit_selfplay", "Turn", "unified_diff", "UNLABELLED", "update_pattern", "update_persona", "update_project",
    "update_scenario", "versions"
]
