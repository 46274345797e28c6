"""How long work tells its caller how far it got, the callbacks every workflow takes, and how it is
told to stop."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int], None]  # (done, total)
StageProgress = Callable[[str, int, int], None]  # (stage, done, total): work in several stages


def in_stage(progress: StageProgress | None, stage: str) -> Progress | None:
    """The `Progress` of one stage of work that reports a `StageProgress`."""
    return (lambda done, total: progress(stage, done, total)) if progress else None


class Cancelled(Exception):
    """The work was asked to stop (a job cancelled by the person who started it). `kept` is what had
    finished, when the work that raised it says."""

    def __init__(self, message: str = "the work was cancelled", kept: object = None):
        super().__init__(message)
        self.kept = kept
