"""Launching a study: the rater's full link, the places to request, the minutes a rater is expected to
take with the hourly pay a reward gives, and the checklist before the study opens.

The expected minutes come from the people who have already rated, once enough have finished (the small
first batch Prolific recommends as a pilot): their median seconds per item. Until then they are estimated
from the items' length: reading at READING_WPM words a minute, SECONDS_PER_QUESTION for each question,
and SETUP_MINUTES for the consent, the instructions and the comprehension check. Simulated (LLM) pilot
raters take the seconds their model takes, which say nothing about people, so they never count here.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode, urlsplit

from vt_core.core.store import Store, naive_utc
from vt_core.crowd.studies import MIN_ATTENTION_CHECKS, PAIR_CONDITION, Study, StudyError

READING_WPM = 200
SECONDS_PER_QUESTION = 6
SETUP_MINUTES = 2.0
PEOPLE_FOR_TIMING = 3  # people who finished before their median replaces the estimate
CURRENCIES = ("GBP", "USD")
SYMBOLS = {"GBP": "£", "USD": "$"}
# Prolific's enforced minimum and its recommended reward per hour (researcher help, "Prolific's payment
# principles"); other platforms set none, and the same figures are a fair guide there.
MINIMUM_HOURLY = {"GBP": 6.00, "USD": 8.00}
FAIR_HOURLY = {"GBP": 9.00, "USD": 12.00}
# Prolific replaces these placeholders in the study URL with the participant's, the study's and the
# session's ids.
PROLIFIC_PLACEHOLDERS = {"PROLIFIC_PID": "{{%PROLIFIC_PID%}}", "STUDY_ID": "{{%STUDY_ID%}}",
                         "SESSION_ID": "{{%SESSION_ID%}}"}


def rater_url(base_url: str, token: str, platform: str) -> str:
    """The full link raters open: this app's public address, the study's token and, for Prolific, the
    placeholders it fills in (MTurk appends its own parameters; anonymous raters get an id on arrival)."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise StudyError(f"the public address must be an http:// or https:// URL, not {base_url!r}")
    query = urlencode({"study": token})
    if platform == "prolific":  # the braces must stay as they are for Prolific to find them
        query += "".join(f"&{name}={placeholder}" for name, placeholder in PROLIFIC_PLACEHOLDERS.items())
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}/?{query}"


def places_needed(regular_items: int, ratings_per_item: int, items_per_rater: int) -> int:
    """Raters needed for every regular item to get its k ratings: each rates `items_per_rater` different
    items (or every item, if there are fewer), and an item needs k different raters."""
    if regular_items == 0:
        return 0
    per_rater = min(items_per_rater, regular_items)
    return max(ratings_per_item, math.ceil(regular_items * ratings_per_item / per_rater))


@dataclass(frozen=True)
class Timing:
    """How long a rater is expected to take. `basis` is "people" (the median seconds per item of
    `people` who finished) or "length" (the estimate from the items' words)."""

    minutes: float
    seconds_per_item: float
    items: int  # items a rater sees: regular ones and every check
    basis: str
    people: int


def _words(turns_json: str) -> int:
    return sum(len(turn["content"].split()) for turn in json.loads(turns_json))


def expected_timing(store: Store, study: Study) -> Timing:
    definition = study.definition
    db = store.cursor()
    rows = db.execute("SELECT id, kind, turns FROM study_items WHERE study_id = ?", [study.id]).fetchall()
    sides: dict[int, int] = {}  # a side-by-side item's words are its two conversations'
    for item_id, turns in db.execute("SELECT s.item_id, CAST(s.turns AS VARCHAR) FROM study_item_sides s"
                                     " JOIN study_items i ON i.id = s.item_id WHERE i.study_id = ?",
                                     [study.id]).fetchall():
        sides[item_id] = sides.get(item_id, 0) + _words(turns)
    regular = [_words(turns) + sides.get(item_id, 0) for item_id, kind, turns in rows if kind == "regular"]
    checks = sum(kind != "regular" for _, kind, _ in rows)
    items = min(definition.items_per_rater, len(regular)) + checks
    finished = db.execute("SELECT count(*) FROM raters WHERE study_id = ? AND kind = 'human' AND status = 'completed'",
                          [study.id]).fetchone()[0]
    if finished >= PEOPLE_FOR_TIMING:
        seconds = [s for (s,) in db.execute(
            "SELECT max(r.seconds) FROM ratings r JOIN raters ra ON ra.id = r.rater_id WHERE r.study_id = ?"
            " AND ra.kind = 'human' AND ra.status = 'completed' AND r.seconds IS NOT NULL"
            " GROUP BY r.rater_id, r.item_id", [study.id]).fetchall()]
        per_item, basis = statistics.median(seconds), "people"
    else:
        words = statistics.mean(regular) if regular else 0.0
        per_item, basis = words / READING_WPM * 60 + SECONDS_PER_QUESTION * len(definition.dimensions), "length"
    return Timing(SETUP_MINUTES + items * per_item / 60, per_item, items, basis, finished)


@dataclass(frozen=True)
class Pay:
    reward_cents: int
    currency: str
    minutes: float

    @property
    def hourly(self) -> float:
        return self.reward_cents / 100 / self.minutes * 60

    @property
    def level(self) -> str:
        """"below minimum" (Prolific refuses it), "below fair" (under Prolific's recommendation) or "fair"."""
        if self.hourly < MINIMUM_HOURLY[self.currency]:
            return "below minimum"
        return "below fair" if self.hourly < FAIR_HOURLY[self.currency] else "fair"

    def text(self) -> str:
        symbol = SYMBOLS[self.currency]
        return (f"{symbol}{self.reward_cents / 100:.2f} for about {self.minutes:.0f} minutes is "
                f"{symbol}{self.hourly:.2f} an hour")


@dataclass(frozen=True)
class LaunchSettings:
    """What the researcher settled for the launch; None where they have not (the estimate applies)."""

    places: int | None = None
    reward_cents: int | None = None
    currency: str = "GBP"
    minutes: float | None = None
    previewed_at: datetime | None = None


def launch_settings(store: Store, study_id: int) -> LaunchSettings:
    row = store.cursor().execute(
        "SELECT places, reward_cents, currency, minutes, previewed_at FROM study_launch WHERE study_id = ?",
        [study_id]).fetchone()
    return LaunchSettings(*row) if row else LaunchSettings()


def save_launch(store: Store, study_id: int, *, places: int | None, reward_cents: int | None, currency: str,
                minutes: float | None) -> LaunchSettings:
    if currency not in CURRENCIES:
        raise StudyError(f"the currency must be one of {', '.join(CURRENCIES)}, not {currency!r}")
    for name, value in (("places", places), ("reward", reward_cents), ("minutes", minutes)):
        if value is not None and value <= 0:
            raise StudyError(f"the {name} must be more than zero")
    store.transaction(lambda db: db.execute(
        "INSERT INTO study_launch (study_id, places, reward_cents, currency, minutes, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (study_id) DO UPDATE SET places = excluded.places,"
        " reward_cents = excluded.reward_cents, currency = excluded.currency, minutes = excluded.minutes,"
        " updated_at = excluded.updated_at",
        [study_id, places, reward_cents, currency, minutes, naive_utc()]))
    return launch_settings(store, study_id)


def record_preview(store: Store, study_id: int, when: datetime) -> None:
    """The researcher walked the rater flow to its end as a preview (the checklist's "link tested")."""
    store.transaction(lambda db: db.execute(
        "INSERT INTO study_launch (study_id, previewed_at) VALUES (?, ?)"
        " ON CONFLICT (study_id) DO UPDATE SET previewed_at = excluded.previewed_at", [study_id, when]))


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def checklist(store: Store, study: Study) -> list[Check]:
    """What should hold before the study opens to raters, each with what was found."""
    definition = study.definition
    db = store.cursor()
    counts = dict(db.execute("SELECT condition, count(*) FROM study_items WHERE study_id = ? AND kind = 'regular'"
                             " GROUP BY condition", [study.id]).fetchall())
    attention = db.execute("SELECT count(*) FROM study_items WHERE study_id = ? AND kind = 'attention'",
                           [study.id]).fetchone()[0]
    piloted = db.execute("SELECT count(*) FROM raters WHERE study_id = ? AND kind = 'llm' AND status = 'completed'",
                         [study.id]).fetchone()[0]
    settings = launch_settings(store, study.id)
    empty = [c.name for c in definition.conditions if not counts.get(c.name)]
    codes = definition.completion_codes
    pairs = counts.get(PAIR_CONDITION, 0)
    checks = [
        Check("Side-by-side pairs", pairs > 0, f"{pairs} pairs" if pairs else "no pairs yet")
        if definition.side_by_side else
        Check("Items in every condition", not empty,
              f"no items yet in {', '.join(empty)}" if empty else
              ", ".join(f"{c.name}: {counts[c.name]}" for c in definition.conditions)),
        Check("Completion codes set", True,
              "not used: anonymous raters get no code" if definition.platform == "anonymous" else
              f"completed {codes.completed}, screened out {codes.screened_out}, failed checks {codes.failed_checks}; "
              "the platform must have the same codes"),
        Check("Attention checks present", attention >= MIN_ATTENTION_CHECKS,
              f"{attention} in the study" + ("" if attention >= MIN_ATTENTION_CHECKS else
                                             f"; add them (at least {MIN_ATTENTION_CHECKS})")),
        Check("Pilot run", piloted > 0,
              f"{piloted} simulated rater{'s' * (piloted != 1)} finished" if piloted else
              "no simulated rater has finished the study yet"),
        Check("Link tested", settings.previewed_at is not None,
              f"previewed as a rater on {settings.previewed_at:%Y-%m-%d %H:%M}" if settings.previewed_at else
              "walk through it with Preview as rater"),
    ]
    if definition.platform == "prolific":
        pay = launch_pay(store, study, settings)
        checks.append(Check("Pay at least Prolific's minimum", pay is not None and pay.level != "below minimum",
                            "set the reward per rater" if pay is None else pay.text()))
    return checks


def launch_pay(store: Store, study: Study, settings: LaunchSettings | None = None) -> Pay | None:
    """The pay the saved reward gives for the researcher's minutes, or else the expected ones."""
    settings = settings or launch_settings(store, study.id)
    if settings.reward_cents is None:
        return None
    minutes = settings.minutes or expected_timing(store, study).minutes
    return Pay(settings.reward_cents, settings.currency, minutes)
