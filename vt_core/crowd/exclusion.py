"""Exclusion: the researcher's rules, and the raters they exclude with a reason code each.

Excluded raters are flagged, never removed: their ratings stay in the database and in every export.
A rater is excluded when ``exclude_failed_attention`` is set and they failed at least one attention
check, or when their share of ratings flagged 'too_fast' (too_fast flags / items they rated) exceeds
``max_too_fast_share``, or when their share of gold items answered more than one point from the
known answer ('gold_missed' flags / gold items they rated) exceeds ``max_gold_miss_share``. The
reason codes are the names of the rater flags they count; readers (the monitor, the export, the
statistics) use the codes, and the details are for people.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from vt_core.core.store import Store


class Reason(StrEnum):
    ATTENTION_FAILED = "attention_failed"
    TOO_FAST = "too_fast"
    GOLD_MISSED = "gold_missed"

    @property
    def label(self) -> str:
        """A short name for counting raters by reason."""
        return _LABELS[self]


# The rater flag of a rater whose places the researcher reopened for others (vt_core.crowd.replacement):
# their ratings stay, but no longer count towards an item's k.
REPLACED = "replaced"

_LABELS = {Reason.ATTENTION_FAILED: "failed attention checks", Reason.TOO_FAST: "rated too fast",
           Reason.GOLD_MISSED: "missed gold items"}


@dataclass(frozen=True)
class ExclusionRules:
    """The researcher's exclusion rules; excluded raters are flagged, never removed."""

    exclude_failed_attention: bool = True
    max_too_fast_share: float | None = None  # e.g. 0.25: more than a quarter of ratings too fast
    max_gold_miss_share: float | None = None  # e.g. 0.5: more than half of the gold items missed

    def __post_init__(self) -> None:
        for name in ("max_too_fast_share", "max_gold_miss_share"):
            share = getattr(self, name)
            if share is not None and not 0 <= share <= 1:
                raise ValueError(f"{name} must be a share from 0 to 1, not {share!r}")


NO_EXCLUSION = ExclusionRules(exclude_failed_attention=False)


@dataclass(frozen=True)
class Exclusion:
    """One reason a rater is excluded: its code and what the rules found."""

    reason: Reason
    detail: str  # e.g. "3 of 4 ratings too fast (75% > 25%)"


@dataclass(frozen=True)
class ExcludedRater:
    rater_id: int
    kind: str
    platform: str
    external_id: str
    reasons: tuple[Exclusion, ...]

    @property
    def codes(self) -> tuple[Reason, ...]:
        return tuple(r.reason for r in self.reasons)

    @property
    def details(self) -> str:
        return "; ".join(r.detail for r in self.reasons)


def exclusion_label(codes: Iterable[Reason | str]) -> str:
    """The reasons' short names, e.g. 'failed attention checks + rated too fast'."""
    return " + ".join(Reason(code).label for code in codes)


def excluded_raters(store: Store, study_id: int, rules: ExclusionRules | None = None) -> list[ExcludedRater]:
    """The raters the rules exclude, with the reasons, in rater id order."""
    rules = rules or ExclusionRules()
    rows = store.cursor().execute(
        "SELECT ra.id, ra.kind, ra.platform, ra.external_id,"
        " (SELECT count(*) FROM rater_flags f WHERE f.rater_id = ra.id AND f.flag = ?),"
        " (SELECT count(*) FROM rater_flags f WHERE f.rater_id = ra.id AND f.flag = ?),"
        " (SELECT count(DISTINCT r.item_id) FROM ratings r WHERE r.rater_id = ra.id),"
        " (SELECT count(*) FROM rater_flags f WHERE f.rater_id = ra.id AND f.flag = ?),"
        " (SELECT count(DISTINCT r.item_id) FROM ratings r JOIN study_items i ON i.id = r.item_id"
        "   WHERE r.rater_id = ra.id AND i.kind = 'gold')"
        " FROM raters ra WHERE ra.study_id = ? ORDER BY ra.id",
        [Reason.ATTENTION_FAILED.value, Reason.TOO_FAST.value, Reason.GOLD_MISSED.value, study_id],
    ).fetchall()
    excluded = []
    for rater_id, kind, platform, external_id, failed, too_fast, rated, missed, gold in rows:
        reasons = []
        if rules.exclude_failed_attention and failed:
            reasons.append(Exclusion(Reason.ATTENTION_FAILED, f"failed {failed} attention check(s)"))
        if rules.max_too_fast_share is not None and rated and too_fast / rated > rules.max_too_fast_share:
            reasons.append(Exclusion(Reason.TOO_FAST, f"{too_fast} of {rated} ratings too fast "
                                     f"({too_fast / rated:.0%} > {rules.max_too_fast_share:.0%})"))
        if rules.max_gold_miss_share is not None and gold and missed / gold > rules.max_gold_miss_share:
            reasons.append(Exclusion(Reason.GOLD_MISSED, f"missed {missed} of {gold} gold items "
                                     f"({missed / gold:.0%} > {rules.max_gold_miss_share:.0%})"))
        if reasons:
            excluded.append(ExcludedRater(rater_id, kind, platform, external_id, tuple(reasons)))
    return excluded
