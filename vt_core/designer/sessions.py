"""User-study sessions: what a designer does inside one, and the per-participant measures.

A session is named by the study (for example `?session=P07-tool` in the app's URL). Pages append
an event for each thing the study measures; LLM calls made for the session are recorded in
`llm_calls` under the run id `session:<id>` (or a run nested in it, `session:<id>/selfplay:3`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from vt_core.core.llm import run_usage
from vt_core.core.store import Store

EVENT_KINDS = frozenset({"started", "pattern_noted", "pattern_accepted", "version_saved", "selfplay_run",
                         "refine_run", "finished"})


@dataclass(frozen=True)
class SessionEvent:
    id: int
    session_id: str
    project_id: int | None
    kind: str
    detail: dict
    created_at: datetime


@dataclass(frozen=True)
class SessionMeasures:
    patterns_noted: int
    patterns_accepted: int
    versions_saved: int
    minutes_on_task: float  # from the first event to the last
    llm_calls: int  # calls recorded under the session's run id or a run nested in it


def session_run_id(session_id: str) -> str:
    """The LLM run id of a session: `llm.for_run(session_run_id(sid))` counts its calls towards it."""
    return f"session:{session_id}"


def log_event(store: Store, session_id: str, kind: str, *, project_id: int | None = None, **detail) -> int:
    """Append one event to the session's log; returns its id."""
    if not session_id or not str(session_id).strip():
        raise ValueError("a session event needs a session id")
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown session event kind {kind!r}; expected one of {sorted(EVENT_KINDS)}")
    return store.cursor().execute(
        "INSERT INTO session_events (session_id, project_id, kind, detail) VALUES (?, ?, ?, ?) RETURNING id",
        [session_id, project_id, kind, json.dumps(detail, default=str)],
    ).fetchone()[0]


def session_events(store: Store, session_id: str) -> list[SessionEvent]:
    """The session's events, oldest first."""
    rows = store.cursor().execute(
        "SELECT id, session_id, project_id, kind, detail, created_at FROM session_events"
        " WHERE session_id = ? ORDER BY id",
        [session_id],
    ).fetchall()
    return [SessionEvent(*row[:4], json.loads(row[4]), row[5]) for row in rows]


def session_measures(store: Store, session_id: str) -> SessionMeasures:
    noted, accepted, saved, first, last = store.cursor().execute(
        "SELECT count(*) FILTER (WHERE kind = 'pattern_noted'),"
        " count(*) FILTER (WHERE kind = 'pattern_accepted'),"
        " count(*) FILTER (WHERE kind = 'version_saved'),"
        " min(created_at), max(created_at)"
        " FROM session_events WHERE session_id = ?",
        [session_id],
    ).fetchone()
    minutes = (last - first).total_seconds() / 60 if first is not None else 0.0
    calls = run_usage(store, session_run_id(session_id)).calls  # waits for queued calls to be written
    return SessionMeasures(int(noted), int(accepted), int(saved), minutes, calls)
