"""Designer user studies: the method's within-subject study of Visionary Tuning against a control.

A user study has two conditions (an interface: the full Visionary Tuning workflow, "tool", or the
playground alone, "control"), one task (a chatbot brief) per condition, a time limit, and a
questionnaire after each task: perceived success on a labelled scale, the six raw NASA-TLX
subscales (0-100 in steps of 5; workload = their mean) and free text. Each participant gets a
link and a counterbalanced sequence: the condition order follows a balanced Latin square over the
two conditions (alternating), and with `task_order = "crossed"` the task order alternates in
blocks of two, so every condition meets every task in every position equally often (N a multiple
of 4). Every task runs in a project of its own, under a study session
(`vt_core.designer.sessions`) whose events the designer pages log; the participant's progress lives in
DuckDB, so a refresh or another browser resumes it.

The measures (one row per participant and condition) come from that progress, from a CSV of a
study run elsewhere, or, for the quality of the final prompt, from expert ratings or a crowd study
over the final prompts. Their statistics are in vt_core.userstudy.analysis, apart, so that the
participant's pages do not load the statistics libraries.
"""


from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from vt_core.core.store import KEY_TAKEN, Store, insert_rows, naive_utc
from vt_core.designer import (
    Project,
    ProjectError,
    create_project,
    get_project,
    log_event,
    session_events,
    session_measures,
)
from vt_core.userstudy.definition import (
    TLX_SCALES,
    TLX_STEP,
    Questionnaire,
    Task,
    UserCondition,
    UserStudyDefinition,
    UserStudyError,
    sequence,
)

# -- studies and participants -------------------------------------------------------------------


@dataclass(frozen=True)
class UserStudy:
    id: int
    name: str
    definition: UserStudyDefinition
    created_at: datetime


@dataclass(frozen=True)
class Participant:
    id: int
    study_id: int
    code: str                        # P01, P02, ...
    token: str                       # the secret part of the link: ?participant=TOKEN
    sequence: list[tuple[str, str]]  # (condition, task) in the order done

    @property
    def link(self) -> str:
        return f"/?participant={self.token}"


def _study(row) -> UserStudy:
    return UserStudy(row[0], row[1], UserStudyDefinition.model_validate_json(row[2]), row[3])


def create_user_study(store: Store, definition: UserStudyDefinition) -> UserStudy:
    """The study with its first `definition.participants` participants; a taken name writes nothing."""
    def create(db) -> int:
        if db.execute("SELECT 1 FROM user_studies WHERE name = ?", [definition.name]).fetchone():
            raise UserStudyError(f"a user study named {definition.name!r} already exists; choose another name")
        study_id = db.execute("INSERT INTO user_studies (name, definition) VALUES (?, ?) RETURNING id",
                              [definition.name, definition.model_dump_json()]).fetchone()[0]
        _insert_participants(db, study_id, definition, 0, definition.participants)
        return study_id

    try:
        study_id = store.transaction(create)
    except KEY_TAKEN as exc:  # a concurrent create took the name first
        raise UserStudyError(f"a user study named {definition.name!r} already exists; choose another name") from exc
    return get_user_study(store, study_id)


def _insert_participants(db, study_id: int, definition: UserStudyDefinition, first: int, n: int) -> None:
    width = max(2, len(str(first + n)))
    insert_rows(
        db, "INSERT INTO user_study_participants (study_id, code, token, sequence) VALUES (?, ?, ?, ?)",
        [[study_id, f"P{i + 1:0{width}d}", secrets.token_urlsafe(16),
          json.dumps(sequence(definition, i))] for i in range(first, first + n)])


def get_user_study(store: Store, key: int | str) -> UserStudy:
    """A user study by id or by name."""
    column = "id" if isinstance(key, int) else "name"
    row = store.cursor().execute(f"SELECT id, name, definition, created_at FROM user_studies WHERE {column} = ?",
                                 [key]).fetchone()
    if row is None:
        raise UserStudyError(f"no user study {key!r}")
    return _study(row)


def list_user_studies(store: Store) -> list[UserStudy]:
    rows = store.cursor().execute("SELECT id, name, definition, created_at FROM user_studies ORDER BY id").fetchall()
    return [_study(row) for row in rows]


def _participant(row) -> Participant:
    return Participant(*row[:4], [tuple(pair) for pair in json.loads(row[4])])


_PARTICIPANT_COLUMNS = "id, study_id, code, token, sequence"


def participants(store: Store, study_id: int) -> list[Participant]:
    rows = store.cursor().execute(f"SELECT {_PARTICIPANT_COLUMNS} FROM user_study_participants WHERE study_id = ?"
                                  " ORDER BY id", [study_id]).fetchall()
    return [_participant(row) for row in rows]


def participant_by_token(store: Store, token: str) -> Participant:
    row = store.cursor().execute(f"SELECT {_PARTICIPANT_COLUMNS} FROM user_study_participants WHERE token = ?",
                                 [token]).fetchone()
    if row is None:
        raise UserStudyError("no participant has this link; check that it was copied whole")
    return _participant(row)


def add_participants(store: Store, study_id: int, n: int) -> list[Participant]:
    """n more participants, continuing the codes and the counterbalancing."""
    if n < 1:
        raise UserStudyError(f"add at least 1 participant, not {n}")
    study = get_user_study(store, study_id)
    def add(db) -> int:
        first = db.execute("SELECT count(*) FROM user_study_participants WHERE study_id = ?", [study_id]).fetchone()[0]
        _insert_participants(db, study_id, study.definition, first, n)
        return first

    first = store.transaction(add)
    return participants(store, study_id)[first:]


# -- a participant's progress -----------------------------------------------------------------

MEASURE_COLUMNS = ("patterns", "versions_saved", "llm_calls", "minutes", "prompt_version_id", "prompt_quality",
                   "quality_source", "success", *TLX_SCALES, "workload", "free_text")
_PROGRESS_COLUMNS = ("participant", "condition", "position", "task", "source", "session_id", "project_id",
                     "started_at", "finished_at", "end_reason", "answered_at")


@dataclass(frozen=True)
class TaskRecord:
    """One participant's work in one condition: its progress and its measures (column -> value)."""

    participant: str
    condition: str
    position: int
    task: str | None
    source: str                      # 'platform' or 'import'
    session_id: str | None
    project_id: int | None
    started_at: datetime | None
    finished_at: datetime | None
    end_reason: str | None           # 'finished' (the participant said so) or 'time_limit'
    answered_at: datetime | None
    measures: dict


@dataclass(frozen=True)
class Step:
    """Where a participant is: reading a task's brief, working on it, answering its questionnaire,
    or done."""

    kind: Literal["brief", "task", "questionnaire", "done"]
    position: int | None             # 1-based; None when done
    of: int                          # tasks in all
    condition: UserCondition | None
    task: Task | None
    record: TaskRecord | None
    deadline: datetime | None = None  # while a task runs: when it ends by itself (naive UTC)

    def seconds_left(self, now: datetime | None = None) -> float | None:
        return None if self.deadline is None else max(0.0, (self.deadline - naive_utc(now)).total_seconds())


def session_label(participant: str, condition: str) -> str:
    """How a participant's work in a condition is named across the platform, e.g. 'P01-tool': the
    name a crowd study's condition takes to give that final prompt its quality."""
    return f"{participant}-{condition}"


def _session_id(study_id: int, participant: str, condition: str) -> str:
    return f"U{study_id}-{session_label(participant, condition)}"


def task_records(store: Store, study_id: int, participant: str | None = None) -> list[TaskRecord]:
    """The study's rows (one participant's, when given), by participant and position."""
    columns = ", ".join((*_PROGRESS_COLUMNS, *MEASURE_COLUMNS))
    rows = store.cursor().execute(
        f"SELECT {columns} FROM user_study_tasks WHERE study_id = ?"
        " AND (CAST(? AS VARCHAR) IS NULL OR participant = ?)"
        " ORDER BY participant, position", [study_id, participant, participant]).fetchall()
    n = len(_PROGRESS_COLUMNS)
    return [TaskRecord(*row[:n], dict(zip(MEASURE_COLUMNS, row[n:], strict=True))) for row in rows]


def resume(store: Store, participant: Participant, now: datetime | None = None) -> Step:
    """The participant's current step, from the database. A task past its time limit is finished
    here, at its limit, so the limit holds even when nobody clicks."""
    definition = get_user_study(store, participant.study_id).definition
    records = {r.position: r for r in task_records(store, participant.study_id, participant.code)}
    now = naive_utc(now)
    of = len(participant.sequence)
    for position, (condition, task) in enumerate(participant.sequence, start=1):
        here = {"position": position, "of": of, "condition": definition.condition(condition),
                "task": definition.task(task)}
        record = records.get(position)
        if record is None:
            return Step("brief", record=None, **here)
        if record.finished_at is None:
            deadline = record.started_at + timedelta(minutes=definition.time_limit_minutes)
            if now < deadline:
                return Step("task", record=record, deadline=deadline, **here)
            _finish(store, record, "time_limit", deadline)
            record = {r.position: r for r in task_records(store, participant.study_id, participant.code)}[position]
        if record.answered_at is None:
            return Step("questionnaire", record=record, **here)
    return Step("done", None, of, None, None, None)


def _task_project(store: Store, task: Task, session_id: str) -> Project:
    """The project the participant works in (reused if an interrupted start made it already)."""
    name = f"{task.title} [{session_id}]"
    try:
        return get_project(store, name)
    except ProjectError:
        return create_project(store, name, task.goal, task.audience, task.starting_prompt)


def start_task(store: Store, participant: Participant, position: int, now: datetime | None = None) -> Step:
    """Start the task at `position` (the one whose brief the participant reads): a project of its
    own and a study session; the clock starts now. Starting a running task again changes nothing."""
    step = resume(store, participant, now)
    if step.kind == "task" and step.position == position:
        return step
    if step.kind != "brief" or step.position != position:
        raise UserStudyError(f"task {position} cannot start now: the participant is at "
                             f"{step.kind}" + (f" of task {step.position}" if step.position else ""))
    session_id = _session_id(participant.study_id, participant.code, step.condition.name)
    project = _task_project(store, step.task, session_id)

    def start(db) -> None:
        db.execute(
            "INSERT INTO user_study_tasks (study_id, participant, condition, position, task, source, session_id,"
            " project_id, started_at) VALUES (?, ?, ?, ?, ?, 'platform', ?, ?, ?)",
            [participant.study_id, participant.code, step.condition.name, position, step.task.key, session_id,
             project.id, naive_utc(now)])
        log_event(store, session_id, "started", project_id=project.id)

    try:
        store.transaction(start)
    except KEY_TAKEN:
        pass  # another tab started it first
    return resume(store, participant, now)


def _patterns(store: Store, session_id: str) -> int:
    """Distinct patterns the participant noted or accepted in the session."""
    return len({e.detail.get("pattern_id", f"event {e.id}") for e in session_events(store, session_id)
                if e.kind in ("pattern_noted", "pattern_accepted")})


def _finish(store: Store, record: TaskRecord, reason: str, at: datetime) -> None:
    measured = session_measures(store, record.session_id)
    version = get_project(store, record.project_id).current_version_id
    minutes = (at - record.started_at).total_seconds() / 60

    def finish(db) -> None:
        if db.execute(
            "UPDATE user_study_tasks SET finished_at = ?, end_reason = ?, patterns = ?, versions_saved = ?,"
            " llm_calls = ?, minutes = ?, prompt_version_id = ?"
            " WHERE session_id = ? AND finished_at IS NULL RETURNING 1",
            [at, reason, _patterns(store, record.session_id), measured.versions_saved, measured.llm_calls, minutes,
             version, record.session_id]).fetchall():
            log_event(store, record.session_id, "finished", project_id=record.project_id, reason=reason)

    store.transaction(finish)


def finish_task(store: Store, participant: Participant, position: int, now: datetime | None = None) -> Step:
    """The participant ends the running task: its measures are taken now (the final prompt is the
    project's current version). Finishing a finished task changes nothing."""
    step = resume(store, participant, now)
    if step.kind == "task" and step.position == position:
        _finish(store, step.record, "finished", naive_utc(now))
        return resume(store, participant, now)
    if _before(step, position, "task"):
        raise UserStudyError(f"task {position} has not started yet")
    return step


@dataclass(frozen=True)
class Answers:
    """The questionnaire after one task. `success` is None when unanswered."""

    success: int | None
    tlx: dict[str, int]
    free_text: str = ""


def answer_problems(answers: Answers, questionnaire: Questionnaire) -> list[str]:
    """What is wrong with the answers, one line each (empty when they can be saved)."""
    points = len(questionnaire.success_labels)
    problems = []
    if answers.success is None:
        problems.append("Perceived success: choose one of the answers.")
    elif not (isinstance(answers.success, int) and 1 <= answers.success <= points):
        problems.append(f"Perceived success: must be 1 to {points}, not {answers.success!r}.")
    for key, (label, *_) in TLX_SCALES.items():
        value = answers.tlx.get(key)
        if not isinstance(value, int) or not 0 <= value <= 100 or value % TLX_STEP:
            problems.append(f"{label}: must be 0 to 100 in steps of {TLX_STEP}, not {value!r}.")
    if unknown := sorted(set(answers.tlx) - set(TLX_SCALES)):
        problems.append(f"Unknown workload scale(s): {', '.join(unknown)}.")
    return problems


def answer(store: Store, participant: Participant, position: int, answers: Answers,
           now: datetime | None = None) -> Step:
    """Save the questionnaire of the task at `position`; invalid answers raise UserStudyError (one
    line per problem) and save nothing. A second answer to the same task is ignored."""
    study = get_user_study(store, participant.study_id)
    if problems := answer_problems(answers, study.definition.questionnaire):
        raise UserStudyError("\n".join(problems))
    step = resume(store, participant, now)
    if step.kind == "questionnaire" and step.position == position:
        tlx = [answers.tlx[key] for key in TLX_SCALES]
        store.transaction(lambda db: db.execute(
            "UPDATE user_study_tasks SET success = ?, " + ", ".join(f"{key} = ?" for key in TLX_SCALES)
            + ", workload = ?, free_text = ?, answered_at = ? WHERE session_id = ? AND answered_at IS NULL",
            [answers.success, *tlx, sum(tlx) / len(tlx), answers.free_text.strip(), naive_utc(now),
             step.record.session_id]))
        return resume(store, participant, now)
    if _before(step, position, "questionnaire"):
        raise UserStudyError(f"task {position} has no questionnaire to answer yet")
    return step


_ORDER = ("brief", "task", "questionnaire", "done")


def _before(step: Step, position: int, kind: str) -> bool:
    """Whether the participant has not yet reached `kind` of the task at `position`."""
    return (step.position or step.of + 1, _ORDER.index(step.kind)) < (position, _ORDER.index(kind))


