"""Keep and clean: archive or delete a project, persona, scenario, transcript, self-play run or refinement run.

Archiving hides a row from lists, pickers and new self-play plans and keeps everything; it can be undone.
Deleting removes the row and everything that belongs only to it, in one transaction: a transcript's turns,
annotations, judgements and quality score; a persona's, scenario's or run's transcripts; a refinement run's
candidates and the conversations it played; a project's everything. Nothing that a crowd rating study or a
designer user study uses is deleted: the refusal names the study, so the designer can archive instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from vt_core.core.jobs import run_status
from vt_core.core.store import Store, naive_utc

KINDS = ("project", "persona", "scenario", "transcript", "selfplay_run", "refine_run")
_TABLES = {"project": "projects", "persona": "personas", "scenario": "scenarios", "transcript": "transcripts",
           "selfplay_run": "selfplay_runs", "refine_run": "refine_runs"}

# The self-play runs of a refinement run (?: its id): its baseline's and its candidates'.
_REFINE_SELFPLAY_RUNS = "SELECT id FROM selfplay_runs WHERE refine_run_id = ?"
# The transcripts that belong to a row of each kind (?: its id).
_TRANSCRIPTS = {
    "project": "SELECT id FROM transcripts WHERE project_id = ?",
    "persona": "SELECT id FROM transcripts WHERE persona_id = ?",
    "scenario": "SELECT id FROM transcripts WHERE scenario_id = ?",
    "transcript": "SELECT id FROM transcripts WHERE id = ?",
    "selfplay_run": "SELECT id FROM transcripts WHERE run_id = ?",
    "refine_run": f"SELECT id FROM transcripts WHERE run_id IN ({_REFINE_SELFPLAY_RUNS})",
}


class CleanupError(ValueError):
    """An archive or delete that cannot be done; the message says why."""


@dataclass(frozen=True)
class Deleted:
    """What a delete removed: the row itself and how many transcripts went with it."""

    kind: str
    id: int
    label: str
    transcripts: int


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise CleanupError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")


def describe(store: Store, kind: str, row_id: int) -> str:
    """The row as a designer names it: "persona 'Ann'", "self-play run 7" (the run's number in its project)."""
    _check_kind(kind)
    column = {"project": "name", "persona": "name", "scenario": "title"}.get(kind, "coalesce(number, id)")
    row = store.cursor().execute(f"SELECT {column} FROM {_TABLES[kind]} WHERE id = ?", [row_id]).fetchone()
    if row is None:
        raise CleanupError(f"no {kind.replace('_', ' ')} {row_id}")
    if kind in ("project", "persona", "scenario"):
        return f"{kind} '{row[0]}'"  # as written: a repr would escape a newline
    return {"transcript": "transcript #", "selfplay_run": "self-play run ", "refine_run": "refinement run "}[kind] + \
        f"{row[0]}"


def archive(store: Store, kind: str, row_id: int, archived: bool = True) -> None:
    """Hide the row from lists, pickers and new self-play plans (`archived=False`: show it again). Nothing is
    removed, so a study that uses it is not affected."""
    describe(store, kind, row_id)  # no such row: say so
    store.transaction(lambda db: db.execute(f"UPDATE {_TABLES[kind]} SET archived_at = ? WHERE id = ?",
                                            [naive_utc() if archived else None, row_id]))


def blockers(store: Store, kind: str, row_id: int) -> list[str]:
    """Why the row cannot be deleted: each study that uses it (or what it holds), and work still running on it.
    Empty when it can be."""
    what = describe(store, kind, row_id)
    db = store.cursor()
    reasons = [
        f"{what} is used by rating study '{name}' ({n} item{'s' * (n != 1)})"
        for name, n in db.execute(
            "SELECT s.name, count(*) FROM study_items i JOIN studies s ON s.id = i.study_id"
            f" WHERE i.transcript_id IN ({_TRANSCRIPTS[kind]}) GROUP BY s.name ORDER BY s.name", [row_id]).fetchall()
    ]
    if kind == "project":
        name = db.execute("SELECT name FROM projects WHERE id = ?", [row_id]).fetchone()[0]
        for study, definition in db.execute("SELECT name, definition FROM studies ORDER BY name").fetchall():
            conditions = [c["name"] for c in json.loads(definition).get("conditions", []) if c.get("project") == name]
            if conditions:
                reasons.append(f"{what} is played by rating study '{study}' (condition{'s' * (len(conditions) > 1)} "
                               f"{', '.join(conditions)})")
        reasons += [
            f"{what} holds the work of participant {participant} ({condition}) in user study '{study}'"
            for study, participant, condition in db.execute(
                "SELECT u.name, t.participant, t.condition FROM user_study_tasks t JOIN user_studies u"
                " ON u.id = t.study_id WHERE t.project_id = ?"
                " OR t.prompt_version_id IN (SELECT id FROM prompt_versions WHERE project_id = ?)"
                " ORDER BY u.name, t.participant, t.condition", [row_id, row_id]).fetchall()
        ]
        reasons += [f"{what} has a job still {status}: {title}" for title, status in db.execute(
            "SELECT title, status FROM jobs WHERE project_id = ? AND status IN ('queued', 'running') ORDER BY id",
            [row_id]).fetchall()]
        reasons += [f"{what} is played by loop benchmark run {run} on world '{world}', still running"
                    for run, world in db.execute(
                        f"SELECT id, world FROM loop_runs WHERE project_id = ? AND {run_status('loop_runs')} = 'running'"
                        " ORDER BY id", [row_id]).fetchall()]
    if kind in ("selfplay_run", "refine_run"):
        table = _TABLES[kind]
        status = db.execute(f"SELECT {run_status(table)} FROM {table} WHERE id = ?", [row_id]).fetchone()[0]
        if status == "running":
            reasons.append(f"{what} is still running; cancel it or let it finish first")
    return reasons


def _delete_transcripts(db, kind: str, row_id: int) -> int:
    ids = [r[0] for r in db.execute(_TRANSCRIPTS[kind], [row_id]).fetchall()]
    if ids:
        for table in ("turns", "annotations", "judgements", "quality_scores", "transcripts"):
            column = "id" if table == "transcripts" else "transcript_id"
            db.execute(f"DELETE FROM {table} WHERE {column} = ANY(CAST(? AS BIGINT[]))", [ids])
    return len(ids)


def _delete_project(db, row_id: int) -> None:
    db.execute("DELETE FROM candidates WHERE refine_run_id IN (SELECT id FROM refine_runs WHERE project_id = ?)",
               [row_id])
    db.execute("DELETE FROM judgements WHERE pattern_id IN (SELECT id FROM patterns WHERE project_id = ?)", [row_id])
    db.execute("DELETE FROM playground_turns WHERE chat_id IN (SELECT id FROM playground_chats WHERE project_id = ?)",
               [row_id])
    for table in ("refine_runs", "selfplay_runs", "patterns", "personas", "scenarios", "prompt_versions",
                  "session_events", "jobs", "project_counters", "playground_chats"):
        db.execute(f"DELETE FROM {table} WHERE project_id = ?", [row_id])
    # A loop benchmark's figures are a measurement of the loop, not part of the project: they stay.
    db.execute("UPDATE loop_runs SET project_id = NULL WHERE project_id = ?", [row_id])


def delete(store: Store, kind: str, row_id: int) -> Deleted:
    """Delete the row and everything that belongs only to it, in one transaction; refused (CleanupError,
    with every reason) when a study uses it or work still runs on it."""
    what = describe(store, kind, row_id)

    def remove(db) -> Deleted:
        if reasons := blockers(store, kind, row_id):  # checked in the transaction: a study made meanwhile counts
            raise CleanupError(f"cannot delete {what}: " + "; ".join(reasons) + ". Archive it to hide it instead.")
        if kind == "refine_run":  # its self-play runs are found through its candidates: before they go
            runs = [r[0] for r in db.execute(_REFINE_SELFPLAY_RUNS, [row_id]).fetchall()]
        transcripts = _delete_transcripts(db, kind, row_id)
        if kind == "refine_run":
            db.execute("DELETE FROM selfplay_runs WHERE id = ANY(CAST(? AS BIGINT[]))", [runs])
            db.execute("DELETE FROM candidates WHERE refine_run_id = ?", [row_id])
        elif kind == "project":
            _delete_project(db, row_id)
        db.execute(f"DELETE FROM {_TABLES[kind]} WHERE id = ?", [row_id])
        return Deleted(kind, row_id, what, transcripts)

    return store.transaction(remove)
