"""Replacement places: when the researcher's rules exclude raters, the regular items they rated lack valid
ratings. Replacing those raters flags them (REPLACED; their ratings stay and are exported, excluded), so
that their ratings no longer fill an item's k and the assignment hands those items to new raters; the
places to request are as many new raters as the lacking ratings need (for Prolific, ask it for that many
more places)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from vt_core.core.store import Store
from vt_core.crowd.exclusion import REPLACED, ExclusionRules, excluded_raters
from vt_core.crowd.monitoring import monitor
from vt_core.crowd.studies import get_study


@dataclass(frozen=True)
class Shortfall:
    """What the study lacks for every regular item to have k valid human ratings."""

    items: int  # regular items that lack ratings
    ratings: int  # valid ratings lacking, summed over those items
    places: int  # new raters needed to give them: each rates an item once, and up to items_per_rater items
    to_replace: tuple[int, ...]  # human raters the rules exclude who are not replaced yet


def _replaced(db, study_id: int) -> set[int]:
    return {rater for (rater,) in db.execute(
        "SELECT DISTINCT f.rater_id FROM rater_flags f JOIN raters ra ON ra.id = f.rater_id"
        " WHERE ra.study_id = ? AND f.flag = ?", [study_id, REPLACED]).fetchall()}


def places_for(lacking: list[int], items_per_rater: int) -> int:
    """New raters to give `lacking` ratings per item: at least as many as the item that lacks most, and
    enough for all of them at `items_per_rater` each."""
    lacking = [n for n in lacking if n > 0]
    return max(max(lacking), math.ceil(sum(lacking) / items_per_rater)) if lacking else 0


def shortfall(store: Store, study_id: int, rules: ExclusionRules | None = None) -> Shortfall:
    m = monitor(store, study_id, exclusion=rules)
    study = get_study(store, study_id)
    lacking = [row["lacking"] for row in m.per_item if row["lacking"]]
    replaced = _replaced(store.cursor(), study_id)
    to_replace = tuple(r.rater_id for r in m.excluded if r.kind == "human" and r.rater_id not in replaced)
    return Shortfall(len(lacking), sum(lacking), places_for(lacking, study.definition.items_per_rater), to_replace)


def replace_excluded(store: Store, study_id: int, rules: ExclusionRules | None = None) -> Shortfall:
    """Flag every human rater the rules exclude as replaced, in one transaction, so the items they rated
    are offered to new raters; the shortfall after it says how many places to ask the platform for."""
    excluded = {r.rater_id: r for r in excluded_raters(store, study_id, rules) if r.kind == "human"}

    def flag(db) -> None:
        done = _replaced(db, study_id)
        for rater_id, rater in excluded.items():
            if rater_id not in done:
                db.execute("INSERT INTO rater_flags (rater_id, flag, detail) VALUES (?, ?, ?)",
                           [rater_id, REPLACED, json.dumps({"reasons": [r.reason.value for r in rater.reasons]})])

    store.transaction(flag)
    return shortfall(store, study_id, rules)
