"""A demo crowd study with simulated ratings, so the Statistics page has something to show.

Its transcripts are hand-written matched pairs (demo_study.json beside this module); its raters are
simulated (`simulate_raters`): seeded random numbers with a planted effect, stored through the same
functions the rater page calls, so every figure the page shows comes from the real assignment,
storage and analysis. Its name and description say that the ratings are simulated.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from vt_core.core.store import Store, naive_utc
from vt_core.crowd.assignment import (
    Identity,
    Rater,
    finish,
    next_item,
    record_comprehension,
    register_rater,
    submit,
)
from vt_core.crowd.items import add_check_items, import_items_jsonl, list_items
from vt_core.crowd.studies import Study, StudyError, create_study, get_study, parse_study, set_study_status

STUDY_DATA = Path(__file__).parent / "demo_study.json"
DEMO_STUDY_NAME = json.loads(STUDY_DATA.read_text())["study"]["name"]


# -- simulated raters --------------------------------------------------------------------------


@dataclass(frozen=True)
class Crowd:
    """How a group of simulated raters rates a regular item, per dimension: the latent score
    base + lift (under the `treated` condition) + the rater's effect (SD rater_sd, drawn once per
    rater) + the item's effect + noise, rounded and clipped to the scale."""

    base: Mapping[str, float]
    lift: Mapping[str, float] = field(default_factory=dict)
    treated: str = "tuned"
    rater_sd: float = 0.0
    noise_sd: float = 1.0


def simulate_raters(store: Store, study: Study, raters: Sequence[tuple[Identity, Crowd]], rng: np.random.Generator,
                    *, item_sd: float = 0.0, failing: Collection[str] = (), now: datetime) -> list[Rater]:
    """Each simulated rater, one after another, goes through the rater page's functions: register
    (kind 'llm' on platform 'llm', else 'human'), pass the comprehension check, rate every item the
    assignment hands them, finish. An item's effect (SD item_sd) is shared by every rater and by the
    items of its match key (the same scenario is as hard under every condition), so it cancels out of
    the paired comparison. Attention checks are answered as asked, except by the raters whose
    external id is in `failing`. The study must be open; everything drawn comes from `rng`."""
    d = study.definition
    scales = {dimension.key: len(dimension.labels) for dimension in d.dimensions}
    items = {item.id: item.match_key or item.id for item in list_items(store, study.id, kind="regular")}
    effects = {match: {key: rng.normal(0, item_sd) for key in scales} for match in dict.fromkeys(items.values())}
    conditions = [c.name for c in d.conditions]
    done = []
    for identity, crowd in raters:
        rater = register_rater(store, study.id, identity, kind="llm" if identity.platform == "llm" else "human",
                               conditions=conditions, seed=int(rng.integers(2**62)))
        record_comprehension(store, rater.id, True, d.comprehension.attempts, now=now)
        effect = {key: rng.normal(0, crowd.rater_sd) for key in scales}
        while item := next_item(store, rater, items_per_rater=d.items_per_rater, k=d.ratings_per_item,
                                lease_minutes=d.lease_minutes, now=now):
            if item.kind == "regular":
                lift = crowd.lift if item.condition == crowd.treated else {}
                latent = {key: crowd.base[key] + lift.get(key, 0.0) + effect[key] + effects[items[item.id]][key]
                          + rng.normal(0, crowd.noise_sd) for key in scales}
                values = {key: min(top, max(1, round(float(latent[key])))) for key, top in scales.items()}
            else:  # an attention check or gold item: the asked answers, or wrong ones
                wrong = identity.external_id in failing
                values = {key: (top + 1) // 2 for key, top in scales.items()} | {
                    key: value % scales[key] + 1 if wrong else value for key, value in item.expected.items()}
            seconds = float(6 + rng.gamma(2.0, 8.0))
            submit(store, rater.id, item.id, values, now=now + timedelta(seconds=seconds),
                   min_seconds=d.min_seconds_per_item, k=d.ratings_per_item)
            now += timedelta(seconds=seconds + 3)
        finish(store, rater, now=now)
        done.append(rater)
    return done


DEMO_SEED = 20261124
DEMO_HUMANS, DEMO_LLMS = 24, 4
DEMO_FAILING = "simulated-07"
# a modest lift in adherence under 'tuned', none in quality; LLM raters agree with each other more
DEMO_HUMAN_CROWD = Crowd(base={"adherence": 4.2, "quality": 4.8}, lift={"adherence": 0.7}, rater_sd=0.6)
DEMO_LLM_CROWD = Crowd(base={"adherence": 4.4, "quality": 5.0}, lift={"adherence": 0.6}, rater_sd=0.3, noise_sd=0.7)
DEMO_ITEM_SD = 0.5


def _jsonl(pair: dict, condition: str) -> str:
    """One item as a JSONL line: the pair's user turns, each answered by the condition's reply."""
    texts = [text for exchange in zip(pair["user"], pair[condition], strict=True) for text in exchange]
    return json.dumps({"messages": [{"role": ("user", "assistant")[i % 2], "content": text}
                                    for i, text in enumerate(texts)], "match_key": pair["match_key"]})


def is_demo_study(study: Study) -> bool:
    return study.name == DEMO_STUDY_NAME


def seed_demo_study(store: Store) -> Study:
    """Create the demo crowd study (matched baseline and tuned transcripts, attention checks,
    simulated human and LLM raters, one of whom fails the checks) and close it; if it exists
    already, leave it as it is and return it."""
    try:
        return get_study(store, DEMO_STUDY_NAME)
    except StudyError:
        pass
    demo = json.loads(STUDY_DATA.read_text())
    study = create_study(store, parse_study(demo["study"], str(STUDY_DATA)))
    for condition in (c.name for c in study.definition.conditions):
        import_items_jsonl(store, study, condition, [_jsonl(pair, condition) for pair in demo["pairs"]])
    add_check_items(store, study)
    study = set_study_status(store, study.id, "open")
    raters = ([(Identity("anonymous", f"simulated-{i:02d}"), DEMO_HUMAN_CROWD) for i in range(1, DEMO_HUMANS + 1)]
              + [(Identity("llm", f"simulated-llm-{i}"), DEMO_LLM_CROWD) for i in range(1, DEMO_LLMS + 1)])
    start = naive_utc() - timedelta(hours=3)
    simulate_raters(store, study, raters, np.random.default_rng(DEMO_SEED), item_sd=DEMO_ITEM_SD,
                    failing={DEMO_FAILING}, now=start)
    return set_study_status(store, study.id, "closed")
