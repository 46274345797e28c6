"""The designer's labels on transcripts.

A bot turn takes 'good' or 'bad'; a simulated-user turn takes 'unrealistic_user' (the simulated
user behaved in a way no real user would: a fault of the simulator, kept apart from the bot's
faults); the whole transcript takes any of the three. The table is append-only: the newest row
for a (transcript, turn) is the current label, and a row whose label is NULL clears it (its
critique and rewrite are kept, so a label set again gets them back). So the history of a
designer's judgement survives, and the user-study logs can count relabelling.

Rows written before flags moved to the user's turn may hold 'unrealistic_user' on a bot turn.
They stay readable and mean what they meant: the simulator's fault in that exchange. Every reader
treats a turn's 'unrealistic_user' the same whichever turn holds it, and a new mark on that bot
turn replaces it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from vt_core.core.store import Store

ANNOTATION_LABELS = ("good", "bad", "unrealistic_user")
BOT_TURN_LABELS = ("good", "bad")
USER_TURN_LABELS = ("unrealistic_user",)


@dataclass(frozen=True)
class Annotation:
    transcript_id: int
    turn_idx: int | None  # None: the whole transcript
    label: str | None  # None only in `current_annotations(..., cleared=True)`
    critique: str
    rewrite: str | None  # the designer's better bot turn
    created_at: datetime


def _turn_role(store: Store, transcript_id: int, turn_idx: int) -> str:
    if store.cursor().execute("SELECT 1 FROM transcripts WHERE id = ?", [transcript_id]).fetchone() is None:
        raise ValueError(f"no transcript {transcript_id}")
    row = store.cursor().execute(
        "SELECT role FROM turns WHERE transcript_id = ? AND idx = ?", [transcript_id, turn_idx]
    ).fetchone()
    if row is None:
        count = store.cursor().execute(
            "SELECT count(*) FROM turns WHERE transcript_id = ?", [transcript_id]).fetchone()[0]
        raise ValueError(f"transcript {transcript_id} has no turn {turn_idx} (its turns are 0 to {count - 1})")
    return row[0]


def annotate(store: Store, transcript_id: int, *, turn_idx: int | None, label: str | None,
             critique: str = "", rewrite: str | None = None) -> None:
    """Label a turn (`turn_idx`) or the whole transcript (`turn_idx=None`); `label=None` clears.

    A bot turn takes 'good' or 'bad', a simulated-user turn only 'unrealistic_user', the whole
    transcript any label. A rewrite (a better bot turn) needs a bot turn.
    """
    if label is not None and label not in ANNOTATION_LABELS:
        raise ValueError(f"unknown label {label!r}; use one of {', '.join(ANNOTATION_LABELS)} (or None to clear)")
    rewrite = rewrite.strip() if rewrite and rewrite.strip() else None
    if turn_idx is None:
        if rewrite is not None:
            raise ValueError("a rewrite replaces one bot turn: give the turn_idx of the bot turn it rewrites")
        if store.cursor().execute("SELECT 1 FROM transcripts WHERE id = ?", [transcript_id]).fetchone() is None:
            raise ValueError(f"no transcript {transcript_id}")
    elif _turn_role(store, transcript_id, turn_idx) == "user":
        if label is not None and label not in USER_TURN_LABELS:
            raise ValueError(
                f"turn {turn_idx} of transcript {transcript_id} is the simulated user's: it can only be flagged "
                f"'unrealistic_user'; mark the bot's replies 'good' or 'bad'")
        if rewrite is not None:
            raise ValueError(f"turn {turn_idx} of transcript {transcript_id} is the simulated user's: a rewrite "
                             f"replaces a bot turn")
    elif label is not None and label not in BOT_TURN_LABELS:
        raise ValueError(
            f"turn {turn_idx} of transcript {transcript_id} is the bot's: it takes 'good' or 'bad'; flag an "
            f"unrealistic user on the simulated user's turn (or on the whole transcript)")
    store.cursor().execute(
        "INSERT INTO annotations (transcript_id, turn_idx, label, critique, rewrite) VALUES (?, ?, ?, ?, ?)",
        [transcript_id, turn_idx, label, critique.strip(), rewrite],
    )


def mark(store: Store, transcript_id: int, turn_idx: int | None, label: str | None) -> None:
    """Set or clear (`None`) the label of a turn or of the whole transcript, keeping its critique and
    rewrite: the one-click marking of the Review page."""
    newest = next((a for a in current_annotations(store, transcript_id=transcript_id, cleared=True)
                   if a.turn_idx == turn_idx), None)
    annotate(store, transcript_id, turn_idx=turn_idx, label=label, critique=newest.critique if newest else "",
             rewrite=newest.rewrite if newest else None)


def current_annotations(store: Store, project_id: int | None = None, transcript_id: int | None = None, *,
                        cleared: bool = False) -> list[Annotation]:
    """The current label of every (transcript, turn): the newest row, unless that row cleared it.

    `cleared=True` keeps the newest rows that cleared a label too (label None), whose critique and
    rewrite come back when the turn is marked again (see `mark`). Ordered by transcript, then the
    whole-transcript annotation, then turns in order.
    """
    rows = store.cursor().execute(
        "SELECT transcript_id, turn_idx, label, critique, rewrite, created_at FROM ("
        " SELECT a.transcript_id, a.turn_idx, a.label, a.critique, a.rewrite, a.created_at,"
        "  row_number() OVER (PARTITION BY a.transcript_id, a.turn_idx ORDER BY a.id DESC) AS rn"
        " FROM annotations a JOIN transcripts t ON t.id = a.transcript_id"
        " WHERE (CAST(? AS BIGINT) IS NULL OR t.project_id = ?) AND (CAST(? AS BIGINT) IS NULL OR a.transcript_id = ?)"
        ") AS newest WHERE rn = 1",
        [project_id, project_id, transcript_id, transcript_id],
    ).fetchall()
    current = [Annotation(*row) for row in rows if cleared or row[2] is not None]
    return sorted(current, key=lambda a: (a.transcript_id, -1 if a.turn_idx is None else a.turn_idx))


def by_transcript(annotations: list[Annotation]) -> dict[int, list[Annotation]]:
    grouped: dict[int, list[Annotation]] = defaultdict(list)
    for annotation in annotations:
        grouped[annotation.transcript_id].append(annotation)
    return dict(grouped)


def transcript_label(annotations: list[Annotation]) -> str | None:
    """One label for a transcript, from its current annotations.

    The whole-transcript label when there is one. Otherwise, from the turn labels: 'bad' if any
    bot turn is bad (a bot fault stands even if the user also misbehaved elsewhere); else
    'unrealistic_user' if any turn is flagged so (the conversation is no fair test of the bot);
    else 'good' (every labelled turn is good). None when nothing is labelled.
    """
    whole = [a.label for a in annotations if a.turn_idx is None]
    if whole:
        return whole[-1]
    turn_labels = {a.label for a in annotations}
    for label in ("bad", "unrealistic_user", "good"):
        if label in turn_labels:
            return label
    return None


def transcript_labels(store: Store, project_id: int) -> dict[int, str]:
    """The label of every labelled transcript of the project, by transcript id."""
    grouped = by_transcript(current_annotations(store, project_id=project_id))
    return {tid: label for tid, anns in grouped.items() if (label := transcript_label(anns)) is not None}
