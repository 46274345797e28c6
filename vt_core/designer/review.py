"""The review queue: which of the designer's transcripts to read next, and filters over them,
built on the designer's labels (annotations) and the judge's verdicts (patterns)."""

from __future__ import annotations

from dataclasses import dataclass

from vt_core.core.store import Store
from vt_core.designer.annotations import ANNOTATION_LABELS, current_annotations, transcript_labels
from vt_core.designer.patterns import transcript_outcomes, transcripts_with_verdict
from vt_core.designer.transcripts import DESIGNER_TRANSCRIPT_IDS

UNLABELLED = "unlabelled"  # a `filter_transcripts` label: transcripts without any current annotation
PREFERENCES = ("fail", "pass")


def filter_transcripts(store: Store, project_id: int, *, label: str | None = None, scenario_id: int | None = None,
                       persona_id: int | None = None, pattern_id: int | None = None,
                       pattern_verdict: str | None = None) -> list[int]:
    """Ids of the designer's transcripts of the project that match every filter, in the order of their numbers.

    `label`: a transcript label (see `transcript_label`) or 'unlabelled'. `pattern_id` keeps
    transcripts the judge has judged for that pattern; `pattern_verdict` narrows them to a judge
    verdict ('exhibited', 'not_exhibited', 'not_applicable') or an outcome ('pass', 'fail').
    """
    if label is not None and label not in (*ANNOTATION_LABELS, UNLABELLED):
        raise ValueError(f"unknown label filter {label!r}; use one of {', '.join((*ANNOTATION_LABELS, UNLABELLED))}")
    if pattern_verdict is not None and pattern_id is None:
        raise ValueError("pattern_verdict filters by a pattern: give pattern_id too")
    ids = [row[0] for row in store.cursor().execute(
        "SELECT id FROM transcripts WHERE project_id = ? AND (CAST(? AS BIGINT) IS NULL OR scenario_id = ?)"
        " AND (CAST(? AS BIGINT) IS NULL OR persona_id = ?)"
        f" AND id IN ({DESIGNER_TRANSCRIPT_IDS}) ORDER BY number, id",
        [project_id, scenario_id, scenario_id, persona_id, persona_id],
    ).fetchall()]
    if label is not None:
        labels = transcript_labels(store, project_id)
        ids = [i for i in ids if labels.get(i, UNLABELLED) == label]
    if pattern_id is not None:
        matching = transcripts_with_verdict(store, pattern_id, pattern_verdict)
        ids = [i for i in ids if i in matching]
    return ids


@dataclass(frozen=True)
class ReviewEntry:
    """A transcript as the review queue lists it."""

    id: int
    number: int | None
    persona: str
    scenario: str
    label: str  # its transcript label, or 'unlabelled'

    @property
    def title(self) -> str:
        return f"#{self.number} · {self.persona} · {self.scenario} · {self.label.replace('_', ' ')}"


# The designer's transcripts archived one by one (those of an archived run come back with their run).
_ARCHIVED_ALONE = ("SELECT id FROM transcripts WHERE archived_at IS NOT NULL AND run_id IN"
                   " (SELECT id FROM selfplay_runs WHERE purpose = 'selfplay' AND archived_at IS NULL)")


def review_entries(store: Store, project_id: int, *, archived: bool = False) -> dict[int, ReviewEntry]:
    """The designer's transcripts of the project by id, each with its number, persona, scenario and label;
    with `archived`, those archived one by one instead."""
    labels = transcript_labels(store, project_id)
    rows = store.cursor().execute(
        "SELECT t.id, t.number, p.name, s.title FROM transcripts t LEFT JOIN personas p ON p.id = t.persona_id"
        " LEFT JOIN scenarios s ON s.id = t.scenario_id"
        f" WHERE t.project_id = ? AND t.id IN ({_ARCHIVED_ALONE if archived else DESIGNER_TRANSCRIPT_IDS})"
        " ORDER BY t.number, t.id", [project_id]).fetchall()
    return {tid: ReviewEntry(tid, number, persona, scenario, labels.get(tid, UNLABELLED))
            for tid, number, persona, scenario in rows}


def unreviewed(store: Store, project_id: int) -> list[int]:
    """Ids of the designer's transcripts of the project with no current annotation, in the order of their numbers."""
    annotated = {a.transcript_id for a in current_annotations(store, project_id=project_id)}
    return [tid for tid in filter_transcripts(store, project_id) if tid not in annotated]


def next_to_review(store: Store, project_id: int, after_transcript_id: int | None, *,
                   prefer: str | None = None) -> int | None:
    """The unannotated transcript to show after `after_transcript_id`; None when no other is left
    (see `unreviewed` for whether `after_transcript_id` itself is).

    Each transcript has an outcome from the judge's verdicts on the project's accepted patterns:
    'fail' if any accepted pattern fails on it, 'pass' if at least one passes and none fails,
    unknown otherwise. The next transcript is chosen by, in order:
      1. outcome: `prefer` first, then unknown, then the other outcome;
      2. position: the first after `after_transcript_id` in number order, wrapping around.
    `prefer=None` prefers the outcome opposite to that of `after_transcript_id` ('fail' if it has
    none), so that "next, next, next" alternates between likely failures and likely passes
    without the page keeping any state. Without judgements, step 1 changes nothing.
    """
    if prefer is not None and prefer not in PREFERENCES:
        raise ValueError(f"prefer must be 'fail' or 'pass', not {prefer!r}")
    outcomes = transcript_outcomes(store, project_id)
    if prefer is None:
        prefer = "pass" if outcomes.get(after_transcript_id) == "fail" else "fail"
    order = {tid: i for i, tid in enumerate(filter_transcripts(store, project_id))}
    start = order.get(after_transcript_id, -1)

    def rank(tid: int) -> tuple:
        outcome = outcomes.get(tid)
        outcome_rank = 0 if outcome == prefer else 1 if outcome is None else 2
        return (outcome_rank, order[tid] <= start, order[tid])

    others = [tid for tid in unreviewed(store, project_id) if tid != after_transcript_id]
    return min(others, key=rank) if others else None
