"""The table of measures, one row per participant and condition: export, import of a study run
elsewhere, and the quality of the final prompts."""


from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
import tomli_w

from vt_core.core.store import Store, insert_rows
from vt_core.crowd import Condition as CrowdCondition
from vt_core.designer import add_version, get_project, get_version, versions
from vt_core.userstudy.definition import TLX_SCALES, UserStudyDefinition, UserStudyError
from vt_core.userstudy.flow import MEASURE_COLUMNS, get_user_study, participants, session_label, task_records

# -- the table of measures: export, import, prompt quality ----------------------------------------

TABLE_COLUMNS = ("participant", "condition", "position", "task", "source", "end_reason", *MEASURE_COLUMNS)
_INTEGER_COLUMNS = ("position", "patterns", "versions_saved", "llm_calls", "prompt_version_id", "success",
                    *TLX_SCALES)
_REQUIRED = ("participant", "condition", "position")
_NOT_IMPORTED = ("source", "end_reason")  # written by the export, describe the original row; not kept


def measures_frame(store: Store, study_id: int) -> pd.DataFrame:
    """One row per participant and condition (TABLE_COLUMNS), by participant and position."""
    frame = store.frame(
        f"SELECT {', '.join(TABLE_COLUMNS)} FROM user_study_tasks WHERE study_id = ? ORDER BY participant, position",
        [study_id])
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
    def insert(db) -> None:
        if replace_imported:
            db.execute("DELETE FROM user_study_tasks WHERE study_id = ? AND source = 'import'", [study_id])
        insert_rows(
            db, f"INSERT INTO user_study_tasks (study_id, source, {', '.join(columns)})"
            f" VALUES (?, 'import', {', '.join('?' for _ in columns)})",
            [[study_id, *(row.get(c) for c in columns)] for _, row in rows])

    store.transaction(insert)
    return len(rows)


def set_prompt_quality(store: Store, study_id: int, participant: str, condition: str, value: float | None,
                       source: str = "expert") -> None:
    """Give one final prompt its quality (an expert rating, say); None clears it."""
    if value is not None and not math.isfinite(value):
        raise UserStudyError(f"a prompt quality must be a finite number, not {value!r}")
    updated = store.transaction(lambda db: db.execute(
        "UPDATE user_study_tasks SET prompt_quality = ?, quality_source = ?"
        " WHERE study_id = ? AND participant = ? AND condition = ? RETURNING 1",
        [value, None if value is None else source, study_id, participant, condition]).fetchall())
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
    store.transaction(lambda db: db.executemany(
        "UPDATE user_study_tasks SET prompt_quality = ?, quality_source = 'expert'"
        " WHERE study_id = ? AND participant = ? AND condition = ?",
        [[row["prompt_quality"], study_id, row["participant"], row["condition"]] for _, row in rows]))
    return len(rows)


def copy_final_prompts(store: Store, study_id: int, project: int | str) -> list[CrowdCondition]:
    """Put every final prompt into one evaluation project, as a version named after its participant
    and condition, so a crowd study can self-play them all on the same scenarios. Returns the crowd
    study's conditions, named session_label(participant, condition); prompts copied before are not
    copied again."""
    target = get_project(store, project)
    study = get_user_study(store, study_id)
    copied = {v.rationale: v for v in versions(store, target.id)}
    conditions = []
    for record in task_records(store, study_id):
        version_id = record.measures["prompt_version_id"]
        if record.source != "platform" or version_id is None:
            continue
        label = session_label(record.participant, record.condition)
        rationale = f"final prompt of {label} in user study {study.name!r} (v{version_id})"
        version = copied.get(rationale) or add_version(store, target.id, get_version(store, version_id).text,
                                                          author="designer", rationale=rationale)
        conditions.append(CrowdCondition(name=label, project=target.name, version=version.id))
    return conditions


def conditions_toml(conditions: list[CrowdCondition]) -> str:
    """The `[[conditions]]` tables of a crowd study file (vt_core.crowd.studies) for these conditions."""
    return tomli_w.dumps({"conditions": [c.model_dump(exclude_none=True) for c in conditions]})
