"""A refinement candidate beside the baseline: the conversations both played on the same scenario,
persona and seed, with the judge's verdicts per pattern, so a designer can read what a candidate
changes before approving it."""

from __future__ import annotations

from dataclasses import dataclass

from vt_core.core.store import Store
from vt_core.designer.patterns import Judgement, Pattern, judgements_for_transcript, list_patterns, passes
from vt_core.designer.personas import Persona, get_persona
from vt_core.designer.refinement import Candidate, RefineError, get_candidate
from vt_core.designer.scenarios import SPLITS, Scenario, get_scenario
from vt_core.designer.transcripts import Transcript, list_transcripts

NOT_JUDGED = "not judged"


def outcome(kind: str, judgement: Judgement | None) -> str:
    """'pass', 'fail', 'not applicable', or NOT_JUDGED when the judge gave no usable verdict."""
    if judgement is None:
        return NOT_JUDGED
    return {True: "pass", False: "fail", None: "not applicable"}[passes(kind, judgement.verdict)]


@dataclass(frozen=True)
class Check:
    """One pattern's verdicts on a pair of conversations; None where it was not judged."""

    pattern: Pattern
    baseline: Judgement | None
    candidate: Judgement | None

    @property
    def baseline_outcome(self) -> str:
        return outcome(self.pattern.kind, self.baseline)

    @property
    def candidate_outcome(self) -> str:
        return outcome(self.pattern.kind, self.candidate)

    @property
    def changed(self) -> bool:
        return self.baseline_outcome != self.candidate_outcome


@dataclass(frozen=True)
class Pair:
    """The baseline's and the candidate's conversation on one scenario, persona and seed."""

    split: str  # the scenario's: "train" or "heldout"
    scenario: Scenario
    persona: Persona
    seed: int
    baseline: Transcript | None  # None: the baseline's conversation failed and was not stored
    candidate: Transcript
    checks: list[Check]

    def changed(self, pattern_id: int | None = None) -> bool:
        """Whether the candidate changed a verdict (that pattern's, if given)."""
        return any(c.changed for c in self.checks if pattern_id is None or c.pattern.id == pattern_id)


@dataclass(frozen=True)
class Comparison:
    candidate: Candidate
    patterns: list[Pattern]  # the patterns the run judged its conversations against
    pairs: list[Pair]  # training scenarios first, then held-out, each in the order the run played them

    def changed(self, pattern_id: int | None = None) -> list[Pair]:
        """The pairs where the candidate changed a verdict (that pattern's, if given)."""
        return [p for p in self.pairs if p.changed(pattern_id)]


def comparison(store: Store, refine_run_id: int, candidate_id: int) -> Comparison:
    """The candidate's conversations, each paired with the baseline's on the same scenario, persona
    and seed, with both verdicts for every pattern the run judged.

    The run records itself on the self-play runs it played, the baseline's and its candidates'."""
    candidate = get_candidate(store, candidate_id)
    if candidate.refine_run_id != refine_run_id:
        raise RefineError(f"candidate {candidate_id} belongs to refinement run {candidate.refine_run_id}, "
                          f"not to run {refine_run_id}")
    project_id = store.cursor().execute("SELECT project_id FROM refine_runs WHERE id = ?", [refine_run_id]).fetchone()[0]
    matches = store.cursor().execute(
        "SELECT c.id, c.run_id, b.id, b.run_id FROM transcripts c"
        " LEFT JOIN (SELECT t.* FROM transcripts t JOIN selfplay_runs s ON s.id = t.run_id"
        "            WHERE s.refine_run_id = ? AND s.candidate_id IS NULL) b"
        "  ON b.scenario_id = c.scenario_id AND b.persona_id = c.persona_id AND b.seed = c.seed"
        " WHERE c.candidate_id = ? ORDER BY c.run_id, c.position",
        [refine_run_id, candidate_id],
    ).fetchall()
    run_ids = {run_id for row in matches for run_id in (row[1], row[3]) if run_id is not None}
    transcripts = {t.id: t for run_id in sorted(run_ids) for t in list_transcripts(store, project_id, run_id=run_id)}
    patterns = [p for p in list_patterns(store, project_id) if str(p.id) in candidate.pass_by_pattern]
    played = [transcripts[row[0]] for row in matches]
    scenarios = {i: get_scenario(store, i) for i in {t.scenario_id for t in played}}
    personas = {i: get_persona(store, i) for i in {t.persona_id for t in played}}

    def verdicts(transcript: Transcript | None) -> dict[int, Judgement]:
        return {j.pattern_id: j for j in judgements_for_transcript(store, transcript.id)} if transcript else {}

    pairs = []
    for ours, (_, _, baseline_transcript_id, _) in zip(played, matches):
        baseline = transcripts.get(baseline_transcript_id)
        scenario = scenarios[ours.scenario_id]
        after, before = verdicts(ours), verdicts(baseline)
        pairs.append(Pair(scenario.split, scenario, personas[ours.persona_id], ours.seed, baseline, ours,
                          [Check(p, before.get(p.id), after.get(p.id)) for p in patterns]))
    pairs.sort(key=lambda pair: SPLITS.index(pair.split))  # stable: plan order within a split
    return Comparison(candidate, patterns, pairs)
