"""Simulated users as structured attributes, sampled with weights from a seed."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from vt_core.core.store import Store

# The attribute values a generated persona is drawn from; a designer may write any others.
ATTRIBUTES: dict[str, list[str]] = {
    "goal": ["get a quick answer", "explore the options", "solve a specific problem",
             "test what the bot will do", "be entertained"],
    "expertise": ["novice", "intermediate", "expert"],
    "verbosity": ["terse", "average", "chatty"],
    "patience": ["impatient", "patient"],
    "mood": ["neutral", "friendly", "frustrated", "sceptical"],
    "style": ["casual", "formal", "typos and slang"],
}


@dataclass(frozen=True)
class Persona:
    id: int
    project_id: int
    name: str
    attributes: dict[str, str]
    weight: float
    pinned: bool

    def describe(self) -> str:
        """The persona as lines for the simulator's prompt."""
        return "\n".join(f"- {key}: {value}" for key, value in self.attributes.items())


_COLUMNS = "id, project_id, name, attributes, weight, pinned"


def _persona(row) -> Persona:
    return Persona(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5])


def add_persona(store: Store, project_id: int, name: str, attributes: dict[str, str],
                weight: float = 1.0, pinned: bool = False) -> Persona:
    if weight <= 0:
        raise ValueError("a persona's weight must be positive")
    persona_id = store.cursor().execute(
        "INSERT INTO personas (project_id, name, attributes, weight, pinned) VALUES (?, ?, ?, ?, ?) RETURNING id",
        [project_id, name.strip(), json.dumps(attributes), weight, pinned],
    ).fetchone()[0]
    return get_persona(store, persona_id)


def update_persona(store: Store, persona_id: int, *, name: str, attributes: dict[str, str],
                   weight: float, pinned: bool) -> Persona:
    if weight <= 0:
        raise ValueError("a persona's weight must be positive")
    store.transaction(lambda db: db.execute(
        "UPDATE personas SET name = ?, attributes = ?, weight = ?, pinned = ? WHERE id = ?",
        [name.strip(), json.dumps(attributes), weight, pinned, persona_id],
    ))
    return get_persona(store, persona_id)


def get_persona(store: Store, persona_id: int) -> Persona:
    row = store.cursor().execute(f"SELECT {_COLUMNS} FROM personas WHERE id = ?", [persona_id]).fetchone()
    if row is None:
        raise ValueError(f"no persona {persona_id}")
    return _persona(row)


def list_personas(store: Store, project_id: int, *, include_archived: bool = False) -> list[Persona]:
    """The project's personas, oldest first; archived ones (left out of new plans) only with `include_archived`."""
    rows = store.cursor().execute(
        f"SELECT {_COLUMNS} FROM personas WHERE project_id = ? AND (archived_at IS NULL OR ?) ORDER BY id",
        [project_id, include_archived]
    ).fetchall()
    return [_persona(row) for row in rows]


def generate_personas(store: Store, project_id: int, n: int, seed: int) -> list[Persona]:
    """`n` new personas, each attribute drawn uniformly from ATTRIBUTES by a seeded generator."""
    rng = random.Random(f"personas:{project_id}:{seed}")
    existing = len(list_personas(store, project_id))
    created = []
    for i in range(n):
        attributes = {key: rng.choice(values) for key, values in ATTRIBUTES.items()}
        name = f"P{existing + i + 1}: {attributes['expertise']}, {attributes['mood']}, {attributes['verbosity']}"
        created.append(add_persona(store, project_id, name, attributes))
    return created


def assign_personas(personas: list[Persona], n: int, seed: int) -> list[Persona]:
    """One persona per conversation: every pinned persona at least once, the rest drawn with
    replacement in proportion to their weights, in a shuffled order fixed by `seed`."""
    if not personas:
        raise ValueError("the project has no personas")
    rng = random.Random(f"assign:{seed}")
    pinned = [p for p in personas if p.pinned][:n]
    drawn = rng.choices(personas, weights=[p.weight for p in personas], k=n - len(pinned))
    chosen = pinned + drawn
    rng.shuffle(chosen)
    return chosen
