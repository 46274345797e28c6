"""Simulated users as structured attributes, sampled with weights from a seed.

New personas start as drafts: proposed by the model for the project's audience and goal (one or two
structured calls), or drawn at random from ATTRIBUTES (on the demo model, whose proposals would be
meaningless, or when the designer asks for it). Drafts with the attributes or the name of another
persona are refused; the designer sets weights and pins and accepts the rest (`save_personas`).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field, create_model

from vt_core.core.llm import LLM
from vt_core.core.prompts import render
from vt_core.core.store import Store
from vt_core.designer.projects import current_version, get_project

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
PROPOSAL_CALLS = 2  # the first proposal, and one more for the personas refused as duplicates


@dataclass(frozen=True)
class Persona:
    id: int
    project_id: int
    name: str
    attributes: dict[str, str]
    weight: float
    pinned: bool
    description: str = ""

    def describe(self) -> str:
        """The persona as lines for the simulator's prompt."""
        lines = [f"- {key}: {value}" for key, value in self.attributes.items()]
        return "\n".join([self.description.strip(), *lines] if self.description.strip() else lines)


@dataclass(frozen=True)
class PersonaDraft:
    """A persona not stored yet: proposed or drawn, for the designer to weight, pin and accept."""

    name: str
    description: str
    attributes: dict[str, str]
    weight: float = 1.0
    pinned: bool = False


@dataclass(frozen=True)
class PersonaProposal:
    drafts: list[PersonaDraft]
    refused: list[str] = field(default_factory=list)  # why each refused draft was refused
    source: str = "model"  # "model" or "random"


_COLUMNS = "id, project_id, name, attributes, weight, pinned, description"


def _persona(row) -> Persona:
    return Persona(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6])


def add_persona(store: Store, project_id: int, name: str, attributes: dict[str, str],
                weight: float = 1.0, pinned: bool = False, description: str = "") -> Persona:
    if weight <= 0:
        raise ValueError("a persona's weight must be positive")
    persona_id = store.cursor().execute(
        "INSERT INTO personas (project_id, name, attributes, weight, pinned, description)"
        " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        [project_id, name.strip(), json.dumps(attributes), weight, pinned, description.strip()],
    ).fetchone()[0]
    return get_persona(store, persona_id)


def update_persona(store: Store, persona_id: int, *, name: str, attributes: dict[str, str],
                   weight: float, pinned: bool, description: str | None = None) -> Persona:
    """Change a persona; its description stays as it is unless one is given."""
    if weight <= 0:
        raise ValueError("a persona's weight must be positive")
    if description is None:
        description = get_persona(store, persona_id).description
    store.transaction(lambda db: db.execute(
        "UPDATE personas SET name = ?, attributes = ?, weight = ?, pinned = ?, description = ? WHERE id = ?",
        [name.strip(), json.dumps(attributes), weight, pinned, description.strip(), persona_id],
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


# -- drafts: checking, spread, saving ------------------------------------------------------------


def _combination(attributes: dict[str, str]) -> tuple:
    return tuple(sorted((key, value.strip().lower()) for key, value in attributes.items()))


def distinct(drafts: Iterable[PersonaDraft], existing: Iterable[Persona | PersonaDraft] = ()
             ) -> tuple[list[PersonaDraft], list[str]]:
    """The drafts that repeat neither the attributes nor the name of an existing persona or of an
    earlier draft, and why each of the others was refused."""
    names = {p.name.strip().lower() for p in existing}
    combinations = {_combination(p.attributes) for p in existing}
    kept, refused = [], []
    for draft in drafts:
        if draft.name.strip().lower() in names:
            refused.append(f"'{draft.name}': the name of another persona")
        elif _combination(draft.attributes) in combinations:
            refused.append(f"'{draft.name}': the same attributes as another persona")
        else:
            kept.append(draft)
            names.add(draft.name.strip().lower())
            combinations.add(_combination(draft.attributes))
    return kept, refused


def coverage(personas: Iterable[Persona | PersonaDraft]) -> dict[str, dict[str, int]]:
    """For each attribute, how many personas take each of its values: every value of ATTRIBUTES
    (0 when none does), then any other value written by hand."""
    personas = list(personas)
    result = {}
    for attribute, values in ATTRIBUTES.items():
        counts = Counter(p.attributes.get(attribute) for p in personas if p.attributes.get(attribute))
        result[attribute] = {**{value: counts.pop(value, 0) for value in values}, **counts}
    return result


def save_personas(store: Store, project_id: int, drafts: Iterable[PersonaDraft]) -> list[Persona]:
    """Store the drafts the designer accepted, in one transaction; a duplicate refuses them all."""
    drafts = list(drafts)
    kept, refused = distinct(drafts, list_personas(store, project_id))
    if refused:
        raise ValueError(f"not saved, duplicates: {'; '.join(refused)}")
    return store.transaction(lambda db: [
        add_persona(store, project_id, d.name, d.attributes, d.weight, d.pinned, d.description) for d in kept])


# -- the random draw -----------------------------------------------------------------------------


def draw_personas(project_id: int, n: int, seed: int, existing: Iterable[Persona | PersonaDraft] = ()
                  ) -> list[PersonaDraft]:
    """`n` drafts, each attribute drawn uniformly from ATTRIBUTES by a generator seeded with the
    project and `seed`; a combination already taken is drawn again. They have no description: their
    attributes say all there is."""
    rng = random.Random(f"personas:{project_id}:{seed}")
    existing = list(existing)
    first_number = len(existing) + 1
    drafts: list[PersonaDraft] = []
    for _ in range(50 * n):
        if len(drafts) == n:
            break
        a = {key: rng.choice(values) for key, values in ATTRIBUTES.items()}
        draft = PersonaDraft(f"P{first_number + len(drafts)}: {a['expertise']}, {a['mood']}, {a['verbosity']}", "", a)
        drafts += distinct([draft], [*existing, *drafts])[0]
    return drafts


def generate_personas(store: Store, project_id: int, n: int, seed: int) -> list[Persona]:
    """`n` new personas drawn at random (see `draw_personas`), stored at once."""
    return save_personas(store, project_id, draw_personas(project_id, n, seed, list_personas(store, project_id)))


# -- proposing personas with the model -----------------------------------------------------------


def _proposal_schema(n: int) -> type[BaseModel]:
    """The reply schema: a name, a description and one listed value per attribute (an enum, which
    llama.cpp's grammar can enforce). `maxItems` is a hint for constrained decoding only."""
    item = create_model("PersonaItem", name=(str, Field(min_length=1)), description=(str, Field(min_length=1)),
                        **{key: (Literal[tuple(values)], ...) for key, values in ATTRIBUTES.items()})
    return create_model("PersonaReply",
                        personas=(list[item], Field(json_schema_extra={"minItems": 1, "maxItems": n})))


def _ask(llm: LLM, goal: str, audience: str, prompt: str, n: int, taken: list[Persona | PersonaDraft],
         seed: int) -> list[PersonaDraft]:
    taken_text = "" if not taken else (
        "\nThese personas exist already; write others, with other names and other combinations of values:\n"
        + "\n".join(f"- {p.name}: " + ", ".join(f"{k}={v}" for k, v in p.attributes.items()) for p in taken) + "\n")
    content = render("personas", goal=goal.strip(), audience=audience.strip() or "(not given)",
                     prompt=prompt.strip(), n=n, taken=taken_text,
                     attributes="\n".join(f"- {key}: {' | '.join(values)}" for key, values in ATTRIBUTES.items()),
                     example=", ".join(f'"{key}": "{values[0]}"' for key, values in ATTRIBUTES.items()))
    reply = llm.structured([{"role": "user", "content": content}], _proposal_schema(n), temperature=0.9,
                           seed=seed, max_tokens=150 + 160 * n)
    return [PersonaDraft(item.name.strip(), item.description.strip(), {key: getattr(item, key) for key in ATTRIBUTES})
            for item in reply.personas[:n]]


def propose_personas(llm: LLM, goal: str, audience: str, prompt: str, n: int, *,
                     existing: Iterable[Persona | PersonaDraft] = (), seed: int = 0) -> PersonaProposal:
    """Up to `n` drafts the model writes for the audience and goal, asked to spread them across the
    attributes. Duplicates (of each other or of `existing`) are refused, and the model is asked once
    more for as many as were refused; fewer than `n` may come back. Nothing is stored."""
    if n < 1:
        raise ValueError("ask for at least one persona")
    existing = list(existing)
    drafts: list[PersonaDraft] = []
    refused: list[str] = []
    for call in range(PROPOSAL_CALLS):
        missing = n - len(drafts)
        if missing == 0:
            break
        kept, dropped = distinct(_ask(llm, goal, audience, prompt, missing, [*existing, *drafts],
                                      seed + 1000 * call), [*existing, *drafts])
        drafts += kept
        refused += dropped
    return PersonaProposal(drafts, refused, "model")


def persona_drafts(store: Store, llm: LLM, project_id: int, n: int, *, seed: int = 0,
                   random_draw: bool = False) -> PersonaProposal:
    """Drafts for the project: proposed by the model from its goal, audience and current prompt, or
    drawn at random when `random_draw` is asked for or the model is the demo model."""
    existing = list_personas(store, project_id)
    if random_draw or llm.backend.demo:
        return PersonaProposal(draw_personas(project_id, n, seed, existing), [], "random")
    project = get_project(store, project_id)
    return propose_personas(llm, project.goal, project.audience, current_version(store, project_id).text, n,
                            existing=existing, seed=seed)


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
