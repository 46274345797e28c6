"""Measuring the loop itself: worlds with planted faults (a brief, a draft prompt that lacks some rules,
personas and scenarios split into training and held-out, and deterministic fault checkers), an oracle
designer who marks what the checkers find, the designer loop run unchanged on them, and the figures that
say whether refinement lowered the held-out fault rate."""

from vt_core.benchmark.checkers import CHECKERS, Checker
from vt_core.benchmark.world import WORLDS, World, WorldError, load_world

__all__ = [
    "Checker",
    "CHECKERS",
    "load_world",
    "World",
    "WorldError",
    "WORLDS",
]
