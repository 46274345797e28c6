"""The designer loop, run unchanged on a world with planted faults, and stored with its figures.

From a world, the loop makes a project of its own (its draft prompt, personas and scenarios), plays
self-play on the training scenarios under the draft, lets the oracle designer mark the transcripts (or
no one, with marks off), proposes patterns from the marks and judges them, accepts those the judge
supports (`supported`) and rejects the rest, refines the prompt with K candidates per round and approves
the best candidate if refinement kept one. Then it plays one plan of held-out conversations under the
draft and under the tuned prompt (the same personas, scenarios and seeds) and computes the figures
(vt_core.benchmark.figures) from the checkers. Every step is a public function of vt_core.designer, the
same a designer's pages call; nothing of the loop knows the world's faults but the oracle and the figures.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime

from vt_core.benchmark.checkers import Checker
from vt_core.benchmark.figures import fault_figures, recall_figures
from vt_core.benchmark.oracle import mark_transcripts
from vt_core.benchmark.world import World
from vt_core.core.design import derive_seed
from vt_core.core.jobs import current_job_id, run_status
from vt_core.core.llm import LLM, BatchError
from vt_core.core.progress import StageProgress, in_stage
from vt_core.core.store import Store
from vt_core.designer import (
    PatternReport,
    Project,
    Transcript,
    add_persona,
    add_scenario,
    approve,
    create_project,
    current_annotations,
    evaluate_patterns,
    get_transcript,
    judge_quality,
    judgements_for_transcript,
    list_projects,
    mean_quality,
    passes,
    plan_for_project,
    propose_patterns,
    refine,
    run_conversations,
    transcript_labels,
    update_pattern,
)

PER_SCENARIO = 2  # conversations per scenario of a split, unless the settings say how many
ACCEPT_SHARE = 0.8  # see `supported`


@dataclass(frozen=True)
class LoopSettings:
    seed: int = 0
    k: int = 2  # candidates per refinement round
    rounds: int = 1
    noise: float = 0.0  # the oracle's share of flipped marks
    marks: bool = True  # False: no one marks the transcripts (the loop must then find nothing)
    train: int | None = None  # conversations on training scenarios (None: PER_SCENARIO per scenario)
    heldout: int | None = None  # conversations on held-out scenarios, under each prompt (the same)
    turns: int = 3  # exchanges per conversation at most


@dataclass(frozen=True)
class LoopRun:
    id: int
    world: str
    seed: int
    settings: dict
    project_id: int | None
    backend: str
    model: str
    demo: bool  # the figures come from the small demo model
    status: str  # running, done, failed or interrupted
    error: str | None
    figures: dict | None
    created_at: datetime
    finished_at: datetime | None


_COLUMNS = (f"id, world, seed, settings, project_id, backend, model, demo, {run_status('loop_runs')}, error, figures,"
            " created_at, finished_at")


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def _loop_run(row) -> LoopRun:
    return LoopRun(*row[:3], _json(row[3]), *row[4:7], bool(row[7]), row[8], row[9], _json(row[10]), *row[11:])


def get_loop_run(store: Store, loop_run_id: int) -> LoopRun:
    row = store.cursor().execute(f"SELECT {_COLUMNS} FROM loop_runs WHERE id = ?", [loop_run_id]).fetchone()
    if row is None:
        raise ValueError(f"no loop benchmark run {loop_run_id}")
    return _loop_run(row)


def list_loop_runs(store: Store, *, project_id: int | None = None, world: str | None = None) -> list[LoopRun]:
    """Loop benchmark runs, newest first; of one project or world when given."""
    rows = store.cursor().execute(
        f"SELECT {_COLUMNS} FROM loop_runs WHERE (CAST(? AS BIGINT) IS NULL OR project_id = ?)"
        " AND (CAST(? AS VARCHAR) IS NULL OR world = ?) ORDER BY id DESC",
        [project_id, project_id, world, world]).fetchall()
    return [_loop_run(row) for row in rows]


def supported(report: PatternReport, labels: dict[int, str]) -> bool:
    """Whether a designer accepts a candidate pattern: the judge supports it when it fails the pattern on
    at least one transcript the designer labelled bad, and at least ACCEPT_SHARE of the labelled
    transcripts it fails it on are ones the designer labelled bad (it condemns what she condemned, not
    what she liked). Transcripts bad for another fault, where the pattern passes, do not count against
    it: one pattern names one fault."""
    condemned = [labels[t] for t in report.evidence_against if labels.get(t) in ("good", "bad")]
    return condemned.count("bad") >= 1 and condemned.count("bad") >= ACCEPT_SHARE * len(condemned)


def _project(store: Store, world: World, seed: int) -> Project:
    """A new project for the world, named for it and the seed (numbered when that name is taken)."""
    base = f"bench: {world.name} (seed {seed})"
    taken = {p.name for p in list_projects(store, include_archived=True)}
    name = next(n for n in (base, *(f"{base} #{i}" for i in range(2, 10_000))) if n not in taken)
    project = create_project(store, name, world.goal, world.audience, world.prompt)
    for persona in world.personas:
        add_persona(store, project.id, persona.name, dict(persona.attributes), persona.weight)
    for s in world.scenarios:
        add_scenario(store, project.id, title=s.title, description=s.description, user_goal=s.user_goal,
                     difficulty=s.difficulty, split=s.split)
    return project


def _faults(transcripts: list[Transcript], checkers: list[Checker]) -> list[list[str]]:
    return [[c.name for c in checkers if c.fires(t.turns)] for t in transcripts]


def _quality(llm: LLM, store: Store, transcripts: list[Transcript], notes: list[str], what: str) -> float | None:
    """The platform's own quality judge (1-7) on the transcripts, averaged; ratings that fail are left out."""
    try:
        judge_quality(llm, store, transcripts)
    except BatchError as exc:
        failed = [r for r in exc.results if isinstance(r, Exception)]
        notes.append(f"{len(failed)} of {len(transcripts)} quality ratings under the {what} prompt failed "
                     f"(first: {failed[0]})")
    return mean_quality(store, [t.id for t in transcripts])


def run_loop(store: Store, llm: LLM, world: World, settings: LoopSettings = LoopSettings(), *,
             progress: StageProgress | None = None) -> LoopRun:
    """Run the loop on `world` (see the module docstring) and store the run with its figures."""
    loop_run_id = store.transaction(lambda db: db.execute(
        "INSERT INTO loop_runs (world, seed, settings, backend, model, demo, status, job_id)"
        " VALUES (?, ?, ?, ?, ?, ?, 'running', ?) RETURNING id",
        [world.name, settings.seed, json.dumps(asdict(settings)), llm.backend.describe(), llm.model,
         llm.backend.demo, current_job_id()]).fetchone()[0])
    llm = llm.for_run(f"bench_loop:{loop_run_id}")
    try:
        figures = _run(store, llm, world, settings, loop_run_id, progress)
    except Exception as exc:
        error = str(exc) or type(exc).__name__
        store.transaction(lambda db: db.execute(
            "UPDATE loop_runs SET status = 'failed', error = ?, finished_at = current_timestamp WHERE id = ?",
            [error, loop_run_id]))
        raise
    store.transaction(lambda db: db.execute(
        "UPDATE loop_runs SET status = 'done', figures = ?, finished_at = current_timestamp WHERE id = ?",
        [json.dumps(figures), loop_run_id]))
    return get_loop_run(store, loop_run_id)


def _run(store: Store, llm: LLM, world: World, settings: LoopSettings, loop_run_id: int,
         progress: StageProgress | None) -> dict:
    started = time.perf_counter()
    s, notes = settings, []
    stage = lambda name: in_stage(progress, name)  # noqa: E731
    count = lambda split, n: n if n is not None else PER_SCENARIO * sum(  # noqa: E731
        sc.split == split for sc in world.scenarios)

    if progress:
        progress("project", 0, 1)
    project = _project(store, world, s.seed)
    store.transaction(lambda db: db.execute("UPDATE loop_runs SET project_id = ? WHERE id = ?",
                                            [project.id, loop_run_id]))
    draft = project.current_version_id

    # Self-play on the training scenarios under the draft, and the oracle's marks.
    plan = plan_for_project(store, project.id, count("train", s.train), s.seed, "train")
    train_run = run_conversations(store, llm, project.id, plan, max_turns=s.turns, seed=s.seed, version_id=draft,
                                  progress=stage("self-play on training scenarios"))
    train = [get_transcript(store, i) for i in train_run.transcript_ids]
    marks = None
    if s.marks:
        if progress:
            progress("marks", 0, 1)
        marks = mark_transcripts(store, train, world.checkers, noise=s.noise, seed=s.seed)

    # Patterns from the marks, judged; the designer accepts those the judge supports.
    proposed, accepted = [], []
    if current_annotations(store, project_id=project.id):
        if progress:
            progress("proposing patterns", 0, 1)
        proposed = propose_patterns(llm, store, project.id, seed=s.seed)
        reports = evaluate_patterns(llm, store, project.id, [p.id for p in proposed],
                                    progress=stage("judging patterns"), seed=s.seed)
        labels = transcript_labels(store, project.id)
        for report in reports:
            keep = supported(report, labels)
            pattern = update_pattern(store, report.pattern_id, status="accepted" if keep else "rejected")
            if keep:
                accepted.append(pattern)
    else:
        notes.append("no marks: nothing to propose patterns from")

    # Refinement, and approval of its best candidate.
    tuned, refinement = draft, None
    if accepted:
        result = refine(store, llm, project.id, rounds=s.rounds, k=s.k, n_train=count("train", s.train),
                        n_heldout=count("heldout", s.heldout), max_turns=s.turns, seed=s.seed, progress=progress)
        refinement = {"refine_run": result.number, "best": result.best.name, "stopped": result.stopped}
        if result.best.status == "evaluated":
            version = approve(store, result.best.id)
            tuned, refinement["approved_version"] = version.id, version.number
    else:
        notes.append("no pattern accepted: nothing to refine; the tuned prompt is the draft")

    # One held-out plan, played under the draft and under the tuned prompt.
    plan = plan_for_project(store, project.id, count("heldout", s.heldout), derive_seed(s.seed, "heldout"),
                            "heldout")
    played = {}
    for name, version_id in (("draft", draft), ("tuned", tuned)):
        run = run_conversations(store, llm, project.id, plan, max_turns=s.turns, seed=s.seed, version_id=version_id,
                                progress=stage(f"held-out self-play under the {name} prompt"))
        played[name] = [get_transcript(store, i) for i in run.transcript_ids]

    if progress:
        progress("figures", 0, 1)
    draft_faults, tuned_faults = _faults(played["draft"], world.checkers), _faults(played["tuned"], world.checkers)
    names = [c.name for c in world.checkers]
    by_checker = fault_figures(draft_faults, tuned_faults, names, seed=s.seed)
    total = by_checker.pop("total")
    verdicts = {(j.pattern_id, j.transcript_id): j.verdict for t in train for j in judgements_for_transcript(store, t.id)}
    fails = {p.name: [(p.id, t.id) in verdicts and passes(p.kind, verdicts[p.id, t.id]) is False for t in train]
             for p in accepted}
    recall = recall_figures({c.name: [bool(c.fires(t.turns)) for t in train] for c in world.checkers}, fails)
    quality = {name: _quality(llm, store, played[name], notes, name) for name in played}
    usage = llm.usage()
    for name, checker in zip(names, world.checkers):
        by_checker[name] = {"rule": checker.rule, **by_checker[name], **recall["faults"][name]}
    return {
        "world": world.name,
        "project": project.name,
        "settings": asdict(s),
        "backend": llm.backend.describe(),
        "model": llm.model,
        "demo": llm.backend.demo,
        "conversations": {"train": len(train), "heldout": len(plan)},
        "draft_fault_rate": total["draft"],
        "tuned_fault_rate": total["tuned"],
        "difference": total["difference"],
        "ci95": total["ci95"],
        "test": {"name": "exact McNemar (binomial test on the discordant pairs)", **total["test"]},
        "checkers": by_checker,
        "recall": recall["recall"],
        "recall_of_shown": recall["recall_of_shown"],
        "found": recall["found"],
        "shown": recall["shown"],
        "kappa": {name: recall["faults"][name]["kappa"] for name in names},
        "marks": asdict(marks) if marks else None,
        "patterns": {"proposed": len(proposed), "accepted": [p.name for p in accepted]},
        "refinement": refinement,
        "quality": quality,
        "heldout": [{"scenario": c.scenario.title, "persona": c.persona.name, "seed": c.seed, "draft": d, "tuned": t}
                    for c, d, t in zip(plan, draft_faults, tuned_faults)],
        "usage": {"calls": usage.calls, "cache_hits": usage.cache_hits, "errors": usage.errors,
                  "tokens_in": usage.tokens_in, "tokens_out": usage.tokens_out},
        "wall_s": round(time.perf_counter() - started, 2),
        "notes": notes,
    }
