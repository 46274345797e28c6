"""Measuring the loop itself: worlds with planted faults (a brief, a draft prompt that lacks some rules,
personas and scenarios split into training and held-out, and deterministic fault checkers), an oracle
designer who marks what the checkers find, the designer loop run unchanged on them, and the figures that
say whether refinement lowered the held-out fault rate."""

from vt_core.benchmark.checkers import CHECKERS, Checker
from vt_core.benchmark.figures import (
    RECALL_KAPPA,
    PairedTest,
    bootstrap_difference,
    fault_figures,
    fault_rate,
    figures_text,
    kappa,
    overall_figures,
    paired_test,
    recall_figures,
)
from vt_core.benchmark.jobs import JOBS, submit_loop
from vt_core.benchmark.loop import (
    ACCEPT_SHARE,
    LoopRun,
    LoopSettings,
    get_loop_run,
    list_loop_runs,
    run_loop,
    supported,
)
from vt_core.benchmark.oracle import Marks, faults, mark_transcripts
from vt_core.benchmark.world import WORLDS, World, WorldError, load_world

__all__ = [
    "ACCEPT_SHARE",
    "bootstrap_difference",
    "Checker",
    "CHECKERS",
    "fault_figures",
    "fault_rate",
    "faults",
    "figures_text",
    "get_loop_run",
    "JOBS",
    "kappa",
    "list_loop_runs",
    "load_world",
    "LoopRun",
    "LoopSettings",
    "mark_transcripts",
    "Marks",
    "overall_figures",
    "paired_test",
    "PairedTest",
    "RECALL_KAPPA",
    "recall_figures",
    "run_loop",
    "submit_loop",
    "supported",
    "World",
    "WorldError",
    "WORLDS",
]
