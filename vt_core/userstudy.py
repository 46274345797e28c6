"""Designer user studies: the method's within-subject study of Visionary Tuning against a control.

A user study has two conditions (an interface: the full Visionary Tuning workflow, "tool", or the
playground alone, "control"), one task (a chatbot brief) per condition, a time limit, and a
questionnaire after each task: perceived success on a labelled scale, the six raw NASA-TLX
subscales (0-100 in steps of 5; workload = their mean) and free text. Each participant gets a
link and a counterbalanced sequence: the condition order follows a balanced Latin square over the
two conditions (alternating), and with `task_order = "crossed"` the task order alternates in
blocks of two, so every condition meets every task in every position equally often (N a multiple
of 4). Every task runs in a project of its own, under a study session
(`vt_core.sessions`) whose events the designer pages log; the participant's progress lives in
DuckDB, so a refresh or another browser resumes it.

The measures (one row per participant and condition) come from that progress, from a CSV of a
study run elsewhere, or, for the quality of the final prompt, from expert ratings or a crowd study
over the final prompts. Their statistics are in vt_core.userstudy_stats, apart, so that the
participant's pages do not load the statistics libraries.
"""

from __future__ import annotations

import csv
import io
import json
import math
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

import duckdb
import pandas as pd
import tomli_w
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from vt_core import projects as pj
from vt_core.assignment import balanced_latin_square
from vt_core.sessions import events, log_event, session_measures
from vt_core.store import Store, naive_utc
from vt_core.studies import Condition as CrowdCondition
from vt_core.studies import StudyError, Text, parse_definition, read_toml

Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
TLX_SCALES = {  # raw NASA-TLX: the subscale, its question, and the words at 0 and at 100
    "tlx_mental": ("Mental demand", "How mentally demanding was the task?", "Very low", "Very high"),
    "tlx_physical": ("Physical demand", "How physically demanding was the task?", "Very low", "Very high"),
    "tlx_temporal": ("Temporal demand", "How hurried or rushed was the pace of the task?", "Very low", "Very high"),
    "tlx_performance": ("Performance", "How successful were you in accomplishing what you were asked to do?",
                        "Perfect", "Failure"),
    "tlx_effort": ("Effort", "How hard did you have to work to accomplish your level of performance?",
                   "Very low", "Very high"),
    "tlx_frustration": ("Frustration", "How insecure, discouraged, irritated, stressed, and annoyed were you?",
                        "Very low", "Very high"),
}
TLX_STEP = 5
SUCCESS_LABELS = ("Not at all successful", "Not successful", "Somewhat unsuccessful", "Neither",
                  "Somewhat successful", "Successful", "Very successful")


class UserStudyError(StudyError):
    """A user-study operation that cannot be done; the message says why."""


# -- the definition ----------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # as crowd study files: no coercion


class UserCondition(_Model):
    name: Key                         # in session ids, tables and CSV files, e.g. "tool"
    interface: Literal["tool", "control"]
    label: Text                       # what participants read, e.g. "Visionary Tuning"
    instructions: Text                # how to work in this condition, shown with the task


class Task(_Model):
    key: Key
    title: Text
    brief: Text                       # the chatbot brief the participant reads
    goal: Text                        # the task project's goal
    audience: str = ""
    starting_prompt: Text             # the task project's first prompt version


class Questionnaire(_Model):
    success_question: Text = "How successful were you in specifying how the chatbot should behave?"
    success_labels: list[Text] = Field(default_factory=lambda: list(SUCCESS_LABELS), min_length=2, max_length=11)
    free_text_question: Text = "Is there anything else you want to tell us about this task?"


class UserStudyDefinition(_Model):
    name: Text
    description: str = ""
    participants: int = Field(ge=2)   # the links made when the study is created; more can be added
    time_limit_minutes: int = Field(ge=1, le=600)
    task_order: Literal["crossed", "fixed"] = "crossed"   # fixed: task i always comes i-th
    conditions: list[UserCondition]
    tasks: list[Task]
    questionnaire: Questionnaire = Field(default_factory=Questionnaire)
    welcome_text: Text = ("Thank you for taking part. You will specify two chatbots, one after the other, each "
                          "with a different interface. Each task has a time limit; a short questionnaire follows it.")
    end_text: Text = "You have finished both tasks. Thank you! Please tell the researcher that you are done."

    @field_validator("conditions")
    @classmethod
    def _two_conditions(cls, conditions: list[UserCondition]) -> list[UserCondition]:
        if len(conditions) != 2:
            raise ValueError(f"a user study compares exactly 2 conditions (the order check needs two), "
                             f"found {len(conditions)}")
        if conditions[0].name == conditions[1].name:
            raise ValueError(f"condition names must differ; both are {conditions[0].name!r}")
        return conditions

    @field_validator("tasks")
    @classmethod
    def _unique_tasks(cls, tasks: list[Task]) -> list[Task]:
        keys = [t.key for t in tasks]
        if duplicates := sorted({k for k in keys if keys.count(k) > 1}):
            raise ValueError(f"task keys must be unique; repeated: {', '.join(duplicates)}")
        return tasks

    @model_validator(mode="after")
    def _one_task_per_condition(self) -> UserStudyDefinition:
        if len(self.tasks) != len(self.conditions):
            raise ValueError(f"tasks: one task per condition is needed, so {len(self.conditions)}; "
                             f"found {len(self.tasks)}")
        return self

    def condition(self, name: str) -> UserCondition:
        for condition in self.conditions:
            if condition.name == name:
                return condition
        raise UserStudyError(f"user study {self.name!r} has no condition {name!r} "
                             f"(it has {', '.join(c.name for c in self.conditions)})")

    def task(self, key: str) -> Task:
        return next(t for t in self.tasks if t.key == key)

    @property
    def reference(self) -> str:
        """The condition the analysis compares against: the control interface, else the first."""
        return next((c.name for c in self.conditions if c.interface == "control"), self.conditions[0].name)

    @property
    def analysed_conditions(self) -> tuple[str, str]:
        """(reference a, other b): every comparison is b minus a."""
        other = next(c.name for c in self.conditions if c.name != self.reference)
        return self.reference, other


def parse_user_study(data: dict, source: str = "user study definition") -> UserStudyDefinition:
    """Validate a definition given as data; every problem, naming its field, in one StudyFileError."""
    return parse_definition(UserStudyDefinition, data, source)


def load_user_study_file(path: str | Path) -> UserStudyDefinition:
    return parse_user_study(read_toml(path), str(path))


def sequence(definition: UserStudyDefinition, index: int) -> list[tuple[str, str]]:
    """The (condition, task) pairs, in the order done, of the participant with 0-based `index`."""
    square = balanced_latin_square(len(definition.conditions))
    conditions = square[index % len(square)]
    tasks = square[(index // len(square)) % len(square)] if definition.task_order == "crossed" \
        else range(len(definition.tasks))
    return [(definition.conditions[c].name, definition.tasks[t].key) for c, t in zip(conditions, tasks, strict=True)]


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
    try:
        with store.transaction() as db:
            if db.execute("SELECT 1 FROM user_studies WHERE name = ?", [definition.name]).fetchone():
                raise UserStudyError(f"a user study named {definition.name!r} already exists; choose another name")
            study_id = db.execute("INSERT INTO user_studies (name, definition) VALUES (?, ?) RETURNING id",
                                  [definition.name, definition.model_dump_json()]).fetchone()[0]
            _insert_participants(db, study_id, definition, 0, definition.participants)
    except duckdb.ConstraintException as exc:  # a concurrent create took the name first
        raise UserStudyError(f"a user study named {definition.name!r} already exists; choose another name") from exc
    return get_user_study(store, study_id)


def _insert_participants(db, study_id: int, definition: UserStudyDefinition, first: int, n: int) -> None:
    width = max(2, len(str(first + n)))
    db.executemany(
        "INSERT INTO user_study_participants (study_id, code, token, sequence) VALUES (?, ?, ?, ?)",
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
    with store.transaction() as db:
        first = db.execute("SELECT count(*) FROM user_study_participants WHERE study_id = ?", [study_id]).fetchone()[0]
        _insert_participants(db, study_id, study.definition, first, n)
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
        f"SELECT {columns} FROM user_study_tasks WHERE study_id = ? AND (? IS NULL OR participant = ?)"
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


def _task_project(store: Store, task: Task, session_id: str) -> pj.Project:
    """The project the participant works in (reused if an interrupted start made it already)."""
    name = f"{task.title} [{session_id}]"
    try:
        return pj.get_project(store, name)
    except pj.ProjectError:
        return pj.create_project(store, name, task.goal, task.audience, task.starting_prompt)


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
    try:
        store.cursor().execute(
            "INSERT INTO user_study_tasks (study_id, participant, condition, position, task, source, session_id,"
            " project_id, started_at) VALUES (?, ?, ?, ?, ?, 'platform', ?, ?, ?)",
            [participant.study_id, participant.code, step.condition.name, position, step.task.key, session_id,
             project.id, naive_utc(now)])
    except duckdb.ConstraintException:
        return resume(store, participant, now)  # another tab started it first
    log_event(store, session_id, "started", project_id=project.id)
    return resume(store, participant, now)


def _patterns(store: Store, session_id: str) -> int:
    """Distinct patterns the participant noted or accepted in the session."""
    return len({e.detail.get("pattern_id", f"event {e.id}") for e in events(store, session_id)
                if e.kind in ("pattern_noted", "pattern_accepted")})


def _finish(store: Store, record: TaskRecord, reason: str, at: datetime) -> None:
    measured = session_measures(store, record.session_id)
    version = pj.get_project(store, record.project_id).current_version_id
    minutes = (at - record.started_at).total_seconds() / 60
    finished = store.cursor().execute(
        "UPDATE user_study_tasks SET finished_at = ?, end_reason = ?, patterns = ?, versions_saved = ?,"
        " llm_calls = ?, minutes = ?, prompt_version_id = ?"
        " WHERE session_id = ? AND finished_at IS NULL RETURNING 1",
        [at, reason, _patterns(store, record.session_id), measured.versions_saved, measured.llm_calls, minutes,
         version, record.session_id]).fetchall()
    if finished:
        log_event(store, record.session_id, "finished", project_id=record.project_id, reason=reason)


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
        store.cursor().execute(
            "UPDATE user_study_tasks SET success = ?, " + ", ".join(f"{key} = ?" for key in TLX_SCALES)
            + ", workload = ?, free_text = ?, answered_at = ? WHERE session_id = ? AND answered_at IS NULL",
            [answers.success, *tlx, sum(tlx) / len(tlx), answers.free_text.strip(), naive_utc(now),
             step.record.session_id])
        return resume(store, participant, now)
    if _before(step, position, "questionnaire"):
        raise UserStudyError(f"task {position} has no questionnaire to answer yet")
    return step


_ORDER = ("brief", "task", "questionnaire", "done")


def _before(step: Step, position: int, kind: str) -> bool:
    """Whether the participant has not yet reached `kind` of the task at `position`."""
    return (step.position or step.of + 1, _ORDER.index(step.kind)) < (position, _ORDER.index(kind))


# -- the table of measures: export, import, prompt quality ----------------------------------------

TABLE_COLUMNS = ("participant", "condition", "position", "task", "source", "end_reason", *MEASURE_COLUMNS)
_INTEGER_COLUMNS = ("position", "patterns", "versions_saved", "llm_calls", "prompt_version_id", "success",
                    *TLX_SCALES)
_REQUIRED = ("participant", "condition", "position")
_NOT_IMPORTED = ("source", "end_reason")  # written by the export, describe the original row; not kept


def measures_frame(store: Store, study_id: int) -> pd.DataFrame:
    """One row per participant and condition (TABLE_COLUMNS), by participant and position."""
    frame = store.cursor().execute(
        f"SELECT {', '.join(TABLE_COLUMNS)} FROM user_study_tasks WHERE study_id = ? ORDER BY participant, position",
        [study_id]).df()
    return frame.astype({column: "Int64" for column in _INTEGER_COLUMNS})


def measures_csv(store: Store, study_id: int) -> str:
    """The table of measures as CSV; import_measures reads it back."""
    return measures_frame(store, study_id).to_csv(index=False)


class _BadCell(Exception):
    pass


def _number(text: str, column: str, *, integer: bool, low: float | None = None, high: float | None = None):
    try:
        value = float(text)
    except ValueError:
        raise _BadCell(f"{column} must be a number, found {text!r}") from None
    if not math.isfinite(value):
        raise _BadCell(f"{column} must be a finite number, found {text!r}")
    if integer and not value.is_integer():
        raise _BadCell(f"{column} must be a whole number, found {text!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"{low:g} to {high:g}" if high is not None else f"at least {low:g}"
        raise _BadCell(f"{column} must be {span}, found {text!r}")
    return int(value) if integer else value


def _cell(column: str, text: str, definition: UserStudyDefinition):
    """One CSV cell as its stored value; raises _BadCell naming the column."""
    if column in ("participant", "free_text", "quality_source", *_NOT_IMPORTED):
        return text
    if column == "condition":
        if text not in {c.name for c in definition.conditions}:
            raise _BadCell(f"condition must be one of {', '.join(c.name for c in definition.conditions)}, "
                           f"found {text!r}")
        return text
    if column == "task":
        if text not in {t.key for t in definition.tasks}:
            raise _BadCell(f"task must be one of {', '.join(t.key for t in definition.tasks)}, found {text!r}")
        return text
    if column == "position":
        return _number(text, column, integer=True, low=1, high=len(definition.conditions))
    if column == "success":
        return _number(text, column, integer=True, low=1, high=len(definition.questionnaire.success_labels))
    if column in TLX_SCALES:
        return _number(text, column, integer=True, low=0, high=100)
    if column == "workload":
        return _number(text, column, integer=False, low=0, high=100)
    if column == "minutes":
        return _number(text, column, integer=False, low=0)
    if column == "prompt_quality":
        return _number(text, column, integer=False)
    return _number(text, column, integer=True, low=0)  # counts and the version id


def _read_csv(source: str | Path | Iterable[str], definition: UserStudyDefinition, allowed: Sequence[str],
              required: Sequence[str]) -> tuple[str, list[tuple[int, dict]], list[str]]:
    """The source's name, the rows of the CSV (line number, column -> value; empty cells left
    out), and its problems, one 'line N: ...' each."""
    if isinstance(source, (str, Path)):
        name = str(source)
        try:
            text = Path(source).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserStudyError(f"{source}: cannot read the file: {exc}") from None
    else:
        name, text = "CSV input", "\n".join(source)
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    problems = []
    if missing := [c for c in required if c not in header]:
        problems.append(f"line 1: missing column(s) {', '.join(missing)}")
    if unknown := [c for c in header if c not in allowed]:
        problems.append(f"line 1: unknown column(s) {', '.join(unknown)} (allowed: {', '.join(allowed)})")
    if problems:
        return name, [], problems
    rows, end = [], reader.line_num
    for raw in reader:
        line, end = end + 1, reader.line_num  # a row's first line (a quoted cell may span several)
        if not any((v or "").strip() for v in raw.values() if isinstance(v, str)):
            continue
        if None in raw:
            problems.append(f"line {line}: more cells than columns")
            continue
        row, bad = {}, []
        for column, value in zip(header, raw.values(), strict=True):
            value = (value or "").strip()
            if not value:
                if column in required:
                    bad.append(f"{column} is empty")
                continue
            try:
                row[column] = _cell(column, value, definition)
            except _BadCell as exc:
                bad.append(str(exc))
        if bad:
            problems.append(f"line {line}: " + "; ".join(bad))
        else:
            rows.append((line, row))
    return name, rows, problems


def _workload(row: dict) -> str | None:
    """Fill in workload from the six subscales; a problem when a given workload disagrees."""
    subscales = [row.get(key) for key in TLX_SCALES]
    if any(v is None for v in subscales):
        return None
    mean = sum(subscales) / len(subscales)
    if row.get("workload") is not None and abs(row["workload"] - mean) > 0.01:
        return f"workload {row['workload']:g} is not the mean of the six TLX subscales ({mean:g})"
    row["workload"] = mean
    return None


def import_measures(store: Store, study_id: int, source: str | Path | Iterable[str], *,
                    replace_imported: bool = False) -> int:
    """Import the measures of a study run elsewhere: a CSV with columns participant, condition,
    position and any measure columns (as measures_csv writes them). Every malformed row is reported
    by its line and nothing is saved. Participant codes that have a link in this study are refused;
    rows imported before are kept unless `replace_imported`. Returns the rows saved."""
    study = get_user_study(store, study_id)
    allowed = ("participant", "condition", "position", "task", *MEASURE_COLUMNS, *_NOT_IMPORTED)
    name, rows, problems = _read_csv(source, study.definition, allowed, _REQUIRED)
    linked = {p.code for p in participants(store, study_id)}
    kept = set() if replace_imported else {(r.participant, r.condition) for r in task_records(store, study_id)
                                           if r.source == "import"}
    seen: dict[tuple, int] = {}
    for line, row in rows:
        for key, what in (((row["participant"], row["condition"]), f"condition {row['condition']}"),
                          ((row["participant"], row["position"]), f"position {row['position']}")):
            if key in seen:
                problems.append(f"line {line}: participant {row['participant']} has {what} already on line "
                                f"{seen[key]}")
            seen.setdefault(key, line)
        if row["participant"] in linked:
            problems.append(f"line {line}: participant {row['participant']} has a link in this study; "
                            f"imported participants need other codes")
        elif (row["participant"], row["condition"]) in kept:
            problems.append(f"line {line}: participant {row['participant']} in condition {row['condition']} "
                            f"was imported before; import with replace to overwrite")
        if problem := _workload(row):
            problems.append(f"line {line}: {problem}")
        if row.get("prompt_quality") is not None:
            row.setdefault("quality_source", "import")
    if problems:
        raise UserStudyError(f"nothing was imported from {name}:\n" + "\n".join(problems))
    if not rows:
        raise UserStudyError(f"nothing was imported from {name}: it has no rows")
    columns = ("participant", "condition", "position", "task", *MEASURE_COLUMNS)
    with store.transaction() as db:
        if replace_imported:
            db.execute("DELETE FROM user_study_tasks WHERE study_id = ? AND source = 'import'", [study_id])
        db.executemany(
            f"INSERT INTO user_study_tasks (study_id, source, {', '.join(columns)})"
            f" VALUES (?, 'import', {', '.join('?' for _ in columns)})",
            [[study_id, *(row.get(c) for c in columns)] for _, row in rows])
    return len(rows)


def set_prompt_quality(store: Store, study_id: int, participant: str, condition: str, value: float | None,
                       source: str = "expert") -> None:
    """Give one final prompt its quality (an expert rating, say); None clears it."""
    if value is not None and not math.isfinite(value):
        raise UserStudyError(f"a prompt quality must be a finite number, not {value!r}")
    updated = store.cursor().execute(
        "UPDATE user_study_tasks SET prompt_quality = ?, quality_source = ?"
        " WHERE study_id = ? AND participant = ? AND condition = ? RETURNING 1",
        [value, None if value is None else source, study_id, participant, condition]).fetchall()
    if not updated:
        raise UserStudyError(f"participant {participant} has no row in condition {condition!r}")


def import_prompt_quality(store: Store, study_id: int, source: str | Path | Iterable[str]) -> int:
    """Expert ratings of the final prompts from a CSV (participant, condition, prompt_quality): every
    row names an existing participant and condition, or nothing is saved. Returns the rows saved."""
    study = get_user_study(store, study_id)
    columns = ("participant", "condition", "prompt_quality")
    name, rows, problems = _read_csv(source, study.definition, columns, columns)
    existing = {(r.participant, r.condition) for r in task_records(store, study_id)}
    problems += [f"line {line}: participant {row['participant']} has no row in condition {row['condition']}"
                 for line, row in rows if (row["participant"], row["condition"]) not in existing]
    if problems:
        raise UserStudyError(f"nothing was imported from {name}:\n" + "\n".join(problems))
    with store.transaction() as db:
        db.executemany("UPDATE user_study_tasks SET prompt_quality = ?, quality_source = 'expert'"
                       " WHERE study_id = ? AND participant = ? AND condition = ?",
                       [[row["prompt_quality"], study_id, row["participant"], row["condition"]] for _, row in rows])
    return len(rows)


def copy_final_prompts(store: Store, study_id: int, project: int | str) -> list[CrowdCondition]:
    """Put every final prompt into one evaluation project, as a version named after its participant
    and condition, so a crowd study can self-play them all on the same scenarios. Returns the crowd
    study's conditions, named session_label(participant, condition); prompts copied before are not
    copied again."""
    target = pj.get_project(store, project)
    study = get_user_study(store, study_id)
    copied = {v.rationale: v for v in pj.versions(store, target.id)}
    conditions = []
    for record in task_records(store, study_id):
        version_id = record.measures["prompt_version_id"]
        if record.source != "platform" or version_id is None:
            continue
        label = session_label(record.participant, record.condition)
        rationale = f"final prompt of {label} in user study {study.name!r} (v{version_id})"
        version = copied.get(rationale) or pj.add_version(store, target.id, pj.get_version(store, version_id).text,
                                                          author="designer", rationale=rationale)
        conditions.append(CrowdCondition(name=label, project=target.name, version=version.id))
    return conditions


def conditions_toml(conditions: list[CrowdCondition]) -> str:
    """The `[[conditions]]` tables of a crowd study file (vt_core.studies) for these conditions."""
    return tomli_w.dumps({"conditions": [c.model_dump(exclude_none=True) for c in conditions]})
