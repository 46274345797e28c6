"""Where a project stands in the designer's loop, and the step to take next (the Overview page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vt_core.core.store import Store
from vt_core.designer.annotations import current_annotations
from vt_core.designer.patterns import list_patterns
from vt_core.designer.personas import list_personas
from vt_core.designer.projects import get_project, versions
from vt_core.designer.refinement import leaderboard, list_refine_runs, pass_rate
from vt_core.designer.scenarios import list_scenarios
from vt_core.designer.selfplay import list_selfplay_runs
from vt_core.designer.transcripts import list_transcripts

@dataclass(frozen=True)
class NextStep:
    step: str  # the step of the loop, named as its page: setup, selfplay, review, patterns or refine
    why: str  # one sentence: what to do there


@dataclass(frozen=True)
class ProjectStatus:
    project_id: int
    name: str
    versions: int
    personas: int
    scenarios: int
    selfplay_runs: int  # the designer's own runs, not those refinement played
    transcripts: int  # of those runs
    marked: int  # transcripts with at least one current mark
    candidate_patterns: int
    accepted_patterns: int
    refinements: int
    last_refinement_at: datetime | None
    last_refinement_status: str | None
    best_heldout_pass: float | None  # the best held-out pass rate of the last refinement's candidates
    pending_candidates: int  # evaluated candidates of a finished run on the current prompt, not approved
    current_pass: float | None  # accepted patterns on the judged transcripts of the current version
    on_current: int  # transcripts of the current version
    current_judged: int  # of those, transcripts with a verdict of an accepted pattern
    current_train_pass: float | None  # the current prompt's scores in refinement: as a baseline or as
    current_heldout_pass: float | None  # the candidate it was approved from (newest first)
    refined_current: bool  # the last refinement run refined the current prompt

    @property
    def next_step(self) -> NextStep:
        """The first of: a refinement's candidates to decide on; personas and scenarios to write; the
        current prompt to play (it has no transcripts yet); transcripts to mark; marks to turn into
        patterns; patterns to accept; the current prompt to refine; else play it again, for failures
        not seen yet."""
        if self.pending_candidates:
            return NextStep("refine", f"Compare the {self.pending_candidates} candidate prompt(s) of the last "
                                   "refinement with the current one, and approve the best or leave them.")
        if not self.personas or not self.scenarios:
            return NextStep("setup", "Write or generate personas and scenarios for the simulated users.")
        if not self.on_current:
            return NextStep("selfplay", "Let simulated users talk to the bot under the current prompt.")
        if self.marked < self.transcripts:
            return NextStep("review", f"Mark what is good and bad in the {self.transcripts - self.marked} "
                                   "unmarked transcript(s).")
        if not self.candidate_patterns and not self.accepted_patterns:
            return NextStep("patterns", "Turn your marks into patterns: behaviours to keep and to avoid.")
        if not self.accepted_patterns:
            return NextStep("patterns", "Test the candidate patterns against your labels and accept those that hold.")
        if not self.refined_current:
            return NextStep("refine", "Let the system write and test candidate prompts against your accepted "
                                   "patterns.")
        return NextStep("selfplay", "Play the current prompt again to look for failures not seen yet.")


def project_status(store: Store, project_id: int) -> ProjectStatus:
    """Counts of the project's versions, runs, transcripts, marks, patterns and refinements, and the
    pass rate of its current prompt; its `next_step` follows from them."""
    project = get_project(store, project_id)
    runs = {r.id for r in list_selfplay_runs(store, project_id)}
    transcripts = [t for t in list_transcripts(store, project_id) if t.run_id in runs]
    marked = {a.transcript_id for a in current_annotations(store, project_id=project_id)} & {t.id for t in transcripts}
    patterns = list_patterns(store, project_id, status=("candidate", "accepted"))
    accepted = [p for p in patterns if p.status == "accepted"]
    refinements = list_refine_runs(store, project_id)
    last = refinements[0] if refinements else None
    board = leaderboard(store, last.id) if last else []
    heldout = [c.heldout_pass for c in board if c.status != "rejected" and c.heldout_pass is not None]
    pending = sum(c.status == "evaluated" for c in board) \
        if last and last.status == "done" and last.parent_version_id == project.current_version_id else 0
    on_current = [t.id for t in transcripts if t.version_id == project.current_version_id]
    current_pass, _ = pass_rate(store, on_current, accepted)
    judged = store.cursor().execute(
        "SELECT count(DISTINCT transcript_id) FROM judgements WHERE transcript_id = ANY(CAST(? AS BIGINT[]))"
        " AND pattern_id = ANY(CAST(? AS BIGINT[]))", [on_current, [p.id for p in accepted]]).fetchone()[0]
    refined = store.cursor().execute(
        "SELECT c.train_pass, c.heldout_pass FROM candidates c JOIN refine_runs r ON r.id = c.refine_run_id"
        " WHERE r.project_id = ? AND (c.version_id = ? OR (c.status = 'baseline' AND r.parent_version_id = ?))"
        " ORDER BY c.id DESC LIMIT 1", [project_id, project.current_version_id, project.current_version_id],
    ).fetchone() or (None, None)
    return ProjectStatus(
        project_id=project_id, name=project.name, versions=len(versions(store, project_id)),
        personas=len(list_personas(store, project_id)), scenarios=len(list_scenarios(store, project_id)),
        selfplay_runs=len(runs), transcripts=len(transcripts), marked=len(marked),
        candidate_patterns=len(patterns) - len(accepted), accepted_patterns=len(accepted),
        refinements=len(refinements), last_refinement_at=last.created_at if last else None,
        last_refinement_status=last.status if last else None, best_heldout_pass=max(heldout, default=None),
        pending_candidates=pending, current_pass=current_pass, on_current=len(on_current), current_judged=judged,
        current_train_pass=refined[0], current_heldout_pass=refined[1],
        refined_current=last is not None and last.parent_version_id == project.current_version_id,
    )
