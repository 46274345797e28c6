"""The self-improvement loop, written once for every task (in the spirit of DSPy's one `compile`).

Score the starting text; then, each round, tell the writer what the best text so far gets wrong
(`Task.brief`), write K candidates from it, pass each through the task's guards (`Task.guard`, built
on `check_draft`: locked sections, token budget, copied evidence), score the survivors, and let the round's top
candidate replace the best text only if it raises the task's keep score. With `stop_without_gain`
the loop ends at the first round that does not; otherwise it runs every round.

A task supplies only what differs: the designer's refinement scores a system prompt by the pattern
pass rates of conversations played under it; the critic's taste tuning scores a specification by
macro-F1 on validation films.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from vt_core.core.llm import LLM, BatchError, LLMError
from vt_core.core.progress import StageProgress, in_stage
from vt_core.optimizer.writer import Writer


@dataclass(frozen=True)
class Attempt:
    """A text the loop tries: the starting text (round 0) or candidate `index` of `of` in a round."""

    round: int
    index: int
    of: int
    parent: str
    text: str
    changes: tuple[dict, ...] = ()  # the writer's account: after, rationale, pattern_ids
    notes: tuple[str, ...] = ()  # what the guards did


@dataclass(frozen=True)
class Score:
    rank: tuple[float, ...]  # orders one round's candidates, best highest
    keep: float  # a candidate replaces the best text only if this rises
    name: str  # what `keep` measures, for the reason the loop stopped
    shown: str  # `keep` as people read it, e.g. "67%"


@dataclass(frozen=True)
class Brief:
    """What the writer is told in one round (its template's values, besides $prompt), and what the
    task wants to remember of the round."""

    values: Mapping[str, str]
    detail: object = None


class Candidate(Protocol):
    text: str


C = TypeVar("C", bound=Candidate)


class Task(Protocol[C]):
    writer: Writer

    def brief(self, best: C, round: int, progress: StageProgress | None) -> Brief: ...

    def guard(self, parent: str, draft: str) -> tuple[str, list[str], bool]:
        """(text, notes, rejected): `check_draft` with the task's locked sections, budget and evidence."""

    def evaluate(self, attempt: Attempt, progress: StageProgress | None) -> C: ...

    def reject(self, attempt: Attempt) -> C: ...

    def score(self, candidate: C) -> Score | None:
        """None for a rejected candidate."""


@dataclass(frozen=True)
class Round(Generic[C]):
    number: int
    parent: str  # the best text at the round's start: the writer rewrote it
    brief: Brief
    candidates: tuple[C, ...]
    best: C  # after the round


@dataclass(frozen=True)
class Optimized(Generic[C]):
    baseline: C
    best: C
    rounds: tuple[Round[C], ...] = field(default=())
    stopped: str = ""  # why the loop ended


def optimize(task: Task[C], llm: LLM, start: str, *, rounds: int, candidates: int, seed: int,
             stop_without_gain: bool = True, progress: StageProgress | None = None) -> Optimized[C]:
    """Improve `start` for `task`; see the module docstring. Writers sample with the round's seed
    (seed + round) and the candidate's index, so a repeated run sends the same requests."""
    baseline = best = task.evaluate(Attempt(0, 0, 0, start, start), progress)
    history: list[Round[C]] = []
    stopped = f"ran every round ({rounds})"
    for number in range(1, rounds + 1):
        parent = best.text
        brief = task.brief(best, number, progress)
        drafts = _write(task.writer, llm, parent, brief, candidates, seed + number,
                        in_stage(progress, f"round {number}: writing {candidates} candidates"))
        tried = []
        for index, draft in enumerate(drafts, start=1):
            if isinstance(draft, Exception):
                tried.append(task.reject(Attempt(number, index, candidates, parent, parent,
                                                 notes=(f"rejected: the writer's reply failed ({draft})",))))
                continue
            text, notes, rejected = task.guard(parent, draft.prompt)
            attempt = Attempt(number, index, candidates, parent, text, tuple(c.model_dump() for c in draft.changes),
                              tuple(notes))
            tried.append(task.reject(attempt) if rejected else task.evaluate(attempt, progress))
        scored = [(c, s) for c in tried if (s := task.score(c)) is not None]
        top = max(scored, key=lambda pair: pair[1].rank, default=None)
        before = task.score(best)
        gained = top is not None and top[1].keep > before.keep
        if gained:
            best = top[0]
        history.append(Round(number, parent, brief, tuple(tried), best))
        if stop_without_gain and not gained:
            stopped = (f"round {number}: the guards rejected every candidate" if top is None else
                       f"round {number}: the best candidate did not raise the {before.name} "
                       f"({top[1].shown} vs {before.shown})")
            break
    return Optimized(baseline, best, tuple(history), stopped)


def _write(writer: Writer, llm: LLM, parent: str, brief: Brief, n: int, seed: int, progress) -> Sequence:
    """`n` drafts, or in place of a draft the exception of a writer whose reply failed."""
    try:
        return llm.map(lambda sample: writer.write(llm, seed=seed, sample=sample, prompt=parent, **brief.values),
                       range(n), progress=progress)
    except BatchError as exc:
        if not all(isinstance(r, LLMError) for r in exc.results if isinstance(r, Exception)):
            raise
        return exc.results
