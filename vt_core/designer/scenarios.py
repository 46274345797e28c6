"""Scenarios: the situations simulated users are put in during self-play.

The system proposes them from the project goal and the draft prompt (stressing the prompt's
rules alone and in combination, at graded difficulty, including situations the prompt does not
cover yet); the designer edits them and adds her own. Each scenario is either a training
scenario or a held-out one, so refinement can be checked on situations it did not tune for.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from vt_core.core.llm import LLM
from vt_core.core.prompts import render
from vt_core.core.store import Store

SPLITS = ("train", "heldout")
SOURCES = ("generated", "designer")
DIFFICULTIES = (1, 2, 3)  # 1 plain, 2 tricky, 3 adversarial or several rules at once


@dataclass(frozen=True)
class Scenario:
    id: int
    project_id: int
    title: str
    description: str  # the situation the simulated user is in
    user_goal: str
    difficulty: int  # 1-3
    rules: list[str]  # the prompt rules it stresses
    covered: bool  # False: a situation the prompt does not cover yet
    split: str  # "train" or "heldout"
    source: str  # "generated" or "designer"


# One proposed scenario as the model writes it. No docstring: it would be sent in the schema.
class ScenarioDraft(BaseModel):
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    user_goal: str = Field(min_length=1)
    difficulty: Literal[1, 2, 3]  # an enum, which llama.cpp's grammar can enforce (a range it cannot)
    rules: list[str]
    covered: bool


_COLUMNS = "id, project_id, title, description, user_goal, difficulty, rules, covered, split, source"
_EDITABLE = ("title", "description", "user_goal", "difficulty", "rules", "covered", "split", "source")


def _scenario(row) -> Scenario:
    return Scenario(*row[:6], json.loads(row[6]), *row[7:])


def _check(fields: dict) -> None:
    """Raise ValueError for a field value the scenarios table or the workflow cannot take."""
    for name in ("title", "description", "user_goal"):
        if name in fields and not str(fields[name]).strip():
            raise ValueError(f"a scenario's {name.replace('_', ' ')} cannot be empty")
    if "difficulty" in fields and fields["difficulty"] not in DIFFICULTIES:
        raise ValueError(f"difficulty must be 1, 2 or 3, not {fields['difficulty']!r}")
    if "split" in fields and fields["split"] not in SPLITS:
        raise ValueError(f"split must be 'train' or 'heldout', not {fields['split']!r}")
    if "source" in fields and fields["source"] not in SOURCES:
        raise ValueError(f"source must be 'generated' or 'designer', not {fields['source']!r}")


def _column_value(name: str, value):
    if name == "rules":
        return json.dumps([str(rule).strip() for rule in value if str(rule).strip()])
    if name in ("title", "description", "user_goal"):
        return value.strip()
    return value


def add_scenario(store: Store, project_id: int, *, title: str, description: str, user_goal: str,
                 difficulty: int, rules=(), covered: bool = True, split: str = "train",
                 source: str = "designer") -> Scenario:
    fields = dict(title=title, description=description, user_goal=user_goal, difficulty=difficulty,
                  rules=rules, covered=covered, split=split, source=source)
    _check(fields)
    names = list(fields)
    scenario_id = store.cursor().execute(
        f"INSERT INTO scenarios (project_id, {', '.join(names)}) VALUES (?{', ?' * len(names)}) RETURNING id",
        [project_id, *(_column_value(name, fields[name]) for name in names)],
    ).fetchone()[0]
    return get_scenario(store, scenario_id)


def update_scenario(store: Store, scenario_id: int, **fields) -> Scenario:
    """Change any of title, description, user_goal, difficulty, rules, covered, split, source."""
    unknown = sorted(set(fields) - set(_EDITABLE))
    if unknown:
        raise ValueError(f"cannot update scenario field(s) {', '.join(unknown)}; editable: {', '.join(_EDITABLE)}")
    get_scenario(store, scenario_id)
    _check(fields)
    if fields:
        names = list(fields)  # only names from _EDITABLE reach the statement
        store.transaction(lambda db: db.execute(
            f"UPDATE scenarios SET {', '.join(f'{name} = ?' for name in names)} WHERE id = ?",
            [*(_column_value(name, fields[name]) for name in names), scenario_id],
        ))
    return get_scenario(store, scenario_id)


def get_scenario(store: Store, scenario_id: int) -> Scenario:
    row = store.cursor().execute(f"SELECT {_COLUMNS} FROM scenarios WHERE id = ?", [scenario_id]).fetchone()
    if row is None:
        raise ValueError(f"no scenario {scenario_id}")
    return _scenario(row)


def list_scenarios(store: Store, project_id: int, split: str | None = None, *,
                   include_archived: bool = False) -> list[Scenario]:
    """The project's scenarios (of one split, if given), oldest first; archived ones (left out of new
    plans) only with `include_archived`."""
    if split is not None:
        _check({"split": split})
    rows = store.cursor().execute(
        f"SELECT {_COLUMNS} FROM scenarios WHERE project_id = ? AND (CAST(? AS VARCHAR) IS NULL OR split = ?)"
        " AND (archived_at IS NULL OR ?) ORDER BY id",
        [project_id, split, split, include_archived],
    ).fetchall()
    return [_scenario(row) for row in rows]


# -- proposing scenarios -------------------------------------------------------------------------


def _proposal_schema(n: int) -> type[BaseModel]:
    """The reply schema. `maxItems` is a hint for constrained decoding only (llama.cpp enforces it,
    so a small model cannot ramble on); validation accepts longer lists, which are cut to n."""

    class ScenarioProposal(BaseModel):  # noqa: D101 - a docstring would be sent in the schema
        scenarios: list[ScenarioDraft] = Field(json_schema_extra={"minItems": 1, "maxItems": n})

    return ScenarioProposal


def propose_scenarios(llm: LLM, goal: str, prompt: str, n: int, *, seed: int = 0) -> list[ScenarioDraft]:
    """Up to `n` scenarios that stress the prompt's rules, from one structured call.

    The model may return fewer than `n` (that is accepted: the caller gets what it wrote) or
    more (the list is cut to the first `n`). Drafts are not stored; see `save_drafts`.
    """
    if n < 1:
        raise ValueError("ask for at least one scenario")
    messages = [{"role": "user", "content": render("scenarios", goal=goal.strip(), prompt=prompt.strip(), n=n)}]
    reply = llm.structured(messages, _proposal_schema(n), temperature=0.7, seed=seed,
                           max_tokens=200 + 220 * n)
    return list(reply.scenarios[:n])


def _heldout_indices(count: int, fraction: float, seed: int) -> set[int]:
    """Which of `count` scenarios are held out: round(count * fraction) of them, at least one when
    count >= 2 and fraction > 0, never all; chosen by a generator seeded with `seed`."""
    if count < 2 or fraction <= 0:
        return set()
    k = min(max(1, round(count * fraction)), count - 1)
    return set(random.Random(f"heldout:{seed}").sample(range(count), k))


def save_drafts(store: Store, project_id: int, drafts: list[ScenarioDraft], heldout_fraction: float = 0.25,
                seed: int = 0) -> list[Scenario]:
    """Store proposed scenarios as 'generated', assigning train / held-out splits from `seed`."""
    if not 0 <= heldout_fraction <= 1:
        raise ValueError(f"heldout_fraction must be between 0 and 1, not {heldout_fraction}")
    for draft in drafts:  # check them all before storing any
        _check(draft.model_dump())
    heldout = _heldout_indices(len(drafts), heldout_fraction, seed)
    return [
        add_scenario(store, project_id, title=d.title, description=d.description, user_goal=d.user_goal,
                     difficulty=d.difficulty, rules=d.rules, covered=d.covered,
                     split="heldout" if i in heldout else "train", source="generated")
        for i, d in enumerate(drafts)
    ]
