"""The fault checkers of the worlds: deterministic functions over a conversation's turns, each with the
plain sentence of the rule it checks. A checker returns the indices of the bot turns that break its rule,
so that the oracle designer can mark exactly those turns and the figures can count conversations."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from vt_core.designer import Turn


@dataclass(frozen=True)
class Checker:
    """One planted fault: the rule it breaks, in a plain sentence, and a deterministic check of a
    conversation that returns the indices (in the whole conversation) of the bot turns that break it."""

    name: str
    rule: str  # the rule in a plain sentence: "Recommend at most three films in one reply."
    critique: str  # what the oracle designer writes on a bad turn, in its own words (not the rule's)
    fires: Callable[[list[Turn]], list[int]]


def _bot_turns(turns: list[Turn]) -> list[tuple[int, str]]:
    return [(i, t.content) for i, t in enumerate(turns) if t.role == "assistant"]


def _titles(text: str) -> list[str]:
    """Film titles as a reply names them: in double quotes, in *emphasis*, or as list items."""
    quoted = re.findall(r"[\"“]([^\"”]{2,60})[\"”]|\*([^*]{2,60})\*", text)
    listed = re.findall(r"^\s*(?:[-•*]|\d+[.)])\s+(.+)$", text, re.M)
    return [a or b for a, b in quoted] + listed


def too_many_films(turns: list[Turn]) -> list[int]:
    return [i for i, text in _bot_turns(turns) if len(set(_titles(text))) > 3]


CHECKERS: dict[str, Checker] = {c.name: c for c in (
    Checker("too_many_films", "Recommend at most three films in one reply.",
            "Way too many titles at once: I can't choose from a list this long.", too_many_films),
)}
