"""The designer's labels on transcripts, and the review queue built on them.

A label applies to one bot turn or to a whole transcript: 'good', 'bad', or 'unrealistic_user'
(the simulated user behaved in a way no real user would: a fault of the simulator, kept apart
from the bot's faults). The table is append-only: the newest row for a (transcript, turn) is
the current label, and a row whose label is NULL clears it. So the history of a designer's
judgement survives, and the user-study logs can count relabelling.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from vt_core.store import Store
from vt_core.transcripts import DESIGNER_TRANSCRIPT_IDS

LABELS = ("good", "bad", "unrealistic_user")
UNLABELLED = "unlabelled"  # a `filter_transcripts` label: transcripts without any current annotation
PREFERENCES = ("fail", "pass")


@dataclass(frozen=True)
class Annotation:
    transcript_id: int
    turn_idx: int | None  # None: the whole transcript
    label: str
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
    """Label a bot turn (`turn_idx`) or the whole transcript (`turn_idx=None`); `label=None` clears.

    Only bot turns take labels: to flag the simulated user, label the bot turn that answers it,
    or the whole transcript, 'unrealistic_user'. A rewrite (a better bot turn) needs a turn.
    """
    if label is not None and label not in LABELS:
        raise ValueError(f"unknown label {label!r}; use one of {', '.join(LABELS)} (or None to clear)")
    rewrite = rewrite.strip() if rewrite and rewrite.strip() else None
    if turn_idx is None:
        if rewrite is not None:
            raise ValueError("a rewrite replaces one bot turn: give the turn_idx of the bot turn it rewrites")
        if store.cursor().execute("SELECT 1 FROM transcripts WHERE id = ?", [transcript_id]).fetchone() is None:
            raise ValueError(f"no transcript {transcript_id}")
    elif _turn_role(store, transcript_id, turn_idx) != "assistant":
        raise ValueError(
            f"turn {turn_idx} of transcript {transcript_id} is the simulated user's; only bot turns take "
            f"labels (flag an unrealistic user on the bot turn that answers it, or on the whole transcript)"
        )
    store.cursor().execute(
        "INSERT INTO annotations (transcript_id, turn_idx, label, critique, rewrite) VALUES (?, ?, ?, ?, ?)",
        [transcript_id, turn_idx, label, critique.strip(), rewrite],
    )


def current_annotations(store: Store, project_id: int | None = None,
                        transcript_id: int | None = None) -> list[Annotation]:
    """The current label of every (transcript, turn): the newest row, unless that row cleared it.

    Ordered by transcript, then the whole-transcript annotation, then turns in order.
    """
    rows = store.cursor().execute(
        "SELECT a.transcript_id, a.turn_idx, a.label, a.critique, a.rewrite, a.created_at"
        " FROM annotations a JOIN transcripts t ON t.id = a.transcript_id"
        " WHERE (? IS NULL OR t.project_id = ?) AND (? IS NULL OR a.transcript_id = ?)"
        " QUALIFY row_number() OVER (PARTITION BY a.transcript_id, a.turn_idx ORDER BY a.id DESC) = 1",
        [project_id, project_id, transcript_id, transcript_id],
    ).fetchall()
    current = [Annotation(*row) for row in rows if row[2] is not None]
    return sorted(current, key=lambda a: (a.transcript_id, -1 if a.turn_idx is None else a.turn_idx))


def by_transcript(annotations: list[Annotation]) -> dict[int, list[Annotation]]:
    grouped: dict[int, list[Annotation]] = defaultdict(list)
    for annotation in annotations:
        grouped[annotation.transcript_id].append(annotation)
    return dict(grouped)


def transcript_label(annotations: list[Annotation]) -> str | None:
    """One label for a transcript, from its current annotations.

    The whole-transcript label when there is one. Otherwise, from the bot-turn labels: 'bad' if
    any turn is bad (a bot fault stands even if the user also misbehaved elsewhere); else
    'unrealistic_user' if any turn is marked so (the conversation is no fair test of the bot);
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


# -- the review queue ----------------------------------------------------------------------------


def filter_transcripts(store: Store, project_id: int, *, label: str | None = None, scenario_id: int | None = None,
                       persona_id: int | None = None, pattern_id: int | None = None,
                       pattern_verdict: str | None = None) -> list[int]:
    """Ids of the designer's transcripts of the project that match every filter, in id order.

    `label`: a transcript label (see `transcript_label`) or 'unlabelled'. `pattern_id` keeps
    transcripts the judge has judged for that pattern; `pattern_verdict` narrows them to a judge
    verdict ('exhibited', 'not_exhibited', 'not_applicable') or an outcome ('pass', 'fail').
    """
    from vt_core import patterns  # patterns builds on this module; import late to avoid a cycle

    if label is not None and label not in (*LABELS, UNLABELLED):
        raise ValueError(f"unknown label filter {label!r}; use one of {', '.join((*LABELS, UNLABELLED))}")
    if pattern_verdict is not None and pattern_id is None:
        raise ValueError("pattern_verdict filters by a pattern: give pattern_id too")
    ids = [row[0] for row in store.cursor().execute(
        "SELECT id FROM transcripts WHERE project_id = ? AND (? IS NULL OR scenario_id = ?)"
        f" AND (? IS NULL OR persona_id = ?) AND id IN ({DESIGNER_TRANSCRIPT_IDS}) ORDER BY id",
        [project_id, scenario_id, scenario_id, persona_id, persona_id],
    ).fetchall()]
    if label is not None:
        labels = transcript_labels(store, project_id)
        ids = [i for i in ids if labels.get(i, UNLABELLED) == label]
    if pattern_id is not None:
        matching = patterns.transcripts_with_verdict(store, pattern_id, pattern_verdict)
        ids = [i for i in ids if i in matching]
    return ids


def next_to_review(store: Store, project_id: int, after_transcript_id: int | None, *,
                   prefer: str | None = None) -> int | None:
    """The transcript to show after `after_transcript_id`; None when there is no other.

    Each transcript has an outcome from the judge's verdicts on the project's accepted patterns:
    'fail' if any accepted pattern fails on it, 'pass' if at least one passes and none fails,
    unknown otherwise. The next transcript is chosen by, in order:
      1. unannotated before annotated (the designer's job is to label);
      2. outcome: `prefer` first, then unknown, then the other outcome;
      3. position: the first after `after_transcript_id` in id order, wrapping around.
    `prefer=None` prefers the outcome opposite to that of `after_transcript_id` ('fail' if it has
    none), so that "next, next, next" alternates between likely failures and likely passes
    without the page keeping any state. Without judgements, step 2 changes nothing.
    """
    from vt_core import patterns  # patterns builds on this module; import late to avoid a cycle

    if prefer is not None and prefer not in PREFERENCES:
        raise ValueError(f"prefer must be 'fail' or 'pass', not {prefer!r}")
    ids = filter_transcripts(store, project_id)
    outcomes = patterns.transcript_outcomes(store, project_id)
    if prefer is None:
        prefer = "pass" if outcomes.get(after_transcript_id) == "fail" else "fail"
    annotated = {a.transcript_id for a in current_annotations(store, project_id=project_id)}
    start = after_transcript_id if after_transcript_id is not None else -1

    def rank(tid: int) -> tuple:
        outcome = outcomes.get(tid)
        outcome_rank = 0 if outcome == prefer else 1 if outcome is None else 2
        return (tid in annotated, outcome_rank, tid <= start, tid)

    others = [tid for tid in ids if tid != after_transcript_id]
    return min(others, key=rank) if others else None
