"""Export a study's ratings: one row per rating and dimension, as CSV, Parquet or JSONL; and its raters, one row
each, as CSV (`raters_csv`).

Columns (in this order): rater_id, rater_kind ('human' | 'llm'), platform, external_id, item_id,
condition (CHECKS_CONDITION '_checks' for attention and gold items), item_kind ('regular' |
'attention' | 'gold'), match_key, transcript (the item as the rater read it, one 'User: ...' or 'Chatbot: ...'
line per turn), dimension, value, seconds (server-side, render to submit),
created_at, flags (the rater's quality flags on this item, comma-separated, e.g.
'attention_failed,too_fast'; flags without an item apply to every row of the rater), excluded
(bool: the rater is excluded by the exclusion rules, see vt_core.crowd.exclusion), exclusion_reasons,
and for side-by-side items (condition '_pair') left_condition and right_condition (the order the rater saw),
choice ('left', 'same' or 'right': what value 1, 2 or 3 means there; empty for other items), then reason
(the rater's optional reason with the item, repeated on each dimension's row).

Excluded raters stay in the export, flagged; nothing is ever dropped. The query is
parameterised; its rows, from either database, are written to CSV and Parquet by an in-memory DuckDB
table of the columns' types (so both files are alike whichever database the study is in); JSONL is one
json.dumps per row, timestamps in ISO 8601.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from datetime import datetime
from pathlib import Path

import duckdb

from vt_core.core.store import Store, insert_rows
from vt_core.crowd.exclusion import ExclusionRules, excluded_raters
from vt_core.crowd.studies import StudyError, get_study

FORMATS = ("csv", "parquet", "jsonl")
_TYPES = {"rater_id": "BIGINT", "rater_kind": "VARCHAR", "platform": "VARCHAR", "external_id": "VARCHAR",
          "item_id": "BIGINT", "condition": "VARCHAR", "item_kind": "VARCHAR", "match_key": "VARCHAR",
          "transcript": "VARCHAR",
          "dimension": "VARCHAR", "value": "INTEGER", "seconds": "DOUBLE", "created_at": "TIMESTAMP",
          "flags": "VARCHAR", "excluded": "BOOLEAN", "exclusion_reasons": "VARCHAR",
          "left_condition": "VARCHAR", "right_condition": "VARCHAR", "choice": "VARCHAR", "reason": "VARCHAR"}
COLUMNS = tuple(_TYPES)
MEDIA_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet", "jsonl": "application/jsonl"}

_QUERY = """
SELECT r.rater_id, ra.kind AS rater_kind, ra.platform, ra.external_id, r.item_id, si.condition,
       si.kind AS item_kind, si.match_key, CAST(si.turns AS VARCHAR) AS transcript, r.dimension, r.value,
       r.seconds, r.created_at,
       coalesce((SELECT string_agg(DISTINCT f.flag, ',' ORDER BY f.flag) FROM rater_flags f
                 WHERE f.rater_id = r.rater_id
                   AND (f.detail->>'item_id' = CAST(r.item_id AS VARCHAR) OR f.detail->>'item_id' IS NULL)),
                '') AS flags,
       r.rater_id = ANY(CAST(? AS BIGINT[])) AS excluded,
       coalesce((CAST(? AS VARCHAR[]))[array_position(CAST(? AS BIGINT[]), r.rater_id)], '') AS exclusion_reasons,
       coalesce(sl.condition, '') AS left_condition, coalesce(sr.condition, '') AS right_condition,
       CASE WHEN sl.condition IS NULL THEN '' WHEN r.value = 1 THEN 'left' WHEN r.value = 2 THEN 'same'
            ELSE 'right' END AS choice,
       coalesce(rr.reason, '') AS reason
FROM ratings r
JOIN raters ra ON ra.id = r.rater_id
JOIN study_items si ON si.id = r.item_id
LEFT JOIN study_item_sides sl ON sl.item_id = r.item_id AND sl.side = 'left'
LEFT JOIN study_item_sides sr ON sr.item_id = r.item_id AND sr.side = 'right'
LEFT JOIN rating_reasons rr ON rr.rater_id = r.rater_id AND rr.item_id = r.item_id
WHERE r.study_id = ?
ORDER BY r.id
"""


def _parameters(store: Store, study_id: int, exclusion: ExclusionRules | None) -> list:
    get_study(store, study_id)  # a clear StudyError for an unknown study
    excluded = excluded_raters(store, study_id, exclusion)
    ids = [r.rater_id for r in excluded]
    reasons = [r.details for r in excluded]
    return [ids, reasons, ids, study_id]


_SPEAKERS = {"user": "User", "assistant": "Chatbot"}
_TRANSCRIPT = COLUMNS.index("transcript")


def transcript_text(turns_json: str) -> str:
    """An item's turns as plain text, one 'User: ...' or 'Chatbot: ...' line per turn."""
    return "\n".join(f"{_SPEAKERS.get(t['role'], t['role'])}: {t['content']}" for t in json.loads(turns_json))


def _pair_texts(store: Store, study_id: int) -> dict[int, str]:
    """{item id: both conversations of a side-by-side item, under 'Left:' and 'Right:'}."""
    sides: dict[int, dict[str, str]] = {}
    for item_id, side, turns in store.cursor().execute(
            "SELECT s.item_id, s.side, CAST(s.turns AS VARCHAR) FROM study_item_sides s"
            " JOIN study_items i ON i.id = s.item_id WHERE i.study_id = ?", [study_id]).fetchall():
        sides.setdefault(item_id, {})[side] = transcript_text(turns)
    return {item_id: f"Left:\n{text['left']}\n\nRight:\n{text['right']}" for item_id, text in sides.items()}


def _rows(store: Store, study_id: int, exclusion: ExclusionRules | None) -> list[tuple]:
    rows = store.cursor().execute(_QUERY, _parameters(store, study_id, exclusion)).fetchall()
    texts: dict[str, str] = {}  # an item's text once, however many ratings it has
    for turns in {row[_TRANSCRIPT] for row in rows}:
        texts[turns] = transcript_text(turns)
    pairs = _pair_texts(store, study_id)
    item = COLUMNS.index("item_id")
    return [(*row[:_TRANSCRIPT], pairs.get(row[item], texts[row[_TRANSCRIPT]]), *row[_TRANSCRIPT + 1:])
            for row in rows]


def ratings_rows(store: Store, study_id: int, exclusion: ExclusionRules | None = None) -> list[dict]:
    """The export's rows as dicts (COLUMNS order)."""
    return [dict(zip(COLUMNS, row, strict=True)) for row in _rows(store, study_id, exclusion)]


def ratings_frame(store: Store, study_id: int, exclusion: ExclusionRules | None = None):
    """The export's rows as a pandas DataFrame (for the page's table)."""
    import pandas as pd  # here, as in Store.frame: the rater's pages never load pandas

    return pd.DataFrame.from_records(_rows(store, study_id, exclusion), columns=list(COLUMNS))


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise StudyError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def _json_value(value):
    return value.isoformat() if isinstance(value, datetime) else value


def export_ratings(store: Store, study_id: int, path: str | Path, fmt: str = "csv",
                   exclusion: ExclusionRules | None = None) -> int:
    """Write the study's ratings to `path` in `fmt`; returns the number of rows written."""
    fmt = _check_format(fmt)
    path = Path(path)
    rows = _rows(store, study_id, exclusion)
    if fmt == "jsonl":
        with path.open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps({c: _json_value(v) for c, v in zip(COLUMNS, row, strict=True)},
                                     ensure_ascii=False) + "\n")
    else:
        with duckdb.connect() as table:
            table.execute(f"CREATE TABLE ratings ({', '.join(f'{c} {t}' for c, t in _TYPES.items())})")
            insert_rows(table, f"INSERT INTO ratings VALUES ({', '.join('?' * len(_TYPES))})", rows)
            ratings = table.sql("SELECT * FROM ratings ORDER BY rowid")  # in the query's order
            if fmt == "csv":
                ratings.write_csv(str(path))
            else:
                ratings.write_parquet(str(path))
    return len(rows)


def export_bytes(store: Store, study_id: int, fmt: str, exclusion: ExclusionRules | None = None) -> bytes:
    """The export file's contents (for st.download_button)."""
    fmt = _check_format(fmt)
    with tempfile.TemporaryDirectory(prefix="vt-export-") as folder:
        path = Path(folder) / f"ratings.{fmt}"
        export_ratings(store, study_id, path, fmt, exclusion)
        return path.read_bytes()


# -- one row per rater ----------------------------------------------------------------------------

PER_RATER_COLUMNS = ("rater_id", "rater_kind", "platform", "status", "started_at", "finished_at", "seconds",
                 "completion_code", "items_rated", "excluded", "exclusion_reasons", "prolific_pid",
                 "prolific_study_id", "prolific_session_id", "mturk_worker_id", "mturk_assignment_id", "mturk_hit_id",
                 "submission_id", "submission_status", "decision")

_RATERS_QUERY = """
SELECT ra.id, ra.kind, ra.platform, ra.status, ra.started_at, ra.finished_at, ra.external_id, ra.platform_study_id,
       ra.session_id, ra.assignment_id, ra.hit_id,
       (SELECT count(DISTINCT r.item_id) FROM ratings r WHERE r.rater_id = ra.id),
       (SELECT d.action FROM prolific_decisions d WHERE d.rater_id = ra.id AND d.outcome = 'done'
        ORDER BY d.id DESC LIMIT 1)
FROM raters ra
WHERE ra.study_id = ?
ORDER BY ra.id
"""


def raters_rows(store: Store, study_id: int, exclusion: ExclusionRules | None = None,
                submissions: list[dict] | None = None) -> list[dict]:
    """One row per rater (PER_RATER_COLUMNS), for approving, rejecting and paying by hand: status, times, the
    completion code the end screen showed, the exclusion reasons, the platform's ids (Prolific's PROLIFIC_PID,
    STUDY_ID and SESSION_ID, which is also the submission's id; MTurk's workerId, assignmentId and hitId) and,
    when `submissions` (as Prolific lists them) are given, the submission's status; the decision sent from the
    platform, if any."""
    study = get_study(store, study_id)
    codes = study.definition.completion_codes
    excluded = {r.rater_id: r.details for r in excluded_raters(store, study_id, exclusion)}
    by_participant = {s.get("participant_id") or s.get("participant"): s for s in submissions or []}
    rows = []
    for (rater_id, kind, platform, status, started, finished, external, platform_study, session, assignment, hit,
         rated, decision) in store.cursor().execute(_RATERS_QUERY, [study_id]).fetchall():
        prolific, mturk = platform == "prolific", platform == "mturk"
        submission = by_participant.get(external, {}) if prolific else {}
        rows.append(dict(zip(PER_RATER_COLUMNS, (
            rater_id, kind, platform, status, started, finished,
            (finished - started).total_seconds() if finished and started else None,
            getattr(codes, status) if status in ("completed", "screened_out", "failed_checks") and kind == "human"
            else None,
            rated, rater_id in excluded, excluded.get(rater_id, ""),
            external if prolific else None, _platform_study_id(platform_study, submission),
            session if prolific else None, external if mturk else None, assignment, hit,
            submission.get("id") or (session if prolific else None), submission.get("status"), decision,
        ), strict=True)))
    return rows


def _platform_study_id(stored: str | None, submission: dict) -> str | None:
    """The STUDY_ID the rater's link carried, else the study of their Prolific submission."""
    return stored or submission.get("study_id")


def raters_csv(store: Store, study_id: int, exclusion: ExclusionRules | None = None,
               submissions: list[dict] | None = None) -> bytes:
    """raters_rows as a CSV file's bytes (UTF-8, a header row; empty cells for unknown values)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=PER_RATER_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in raters_rows(store, study_id, exclusion, submissions):
        writer.writerow({c: (v.isoformat() if isinstance(v, datetime) else v) for c, v in row.items()})
    return out.getvalue().encode("utf-8")
