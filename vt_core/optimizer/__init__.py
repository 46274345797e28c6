"""The one optimizer of Visionary Tuning, shared by the designer's refinement and the critic's taste
tuning: proposing patterns from marks, writing candidates through the guards, and the loop that
keeps the best."""

from vt_core.optimizer.loop import Attempt, Brief, Optimized, Round, Score, Task, optimize
from vt_core.optimizer.proposer import MAX_PROPOSED, PATTERN_SOURCES, PROPOSER_MAX_TOKENS, dedupe, propose, similarity
from vt_core.optimizer.writer import Change, Draft, Writer, check_draft, restore_locked

__all__ = [
    "Attempt", "Brief", "Change", "check_draft", "dedupe", "Draft", "MAX_PROPOSED", "optimize", "Optimized",
    "PATTERN_SOURCES", "propose", "PROPOSER_MAX_TOKENS", "restore_locked", "Round", "Score", "similarity", "Task",
    "Writer",
]
