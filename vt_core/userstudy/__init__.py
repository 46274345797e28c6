"""The designer user study: its definition (conditions, tasks, questionnaire), each participant's flow
through it, and the table of measures. Its statistics are vt_core.userstudy.analysis, imported on its own
so that the participant's pages do not load the statistics libraries."""

from vt_core.userstudy.definition import TLX_SCALES, TLX_STEP, UserStudyError, load_user_study_file, parse_user_study
from vt_core.userstudy.flow import (
    MEASURE_COLUMNS,
    Answers,
    Participant,
    Step,
    UserStudy,
    add_participants,
    answer,
    create_user_study,
    finish_task,
    get_user_study,
    list_user_studies,
    participant_by_token,
    participants,
    resume,
    start_task,
)
from vt_core.userstudy.measures import (
    conditions_toml,
    copy_final_prompts,
    import_measures,
    import_prompt_quality,
    measures_csv,
    measures_frame,
    set_prompt_quality,
)

__all__ = [
    "MEASURE_COLUMNS",
    "add_participants", "answer", "Answers", "conditions_toml", "copy_final_prompts", "create_user_study",
    "finish_task", "get_user_study", "import_measures", "import_prompt_quality", "list_user_studies",
    "load_user_study_file", "measures_csv", "measures_frame", "parse_user_study", "Participant",
    "participant_by_token", "participants", "resume", "set_prompt_quality", "start_task", "Step",
    "TLX_SCALES", "TLX_STEP", "UserStudy", "UserStudyError",
]
