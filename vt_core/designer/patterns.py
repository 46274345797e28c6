"""Patterns: behaviours of the bot to keep, and anti-behaviours to avoid, each a checkable statement.

The system proposes candidate patterns from the designer's annotations; a judge then decides
for each transcript whether the bot EXHIBITS the behaviour a statement describes. Whether that
is a pass depends on the pattern's kind (see `passes`). A report per pattern gives support
counts, evidence transcripts, and the judge's agreement with the designer's own labels, so the
designer can accept, edit, merge or reject it. Accepted patterns carry their judge prompt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from vt_core.core.llm import LLM, BatchError
from vt_core.core.progress import Cancelled, Progress
from vt_core.core.prompts import render
from vt_core.core.store import Store
from vt_core.designer.annotations import by_transcript, current_annotations, transcript_label, transcript_labels
from vt_core.designer.projects import get_project, next_numbers
from vt_core.designer.transcripts import DESIGNER_TRANSCRIPT_IDS, Transcript, get_transcript, list_transcripts
from vt_core.optimizer import MAX_PROPOSED, PATTERN_SOURCES, propose

PATTERN_KINDS = ("keep", "avoid")
PATTERN_STATUSES = ("candidate", "accepted", "rejected", "merged")
VERDICTS = ("exhibited", "not_exhibited", "not_applicable")

@dataclass(frozen=True)
class Pattern:
    id: int
    project_id: int
    kind: str  # "keep": a behaviour to keep; "avoid": an anti-behaviour
    statement: str  # one checkable statement of the bot's behaviour
    status: str  # "candidate", "accepted", "rejected" or "merged"
    source: str  # "proposed" or "designer"
    judge_prompt: str  # the full instruction text the judge gets for this pattern
    merged_into: int | None
    number: int  # within the project: P1, P2, ...

    @property
    def name(self) -> str:
        return f"P{self.number} {self.kind.upper()}: {self.statement}"


@dataclass(frozen=True)
class Judgement:
    pattern_id: int
    transcript_id: int
    verdict: str
    reason: str


@dataclass(frozen=True)
class PatternReport:
    pattern_id: int
    passed: int  # judged transcripts on which the pattern passes
    failed: int
    not_applicable: int
    evidence_for: list[int]  # transcript ids where it passes
    evidence_against: list[int]  # transcript ids where it fails
    agreement_n: int  # transcripts with a designer good/bad label and a pass/fail verdict
    raw_agreement: float | None  # share of those where designer good = judge pass
    kappa: float | None  # Cohen's kappa over the same; None when undefined


# Reply schemas. No docstrings: pydantic would send them to the model inside the schema.
class Verdict(BaseModel):
    reason: str  # first, so that a model reasons before it decides
    verdict: Literal["exhibited", "not_exhibited", "not_applicable"]


class PatternDraft(BaseModel):
    kind: Literal["keep", "avoid"]
    statement: str = Field(min_length=1)


class PatternProposal(BaseModel):
    # maxItems: a hint for constrained decoding (llama.cpp enforces it); longer lists are cut.
    patterns: list[PatternDraft] = Field(json_schema_extra={"minItems": 1, "maxItems": MAX_PROPOSED})


def passes(kind: str, verdict: str) -> bool | None:
    """Whether a transcript passes a pattern: a 'keep' behaviour exhibited, or an 'avoid'
    behaviour not exhibited. None for 'not_applicable': neither pass nor fail."""
    if kind not in PATTERN_KINDS:
        raise ValueError(f"unknown pattern kind {kind!r}; use 'keep' or 'avoid'")
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}; use one of {', '.join(VERDICTS)}")
    if verdict == "not_applicable":
        return None
    return (verdict == "exhibited") == (kind == "keep")


# -- storing patterns ----------------------------------------------------------------------------

_COLUMNS = "id, project_id, kind, statement, status, source, judge_prompt, merged_into, number"


def judge_prompt_for(statement: str) -> str:
    """The judge's instructions for one statement; kept with the pattern so it travels with it."""
    return render("judge", statement=statement.strip())


def _check(kind: str | None = None, status: str | None = None, source: str | None = None,
           statement: str | None = None) -> None:
    if kind is not None and kind not in PATTERN_KINDS:
        raise ValueError(f"unknown pattern kind {kind!r}; use 'keep' or 'avoid'")
    if status is not None and status not in PATTERN_STATUSES:
        raise ValueError(f"unknown pattern status {status!r}; use one of {', '.join(PATTERN_STATUSES)}")
    if source is not None and source not in PATTERN_SOURCES:
        raise ValueError(f"unknown pattern source {source!r}; use 'proposed' or 'designer'")
    if statement is not None and not statement.strip():
        raise ValueError("a pattern needs a statement of the bot's behaviour")


def _insert(store: Store, project_id: int, kind: str, statement: str, status: str, source: str) -> Pattern:
    _check(kind, status, source, statement)
    if status == "merged":
        raise ValueError("a new pattern cannot be 'merged'; use merge_patterns")
    pattern_id = store.transaction(lambda db: db.execute(
        "INSERT INTO patterns (project_id, kind, statement, status, source, judge_prompt, number)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [project_id, kind, statement.strip(), status, source, judge_prompt_for(statement),
         next_numbers(db, project_id, "pattern")],
    ).fetchone()[0])
    return get_pattern(store, pattern_id)


def add_pattern(store: Store, project_id: int, kind: str, statement: str, *, source: str = "designer",
                status: str = "accepted") -> Pattern:
    """A pattern written by hand (accepted at once, by default), with its judge prompt."""
    return _insert(store, project_id, kind, statement, status, source)


def get_pattern(store: Store, pattern_id: int) -> Pattern:
    row = store.cursor().execute(f"SELECT {_COLUMNS} FROM patterns WHERE id = ?", [pattern_id]).fetchone()
    if row is None:
        raise ValueError(f"no pattern {pattern_id}")
    return Pattern(*row)


def list_patterns(store: Store, project_id: int, status: str | Iterable[str] | None = None) -> list[Pattern]:
    """The project's patterns, oldest first; `status` is one status or several."""
    statuses = None if status is None else [status] if isinstance(status, str) else list(status)
    for one in statuses or ():
        _check(status=one)
    rows = store.cursor().execute(
        f"SELECT {_COLUMNS} FROM patterns WHERE project_id = ?"
        " AND (CAST(? AS VARCHAR[]) IS NULL OR status = ANY(CAST(? AS VARCHAR[]))) ORDER BY id",
        [project_id, statuses, statuses],
    ).fetchall()
    return [Pattern(*row) for row in rows]


def update_pattern(store: Store, pattern_id: int, *, statement: str | None = None, kind: str | None = None,
                   status: str | None = None) -> Pattern:
    """Edit a pattern. A new statement gets a new judge prompt, and the verdicts on the old
    statement are deleted (they judged another behaviour); a new kind keeps them, since the judge
    is asked about the behaviour only. Setting a status other than 'merged' un-merges."""
    _check(kind=kind, status=status, statement=statement)
    if status == "merged":
        raise ValueError("to merge a pattern into another, use merge_patterns")

    def update(db) -> None:
        if statement is not None and statement.strip() != get_pattern(store, pattern_id).statement:
            db.execute("UPDATE patterns SET statement = ?, judge_prompt = ? WHERE id = ?",
                       [statement.strip(), judge_prompt_for(statement), pattern_id])
            db.execute("DELETE FROM judgements WHERE pattern_id = ?", [pattern_id])
        if kind is not None:
            db.execute("UPDATE patterns SET kind = ? WHERE id = ?", [kind, pattern_id])
        if status is not None:
            db.execute("UPDATE patterns SET status = ?, merged_into = NULL WHERE id = ?", [status, pattern_id])

    get_pattern(store, pattern_id)  # no such pattern: say so before writing
    store.transaction(update)
    return get_pattern(store, pattern_id)


def merge_patterns(store: Store, keep_id: int, other_ids: Iterable[int]) -> Pattern:
    """Fold `other_ids` into `keep_id`: they become 'merged' with merged_into = keep_id, and so do
    patterns that were merged into them before. Returns the kept pattern."""
    keep = get_pattern(store, keep_id)
    others = sorted(set(other_ids))
    if keep_id in others:
        raise ValueError(f"pattern {keep_id} cannot be merged into itself")
    if keep.status in ("merged", "rejected"):
        raise ValueError(f"pattern {keep_id} is {keep.status}; merge into a candidate or accepted pattern")
    for other in (get_pattern(store, i) for i in others):
        if other.project_id != keep.project_id:
            raise ValueError(f"pattern {other.id} belongs to another project than pattern {keep_id}")

    def merge(db) -> None:
        db.execute("UPDATE patterns SET merged_into = ? WHERE merged_into = ANY(CAST(? AS BIGINT[]))",
                   [keep_id, others])
        db.execute("UPDATE patterns SET status = 'merged', merged_into = ? WHERE id = ANY(CAST(? AS BIGINT[]))",
                   [keep_id, others])

    store.transaction(merge)
    return get_pattern(store, keep_id)


# -- proposing patterns --------------------------------------------------------------------------


def _turn_note(transcript: Transcript, annotation) -> str:
    return render("pattern_turn_note", idx=annotation.turn_idx, label=annotation.label,
                  reply=transcript.turns[annotation.turn_idx].content,
                  critique=annotation.critique or "(none)", rewrite=annotation.rewrite or "(none)").rstrip()


def _evidence(store: Store, project_id: int) -> str:
    """The annotated transcripts as prompt text: each transcript, its label, and its turn notes.

    'unrealistic_user' flags are left out, on the simulated user's turns or (rows written before flags
    moved there) on bot turns: they are faults of the simulator, not of the bot.
    """
    blocks = []
    for transcript_id, marks in by_transcript(current_annotations(store, project_id=project_id)).items():
        marks = [a for a in marks if a.label != "unrealistic_user"]
        label = transcript_label(marks)
        if label is None:
            continue
        transcript = get_transcript(store, transcript_id)
        whole = [a for a in marks if a.turn_idx is None]
        notes = [_turn_note(transcript, a) for a in marks if a.turn_idx is not None]
        blocks.append(render("pattern_evidence", transcript_id=transcript_id, label=label,
                             critique=(whole[0].critique if whole else "") or "(none)",
                             conversation=transcript.text(), notes="\n".join(notes) or "(none)").rstrip())
    return "\n\n".join(blocks)


def propose_patterns(llm: LLM, store: Store, project_id: int, *, seed: int = 0) -> list[Pattern]:
    """Candidate patterns from the project's annotations, stored and returned (new ones only).

    One structured call proposes them; near-duplicates of the project's non-rejected patterns are
    dropped and near-duplicates among the new ones collapse to the first (see `dedupe`).
    """
    evidence = _evidence(store, project_id)
    if not evidence:
        raise ValueError(
            f"project {project_id} has no annotations to learn from: label some bot turns or transcripts "
            f"'good' or 'bad' first ('unrealistic_user' marks say nothing about the bot)"
        )
    existing = [p.statement for p in list_patterns(store, project_id, status=("candidate", "accepted", "merged"))]
    drafts = propose(llm, "patterns_propose", PatternProposal, existing, seed=seed,
                     goal=get_project(store, project_id).goal, evidence=evidence)
    return [_insert(store, project_id, d.kind, d.statement, "candidate", "proposed") for d in drafts]


# -- judging -------------------------------------------------------------------------------------


def judge(llm: LLM, pattern: Pattern, transcript: Transcript, *, seed: int = 0) -> Verdict:
    """Does the bot exhibit the pattern's behaviour in this transcript? One call, temperature 0."""
    messages = [
        {"role": "system", "content": pattern.judge_prompt or judge_prompt_for(pattern.statement)},
        {"role": "user", "content": render("judge_transcript", conversation=transcript.text())},
    ]
    return llm.structured(messages, Verdict, temperature=0.0, seed=seed, max_tokens=300)


def _as_pattern(store: Store, item: Pattern | int) -> Pattern:
    return item if isinstance(item, Pattern) else get_pattern(store, item)


def _as_transcript(store: Store, item: Transcript | int) -> Transcript:
    return item if isinstance(item, Transcript) else get_transcript(store, item)


def judge_many(llm: LLM, store: Store, patterns: Iterable[Pattern | int], transcripts: Iterable[Transcript | int],
               *, progress: Progress | None = None, seed: int = 0) -> list[Judgement]:
    """Judge every transcript against every pattern, concurrently, and store each verdict
    (replacing an earlier one for the same pair). If some calls fail, the verdicts that came
    back are stored first, then BatchError is raised with every result and exception in order."""
    patterns = list({p.id: p for p in (_as_pattern(store, p) for p in patterns)}.values())
    transcripts = list({t.id: t for t in (_as_transcript(store, t) for t in transcripts)}.values())
    pairs = [(p, t) for p in patterns for t in transcripts]

    def one(pair: tuple[Pattern, Transcript]) -> Judgement:
        pattern, transcript = pair
        verdict = judge(llm, pattern, transcript, seed=seed)
        return Judgement(pattern.id, transcript.id, verdict.verdict, verdict.reason.strip())

    try:
        results = llm.map(one, pairs, progress=progress)
    except (BatchError, Cancelled) as error:  # the verdicts that came back are kept
        store_judgements(store, [r for r in (error.results if isinstance(error, BatchError) else error.kept)
                                  if isinstance(r, Judgement)])
        raise
    store_judgements(store, results)
    return results


def store_judgements(store: Store, judgements: list[Judgement]) -> None:
    """Upsert from the calling thread, in one transaction, so no two writers touch one row."""
    if not judgements:
        return
    store.transaction(lambda db: db.executemany(
        "INSERT INTO judgements (pattern_id, transcript_id, verdict, reason, judged_at)"
        " VALUES (?, ?, ?, ?, current_timestamp) ON CONFLICT (pattern_id, transcript_id)"
        " DO UPDATE SET verdict = excluded.verdict, reason = excluded.reason, judged_at = excluded.judged_at",
        [[j.pattern_id, j.transcript_id, j.verdict, j.reason] for j in judgements],
    ))


def judgements(store: Store, pattern_id: int) -> list[Judgement]:
    """The stored verdicts for one pattern on the designer's transcripts (not on those that
    refinement played to score its candidates), by transcript id."""
    rows = store.cursor().execute(
        "SELECT pattern_id, transcript_id, verdict, reason FROM judgements WHERE pattern_id = ?"
        f" AND transcript_id IN ({DESIGNER_TRANSCRIPT_IDS}) ORDER BY transcript_id", [pattern_id],
    ).fetchall()
    return [Judgement(*row) for row in rows]


def judgements_for_transcript(store: Store, transcript_id: int) -> list[Judgement]:
    """Every stored verdict on one transcript, by pattern id."""
    rows = store.cursor().execute(
        "SELECT pattern_id, transcript_id, verdict, reason FROM judgements WHERE transcript_id = ?"
        " ORDER BY pattern_id", [transcript_id],
    ).fetchall()
    return [Judgement(*row) for row in rows]


def transcripts_with_verdict(store: Store, pattern_id: int, verdict: str | None = None) -> set[int]:
    """Transcripts judged for the pattern, optionally only those with a verdict
    ('exhibited', 'not_exhibited', 'not_applicable') or an outcome ('pass', 'fail')."""
    if verdict is not None and verdict not in (*VERDICTS, "pass", "fail"):
        raise ValueError(f"unknown verdict {verdict!r}; use one of {', '.join(VERDICTS)}, pass, fail")
    kind = get_pattern(store, pattern_id).kind

    def matches(j: Judgement) -> bool:
        if verdict in ("pass", "fail"):
            return passes(kind, j.verdict) is (verdict == "pass")
        return verdict is None or j.verdict == verdict

    return {j.transcript_id for j in judgements(store, pattern_id) if matches(j)}


def transcript_outcomes(store: Store, project_id: int) -> dict[int, str]:
    """'fail' for each transcript some accepted pattern fails on; 'pass' for each that at least one
    accepted pattern passes on and none fails. Transcripts with neither are left out."""
    rows = store.cursor().execute(
        "SELECT j.transcript_id, p.kind, j.verdict FROM judgements j JOIN patterns p ON p.id = j.pattern_id"
        " WHERE p.project_id = ? AND p.status = 'accepted'", [project_id],
    ).fetchall()
    outcomes: dict[int, str] = {}
    for transcript_id, kind, verdict in rows:
        result = passes(kind, verdict)
        if result is False:
            outcomes[transcript_id] = "fail"
        elif result is True:
            outcomes.setdefault(transcript_id, "pass")
    return outcomes


# -- reports -------------------------------------------------------------------------------------


def cohen_kappa(pairs: list[tuple[object, object]]) -> float | None:
    """Cohen's kappa of two raters over the same items: (p_o - p_e) / (1 - p_e).

    p_o is the share of items both rate alike; p_e = sum over categories c of
    (share rater A gives c) * (share rater B gives c), the agreement expected by chance.
    None when undefined: fewer than 2 items, or p_e = 1 (both raters use one category only).
    """
    n = len(pairs)
    if n < 2:
        return None
    p_o = sum(a == b for a, b in pairs) / n
    categories = {a for a, _ in pairs} | {b for _, b in pairs}
    p_e = sum((sum(a == c for a, _ in pairs) / n) * (sum(b == c for _, b in pairs) / n) for c in categories)
    if p_e >= 1:
        return None
    return (p_o - p_e) / (1 - p_e)


def pattern_report(store: Store, pattern_id: int) -> PatternReport:
    """Support, evidence and the judge's agreement with the designer, from the stored verdicts.

    Agreement is over transcripts the designer labelled 'good' or 'bad' (see
    `annotations.transcript_label`) with a verdict that is not 'not_applicable': designer good
    against judge pass, designer bad against judge fail.
    """
    pattern = get_pattern(store, pattern_id)
    outcomes = {j.transcript_id: passes(pattern.kind, j.verdict) for j in judgements(store, pattern_id)}
    evidence_for = [t for t, ok in outcomes.items() if ok is True]
    evidence_against = [t for t, ok in outcomes.items() if ok is False]
    labels = transcript_labels(store, pattern.project_id)
    pairs = [(labels[t] == "good", ok) for t, ok in outcomes.items()
             if ok is not None and labels.get(t) in ("good", "bad")]
    return PatternReport(
        pattern_id=pattern_id,
        passed=len(evidence_for),
        failed=len(evidence_against),
        not_applicable=sum(ok is None for ok in outcomes.values()),
        evidence_for=evidence_for,
        evidence_against=evidence_against,
        agreement_n=len(pairs),
        raw_agreement=sum(a == b for a, b in pairs) / len(pairs) if pairs else None,
        kappa=cohen_kappa(pairs),
    )


def evaluate_patterns(llm: LLM, store: Store, project_id: int, pattern_ids: Iterable[int] | None = None, *,
                      progress: Progress | None = None, seed: int = 0) -> list[PatternReport]:
    """Judge every annotated transcript of the project against each pattern (default: the
    candidate and accepted ones), store the verdicts, and report on each pattern."""
    if pattern_ids is None:
        patterns = list_patterns(store, project_id, status=("candidate", "accepted"))
    else:
        patterns = [get_pattern(store, i) for i in pattern_ids]
        strangers = [p.id for p in patterns if p.project_id != project_id]
        if strangers:
            raise ValueError(f"pattern(s) {strangers} belong to another project than {project_id}")
    annotated = {a.transcript_id for a in current_annotations(store, project_id=project_id)}
    transcripts = [t for t in list_transcripts(store, project_id) if t.id in annotated]
    judge_many(llm, store, patterns, transcripts, progress=progress, seed=seed)
    return [pattern_report(store, p.id) for p in patterns]
