"""Crowd-rating assignment: who a rater is, which item they rate next, and how a rating is stored.

These are the functions the rater page calls, written against the tables of migration 0003
(studies, study_items, raters, leases, ratings, rater_flags). Everything is keyed on the
database, never on a browser session: a refresh, a closed tab or a second tab finds the same
rater, the same leased item and the same progress.

Decisions, in one place:

- **Sequence.** A rater sees ``items_per_rater`` regular items plus every attention and gold
  item of the study, once each: ``total = items_per_rater + checks``. Check items sit at
  positions fixed by the rater's seed (never first, spread over the sequence) and are exempt
  from k: every rater rates every check item, so they neither take nor need capacity.
- **Within-subject blocks.** The regular items are split into one block per condition, in the
  rater's ``condition_order`` (a row of a balanced Latin square, by arrival count of raters
  of the same kind in the study), as evenly as possible. If a block's condition has no item
  left for this rater, the next condition in their order is used rather than stopping them.
- **Least-rated first.** An item's load is the number of distinct raters *of the same kind*
  who rated it or hold a live lease on it (human and LLM raters are separate pools, so a
  pilot with simulated raters never uses up human capacity), leaving out raters who failed an
  attention check: the default exclusion rule drops their ratings from the analysis, so they
  must not fill an item's k. Candidates with load < k are
  taken lowest load first, ties broken by a hash of the rater's seed and the item id (a
  per-rater shuffle that does not change as other items fill up).
- **Matched items.** An item never follows the rater's previous item when both share a
  ``match_key``; that rule is never relaxed.
- **Leases.** Expired leases simply do not count. Taking an item deletes the expired leases of
  others on that item in the same transaction; a late submit on a lease that was taken over
  that way stores nothing (``reason='lease_lost'``). A late submit on an expired lease nobody
  took over is stored if the item still has room under k.
- **Concurrency.** Lease-taking, arrival counts and a late submit's room check are serialised by the
  study's lock in the database (``Store.lock``: an advisory lock on PostgreSQL, held for every app
  process; on DuckDB, which one process opens, a lock of that process). The transactions are short, and
  the store runs them again
  after a write-write conflict (e.g. a submit and a lease-taker deleting the same expired lease,
  or two tabs submitting the same item). The ratings key
  ``UNIQUE (rater_id, item_id, dimension)`` is the final guard against double submits.

All SQL is parameterised. Times are naive UTC datetimes; every function takes ``now`` so
tests can move time without sleeping.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

from vt_core.core.design import balanced_latin_square
from vt_core.core.store import KEY_TAKEN, Store, insert_rows, naive_utc
from vt_core.crowd.exclusion import REPLACED, Reason
from vt_core.crowd.items import ITEM_COLUMNS, StudyItem
from vt_core.crowd.studies import DEFAULT_DIMENSIONS, PAIR_CONDITION

__all__ = [
    "MTURK_SUBMIT_HOSTS",
    "PROLIFIC_COMPLETE_URL",
    "SCALE_MAX",
    "SCALE_MIN",
    "FinishResult",
    "Identity",
    "Item",
    "RaterProgress",
    "RATER_KINDS",
    "RATER_STATUSES",
    "REASON_MAX_CHARS",
    "Rater",
    "SubmitResult",
    "balanced_latin_square",
    "check_platform",
    "completion_url",
    "end_early",
    "ended_early",
    "Room",
    "room",
    "finish",
    "get_rater",
    "identity_from_params",
    "next_item",
    "rater_progress",
    "purge_expired",
    "record_comprehension",
    "register_rater",
    "set_rater_status",
    "submit",
]

SCALE_MIN, SCALE_MAX = 1, 7
PROLIFIC_COMPLETE_URL = "https://app.prolific.com/submissions/complete?cc="
MTURK_SUBMIT_HOSTS = ("www.mturk.com", "workersandbox.mturk.com")
MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"

PLATFORMS = ("prolific", "mturk", "anonymous", "llm")
RATER_KINDS = ("human", "llm")  # people, and the pilot's simulated raters: never mixed in a figure
RATER_STATUSES = ("consent", "comprehension", "rating", "completed", "failed_checks", "screened_out")
FINAL_STATUSES = ("completed", "screened_out", "failed_checks")
ATTENTION_FAILURES_TO_FAIL = 2
REASON_MAX_CHARS = 1000  # a rater's optional reason with a rating (side-by-side studies ask for one)
GOLD_TOLERANCE = 1  # a gold answer more than this many scale points from the known one is a miss
STUDY_LOCK = "crowd-study"  # Store.lock name: lease-taking, arrivals and late submits of one study take turns

# Whether rater `ra` counts towards an item's k: not once they failed an attention check, since the
# default exclusion rule (crowd.exclusion) leaves their ratings out of the analysis, nor once the
# researcher replaced them (crowd.replacement); the item then goes on to another rater. The flags'
# names are constants, not parameters.
_FILLS_K = (f"NOT EXISTS (SELECT 1 FROM rater_flags f WHERE f.rater_id = ra.id"
            f" AND f.flag IN ('{Reason.ATTENTION_FAILED.value}', '{REPLACED}'))")

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ANON_PREFIX = "anon-"


# --------------------------------------------------------------------------------------------
# Identity from the study link


@dataclass(frozen=True)
class Identity:
    platform: str                  # 'prolific' | 'mturk' | 'anonymous' (| 'llm' for simulated raters)
    external_id: str | None        # PROLIFIC_PID, workerId or the anonymous id; None in MTurk preview
    session_id: str | None = None  # Prolific SESSION_ID
    assignment_id: str | None = None
    hit_id: str | None = None
    submit_to: str | None = None   # MTurk turkSubmitTo, checked to be an mturk.com https origin
    preview: bool = False          # MTurk preview: show the task, register nobody
    platform_study_id: str | None = None  # Prolific STUDY_ID (stored on the rater for exports)


def _check_id(name: str, value: str | None, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise ValueError(f"the study link lacks {name}")
        return None
    if not isinstance(value, str) or not _ID.match(value):
        raise ValueError(
            f"{name} {value[:80]!r} is malformed: expected 1-64 characters of letters, digits, "
            f"'-' or '_'" if isinstance(value, str) else f"{name} must be a string"
        )
    return value


def _check_submit_to(value: str | None) -> str:
    if not value:
        raise ValueError("the MTurk link lacks turkSubmitTo")
    parts = urlsplit(value)
    if parts.scheme != "https" or parts.hostname not in MTURK_SUBMIT_HOSTS or parts.username \
            or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ValueError(
            f"turkSubmitTo {value[:120]!r} is not an MTurk origin "
            f"(expected https://{MTURK_SUBMIT_HOSTS[0]} or https://{MTURK_SUBMIT_HOSTS[1]})"
        )
    return f"https://{parts.hostname}"


def identity_from_params(params: Mapping[str, str], anonymous_id: str | None = None) -> Identity:
    """Who arrives through a study link, from its query parameters.

    Prolific: PROLIFIC_PID (required), STUDY_ID, SESSION_ID. MTurk: assignmentId, hitId,
    turkSubmitTo and workerId; ``assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE`` is a preview (no
    worker yet). Anything else is anonymous: ``anonymous_id`` if the caller has one stored
    (e.g. from a cookie or an earlier visit), else a newly generated id the caller must keep.
    Malformed ids raise ValueError with a message naming the parameter.
    """
    get = params.get
    is_prolific = any(get(k) for k in ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID"))
    is_mturk = any(get(k) for k in ("workerId", "assignmentId", "hitId", "turkSubmitTo"))
    if is_prolific and is_mturk:
        raise ValueError("the study link carries both Prolific and MTurk parameters")
    if is_prolific:
        return Identity(
            platform="prolific",
            external_id=_check_id("PROLIFIC_PID", get("PROLIFIC_PID"), required=True),
            session_id=_check_id("SESSION_ID", get("SESSION_ID"), required=False),
            platform_study_id=_check_id("STUDY_ID", get("STUDY_ID"), required=False),
        )
    if is_mturk:
        assignment = get("assignmentId")
        if assignment == MTURK_PREVIEW:
            return Identity(
                platform="mturk", external_id=None, assignment_id=None,
                hit_id=_check_id("hitId", get("hitId"), required=False),
                submit_to=_check_submit_to(get("turkSubmitTo")) if get("turkSubmitTo") else None,
                preview=True,
            )
        return Identity(
            platform="mturk",
            external_id=_check_id("workerId", get("workerId"), required=True),
            assignment_id=_check_id("assignmentId", assignment, required=True),
            hit_id=_check_id("hitId", get("hitId"), required=True),
            submit_to=_check_submit_to(get("turkSubmitTo")),
        )
    if anonymous_id is None:
        anonymous_id = _ANON_PREFIX + secrets.token_hex(10)
    return Identity(platform="anonymous",
                    external_id=_check_id("anonymous id", anonymous_id, required=True))


_PLATFORM_NAMES = {"prolific": "Prolific", "mturk": "MTurk", "anonymous": "an anonymous link"}
_PLATFORM_PARAMS = {"prolific": "PROLIFIC_PID", "mturk": "workerId and assignmentId"}


def check_platform(identity: Identity, study_platform: str) -> None:
    """Refuse a link from another platform than the study's: a Prolific study opened without
    PROLIFIC_PID would otherwise register an anonymous rater who could never be paid, and a
    platform's parameters on an anonymous study would promise a return to a platform that
    knows nothing of it. Raises ValueError saying what the link lacks or carries."""
    if identity.platform == study_platform:
        return
    if study_platform in _PLATFORM_PARAMS:
        raise ValueError(f"this study runs on {_PLATFORM_NAMES[study_platform]}, but the link carries no "
                         f"{_PLATFORM_PARAMS[study_platform]}" if identity.platform == "anonymous" else
                         f"this study runs on {_PLATFORM_NAMES[study_platform]}, but the link comes from "
                         f"{_PLATFORM_NAMES[identity.platform]}")
    raise ValueError(f"this study is run with {_PLATFORM_NAMES[study_platform]}, but the link carries "
                     f"{_PLATFORM_NAMES[identity.platform]} parameters")


# --------------------------------------------------------------------------------------------
# Raters


@dataclass(frozen=True)
class Rater:
    id: int
    study_id: int
    kind: str
    platform: str
    external_id: str
    seed: int
    condition_order: list[str]
    status: str
    session_id: str | None = None
    assignment_id: str | None = None
    hit_id: str | None = None
    submit_to: str | None = None
    persona: Any = None
    comprehension_attempts: int = 0


_RATER_COLUMNS = ("id, study_id, kind, platform, external_id, seed, condition_order, status, "
                  "session_id, assignment_id, hit_id, submit_to, persona, comprehension_attempts")


def _rater_from_row(row: Sequence[Any]) -> Rater:
    (id_, study_id, kind, platform, external_id, seed, order, status, session_id, assignment_id,
     hit_id, submit_to, persona, attempts) = row
    return Rater(id=id_, study_id=study_id, kind=kind, platform=platform, external_id=external_id,
                 seed=seed, condition_order=json.loads(order), status=status,
                 session_id=session_id, assignment_id=assignment_id, hit_id=hit_id,
                 submit_to=submit_to, persona=json.loads(persona) if persona is not None else None,
                 comprehension_attempts=attempts)


def get_rater(store: Store, rater_id: int) -> Rater:
    row = store.cursor().execute(f"SELECT {_RATER_COLUMNS} FROM raters WHERE id = ?",
                                 [rater_id]).fetchone()
    if row is None:
        raise ValueError(f"no rater {rater_id}")
    return _rater_from_row(row)


def _find_rater(db, study_id: int, platform: str, external_id: str) -> Rater | None:
    row = db.execute(
        f"SELECT {_RATER_COLUMNS} FROM raters WHERE study_id = ? AND platform = ? AND external_id = ?",
        [study_id, platform, external_id],
    ).fetchone()
    return _rater_from_row(row) if row else None


class StudyFull(RuntimeError):
    """The study has as many raters working as its cap allows: a new one is not registered now."""


def register_rater(store: Store, study_id: int, identity: Identity, *, kind: str = "human",
                   persona: Any = None, conditions: Sequence[str], seed: int | None = None,
                   max_active: int | None = None, lease_minutes: float = 30, now: datetime | None = None) -> Rater:
    """The rater for this identity in this study, created on first arrival.

    Idempotent: the same (study, platform, external_id) returns the existing rater, whatever
    the other arguments, so a refresh, a reopened link or a second tab resumes. A new rater
    gets a random seed (or ``seed``), the next row of the balanced Latin square over
    ``conditions`` by arrival count among raters of the same kind, and status 'consent'.
    With ``max_active``, a new rater is refused with StudyFull while that many raters of the kind
    are working (see `active_raters`); one already registered always comes back in.
    """
    if identity.preview or not identity.external_id:
        raise ValueError("an MTurk preview has no worker to register; show the task read-only")
    if identity.platform not in PLATFORMS:
        raise ValueError(f"unknown platform {identity.platform!r}")
    if kind not in ("human", "llm"):
        raise ValueError(f"rater kind must be 'human' or 'llm', not {kind!r}")
    if (kind == "llm") != (identity.platform == "llm"):
        raise ValueError("simulated raters use platform 'llm', and only they do")
    conditions = list(conditions)
    if not conditions or len(set(conditions)) != len(conditions):
        raise ValueError("conditions must be a non-empty list of distinct names")
    db = store.cursor()
    existing = _find_rater(db, study_id, identity.platform, identity.external_id)
    if existing:
        _keep_platform_study_id(store, existing.id, identity.platform_study_id)
        return existing
    square = balanced_latin_square(len(conditions))
    with store.lock(STUDY_LOCK, study_id):  # arrival counts stay distinct, so the square stays balanced
        existing = _find_rater(db, study_id, identity.platform, identity.external_id)
        if existing:
            _keep_platform_study_id(store, existing.id, identity.platform_study_id)
            return existing
        if max_active is not None and active_raters(store, study_id, kind=kind, lease_minutes=lease_minutes,
                                                    now=now) >= max_active:
            raise StudyFull(f"study {study_id} has {max_active} raters working, its cap")
        arrivals = db.execute("SELECT count(*) FROM raters WHERE study_id = ? AND kind = ?",
                              [study_id, kind]).fetchone()[0]
        order = [conditions[i] for i in square[arrivals % len(square)]]
        try:
            store.transaction(lambda db: db.execute(
                "INSERT INTO raters (study_id, kind, platform, external_id, session_id, assignment_id,"
                " hit_id, submit_to, platform_study_id, persona, seed, condition_order, status, started_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'consent', ?)",
                [study_id, kind, identity.platform, identity.external_id, identity.session_id,
                 identity.assignment_id, identity.hit_id, identity.submit_to, identity.platform_study_id,
                 json.dumps(persona) if persona is not None else None,
                 seed if seed is not None else secrets.randbits(62), json.dumps(order), naive_utc(now)],
            ))
        except KEY_TAKEN:
            pass  # someone registered the same identity first: theirs is the rater
    rater = _find_rater(db, study_id, identity.platform, identity.external_id)
    if rater is None:  # pragma: no cover - the insert failed for another reason
        raise RuntimeError(f"could not register rater {identity.external_id!r}")
    return rater


def _keep_platform_study_id(store: Store, rater_id: int, platform_study_id: str | None) -> None:
    """Store Prolific's STUDY_ID on a rater who arrived without one (an older link, or before it was kept)."""
    if platform_study_id and store.cursor().execute(
            "SELECT 1 FROM raters WHERE id = ? AND platform_study_id IS NULL", [rater_id]).fetchone():
        store.transaction(lambda db: db.execute(
            "UPDATE raters SET platform_study_id = ? WHERE id = ? AND platform_study_id IS NULL",
            [platform_study_id, rater_id]))


def active_raters(store: Store, study_id: int, *, kind: str = "human", lease_minutes: float = 30,
                  now: datetime | None = None) -> int:
    """Raters working on the study now: not finished, and either holding a live lease on an item or
    registered less than a lease ago (reading the consent or the instructions). One who walked away
    stops counting when their lease runs out."""
    now = naive_utc(now)
    return store.cursor().execute(
        "SELECT count(*) FROM raters r WHERE r.study_id = ? AND r.kind = ? AND r.status <> ALL(CAST(? AS VARCHAR[]))"
        " AND (r.started_at > ? OR EXISTS (SELECT 1 FROM leases l WHERE l.rater_id = r.id AND l.expires_at > ?))",
        [study_id, kind, list(FINAL_STATUSES), now - timedelta(minutes=lease_minutes), now]).fetchone()[0]


def set_rater_status(store: Store, rater_id: int, status: str, *, now: datetime | None = None) -> None:
    if status not in RATER_STATUSES:
        raise ValueError(f"unknown rater status {status!r}; expected one of {', '.join(RATER_STATUSES)}")
    finished = naive_utc(now) if status in FINAL_STATUSES else None
    store.transaction(lambda db: db.execute(
        "UPDATE raters SET status = ?, finished_at = coalesce(finished_at, ?) WHERE id = ?",
        [status, finished, rater_id]))


def record_comprehension(store: Store, rater_id: int, correct: bool, attempts_allowed: int = 2,
                         *, now: datetime | None = None) -> str:
    """Record one comprehension-check attempt; the rater's status afterwards: 'rating' on
    success, 'screened_out' after the last allowed failure, else 'comprehension' (try again).
    A rater already past the check keeps their status."""
    def attempt(db) -> str:
        row = db.execute("SELECT status, comprehension_attempts FROM raters WHERE id = ?",
                         [rater_id]).fetchone()
        if row is None:
            raise ValueError(f"no rater {rater_id}")
        status, attempts = row
        if status in ("rating",) + FINAL_STATUSES:
            return status
        attempts += 1
        new = "rating" if correct else (
            "screened_out" if attempts >= attempts_allowed else "comprehension")
        db.execute(
            "UPDATE raters SET status = ?, comprehension_attempts = ?, finished_at = ? WHERE id = ?",
            [new, attempts, naive_utc(now) if new == "screened_out" else None, rater_id])
        return new

    return store.transaction(attempt)


# --------------------------------------------------------------------------------------------
# Items and leases


@dataclass(frozen=True)
class Item(StudyItem):
    """A study item as handed to one rater: its place in their sequence and their lease on it."""

    position: int             # 1-based place in this rater's sequence
    expires_at: datetime
    shown_at: datetime | None


class RaterProgress(NamedTuple):
    done: int    # items this rater has rated
    total: int   # items_per_rater + the study's attention and gold items
    left: int    # items that could still be handed to this rater now (0: nothing left)


def _tie_key(seed: int, item_id: int) -> int:
    digest = hashlib.blake2b(f"{seed}:{item_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _check_positions(seed: int, total: int, n_checks: int) -> list[int]:
    """0-based places of the check items in a sequence of `total`: one in each of n_checks
    equal segments of positions 1..total-1 (never first), chosen by the seed."""
    if n_checks == 0:
        return []
    rng = random.Random(seed ^ 0x5EED)
    slots = list(range(1, total)) or [0]
    positions = []
    for i in range(n_checks):
        lo = i * len(slots) // n_checks
        hi = max(lo + 1, (i + 1) * len(slots) // n_checks)
        segment = [s for s in slots[lo:hi] if s not in positions] or \
            [s for s in range(total) if s not in positions]
        positions.append(rng.choice(segment))
    return sorted(positions)


def _block_condition(order: Sequence[str], items_per_rater: int, regular_index: int) -> int:
    """Index into `order` of the block that regular item number `regular_index` falls in."""
    n = len(order)
    end = 0
    for i in range(n):
        end += items_per_rater // n + (1 if i < items_per_rater % n else 0)
        if regular_index < end:
            return i
    return n - 1


class _Slot(NamedTuple):
    """What planning needs of an item: not its text."""

    id: int
    kind: str
    match_key: str | None
    condition: str


def _plan(db, rater_row: tuple, *, items_per_rater: int, k: int, now: datetime, count_leases: bool = True
          ) -> tuple[int, int, list[_Slot]]:
    """(done, total, candidates in the order they should be offered) for a rater with no live
    lease. Reads only. With count_leases=False, other raters' live leases take no room: the
    candidates there would be once those leases end."""
    rater_id, study_id, kind, seed, order_json = rater_row
    order = json.loads(order_json)
    items = [_Slot(*row) for row in db.execute(
        "SELECT id, kind, match_key, condition FROM study_items WHERE study_id = ? ORDER BY id", [study_id]).fetchall()]
    by_id = {item.id: item for item in items}
    checks = [item for item in items if item.kind != "regular"]
    total = items_per_rater + len(checks)
    rated_rows = db.execute(
        "SELECT item_id, max(id) AS last_id FROM ratings WHERE rater_id = ? GROUP BY item_id ORDER BY last_id",
        [rater_id]).fetchall()
    rated = {item_id for item_id, _ in rated_rows}
    done = len(rated)
    if done >= total:
        return done, total, []
    previous = by_id.get(rated_rows[-1][0]) if rated_rows else None
    blocked_key = previous.match_key if previous is not None else None

    checks_left = sorted((c for c in checks if c.id not in rated),
                         key=lambda c: _tie_key(seed, c.id))
    regular_done = sum(1 for item_id in rated if item_id in by_id and by_id[item_id].kind == "regular")
    positions = _check_positions(seed, total, len(checks))
    regular_left = regular_done < items_per_rater

    regular_candidates: list[StudyItem] = []
    if regular_left:
        loads = dict(db.execute(
            "SELECT h.item_id, count(*) FROM ("
            " SELECT item_id, rater_id FROM ratings WHERE study_id = ?"
            " UNION"
            " SELECT item_id, rater_id FROM leases WHERE expires_at > ? AND rater_id <> ? AND ?"
            ") AS h JOIN raters ra ON ra.id = h.rater_id"
            f" WHERE ra.study_id = ? AND ra.kind = ? AND {_FILLS_K} GROUP BY h.item_id",
            [study_id, now, rater_id, count_leases, study_id, kind]).fetchall())
        block = _block_condition(order, items_per_rater, regular_done)
        rank = {name: (i - block) % len(order) for i, name in enumerate(order)}
        rank[PAIR_CONDITION] = 0  # a side-by-side item shows every condition: it belongs to each block
        regular_candidates = sorted(
            (item for item in items
             if item.kind == "regular" and item.id not in rated and item.condition in rank
             and loads.get(item.id, 0) < k
             and (blocked_key is None or item.match_key != blocked_key)),
            key=lambda item: (rank[item.condition], loads.get(item.id, 0), _tie_key(seed, item.id)),
        )
    checks_allowed = [c for c in checks_left if blocked_key is None or c.match_key != blocked_key]
    if checks_allowed and (done in positions or not regular_left):
        candidates = checks_allowed + regular_candidates
    else:
        candidates = regular_candidates + checks_allowed
    return done, total, candidates


def _fetch_item(db, item_id: int, position: int, expires_at: datetime, shown_at: datetime | None
                ) -> Item:
    row = db.execute(f"SELECT {ITEM_COLUMNS} FROM study_items WHERE id = ?", [item_id]).fetchone()
    return Item(*row, position=position, expires_at=expires_at, shown_at=shown_at)


def _rater_id(rater: Rater | int) -> int:
    return rater if isinstance(rater, int) else rater.id


def _plan_row(db, rater: Rater | int) -> tuple:
    """The rater's columns _plan needs."""
    row = db.execute("SELECT id, study_id, kind, seed, condition_order FROM raters WHERE id = ?",
                     [_rater_id(rater)]).fetchone()
    if row is None:
        raise ValueError(f"no rater {_rater_id(rater)}")
    return row


def next_item(store: Store, rater: Rater | int, *, items_per_rater: int, k: int,
              lease_minutes: float, now: datetime | None = None) -> Item | None:
    """The item this rater should rate now, leased to them until now + lease_minutes.

    Their current unexpired lease if they hold one (a refresh shows the same item); otherwise a
    new item chosen as the module docstring describes, shown from `now` on (its `shown_at`, from
    which submit counts the seconds a rating took). None when the rater is not in status
    'rating', has rated all `rater_progress().total` items, or nothing is left for them right now
    (items at k); `progress` tells those apart.
    """
    if items_per_rater < 1 or k < 1 or lease_minutes <= 0:
        raise ValueError("items_per_rater and k must be at least 1 and lease_minutes positive")
    now = naive_utc(now)
    rater_id = _rater_id(rater)
    db = store.cursor()
    row = db.execute("SELECT id, study_id, kind, seed, condition_order, status FROM raters WHERE id = ?",
                     [rater_id]).fetchone()
    if row is None:
        raise ValueError(f"no rater {rater_id}")
    if row[5] != "rating":
        return None
    rater_row, study_id = row[:5], row[1]

    def current() -> Item | None:
        lease = db.execute(
            "SELECT item_id, position, expires_at, shown_at FROM leases WHERE rater_id = ? AND expires_at > ?"
            " ORDER BY position LIMIT 1", [rater_id, now]).fetchone()
        if lease is None:
            return None
        item_id, position, expires_at, shown_at = lease
        return _fetch_item(db, item_id, position, expires_at, shown_at)

    held = current()
    if held is not None:
        return held

    def take(db) -> Item | None:
        held = current()  # another tab of this rater may have just taken one
        if held is not None:
            return held
        done, _total, candidates = _plan(db, rater_row, items_per_rater=items_per_rater, k=k, now=now)
        if not candidates:
            return None
        chosen = candidates[0]
        expires_at = now + timedelta(minutes=lease_minutes)
        # Expired leases on this item (this rater's own too) return to the pool now; deleting
        # another's conflicts with a late submit deleting its own, so exactly one of the two wins.
        db.execute("DELETE FROM leases WHERE item_id = ? AND expires_at <= ?", [chosen.id, now])
        db.execute("INSERT INTO leases (item_id, rater_id, position, shown_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                   [chosen.id, rater_id, done + 1, now, expires_at])
        return _fetch_item(db, chosen.id, done + 1, expires_at, now)

    with store.lock(STUDY_LOCK, study_id):
        return store.transaction(take)


def rater_progress(store: Store, rater: Rater | int, *, items_per_rater: int, k: int,
             now: datetime | None = None) -> RaterProgress:
    """(done, total, left): items rated, items this rater should rate in all, and how many
    could be handed to them right now. After next_item returns None, done == total means the
    rater finished; done < total means nothing is left for them right now: see room."""
    now = naive_utc(now)
    db = store.cursor()
    row = _plan_row(db, rater)
    done, total, candidates = _plan(db, row, items_per_rater=items_per_rater, k=k, now=now)
    held = db.execute(
        "SELECT count(*) FROM leases WHERE rater_id = ? AND expires_at > ?", [row[0], now]).fetchone()[0]
    return RaterProgress(done, total, 0 if done >= total else min(total - done, len(candidates) + held))


class Room(NamedTuple):
    needed: int  # regular items this rater has still to rate
    now: int     # regular items that could be handed to them now
    later: int   # more that could be once other raters' live leases end


def room(store: Store, rater: Rater | int, *, items_per_rater: int, k: int, now: datetime | None = None) -> Room:
    """Whether the study still has regular items for this rater. needed > 0 with now == 0: they
    cannot go on for the moment; later > 0, they can come back shortly; later == 0, the study is
    full for them (every remaining item has its k ratings, or only a matched item is left): see
    end_early. Check items are not counted: they are exempt from k and never run out."""
    now = naive_utc(now)
    db = store.cursor()
    row = _plan_row(db, rater)
    regular_done = db.execute(
        "SELECT count(DISTINCT r.item_id) FROM ratings r JOIN study_items i ON i.id = r.item_id"
        " WHERE r.rater_id = ? AND i.kind = 'regular'", [row[0]]).fetchone()[0]

    def regular(count_leases: bool) -> int:
        candidates = _plan(db, row, items_per_rater=items_per_rater, k=k, now=now, count_leases=count_leases)[2]
        return sum(c.kind == "regular" for c in candidates)

    open_now = regular(True)
    return Room(max(items_per_rater - regular_done, 0), open_now, regular(False) - open_now)


def end_early(store: Store, rater: Rater | int, *, now: datetime | None = None) -> str:
    """End the session of a rater for whom the study is full (see progress): 'completed' if they
    rated any regular item (they did paid work), else 'screened_out'. Flags 'study_full' with
    how far they got. Returns the status; a rater already finished keeps theirs."""
    rater_id = _rater_id(rater)

    def end(db) -> str:
        row = db.execute("SELECT status FROM raters WHERE id = ?", [rater_id]).fetchone()
        if row is None:
            raise ValueError(f"no rater {rater_id}")
        if row[0] in FINAL_STATUSES:
            return row[0]
        rated, regular = db.execute(
            "SELECT count(DISTINCT r.item_id), count(DISTINCT r.item_id) FILTER (WHERE i.kind = 'regular')"
            " FROM ratings r JOIN study_items i ON i.id = r.item_id WHERE r.rater_id = ?", [rater_id]).fetchone()
        status = "completed" if regular else "screened_out"
        db.execute("INSERT INTO rater_flags (rater_id, flag, detail, created_at) VALUES (?, 'study_full', ?, ?)",
                   [rater_id, json.dumps({"rated": rated, "regular_rated": regular}), naive_utc(now)])
        set_rater_status(store, rater_id, status, now=now)
        return status

    return store.transaction(end)


def ended_early(store: Store, rater: Rater | int) -> bool:
    """Whether the rater's session ended because the study was full for them."""
    return store.cursor().execute("SELECT count(*) FROM rater_flags WHERE rater_id = ? AND flag = 'study_full'",
                                  [_rater_id(rater)]).fetchone()[0] > 0


def purge_expired(store: Store, now: datetime | None = None) -> int:
    """Delete leases that expired before `now`; optional housekeeping (they never count).
    A rater whose expired lease is purged can no longer submit that item late."""
    now = naive_utc(now)
    return len(store.transaction(lambda db: db.execute(
        "DELETE FROM leases WHERE expires_at <= ? RETURNING item_id", [now]).fetchall()))


# --------------------------------------------------------------------------------------------
# Submitting ratings


@dataclass(frozen=True)
class SubmitResult:
    stored: bool
    duplicate: bool
    seconds: float | None
    reason: str | None = None   # when not stored: 'duplicate', 'lease_lost' (no lease on the item), 'full'
    flags: tuple[str, ...] = ()


def _study_scales(db, study_id: int) -> dict[str, int]:
    """{dimension key: points} from the study definition (vt_core.crowd.studies: a list of
    {"key", "labels", ...}); a dimension without labels has 7 points; no dimensions at all
    means the defaults, adherence and quality."""
    row = db.execute("SELECT definition FROM studies WHERE id = ?", [study_id]).fetchone()
    if row is None:
        raise ValueError(f"no study {study_id}")
    definition = json.loads(row[0]) if isinstance(row[0], str) else (row[0] or {})
    dimensions = definition.get("dimensions") if isinstance(definition, dict) else None
    if not dimensions:
        return {d.key: d.points for d in DEFAULT_DIMENSIONS}
    if isinstance(dimensions, dict):
        return dict.fromkeys(dimensions, SCALE_MAX)
    scales = {}
    for d in dimensions:
        if isinstance(d, dict):
            labels = d.get("labels")
            scales[d.get("key") or d["name"]] = len(labels) if labels else SCALE_MAX
        else:
            scales[str(d)] = SCALE_MAX
    return scales


def _validate_values(values: Mapping[str, int], scales: Mapping[str, int]) -> dict[str, int]:
    dimensions = list(scales)
    unknown = sorted(set(values) - set(dimensions))
    if unknown:
        raise ValueError(f"unknown rating dimension(s) {', '.join(map(repr, unknown))}; "
                         f"this study rates {', '.join(dimensions)}")
    missing = [d for d in dimensions if d not in values]
    if missing:
        raise ValueError(f"missing rating for {', '.join(missing)}")
    clean = {}
    for dimension in dimensions:
        value, top = values[dimension], scales[dimension]
        if isinstance(value, bool) or not isinstance(value, int) or not SCALE_MIN <= value <= top:
            raise ValueError(f"{dimension} must be a whole number from {SCALE_MIN} to {top}, "
                             f"not {value!r}")
        clean[dimension] = value
    return clean


def submit(store: Store, rater_id: int, item_id: int, values: Mapping[str, int], *,
           now: datetime | None = None, min_seconds: float | None = None,
           expected: Mapping[str, int] | None = None, dimensions: Sequence[str] | None = None,
           k: int | None = None, reason: str | None = None) -> SubmitResult:
    """Store one rating (a row per dimension) in one transaction and release the lease.

    A second submit of the same (rater, item) stores nothing: ``duplicate=True``. ``seconds``
    is ``now - shown_at``. Flags 'too_fast' when seconds < min_seconds; for attention
    items, 'attention_failed' when a value differs from ``expected`` (default: the item's
    own); for gold items, 'gold_missed' when a value is more than GOLD_TOLERANCE points from
    the known answer. Values must cover exactly the study's dimensions (``dimensions``, default from the
    study definition, else adherence and quality), each from 1 to 7 (to the number of labels
    when the definition gives a dimension its own), or ValueError is raised before anything
    is written. A late submit on an expired lease is stored only if nobody took the
    lease over and, when ``k`` is given, the item still has room. A ``reason`` (free text, at most
    REASON_MAX_CHARS; blank means none) is stored with the rating, in the same transaction.
    """
    now = naive_utc(now)
    db = store.cursor()
    row = db.execute("SELECT study_id, status, kind FROM raters WHERE id = ?", [rater_id]).fetchone()
    if row is None:
        raise ValueError(f"no rater {rater_id}")
    study_id, status, rater_kind = row
    scales = dict.fromkeys(dimensions, SCALE_MAX) if dimensions else _study_scales(db, study_id)
    values = _validate_values(values, scales)
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > REASON_MAX_CHARS:
        raise ValueError(f"the reason has {len(reason):,} characters; at most {REASON_MAX_CHARS:,} are kept")
    if expected is not None:
        expected = dict(expected)

    def attempt(db, locked: bool) -> SubmitResult | None:
        if db.execute("SELECT 1 FROM ratings WHERE rater_id = ? AND item_id = ? LIMIT 1",
                      [rater_id, item_id]).fetchone():
            return SubmitResult(False, True, None, "duplicate")
        if status != "rating":
            raise ValueError(f"rater {rater_id} is not rating (status {status!r})")
        lease = db.execute("SELECT shown_at, expires_at FROM leases WHERE item_id = ? AND rater_id = ?",
                           [item_id, rater_id]).fetchone()
        item = db.execute("SELECT kind, expected FROM study_items WHERE id = ? AND study_id = ?",
                          [item_id, study_id]).fetchone()
        if item is None:
            raise ValueError(f"item {item_id} is not in this rater's study")
        if lease is None:
            return SubmitResult(False, False, None, "lease_lost")
        shown_at, expires_at = lease
        item_kind, item_expected = item
        if expires_at <= now and item_kind == "regular":
            if not locked:
                return None  # check the room under k with lease-taking held off
            if k is not None:
                load = db.execute(
                    "SELECT count(DISTINCT rater_id) FROM ("
                    " SELECT r.rater_id FROM ratings r JOIN raters ra ON ra.id = r.rater_id"
                    f"  WHERE r.item_id = ? AND ra.kind = ? AND {_FILLS_K}"
                    " UNION SELECT l.rater_id FROM leases l JOIN raters ra ON ra.id = l.rater_id"
                    f"  WHERE l.item_id = ? AND ra.kind = ? AND l.expires_at > ? AND l.rater_id <> ? AND {_FILLS_K}"
                    ") AS holders",
                    [item_id, rater_kind, item_id, rater_kind, now, rater_id]).fetchone()[0]
                if load >= k:
                    return SubmitResult(False, False, None, "full")
        seconds = (now - shown_at).total_seconds() if shown_at is not None else None
        db.execute("DELETE FROM leases WHERE item_id = ? AND rater_id = ?", [item_id, rater_id])
        insert_rows(
            db, "INSERT INTO ratings (study_id, rater_id, item_id, dimension, value, seconds, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [[study_id, rater_id, item_id, d, v, seconds, now] for d, v in values.items()])
        if reason is not None:
            db.execute("INSERT INTO rating_reasons (rater_id, item_id, reason, created_at) VALUES (?, ?, ?, ?)",
                       [rater_id, item_id, reason, now])
        flags = []
        if min_seconds is not None and seconds is not None and seconds < min_seconds:
            flags.append(("too_fast", {"item_id": item_id, "seconds": round(seconds, 3),
                                       "min_seconds": min_seconds}))
        if item_kind in ("attention", "gold"):
            want = expected if expected is not None else (
                json.loads(item_expected) if item_expected is not None else {})
            tolerance = 0 if item_kind == "attention" else GOLD_TOLERANCE
            if any(values.get(d) is None or abs(values[d] - v) > tolerance for d, v in want.items()):
                flags.append(("attention_failed" if item_kind == "attention" else "gold_missed", {
                    "item_id": item_id, "expected": want,
                    "given": {d: values.get(d) for d in want}}))
        for flag, detail in flags:
            db.execute("INSERT INTO rater_flags (rater_id, flag, detail, created_at)"
                       " VALUES (?, ?, ?, ?)", [rater_id, flag, json.dumps(detail), now])
        return SubmitResult(True, False, seconds, None, tuple(f for f, _ in flags))

    def store_rating(locked: bool) -> SubmitResult | None:
        try:
            return store.transaction(lambda db: attempt(db, locked))
        except KEY_TAKEN as exc:
            if "constraint" in str(exc).lower() or "duplicate key" in str(exc).lower():
                return SubmitResult(False, True, None, "duplicate")  # another tab won the key
            raise

    result = store_rating(False)
    if result is None:
        with store.lock(STUDY_LOCK, study_id):
            result = store_rating(True)
    return result


# --------------------------------------------------------------------------------------------
# Finishing


@dataclass(frozen=True)
class FinishResult:
    status: str      # 'completed' | 'failed_checks' | 'screened_out'
    code_key: str    # which of the study's completion codes applies (same names)
    attention_failures: int


def finish(store: Store, rater: Rater | int, *, now: datetime | None = None) -> FinishResult:
    """Close a rater's session: 'failed_checks' with two or more attention failures, else
    'completed' (a rater screened out earlier stays 'screened_out'). Idempotent."""
    rater_id = _rater_id(rater)
    db = store.cursor()
    row = db.execute("SELECT status FROM raters WHERE id = ?", [rater_id]).fetchone()
    if row is None:
        raise ValueError(f"no rater {rater_id}")
    failures = db.execute(
        "SELECT count(*) FROM rater_flags WHERE rater_id = ? AND flag = 'attention_failed'",
        [rater_id]).fetchone()[0]
    status = row[0]
    if status not in FINAL_STATUSES:
        status = "failed_checks" if failures >= ATTENTION_FAILURES_TO_FAIL else "completed"
        set_rater_status(store, rater_id, status, now=now)
    return FinishResult(status, status, failures)


def completion_url(platform: str, code: str | None, submit_to: str | None = None) -> str | None:
    """Where the end screen sends the rater. Prolific: the completion URL with the code.
    MTurk: the externalSubmit form target (POST assignmentId and the answers to it). Anonymous
    and simulated raters: None (show the code)."""
    if platform == "prolific":
        if not code:
            raise ValueError("Prolific needs a completion code")
        return PROLIFIC_COMPLETE_URL + quote(code, safe="")
    if platform == "mturk":
        return _check_submit_to(submit_to) + "/mturk/externalSubmit"
    if platform in ("anonymous", "llm"):
        return None
    raise ValueError(f"unknown platform {platform!r}")
