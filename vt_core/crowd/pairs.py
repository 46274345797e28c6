"""Side-by-side items: the two conditions' transcripts of one match_key (scenario, persona and seed), shown
as Left and Right.

A pair is one regular study item (condition PAIR_CONDITION, so the assignment's leases, k and double-submit
guard apply unchanged) plus two rows of study_item_sides (migration 0018) saying which condition is on
which side. The sides are drawn per item from a seed, balanced: of n pairs, n // 2 (or n - n // 2) have the
first condition on the left, in a seeded random order, so the draw is reproducible and the position-bias
check has both orders to compare. A rater's answers are ratings with values 1 = Left, 2 = About the same,
3 = Right (CHOICES): sides, which pair_sides turns into conditions.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from vt_core.core.design import derive_seed
from vt_core.core.store import Store, insert_rows
from vt_core.crowd.studies import PAIR_CONDITION, StudyDefinition, StudyError
from vt_core.designer import Turn

SIDES = ("left", "right")
CHOICES = {1: "left", 2: "same", 3: "right"}  # rating value -> what the rater chose


@dataclass(frozen=True)
class Side:
    """One conversation of a pair, as a rater sees it under "Left" or "Right"."""

    side: str                                  # 'left' | 'right'
    condition: str = field(repr=False)         # never shown to raters
    transcript_id: int | None
    turns: list[Turn] = field(repr=False)


@dataclass(frozen=True)
class Pair:
    item_id: int
    left: Side
    right: Side


@dataclass(frozen=True)
class Conversation:
    """A transcript to pair: the source transcript's id (None when imported) and its turns."""

    transcript_id: int | None
    turns: list[Turn]


def first_on_left(n: int, seed: int) -> list[bool]:
    """For n pairs in order: whether the first condition goes on the left. Balanced (the two orders differ
    in count by at most one) and shuffled by the seed."""
    draws = [i % 2 == 0 for i in range(n)]
    random.Random(derive_seed("sides", seed)).shuffle(draws)
    return draws


def plan_pairs(definition: StudyDefinition, conversations: Mapping[str, Mapping[str, Conversation]],
               seed: int) -> list[tuple[str, Side, Side]]:
    """(match_key, left, right) for every match_key both conditions have, sorted by key; a key only one
    condition has raises StudyError naming it (a pair needs both conversations)."""
    first, second = (c.name for c in definition.conditions)
    keys_a, keys_b = set(conversations.get(first, {})), set(conversations.get(second, {}))
    if unmatched := sorted(keys_a ^ keys_b):
        shown = ", ".join(unmatched[:5]) + (f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else "")
        raise StudyError(f"side-by-side items need both conditions' conversations of each match_key; "
                         f"only one condition has: {shown}")
    keys = sorted(keys_a)
    if not keys:
        raise StudyError("no conversations to pair")
    out = []
    for key, left_first in zip(keys, first_on_left(len(keys), seed), strict=True):
        a, b = conversations[first][key], conversations[second][key]
        (lc, lv), (rc, rv) = ((first, a), (second, b)) if left_first else ((second, b), (first, a))
        out.append((key, Side("left", lc, lv.transcript_id, lv.turns), Side("right", rc, rv.transcript_id, rv.turns)))
    return out


def _turns_json(turns) -> str:
    return json.dumps([{"role": t.role, "content": t.content} for t in turns])


def insert_pairs(db, study_id: int, planned: Sequence[tuple[str, Side, Side]]) -> list[int]:
    """Write planned pairs (plan_pairs) as items with their sides, inside the caller's transaction."""
    ids, sides = [], []
    for key, left, right in planned:
        item_id = db.execute(
            "INSERT INTO study_items (study_id, condition, kind, match_key, transcript_id, turns, expected)"
            " VALUES (?, ?, 'regular', ?, NULL, '[]', NULL) RETURNING id",
            [study_id, PAIR_CONDITION, key]).fetchone()[0]
        ids.append(item_id)
        sides += [[item_id, s.side, s.condition, s.transcript_id, _turns_json(s.turns)] for s in (left, right)]
    insert_rows(db, "INSERT INTO study_item_sides (item_id, side, condition, transcript_id, turns)"
                    " VALUES (?, ?, ?, ?, ?)", sides)
    return ids


def item_pair(store: Store, item_id: int) -> Pair:
    """The two sides of a side-by-side item; StudyError when the item has none."""
    rows = store.cursor().execute(
        "SELECT side, condition, transcript_id, turns FROM study_item_sides WHERE item_id = ? ORDER BY side",
        [item_id]).fetchall()
    found = {side: Side(side, condition, transcript_id, [Turn(t["role"], t["content"]) for t in json.loads(turns)])
             for side, condition, transcript_id, turns in rows}
    if set(found) != set(SIDES):
        raise StudyError(f"item {item_id} is not a side-by-side pair")
    return Pair(item_id, found["left"], found["right"])


def pair_orders(store: Store, study_id: int) -> dict[int, str]:
    """{item id: the condition on the left} for every side-by-side item of the study."""
    return dict(store.cursor().execute(
        "SELECT s.item_id, s.condition FROM study_item_sides s JOIN study_items i ON i.id = s.item_id"
        " WHERE i.study_id = ? AND s.side = 'left' ORDER BY s.item_id", [study_id]).fetchall())
