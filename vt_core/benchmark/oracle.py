"""The oracle designer: marks transcripts as a designer would on the Review page, through the same
annotation function, but knowing the truth. Each bot turn is 'bad' with the critique of every checker
that fires on it (in the oracle's own words, not the rule's), and 'good' otherwise; the whole transcript
is 'bad' when any turn is. With `noise`, each bot turn's mark is flipped with that probability (a missed
fault marked good, or a good turn marked bad with a vague complaint), from the seed, and counted."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from vt_core.benchmark.checkers import Checker
from vt_core.core.store import Store
from vt_core.designer import Transcript, annotate

WRONG_MARK_CRITIQUE = "I don't like this reply."  # what the oracle writes on a good turn it marks bad by mistake


@dataclass(frozen=True)
class Marks:
    """What the oracle marked, and the noise it made."""

    transcripts: int = 0
    bad_turns: int = 0  # marked bad
    good_turns: int = 0  # marked good
    missed: int = 0  # turns with a fault marked good
    wrong: int = 0  # turns without a fault marked bad
    by_checker: dict[str, int] = field(default_factory=dict)  # bot turns each checker fired on


def faults(turns, checkers: Sequence[Checker]) -> dict[int, list[Checker]]:
    """The checkers that fire on each bot turn that breaks a rule, by turn index."""
    fired: dict[int, list[Checker]] = {}
    for checker in checkers:
        for idx in checker.fires(turns):
            fired.setdefault(idx, []).append(checker)
    return fired


def mark_transcripts(store: Store, transcripts: Sequence[Transcript], checkers: Sequence[Checker], *,
                     noise: float = 0.0, seed: int = 0) -> Marks:
    """Mark every bot turn and every transcript (see the module docstring); returns the tally."""
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise is a share of marks, from 0 to 1, not {noise}")
    bad = good = missed = wrong = 0
    by_checker = {c.name: 0 for c in checkers}
    for transcript in transcripts:
        fired = faults(transcript.turns, checkers)
        any_bad = False
        for idx, turn in enumerate(transcript.turns):
            if turn.role != "assistant":
                continue
            broken = fired.get(idx, [])
            for checker in broken:
                by_checker[checker.name] += 1
            flip = noise > 0 and random.Random(f"oracle:{seed}:{transcript.seed}:{idx}").random() < noise
            if bool(broken) != flip:
                critique = " ".join(c.critique for c in broken) if broken else WRONG_MARK_CRITIQUE
                annotate(store, transcript.id, turn_idx=idx, label="bad", critique=critique)
                bad, wrong, any_bad = bad + 1, wrong + (not broken), True
            else:
                annotate(store, transcript.id, turn_idx=idx, label="good")
                good, missed = good + 1, missed + bool(broken)
        annotate(store, transcript.id, turn_idx=None, label="bad" if any_bad else "good")
    return Marks(len(transcripts), bad, good, missed, wrong, by_checker)
