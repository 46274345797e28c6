"""Self-improving refinement: the optimizer's loop (vt_core.optimizer) on a project's system prompt,
and the designer's approval of its result.

A refinement run first evaluates the current prompt (the baseline). Each round then writes K
candidates from the best prompt so far against the accepted patterns and the designer's critiques;
guards restore locked sections and reject candidates over the token budget or with conversation
text copied in; every surviving candidate plays the same conversations as the baseline (same
personas, scenarios and seeds), on training and on held-out scenarios, and every transcript is
judged against every accepted pattern. Candidates are ranked by their training pass rate; the run
stops after R rounds or as soon as the round's best does not raise the held-out pass rate. Every
candidate is a row as soon as it is written. Nothing becomes a prompt version until `approve`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pydantic import BaseModel, Field

from vt_core.core.jobs import current_job_id, run_status
from vt_core.core.llm import LLM, BatchError
from vt_core.core.progress import Progress, StageProgress, in_stage
from vt_core.core.prompts import render
from vt_core.core.store import Store
from vt_core.core.text import sections
from vt_core.designer.annotations import current_annotations
from vt_core.designer.patterns import Pattern, judge_many, list_patterns, passes
from vt_core.designer.projects import (
    Hunk,
    Project,
    PromptVersion,
    add_version,
    current_version,
    diff,
    get_project,
    next_numbers,
)
from vt_core.designer.selfplay import Conversation, SelfPlayError, plan_for_project, run_conversations
from vt_core.designer.transcripts import Transcript, list_transcripts
from vt_core.optimizer import Attempt, Brief, Score, Writer, check_draft, optimize

COPY_WINDOW_WORDS = 8  # this many consecutive words shared with a transcript count as copied


class RefineError(RuntimeError):
    """Refinement cannot run; the message says what is missing."""


class Quality(BaseModel):
    score: int = Field(ge=1, le=7)
    reason: str


@dataclass(frozen=True)
class Candidate:
    id: int
    refine_run_id: int
    round: int  # 0 is the baseline
    parent_text: str
    text: str
    changes: list[dict]
    guard_notes: list[str]
    train_pass: float | None
    heldout_pass: float | None
    quality: float | None
    pass_by_pattern: dict[str, dict[str, float | None]]
    status: str  # baseline, evaluated, rejected or approved
    version_id: int | None
    number: int  # within its run, in the order written: 0 is the baseline

    @property
    def name(self) -> str:
        return "the baseline" if self.number == 0 else f"candidate {self.number}"


@dataclass(frozen=True)
class RefineResult:
    refine_run_id: int
    number: int  # the run's in the project
    best: Candidate
    stopped: str  # why the run ended


@dataclass(frozen=True)
class RefineRun:
    id: int
    parent_version_id: int
    rounds: int
    candidates: int
    seed: int
    status: str
    error: str | None
    created_at: object
    number: int  # within the project
    parent_version_number: int


def list_refine_runs(store: Store, project_id: int, *, include_archived: bool = False) -> list[RefineRun]:
    """The project's refinement runs, newest first; archived ones only with `include_archived`."""
    rows = store.cursor().execute(
        f"SELECT id, parent_version_id, rounds, candidates, seed, {run_status('refine_runs')}, error, created_at, number,"
        " (SELECT v.number FROM prompt_versions v WHERE v.id = parent_version_id)"
        " FROM refine_runs WHERE project_id = ? AND (archived_at IS NULL OR ?) ORDER BY id DESC",
        [project_id, include_archived]).fetchall()
    return [RefineRun(*row) for row in rows]


_COLUMNS = ("id, refine_run_id, round, parent_text, text, changes, guard_notes, train_pass, heldout_pass,"
            " quality, pass_by_pattern, status, version_id,"
            " (SELECT count(*) FROM candidates o WHERE o.refine_run_id = candidates.refine_run_id AND o.id < candidates.id)")


def _candidate(row) -> Candidate:
    return Candidate(*row[:5], json.loads(row[5]), json.loads(row[6]), *row[7:10], json.loads(row[10]),
                     *row[11:])


def get_candidate(store: Store, candidate_id: int) -> Candidate:
    row = store.cursor().execute(f"SELECT {_COLUMNS} FROM candidates WHERE id = ?", [candidate_id]).fetchone()
    if row is None:
        raise RefineError(f"no candidate {candidate_id}")
    return _candidate(row)


def leaderboard(store: Store, refine_run_id: int) -> list[Candidate]:
    """Every candidate of a run, best training pass rate first, rejected ones last."""
    rows = store.cursor().execute(
        f"SELECT {_COLUMNS} FROM candidates WHERE refine_run_id = ?"
        " ORDER BY status = 'rejected', train_pass DESC NULLS LAST, heldout_pass DESC NULLS LAST, id",
        [refine_run_id],
    ).fetchall()
    return [_candidate(row) for row in rows]


# -- guards ----------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _windows(text: str) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i : i + COPY_WINDOW_WORDS]) for i in range(len(words) - COPY_WINDOW_WORDS + 1)}


def copied_text(candidate: str, parent: str, transcripts: list[Transcript]) -> str | None:
    """A run of words the candidate took from a transcript (and not from its parent), if any."""
    seen = set().union(*(_windows(t.content) for tr in transcripts for t in tr.turns)) if transcripts else set()
    parents = _windows(parent)
    words = _words(candidate)
    for i in range(len(words) - COPY_WINDOW_WORDS + 1):
        window = tuple(words[i : i + COPY_WINDOW_WORDS])
        if window in seen and window not in parents:
            return " ".join(window)
    return None


def apply_guards(project: Project, parent: str, draft: str, transcripts: list[Transcript]) -> tuple[str, list[str], bool]:
    """(text, notes, rejected): locked sections restored; over budget or copied text rejects."""
    def copied(text: str) -> str | None:
        words = copied_text(text, parent, transcripts)
        return f"copies conversation text into the prompt ('{words}')" if words else None

    return check_draft(parent, draft, locked=project.locked_sections, budget=project.prompt_token_budget,
                       copied=copied)


# -- writing, scoring ------------------------------------------------------------------------


def critiques(store: Store, project_id: int) -> list[str]:
    """The designer's critiques and rewrites, as short lines for the candidate writer."""
    lines = []
    for a in current_annotations(store, project_id=project_id):
        if a.label == "unrealistic_user":
            continue  # a flagged simulated-user turn (or an old flag on a bot turn): the simulator's fault
        if a.critique.strip():
            lines.append(f"({a.label}) {a.critique.strip()}")
        if a.rewrite:
            lines.append(f"(a better reply the designer wrote) {a.rewrite.strip()}")
    return lines


def pass_rate(store: Store, transcript_ids: list[int], patterns: list[Pattern]) -> tuple[float | None, dict[int, float | None]]:
    """Share of (transcript, pattern) checks passed, overall and per pattern; None with no checks."""
    kinds = {p.id: p.kind for p in patterns}
    rows = store.cursor().execute(
        "SELECT pattern_id, verdict FROM judgements"
        " WHERE transcript_id = ANY(CAST(? AS BIGINT[])) AND pattern_id = ANY(CAST(? AS BIGINT[]))",
        [transcript_ids, list(kinds)],
    ).fetchall()
    tally: dict[int, list[bool]] = {p: [] for p in kinds}
    for pattern_id, verdict in rows:
        outcome = passes(kinds[pattern_id], verdict)
        if outcome is not None:
            tally[pattern_id].append(outcome)
    every = [o for outcomes in tally.values() for o in outcomes]
    share = lambda outcomes: sum(outcomes) / len(outcomes) if outcomes else None  # noqa: E731
    return share(every), {p: share(o) for p, o in tally.items()}


def judge_quality(llm: LLM, store: Store, transcripts: list[Transcript]) -> None:
    def rate(transcript: Transcript) -> None:
        quality = llm.structured(
            [{"role": "user", "content": render("quality", transcript=transcript.text())}],
            Quality, temperature=0.0, max_tokens=150, seed=0)
        store.transaction(lambda db: db.execute(
            "INSERT INTO quality_scores (transcript_id, score, reason) VALUES (?, ?, ?) ON CONFLICT (transcript_id)"
            " DO UPDATE SET score = excluded.score, reason = excluded.reason",
            [transcript.id, quality.score, quality.reason]))

    llm.map(rate, transcripts)


def mean_quality(store: Store, transcript_ids: list[int]) -> float | None:
    return store.cursor().execute(
        "SELECT CAST(avg(score) AS DOUBLE PRECISION) FROM quality_scores"
        " WHERE transcript_id = ANY(CAST(? AS BIGINT[]))", [transcript_ids]
    ).fetchone()[0]


# -- the loop --------------------------------------------------------------------------------


def planned_calls(*, rounds: int, k: int, n_train: int, n_heldout: int, max_turns: int, n_patterns: int) -> int:
    """The most LLM calls a refinement run can make (every candidate passes the guards)."""
    evaluations = 1 + rounds * k
    conversations = n_train + n_heldout
    per_evaluation = conversations * (2 * max_turns + n_patterns + 1)  # play, judge, rate quality
    return evaluations * per_evaluation + rounds * k


def _evaluate(store: Store, llm: LLM, project: Project, candidate_id: int, text: str,
              plans: dict[str, list[Conversation]], patterns: list[Pattern], *, max_turns: int, seed: int,
              version_id: int | None, stage: str, progress: StageProgress | None) -> Candidate:
    """Play the candidate's conversations, judge them, and store its scores."""
    def report(step: str) -> Progress | None:
        return in_stage(progress, f"{stage}: {step}")

    stored = get_candidate(store, candidate_id)
    notes = stored.guard_notes
    transcript_ids: dict[str, list[int]] = {}
    for split, plan in plans.items():
        try:
            result = run_conversations(
                store, llm, project.id, plan, max_turns=max_turns, seed=seed, version_id=version_id,
                candidate=None if version_id else (candidate_id, text), refine_run_id=stored.refine_run_id,
                progress=report(f"self-play on {split} scenarios"))
        except SelfPlayError as exc:  # a conversation that failed for good is left out, not the whole run
            if exc.partial is None or not exc.partial.transcript_ids:
                raise
            result = exc.partial
            notes.append(f"scored without {len(exc.failures)} of {len(plan)} conversations on {split} scenarios, "
                         f"which failed (first: {exc.failures[0]})")
        transcript_ids[split] = result.transcript_ids
    every = [i for ids in transcript_ids.values() for i in ids]
    transcripts = [t for t in list_transcripts(store, project.id) if t.id in set(every)]
    for what, step in (
        ("verdicts",
         lambda: judge_many(llm, store, patterns, transcripts, progress=report("judging against the patterns"))),
        ("quality ratings", lambda: judge_quality(llm, store, transcripts)),
    ):
        try:
            step()
        except BatchError as exc:  # a few unusable judge replies leave those checks out of the score
            failures = [r for r in exc.results if isinstance(r, Exception)]
            if len(failures) == len(exc.results):
                raise
            notes.append(f"{len(failures)} of {len(exc.results)} {what} failed and are left out of the "
                         f"scores (first: {failures[0]})")
    train, train_by = pass_rate(store, transcript_ids["train"], patterns)
    heldout, heldout_by = pass_rate(store, transcript_ids["heldout"], patterns)
    by_pattern = {str(p.id): {"train": train_by[p.id], "heldout": heldout_by[p.id]} for p in patterns}
    store.transaction(lambda db: db.execute(
        "UPDATE candidates SET train_pass = ?, heldout_pass = ?, quality = ?, pass_by_pattern = ?, guard_notes = ?"
        " WHERE id = ?",
        [train, heldout, mean_quality(store, every), json.dumps(by_pattern), json.dumps(notes), candidate_id],
    ))
    return get_candidate(store, candidate_id)


@dataclass
class _PromptTask:
    """Refinement as a task of the optimizer: a candidate is a stored row, scored by self-play and
    judging; the writer reads the accepted patterns and the designer's critiques."""

    store: Store
    llm: LLM
    project: Project
    refine_run_id: int
    plans: dict[str, list[Conversation]]
    patterns: list[Pattern]
    critiques: list[str]
    seen: list[Transcript]  # the designer's transcripts: no candidate may copy from them
    max_turns: int
    seed: int
    parent_version_id: int

    @property
    def writer(self) -> Writer:
        return Writer("refine", self.project.locked_sections, self.project.prompt_token_budget)

    def brief(self, best: Candidate, round: int, progress: StageProgress | None) -> Brief:
        return Brief({
            "goal": self.project.goal,
            "audience": self.project.audience,
            "patterns": "\n".join(f"- [{p.id}] {p.kind.upper()}: {p.statement}" for p in self.patterns),
            "critiques": "\n".join(f"- {c}" for c in self.critiques) or "- (none)",
        })

    def guard(self, parent: str, draft: str) -> tuple[str, list[str], bool]:
        return apply_guards(self.project, parent, draft, self.seen)

    def _insert(self, attempt: Attempt, status: str) -> int:
        return self.store.cursor().execute(
            "INSERT INTO candidates (refine_run_id, round, parent_text, text, changes, guard_notes, status)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [self.refine_run_id, attempt.round, attempt.parent, attempt.text, json.dumps(list(attempt.changes)),
             json.dumps(list(attempt.notes)), status],
        ).fetchone()[0]

    def evaluate(self, attempt: Attempt, progress: StageProgress | None) -> Candidate:
        baseline = attempt.round == 0
        candidate_id = self._insert(attempt, "baseline" if baseline else "evaluated")
        return _evaluate(self.store, self.llm, self.project, candidate_id, attempt.text, self.plans, self.patterns,
                         max_turns=self.max_turns, seed=self.seed,
                         version_id=self.parent_version_id if baseline else None,
                         stage="baseline" if baseline else f"round {attempt.round}, candidate {attempt.index} of "
                                                           f"{attempt.of}", progress=progress)

    def reject(self, attempt: Attempt) -> Candidate:
        return get_candidate(self.store, self._insert(attempt, "rejected"))

    def score(self, candidate: Candidate) -> Score | None:
        if candidate.status == "rejected":
            return None
        return Score((candidate.train_pass or 0.0, candidate.quality or 0.0), candidate.heldout_pass or 0.0,
                     "held-out pass rate", _percent(candidate.heldout_pass))


def refine(store: Store, llm: LLM, project_id: int, *, rounds: int = 2, k: int = 3, n_train: int = 4,
           n_heldout: int = 2, max_turns: int = 3, seed: int = 0,
           progress: StageProgress | None = None) -> RefineResult:
    """Run refinement on the project's current prompt; see the module docstring."""
    project = get_project(store, project_id)
    parent = current_version(store, project_id)
    patterns = list_patterns(store, project_id, status="accepted")
    if not patterns:
        raise RefineError("accept at least one pattern before refining: candidates are scored against them")
    try:
        plans = {"train": plan_for_project(store, project_id, n_train, seed, "train"),
                 "heldout": plan_for_project(store, project_id, n_heldout, seed, "heldout")}
    except (SelfPlayError, ValueError) as exc:
        raise RefineError(f"refinement needs personas and both training and held-out scenarios: {exc}") from exc

    refine_run_id, number = store.transaction(lambda db: db.execute(
        "INSERT INTO refine_runs (project_id, parent_version_id, rounds, candidates, seed, status, job_id, number)"
        " VALUES (?, ?, ?, ?, ?, 'running', ?, ?) RETURNING id, number",
        [project_id, parent.id, rounds, k, seed, current_job_id(), next_numbers(db, project_id, "refine_run")],
    ).fetchone())
    llm = llm.for_run(f"refine:{refine_run_id}")
    task = _PromptTask(store, llm, project, refine_run_id, plans, patterns, critiques(store, project_id),
                       [t for t in list_transcripts(store, project_id) if t.candidate_id is None], max_turns, seed,
                       parent.id)
    try:
        result = optimize(task, llm, parent.text, rounds=rounds, candidates=k, seed=seed, progress=progress)
    except Exception as exc:
        error = str(exc)
        store.transaction(lambda db: db.execute("UPDATE refine_runs SET status = 'failed', error = ? WHERE id = ?",
                                                [error, refine_run_id]))
        raise
    store.transaction(lambda db: db.execute("UPDATE refine_runs SET status = 'done' WHERE id = ?", [refine_run_id]))
    return RefineResult(refine_run_id, number, result.best, result.stopped)


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def approve(store: Store, candidate_id: int) -> PromptVersion:
    """Make an evaluated candidate of a finished run the project's current prompt, as a new version,
    in one transaction. Refused when the project's current version is no longer the one the run
    refined: approving would silently replace the designer's newer edit."""
    candidate = get_candidate(store, candidate_id)
    if candidate.status != "evaluated":
        raise RefineError(f"candidate {candidate_id} is {candidate.status}; only evaluated candidates can be approved")
    project_id, parent_version_id, status = store.cursor().execute(
        f"SELECT project_id, parent_version_id, {run_status('refine_runs')} FROM refine_runs WHERE id = ?",
        [candidate.refine_run_id]).fetchone()
    if status != "done":
        raise RefineError(f"refinement run {candidate.refine_run_id} is {status}; only the candidates of a "
                          f"finished run can be approved")
    known = {p.id for p in list_patterns(store, project_id)}
    pattern_ids = sorted({i for c in candidate.changes for i in c.get("pattern_ids", []) if i in known})
    rationale = " ".join(c["rationale"].strip() for c in candidate.changes if c.get("rationale")) \
        or f"refinement run {candidate.refine_run_id}, candidate {candidate_id}"

    def approve_in(db) -> PromptVersion:
        current = db.execute("SELECT current_version_id FROM projects WHERE id = ?", [project_id]).fetchone()[0]
        if current != parent_version_id:
            raise RefineError(
                f"the current prompt is v{current}, but run {candidate.refine_run_id} refined "
                f"v{parent_version_id}: approving candidate {candidate_id} would replace v{current}. Compare "
                f"them, then refine v{current} again, or make v{parent_version_id} current first")
        version = add_version(store, project_id, candidate.text, author="refinement", parent_id=parent_version_id,
                              rationale=rationale, pattern_ids=pattern_ids, make_current=True)
        if not db.execute("UPDATE candidates SET status = 'approved', version_id = ? WHERE id = ? AND status = "
                          "'evaluated' RETURNING id", [version.id, candidate_id]).fetchone():
            raise RefineError(f"candidate {candidate_id} was approved meanwhile")
        return version

    # Another tab approving or editing at the same moment is a write conflict: the retry then
    # finds the moved current version, or the approved candidate, and says so.
    return store.transaction(approve_in)


REMOVED_SHARE_WARNING = 0.3  # a candidate that takes out more of its parent's text is flagged before approval


@dataclass(frozen=True)
class Removal:
    """What a candidate took out of its parent prompt: its sections (by heading) that are gone, the share
    of the parent's characters gone, and the parent's lines that went."""

    dropped_sections: list[str]
    removed_share: float
    removed_lines: list[str]

    @property
    def gutted(self) -> bool:
        """Whether to warn before approval: a section dropped, or more than REMOVED_SHARE_WARNING of the text."""
        return bool(self.dropped_sections) or self.removed_share > REMOVED_SHARE_WARNING


def removal(parent: str, candidate: str) -> Removal:
    """A hunk's lost characters are the old side's beyond the new side's: a rewording removes little, a
    deletion all of it."""
    kept = {s.heading for s in sections(candidate)}
    dropped = [s.heading for s in sections(parent) if s.heading and s.heading not in kept]
    lost, lines = 0, []
    for hunk in diff(parent, candidate):
        if hunk.tag in ("delete", "replace"):
            old, new = sum(len(line) for line in hunk.old), sum(len(line) for line in hunk.new)
            if old > new:
                lost += old - new
                lines += hunk.old
    total = sum(len(line) for line in parent.splitlines())
    return Removal(dropped, lost / total if total else 0.0, lines)


@dataclass(frozen=True)
class LinkedHunk:
    hunk: Hunk
    changes: list[dict]  # the candidate's changes this hunk carries out, with their pattern ids


def linked_diff(candidate: Candidate) -> list[LinkedHunk]:
    """The diff against the parent, each changed hunk linked to the changes (and so the
    patterns) whose text it contains."""
    linked = []
    for hunk in diff(candidate.parent_text, candidate.text):
        if hunk.tag == "equal":
            linked.append(LinkedHunk(hunk, []))
            continue
        new = set(_words(" ".join(hunk.new)))
        owners = [c for c in candidate.changes
                  if (after := set(_words(c.get("after", "")))) and len(after & new) >= 0.5 * len(after)]
        linked.append(LinkedHunk(hunk, owners))
    return linked
