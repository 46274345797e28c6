"""A world with planted faults: the chatbot's brief and draft prompt, personas, scenarios split into
training and held-out, and the fault checkers that decide, without a model, whether a conversation shows
each fault. The data is a TOML file in worlds/; the checkers are Python functions (checkers.py) that the
file names, each with the plain sentence of the rule it checks."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vt_core.benchmark.checkers import CHECKERS, Checker

WORLDS_DIR = Path(__file__).parent / "worlds"
WORLDS = tuple(sorted(path.stem for path in WORLDS_DIR.glob("*.toml")))


class WorldError(ValueError):
    """A world that cannot be loaded; the message says why."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class PersonaSpec(_Spec):
    name: str = Field(min_length=1)
    attributes: dict[str, str]
    weight: float = Field(default=1.0, gt=0)


class ScenarioSpec(_Spec):
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    user_goal: str = Field(min_length=1)
    difficulty: Literal[1, 2, 3]
    split: Literal["train", "heldout"]


class WorldSpec(_Spec):
    name: str = Field(min_length=1)
    goal: str = Field(min_length=1)
    audience: str = Field(min_length=1)
    prompt: str = Field(min_length=1)  # the draft system prompt, lacking some of the rules
    checkers: list[str] = Field(min_length=1)  # names in checkers.CHECKERS
    personas: list[PersonaSpec] = Field(min_length=1)
    scenarios: list[ScenarioSpec] = Field(min_length=2)


@dataclass(frozen=True)
class World:
    name: str
    goal: str
    audience: str
    prompt: str
    personas: list[PersonaSpec]
    scenarios: list[ScenarioSpec]
    checkers: list[Checker]


def load_world(name: str, directory: Path = WORLDS_DIR) -> World:
    """The world `name` (a file name in `directory`, without .toml), its checkers resolved."""
    path = directory / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.toml")))
        raise WorldError(f"no world {name!r}; the worlds are: {known}")
    try:
        spec = WorldSpec.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise WorldError(f"{path.name}: {exc}") from None
    unknown = [c for c in spec.checkers if c not in CHECKERS]
    if unknown:
        raise WorldError(f"{path.name}: unknown checker(s) {', '.join(unknown)}")
    if {s.split for s in spec.scenarios} != {"train", "heldout"}:
        raise WorldError(f"{path.name}: a world needs training and held-out scenarios")
    return World(spec.name, spec.goal, spec.audience, spec.prompt, spec.personas, spec.scenarios,
                 [CHECKERS[c] for c in spec.checkers])
