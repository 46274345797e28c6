"""The live view of a crowd-rating study: who arrived and how far they got, what has been rated,
how fast, which raters the researcher's rules exclude, and how well raters agree.

Decisions, in one place:

- **Human and LLM raters are kept apart** everywhere: every count, median and agreement figure is
  given per rater kind ('human', 'llm'); they meet only in the human-LLM agreement.
- **A rating** here is one rater's answer on one item (the ratings table holds a row per
  dimension; those rows count once).
- **Exclusion** (vt_core.crowd.exclusion) flags raters, it never deletes anything: an excluded
  rater's ratings stay in the database and in every export, with ``excluded = true``.
- **Agreement** is Krippendorff's alpha, ordinal (``krippendorff.alpha`` over a raters x items
  matrix with NaN where a rater did not rate an item), per dimension, over the *regular* items only
  (attention checks have instructed answers and gold items a known one, so they would inflate it),
  leaving out excluded raters. Humans and LLM raters each get their own alpha, over the items that
  raters of that kind rated more than once. **Human-LLM agreement** treats the two kinds as two
  coders: for every item rated by both, the mean human value and the mean LLM value form a
  2 x items matrix, and alpha (ordinal, over the observed mean values) is computed on it.
  Alpha is ``None`` (with a note) while it is undefined: fewer than one item with two values, or
  every value the same.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field, make_dataclass

import krippendorff
import numpy as np

from vt_core.core.store import Store
from vt_core.crowd.assignment import RATER_KINDS, RATER_STATUSES
from vt_core.crowd.exclusion import ExcludedRater, ExclusionRules, excluded_raters
from vt_core.crowd.studies import get_study

# Raters of one kind: `started` counts every registered rater; a field per status counts the raters in
# it now (consent and comprehension are still before the first item).
RaterCounts = make_dataclass("RaterCounts", [(name, int, 0) for name in ("started", *RATER_STATUSES)], frozen=True)


@dataclass(frozen=True)
class Agreement:
    dimension: str
    group: str              # 'human', 'llm' or 'human-llm'
    alpha: float | None     # None while undefined (see note)
    items: int              # items that entered the matrix
    raters: int             # raters in the matrix (2 for human-llm: the two kinds)
    note: str = ""


@dataclass(frozen=True)
class Monitor:
    study_id: int
    raters: dict[str, RaterCounts]                 # by kind
    per_condition: list[dict]                      # condition, items, ratings per kind
    # item_id, condition, kind, match_key, ratings per kind; valid: human ratings that the rules keep,
    # lacking: how many more a regular item needs to reach k (check items are exempt from k)
    per_item: list[dict]
    median_seconds: dict[str, float | None]        # by kind, over rated items with a time
    excluded: list[ExcludedRater]
    agreement: list[Agreement]
    rules: ExclusionRules = field(default_factory=ExclusionRules)

    @property
    def excluded_ids(self) -> set[int]:
        return {r.rater_id for r in self.excluded}

    def ratings(self, kind: str) -> int:
        return sum(row[kind] for row in self.per_item)


# -- agreement ---------------------------------------------------------------------------------


def alpha_ordinal(matrix: list[list[float]] | np.ndarray) -> tuple[float | None, str]:
    """Krippendorff's alpha (ordinal) of a raters x units matrix with NaN for missing values;
    (None, why) when it is undefined."""
    data = np.asarray(matrix, dtype=float)
    if data.ndim != 2 or data.size == 0:
        return None, "no ratings yet"
    pairable = (np.sum(~np.isnan(data), axis=0) >= 2).sum()
    if pairable == 0:
        return None, "no item has two ratings yet"
    values = np.unique(data[~np.isnan(data)])
    if len(values) < 2:
        return None, "every rating has the same value"
    alpha = float(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal"))
    return (None, "undefined") if math.isnan(alpha) else (alpha, "")


def _matrix(values: dict[tuple[int, int], int]) -> tuple[np.ndarray, int, int]:
    """{(rater, item): value} -> raters x items matrix, keeping items with two or more values."""
    per_item = defaultdict(int)
    for _, item in values:
        per_item[item] += 1
    items = sorted(i for i, n in per_item.items() if n >= 2)
    col = {item: c for c, item in enumerate(items)}
    raters = sorted({r for (r, i) in values if i in col})
    data = np.full((len(raters), len(items)), np.nan)
    row = {rater: r for r, rater in enumerate(raters)}
    for (rater, item), value in values.items():
        if item in col:
            data[row[rater], col[item]] = value
    return data, len(raters), len(items)


def dimension_agreement(dimension: str, by_kind: dict[str, dict[tuple[int, int], int]]) -> list[Agreement]:
    """Alpha per rater kind and human-LLM for one dimension; by_kind: kind -> {(rater, item): value}."""
    out = []
    for kind in RATER_KINDS:
        data, raters, items = _matrix(by_kind.get(kind, {}))
        alpha, note = alpha_ordinal(data) if items else (None, "no item rated twice yet")
        out.append(Agreement(dimension, kind, alpha, items, raters, note))
    means = {}
    for kind in RATER_KINDS:
        per_item = defaultdict(list)
        for (_, item), value in by_kind.get(kind, {}).items():
            per_item[item].append(value)
        means[kind] = {item: statistics.fmean(v) for item, v in per_item.items()}
    shared = sorted(set(means["human"]) & set(means["llm"]))
    if means["human"] and means["llm"]:
        data = np.array([[means["human"][i] for i in shared], [means["llm"][i] for i in shared]], dtype=float) \
            if shared else np.empty((2, 0))
        alpha, note = alpha_ordinal(data) if shared else (None, "no item rated by both humans and LLMs yet")
        out.append(Agreement(dimension, "human-llm", alpha, len(shared), 2, note))
    return out


# -- the monitor -------------------------------------------------------------------------------


def monitor(store: Store, study_id: int, *, exclusion: ExclusionRules | None = None) -> Monitor:
    """Everything the researcher's monitor shows, for one study, at this moment."""
    study = get_study(store, study_id)
    rules = exclusion or ExclusionRules()
    db = store.cursor()

    raters = {kind: defaultdict(int) for kind in RATER_KINDS}
    for kind, status, n in db.execute(
            "SELECT kind, status, count(*) FROM raters WHERE study_id = ? GROUP BY kind, status",
            [study_id]).fetchall():
        raters[kind][status] += n
        raters[kind]["started"] += n
    counts = {kind: RaterCounts(**{k: v for k, v in raters[kind].items() if k in RaterCounts.__dataclass_fields__})
              for kind in RATER_KINDS}

    items = db.execute(
        "SELECT si.id, si.condition, si.kind, si.match_key,"
        " count(DISTINCT CASE WHEN ra.kind = 'human' THEN r.rater_id END),"
        " count(DISTINCT CASE WHEN ra.kind = 'llm' THEN r.rater_id END)"
        " FROM study_items si LEFT JOIN ratings r ON r.item_id = si.id AND r.study_id = si.study_id"
        " LEFT JOIN raters ra ON ra.id = r.rater_id"
        " WHERE si.study_id = ? GROUP BY si.id, si.condition, si.kind, si.match_key ORDER BY si.id",
        [study_id],
    ).fetchall()
    excluded = excluded_raters(store, study_id, rules)
    out = {r.rater_id for r in excluded}
    valid = Counter(item for item, rater in db.execute(
        "SELECT DISTINCT r.item_id, r.rater_id FROM ratings r JOIN raters ra ON ra.id = r.rater_id"
        " WHERE r.study_id = ? AND ra.kind = 'human'", [study_id]).fetchall() if rater not in out)
    k = study.definition.ratings_per_item
    per_item = [{"item_id": i, "condition": c, "kind": kind, "match_key": m, "human": h, "llm": llm_,
                 "valid": valid[i], "lacking": max(k - valid[i], 0) if kind == "regular" else 0}
                for i, c, kind, m, h, llm_ in items]
    order = [c.name for c in study.definition.conditions]
    by_condition: dict[str, dict] = {}
    for row in per_item:
        entry = by_condition.setdefault(row["condition"], {"condition": row["condition"], "items": 0,
                                                           "human": 0, "llm": 0})
        entry["items"] += 1
        entry["human"] += row["human"]
        entry["llm"] += row["llm"]
    for name in order:
        by_condition.setdefault(name, {"condition": name, "items": 0, "human": 0, "llm": 0})
    per_condition = sorted(by_condition.values(),
                           key=lambda e: (order.index(e["condition"]) if e["condition"] in order else len(order),
                                          e["condition"]))

    median_seconds = {}
    for kind in RATER_KINDS:
        seconds = [s for (s,) in db.execute(
            "SELECT max(r.seconds) FROM ratings r JOIN raters ra ON ra.id = r.rater_id"
            " WHERE r.study_id = ? AND ra.kind = ? AND r.seconds IS NOT NULL GROUP BY r.rater_id, r.item_id",
            [study_id, kind]).fetchall()]
        median_seconds[kind] = statistics.median(seconds) if seconds else None

    values: dict[str, dict[str, dict[tuple[int, int], int]]] = defaultdict(lambda: defaultdict(dict))
    for rater_id, kind, item_id, dimension, value in db.execute(
            "SELECT r.rater_id, ra.kind, r.item_id, r.dimension, r.value FROM ratings r"
            " JOIN raters ra ON ra.id = r.rater_id JOIN study_items si ON si.id = r.item_id"
            " WHERE r.study_id = ? AND si.kind = 'regular'", [study_id]).fetchall():
        if rater_id not in out:
            values[dimension][kind][(rater_id, item_id)] = value
    agreement = [a for d in study.definition.dimensions for a in dimension_agreement(d.key, values.get(d.key, {}))]

    return Monitor(study_id, counts, per_item=per_item, per_condition=per_condition,
                   median_seconds=median_seconds, excluded=excluded, agreement=agreement, rules=rules)


def monitor_summary(m: Monitor) -> str:
    """A few lines of plain text (the CLI's `study monitor`)."""
    lines = []
    for kind in RATER_KINDS:
        c = m.raters[kind]
        if kind == "llm" and not c.started:
            continue
        median = m.median_seconds[kind]
        lines.append(f"{kind} raters: {c.started} started, {c.rating} rating, {c.completed} completed, "
                     f"{c.failed_checks} failed checks, {c.screened_out} screened out; "
                     f"{m.ratings(kind)} ratings; median "
                     + ("n/a" if median is None else f"{median:.1f} s") + " per item")
    for row in m.per_condition:
        lines.append(f"condition {row['condition']}: {row['items']} items, {row['human']} human ratings, "
                     f"{row['llm']} LLM ratings")
    for a in m.agreement:
        value = "n/a" if a.alpha is None else f"{a.alpha:.3f}"
        note = f" ({a.note})" if a.note else ""
        lines.append(f"alpha {a.dimension} [{a.group}]: {value} over {a.items} items, {a.raters} raters{note}")
    lines.append(f"excluded raters: {len(m.excluded)}")
    for r in m.excluded:
        lines.append(f"  rater {r.rater_id} ({r.kind}, {r.platform} {r.external_id}): {r.details}")
    return "\n".join(lines)


# -- the data fingerprint ------------------------------------------------------------------------


def fingerprint(store: Store, study_id: int) -> tuple:
    """Changes whenever the monitor (or an export) of this study could: the study's status, an item
    added, a rater registered or moving on (status, comprehension attempts, finish), a lease handed out,
    shown, renewed or released, a rating or a quality flag added. One query of counts, largest ids and
    times, and an md5 of the raters' and the leases' rows (written out in key order): a few
    milliseconds, cheap enough to key a page's cache on every rerun. (Aggregates joined in FROM: as
    scalar subqueries in SELECT, DuckDB took ten times longer.)"""
    return tuple(store.cursor().execute(
        "SELECT * FROM (SELECT max(status) FROM studies WHERE id = ?) AS study,"
        " (SELECT count(*), max(id) FROM study_items WHERE study_id = ?) AS items,"
        " (SELECT count(*), md5(string_agg(concat_ws('|', id, status, comprehension_attempts, finished_at),"
        "   ',' ORDER BY id)) FROM raters WHERE study_id = ?) AS raters,"
        " (SELECT count(*), md5(string_agg(concat_ws('|', l.item_id, l.rater_id, l.position, l.shown_at, l.expires_at),"
        "   ',' ORDER BY l.item_id, l.rater_id))"
        "  FROM leases l JOIN raters ra ON ra.id = l.rater_id WHERE ra.study_id = ?) AS leases,"
        " (SELECT count(*), max(id) FROM ratings WHERE study_id = ?) AS ratings,"
        " (SELECT count(*), max(f.created_at) FROM rater_flags f JOIN raters ra ON ra.id = f.rater_id"
        "  WHERE ra.study_id = ?) AS flags",
        [study_id] * 6).fetchone())
