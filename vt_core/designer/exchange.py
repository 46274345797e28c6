"""A project as a file: export it (prompt versions, personas, scenarios, self-play runs and transcripts with
their turns, the designer's marks, patterns with their judge prompts and verdicts, refinement runs and their
candidates) as versioned JSON or as a Markdown report, and import the JSON into any database.

In the file every row has a `key` (its id where it was exported) and refers to others by key; an import
gives every row a new id and maps every reference, in one transaction, so a file that is malformed, of
another format version, or refers to a key it does not hold is refused with the reason and writes nothing.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vt_core.core.store import Store, insert_rows, naive_utc
from vt_core.core.text import escape_markdown
from vt_core.designer.patterns import passes
from vt_core.designer.projects import Project, get_project, recount, versions

FORMAT = "visionary-tuning-project"
FORMAT_VERSION = 1
MAX_FILE_BYTES = 200 * 1024 * 1024


class ExchangeError(ValueError):
    """A project file that cannot be read or imported; the message says why."""


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VersionRow(_Row):
    key: int
    number: int  # the project's v1, v2, ...
    parent: int | None = None
    text: str = Field(min_length=1)
    author: Literal["designer", "refinement"]
    rationale: str = ""
    patterns: list[int] = []  # the patterns behind the change
    created_at: datetime


class PersonaRow(_Row):
    key: int
    name: str
    description: str = ""
    attributes: dict[str, str]
    weight: float = Field(gt=0)
    pinned: bool = False
    archived: bool = False


class ScenarioRow(_Row):
    key: int
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    user_goal: str = Field(min_length=1)
    difficulty: Literal[1, 2, 3]
    rules: list[str] = []
    covered: bool = True
    split: Literal["train", "heldout"]
    source: Literal["generated", "designer"]
    archived: bool = False


class PatternRow(_Row):
    key: int
    number: int  # the project's P1, P2, ...
    kind: Literal["keep", "avoid"]
    statement: str = Field(min_length=1)
    status: Literal["candidate", "accepted", "rejected", "merged"]
    source: Literal["proposed", "designer"]
    judge_prompt: str = ""
    merged_into: int | None = None


class CandidateRow(_Row):
    key: int
    round: int
    parent_text: str
    text: str
    changes: list[dict]  # [{summary, rationale, pattern_ids}]: pattern_ids are pattern keys
    guard_notes: list[str] = []
    train_pass: float | None = None
    heldout_pass: float | None = None
    quality: float | None = None
    pass_by_pattern: dict[str, dict[str, float | None]] = {}  # by pattern key
    status: Literal["baseline", "evaluated", "rejected", "approved"]
    version: int | None = None  # the version it became when approved


class RefineRunRow(_Row):
    key: int
    number: int
    parent_version: int
    rounds: int
    per_round: int  # candidates written per round
    seed: int
    status: Literal["done", "failed"]
    error: str | None = None
    created_at: datetime
    archived: bool = False
    candidates: list[CandidateRow] = []


class TurnRow(_Row):
    role: Literal["user", "assistant"]
    content: str
    cut_off: bool = False  # cut at the maximum length


class AnnotationRow(_Row):
    turn: int | None  # None: the whole transcript
    label: Literal["good", "bad", "unrealistic_user"] | None  # None: a label cleared
    critique: str = ""
    rewrite: str | None = None
    created_at: datetime


class JudgementRow(_Row):
    pattern: int
    verdict: Literal["exhibited", "not_exhibited", "not_applicable"]
    reason: str = ""


class QualityRow(_Row):
    score: int = Field(ge=1, le=7)
    reason: str = ""


class TranscriptRow(_Row):
    key: int
    number: int | None = None  # the designer's transcripts only
    position: int
    persona: int
    scenario: int
    version: int | None = None
    candidate: int | None = None
    seed: int
    simulator_model: str
    bot_model: str
    ended_by: Literal["user", "max_turns"]
    created_at: datetime
    archived: bool = False
    turns: list[TurnRow]
    annotations: list[AnnotationRow] = []  # the whole history, oldest first: the newest is the current mark
    judgements: list[JudgementRow] = []
    quality: QualityRow | None = None


class RunRow(_Row):
    key: int
    number: int | None = None  # the designer's runs only
    first_transcript: int | None = None  # the number of its first planned transcript
    refine_run: int | None = None  # the refinement run it played for
    purpose: Literal["selfplay", "refine"]
    version: int | None = None
    candidate: int | None = None
    conversations: int
    max_turns: int
    seed: int
    simulator_model: str
    bot_model: str
    status: Literal["done", "failed"]
    error: str | None = None
    created_at: datetime
    finished_at: datetime | None = None
    archived: bool = False
    transcripts: list[TranscriptRow] = []


class ProjectRow(_Row):
    name: str = Field(min_length=1)
    goal: str
    audience: str
    current_version: int
    locked_sections: list[str] = []
    prompt_token_budget: int = Field(ge=50)
    archived: bool = False


class ProjectFile(_Row):
    format: Literal["visionary-tuning-project"]
    version: Literal[1]
    exported_at: datetime
    project: ProjectRow
    versions: list[VersionRow] = Field(min_length=1)
    personas: list[PersonaRow] = []
    scenarios: list[ScenarioRow] = []
    patterns: list[PatternRow] = []
    refine_runs: list[RefineRunRow] = []
    runs: list[RunRow] = []

    @model_validator(mode="after")
    def _references_resolve(self) -> ProjectFile:
        """Every key is unique in its list and every reference names a key the file holds."""
        problems: list[str] = []
        candidates = [c for r in self.refine_runs for c in r.candidates]
        transcripts = [t for r in self.runs for t in r.transcripts]
        keys = {}
        for name, rows in (("versions", self.versions), ("personas", self.personas), ("scenarios", self.scenarios),
                           ("patterns", self.patterns), ("refine_runs", self.refine_runs),
                           ("candidates", candidates), ("runs", self.runs), ("transcripts", transcripts)):
            counts = Counter(row.key for row in rows)
            problems += [f"{name}: key {k} is used {n} times" for k, n in counts.items() if n > 1]
            keys[name] = set(counts)

        def need(where: str, kind: str, key: int | None) -> None:
            if key is not None and key not in keys[kind]:
                problems.append(f"{where}: there is no {kind[:-1].replace('_', ' ')} with key {key}")

        need("project.current_version", "versions", self.project.current_version)
        for v in self.versions:
            need(f"version {v.key}.parent", "versions", v.parent)
            for p in v.patterns:
                need(f"version {v.key}.patterns", "patterns", p)
        for p in self.patterns:
            need(f"pattern {p.key}.merged_into", "patterns", p.merged_into)
        for r in self.refine_runs:
            need(f"refine run {r.key}.parent_version", "versions", r.parent_version)
            for c in r.candidates:
                need(f"candidate {c.key}.version", "versions", c.version)
        for r in self.runs:
            need(f"run {r.key}.version", "versions", r.version)
            need(f"run {r.key}.candidate", "candidates", r.candidate)
            need(f"run {r.key}.refine_run", "refine_runs", r.refine_run)
            for t in r.transcripts:
                where = f"transcript {t.key}"
                need(f"{where}.persona", "personas", t.persona)
                need(f"{where}.scenario", "scenarios", t.scenario)
                need(f"{where}.version", "versions", t.version)
                need(f"{where}.candidate", "candidates", t.candidate)
                for j in t.judgements:
                    need(f"{where}.judgements", "patterns", j.pattern)
                for a in t.annotations:
                    if a.turn is not None and not 0 <= a.turn < len(t.turns):
                        problems.append(f"{where}.annotations: turn {a.turn} is not one of its {len(t.turns)} turns")
        if problems:
            more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
            raise ValueError("; ".join(problems[:10]) + more)
        return self


# -- export ----------------------------------------------------------------------------------------------


def _archived(db, table: str, project_id: int) -> set[int]:
    return {r[0] for r in db.execute(f"SELECT id FROM {table} WHERE project_id = ? AND archived_at IS NOT NULL",
                                     [project_id]).fetchall()}


def _stored_status(status: str, error: str | None) -> tuple[str, str | None]:
    """A run that was still running when exported is a failed run in the file."""
    return ("failed", error or "still running when exported") if status == "running" else (status, error)


def export_project(store: Store, project_id: int) -> ProjectFile:
    """The whole project, archived rows included, as the file's model (`.model_dump_json()` writes it)."""
    project = get_project(store, project_id)
    db = store.cursor()
    archived_personas = _archived(db, "personas", project_id)
    personas = [PersonaRow(key=r[0], name=r[1], attributes=json.loads(r[2]), weight=r[3], pinned=r[4],
                           description=r[5], archived=r[0] in archived_personas) for r in db.execute(
        "SELECT id, name, attributes, weight, pinned, description FROM personas WHERE project_id = ? ORDER BY id",
        [project_id]).fetchall()]
    scenarios = [ScenarioRow(key=r[0], title=r[1], description=r[2], user_goal=r[3], difficulty=r[4],
                             rules=json.loads(r[5]), covered=r[6], split=r[7], source=r[8], archived=r[9] is not None)
                 for r in db.execute("SELECT id, title, description, user_goal, difficulty, rules, covered, split,"
                                     " source, archived_at FROM scenarios WHERE project_id = ? ORDER BY id",
                                     [project_id]).fetchall()]
    patterns = [PatternRow(key=r[0], kind=r[1], statement=r[2], status=r[3], source=r[4], judge_prompt=r[5],
                           merged_into=r[6], number=r[7]) for r in db.execute(
        "SELECT id, kind, statement, status, source, judge_prompt, merged_into, number FROM patterns"
        " WHERE project_id = ?"
        " ORDER BY id", [project_id]).fetchall()]
    candidates: dict[int, list[CandidateRow]] = {}
    for r in db.execute(
            "SELECT c.refine_run_id, c.id, c.round, c.parent_text, c.text, c.changes, c.guard_notes, c.train_pass,"
            " c.heldout_pass, c.quality, c.pass_by_pattern, c.status, c.version_id FROM candidates c JOIN refine_runs r"
            " ON r.id = c.refine_run_id WHERE r.project_id = ? ORDER BY c.id", [project_id]).fetchall():
        candidates.setdefault(r[0], []).append(CandidateRow(
            key=r[1], round=r[2], parent_text=r[3], text=r[4], changes=json.loads(r[5]), guard_notes=json.loads(r[6]),
            train_pass=r[7], heldout_pass=r[8], quality=r[9], pass_by_pattern=json.loads(r[10]), status=r[11],
            version=r[12]))
    refine_runs = []
    for r in db.execute("SELECT id, parent_version_id, rounds, candidates, seed, status, error, created_at, archived_at,"
                        " number FROM refine_runs WHERE project_id = ? ORDER BY id", [project_id]).fetchall():
        status, error = _stored_status(r[5], r[6])
        refine_runs.append(RefineRunRow(key=r[0], number=r[9], parent_version=r[1], rounds=r[2], per_round=r[3], seed=r[4],
                                        status=status, error=error, created_at=r[7], archived=r[8] is not None,
                                        candidates=candidates.get(r[0], [])))
    return ProjectFile(
        format=FORMAT, version=FORMAT_VERSION, exported_at=naive_utc(),
        project=ProjectRow(name=project.name, goal=project.goal, audience=project.audience,
                           current_version=project.current_version_id, locked_sections=project.locked_sections,
                           prompt_token_budget=project.prompt_token_budget, archived=project.archived_at is not None),
        versions=[VersionRow(key=v.id, number=v.number, parent=v.parent_id, text=v.text, author=v.author, rationale=v.rationale,
                             patterns=v.pattern_ids, created_at=v.created_at) for v in versions(store, project_id)],
        personas=personas, scenarios=scenarios, patterns=patterns, refine_runs=refine_runs,
        runs=_export_runs(db, project_id))


def _export_runs(db, project_id: int) -> list[RunRow]:
    turns: dict[int, list[TurnRow]] = {}
    for tid, role, content, cut_off in db.execute(
            "SELECT transcript_id, role, content, cut_off FROM turns WHERE transcript_id IN"
            " (SELECT id FROM transcripts WHERE project_id = ?) ORDER BY transcript_id, idx", [project_id]).fetchall():
        turns.setdefault(tid, []).append(TurnRow(role=role, content=content, cut_off=cut_off))
    annotations: dict[int, list[AnnotationRow]] = {}
    for r in db.execute(
            "SELECT transcript_id, turn_idx, label, critique, rewrite, created_at FROM annotations WHERE transcript_id"
            " IN (SELECT id FROM transcripts WHERE project_id = ?) ORDER BY id", [project_id]).fetchall():
        annotations.setdefault(r[0], []).append(
            AnnotationRow(turn=r[1], label=r[2], critique=r[3], rewrite=r[4], created_at=r[5]))
    judgements: dict[int, list[JudgementRow]] = {}
    for r in db.execute(
            "SELECT transcript_id, pattern_id, verdict, reason FROM judgements WHERE transcript_id IN"
            " (SELECT id FROM transcripts WHERE project_id = ?) ORDER BY transcript_id, pattern_id",
            [project_id]).fetchall():
        judgements.setdefault(r[0], []).append(JudgementRow(pattern=r[1], verdict=r[2], reason=r[3]))
    quality = {r[0]: QualityRow(score=r[1], reason=r[2]) for r in db.execute(
        "SELECT transcript_id, score, reason FROM quality_scores WHERE transcript_id IN"
        " (SELECT id FROM transcripts WHERE project_id = ?)", [project_id]).fetchall()}
    transcripts: dict[int, list[TranscriptRow]] = {}
    for r in db.execute(
            "SELECT run_id, id, position, persona_id, scenario_id, version_id, candidate_id, seed, simulator_model,"
            " bot_model, ended_by, created_at, archived_at, number FROM transcripts WHERE project_id = ? ORDER BY run_id,"
            " position, id", [project_id]).fetchall():
        transcripts.setdefault(r[0], []).append(TranscriptRow(
            key=r[1], number=r[13], position=r[2], persona=r[3], scenario=r[4], version=r[5], candidate=r[6], seed=r[7],
            simulator_model=r[8], bot_model=r[9], ended_by=r[10], created_at=r[11], archived=r[12] is not None,
            turns=turns.get(r[1], []), annotations=annotations.get(r[1], []), judgements=judgements.get(r[1], []),
            quality=quality.get(r[1])))
    runs = []
    for r in db.execute(
            "SELECT id, purpose, version_id, candidate_id, conversations, max_turns, seed, simulator_model, bot_model,"
            " status, error, created_at, finished_at, archived_at, number, first_transcript, refine_run_id"
            " FROM selfplay_runs WHERE project_id = ? ORDER BY id", [project_id]).fetchall():
        status, error = _stored_status(r[9], r[10])
        runs.append(RunRow(key=r[0], number=r[14], first_transcript=r[15], refine_run=r[16], purpose=r[1], version=r[2], candidate=r[3], conversations=r[4], max_turns=r[5],
                           seed=r[6], simulator_model=r[7], bot_model=r[8], status=status, error=error,
                           created_at=r[11], finished_at=r[12], archived=r[13] is not None,
                           transcripts=transcripts.get(r[0], [])))
    return runs


def export_json(store: Store, project_id: int) -> str:
    return export_project(store, project_id).model_dump_json(indent=1)


# -- import ----------------------------------------------------------------------------------------------


def read_project_file(content: str | bytes) -> ProjectFile:
    """The file's content as a ProjectFile, or ExchangeError saying what is wrong with it."""
    if len(content) > MAX_FILE_BYTES:
        raise ExchangeError(f"the file is larger than {MAX_FILE_BYTES // 2**20} MiB")
    try:
        data = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExchangeError(f"the file is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise ExchangeError(f"this is not a Visionary Tuning project file: its \"format\" is {found!r}, "
                            f"not {FORMAT!r}")
    if data.get("version") != FORMAT_VERSION:
        raise ExchangeError(f"the file is in version {data.get('version')!r} of the project format; this "
                            f"platform reads version {FORMAT_VERSION}")
    try:
        return ProjectFile.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(part) for part in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()[:10]]
        more = f"\n(and {exc.error_count() - 10} more)" if exc.error_count() > 10 else ""
        raise ExchangeError("the project file is malformed:\n" + "\n".join(lines) + more) from None


def _free_name(db, name: str) -> str:
    taken = {r[0] for r in db.execute("SELECT name FROM projects WHERE name = ? OR name LIKE ?",
                                      [name, f"{name} (imported%"]).fetchall()}
    candidates = [name, f"{name} (imported)", *(f"{name} (imported {n})" for n in range(2, len(taken) + 3))]
    return next(c for c in candidates if c not in taken)


def import_project(store: Store, source: str | bytes | ProjectFile, *, name: str | None = None) -> Project:
    """Import a project file as a new project, with new ids and every reference mapped, in one transaction.
    Its name is `name`, else the file's; when that is taken, "NAME (imported)" (or "(imported 2)", ...)."""
    file = source if isinstance(source, ProjectFile) else read_project_file(source)
    wanted = (name or file.project.name).strip()
    if not wanted:
        raise ExchangeError("a project needs a name")
    return get_project(store, store.transaction(lambda db: _insert(db, file, wanted)))


def _id(db, sql: str, values: list) -> int:
    return db.execute(sql + " RETURNING id", values).fetchone()[0]


def _insert(db, file: ProjectFile, name: str) -> int:
    p = file.project
    pid = _id(db, "INSERT INTO projects (name, goal, audience, locked_sections, prompt_token_budget, archived_at)"
                  " VALUES (?, ?, ?, ?, ?, ?)",
              [_free_name(db, name), p.goal, p.audience, json.dumps(p.locked_sections), p.prompt_token_budget,
               naive_utc() if p.archived else None])
    now = naive_utc()
    persona = {r.key: _id(db, "INSERT INTO personas (project_id, name, description, attributes, weight, pinned,"
                              " archived_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [pid, r.name, r.description, json.dumps(r.attributes), r.weight, r.pinned,
                           now if r.archived else None])
               for r in file.personas}
    scenario = {r.key: _id(db, "INSERT INTO scenarios (project_id, title, description, user_goal, difficulty, rules,"
                               " covered, split, source, archived_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [pid, r.title, r.description, r.user_goal, r.difficulty, json.dumps(r.rules), r.covered,
                            r.split, r.source, now if r.archived else None]) for r in file.scenarios}
    pattern = {r.key: _id(db, "INSERT INTO patterns (project_id, kind, statement, status, source, judge_prompt,"
                              " number) VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [pid, r.kind, r.statement, r.status, r.source, r.judge_prompt, r.number])
               for r in file.patterns}
    for r in file.patterns:
        if r.merged_into is not None:
            db.execute("UPDATE patterns SET merged_into = ? WHERE id = ?", [pattern[r.merged_into], pattern[r.key]])
    version = {r.key: _id(db, "INSERT INTO prompt_versions (project_id, text, author, rationale, pattern_ids,"
                              " created_at, number) VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [pid, r.text, r.author, r.rationale, json.dumps([pattern[k] for k in r.patterns]),
                           r.created_at, r.number]) for r in file.versions}
    for r in file.versions:
        if r.parent is not None:
            db.execute("UPDATE prompt_versions SET parent_id = ? WHERE id = ?", [version[r.parent], version[r.key]])
    db.execute("UPDATE projects SET current_version_id = ? WHERE id = ?", [version[p.current_version], pid])

    def get(mapping: dict[int, int], key: int | None) -> int | None:
        return None if key is None else mapping[key]

    candidate: dict[int, int] = {}
    refine_run: dict[int, int] = {}
    for r in file.refine_runs:
        run_id = refine_run[r.key] = _id(
            db, "INSERT INTO refine_runs (project_id, parent_version_id, rounds, candidates, seed, status, error,"
                " created_at, archived_at, number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [pid, version[r.parent_version], r.rounds, r.per_round, r.seed, r.status, r.error, r.created_at,
             now if r.archived else None, r.number])
        for c in r.candidates:
            changes = [{**change, "pattern_ids": [pattern[k] for k in change.get("pattern_ids", []) if k in pattern]}
                       if "pattern_ids" in change else change for change in c.changes]
            by_pattern = {str(pattern[int(k)]): v for k, v in c.pass_by_pattern.items()
                          if k.isdigit() and int(k) in pattern}
            candidate[c.key] = _id(
                db, "INSERT INTO candidates (refine_run_id, round, parent_text, text, changes, guard_notes, train_pass,"
                    " heldout_pass, quality, pass_by_pattern, status, version_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, c.round, c.parent_text, c.text, json.dumps(changes), json.dumps(c.guard_notes), c.train_pass,
                 c.heldout_pass, c.quality, json.dumps(by_pattern), c.status, get(version, c.version)])
    for r in file.runs:
        run_id = _id(db, "INSERT INTO selfplay_runs (project_id, version_id, candidate_id, purpose, conversations,"
                         " max_turns, seed, simulator_model, bot_model, status, error, created_at, finished_at,"
                         " archived_at, number, first_transcript, refine_run_id)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [pid, get(version, r.version), get(candidate, r.candidate), r.purpose, r.conversations,
                      r.max_turns, r.seed, r.simulator_model, r.bot_model, r.status, r.error, r.created_at,
                      r.finished_at, now if r.archived else None, r.number, r.first_transcript,
                      get(refine_run, r.refine_run)])
        for t in r.transcripts:
            tid = _id(db, "INSERT INTO transcripts (run_id, position, project_id, version_id, candidate_id, persona_id,"
                          " scenario_id, seed, simulator_model, bot_model, ended_by, created_at, archived_at, number)"
                          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      [run_id, t.position, pid, get(version, t.version), get(candidate, t.candidate),
                       persona[t.persona], scenario[t.scenario], t.seed, t.simulator_model, t.bot_model, t.ended_by,
                       t.created_at, now if t.archived else None, t.number])
            if t.turns:
                insert_rows(db, "INSERT INTO turns (transcript_id, idx, role, content, cut_off) VALUES (?, ?, ?, ?, ?)",
                            [[tid, i, turn.role, turn.content, turn.cut_off] for i, turn in enumerate(t.turns)])
            if t.annotations:  # in order: the newest row is the current mark
                insert_rows(db, "INSERT INTO annotations (transcript_id, turn_idx, label, critique, rewrite,"
                                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                            [[tid, a.turn, a.label, a.critique, a.rewrite, a.created_at] for a in t.annotations])
            if t.judgements:
                insert_rows(db, "INSERT INTO judgements (pattern_id, transcript_id, verdict, reason)"
                                " VALUES (?, ?, ?, ?)",
                            [[pattern[j.pattern], tid, j.verdict, j.reason] for j in t.judgements])
            if t.quality is not None:
                db.execute("INSERT INTO quality_scores (transcript_id, score, reason) VALUES (?, ?, ?)",
                           [tid, t.quality.score, t.quality.reason])
    recount(db, pid)
    return pid


# -- the Markdown report ---------------------------------------------------------------------------------


def _inline(text: object) -> str:
    """Someone else's text on one line of Markdown, shown as written."""
    return escape_markdown(" ".join(str(text).split()))


def _block(text: str) -> str:
    """Someone else's text as a fenced block, with a fence longer than any run of backticks in it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def project_markdown(file: ProjectFile) -> str:
    """A readable report of the project for any Markdown reader. Versions, runs, transcripts and patterns are
    numbered within the project (v1, run 1, #1, P1); every text a designer or a model wrote is escaped, and
    prompts and turns are fenced blocks."""
    p = file.project
    v_no = {v.key: v.number for v in file.versions}
    p_no = {x.key: x.number for x in file.patterns}
    personas = {x.key: x for x in file.personas}
    scenarios = {x.key: x for x in file.scenarios}
    all_transcripts = [t for r in file.runs for t in r.transcripts]
    c_no = {c.key: (r.number, j) for r in file.refine_runs for j, c in enumerate(r.candidates)}  # 0: the baseline
    kind = {x.key: x.kind for x in file.patterns}

    def prompt_of(version: int | None, candidate: int | None) -> str:
        if version is not None:
            return f"v{v_no[version]}"
        i, j = c_no[candidate]
        return f"candidate {j} of refinement run {i}"

    refined = {r.key: r.number for r in file.refine_runs}

    def played(run: RunRow) -> str:  # a refinement run's conversations: whose they are
        who = "the baseline" if run.candidate is None else f"candidate {c_no[run.candidate][1]}"
        return f"refinement run {refined.get(run.refine_run, '?')}, {who}"

    def run_name(run: RunRow) -> str:
        if run.number is not None:
            return f"Run {run.number}: self-play of {prompt_of(run.version, run.candidate)}"
        return f"Conversations of {played(run)}"

    named = {t.key: f"#{t.number}" if t.number is not None else f"{played(r)}, conversation {t.position + 1}"
             for r in file.runs for t in r.transcripts}

    out = [f"# {_inline(p.name)}", "",
           f"Exported {file.exported_at:%Y-%m-%d %H:%M} UTC from Visionary Tuning ({FORMAT} version {file.version})."
           + (" The project is archived." if p.archived else ""), "",
           f"- **Goal:** {_inline(p.goal)}", f"- **Audience:** {_inline(p.audience)}",
           f"- **Current prompt:** v{v_no[p.current_version]}",
           f"- **Token budget:** {p.prompt_token_budget}",
           f"- **Locked sections:** {', '.join(_inline(s) for s in p.locked_sections) or 'none'}", "",
           "## Prompt versions", ""]
    for v in file.versions:
        mark = " (current)" if v.key == p.current_version else ""
        parent = f", from v{v_no[v.parent]}" if v.parent is not None else ""
        out += [f"### v{v_no[v.key]}{mark}", "",
                f"By the {v.author}{parent}, {v.created_at:%Y-%m-%d %H:%M}."
                + (f" Rationale: {_inline(v.rationale)}" if v.rationale else "")
                + (f" Patterns: {', '.join(f'P{p_no[k]}' for k in v.patterns)}." if v.patterns else ""), "",
                _block(v.text), ""]
    out += ["## Personas", ""]
    out += [f"- **{_inline(x.name)}** (weight {x.weight:g}{', pinned' if x.pinned else ''}"
            f"{', archived' if x.archived else ''}): "
            + "; ".join(f"{_inline(k)}: {_inline(val)}" for k, val in x.attributes.items()) for x in file.personas]
    out += ["", "## Scenarios", ""]
    out += [f"- **{_inline(s.title)}** ({'held-out' if s.split == 'heldout' else 'training'}, difficulty "
            f"{s.difficulty}{'' if s.covered else ', not covered by the prompt'}{', archived' if s.archived else ''}): "
            f"{_inline(s.description)} The user's goal: {_inline(s.user_goal)}" for s in file.scenarios]
    out += ["", "## Patterns", ""]
    verdicts: dict[int, list[tuple[int, JudgementRow]]] = {}
    for t in all_transcripts:
        for j in t.judgements:
            verdicts.setdefault(j.pattern, []).append((t.key, j))
    for x in file.patterns:
        judged = verdicts.get(x.key, [])
        passed = [t for t, j in judged if passes(x.kind, j.verdict) is True]
        failed = [t for t, j in judged if passes(x.kind, j.verdict) is False]
        merged = f", merged into P{p_no[x.merged_into]}" if x.merged_into is not None else ""
        out += [f"### P{p_no[x.key]} {'KEEP' if x.kind == 'keep' else 'AVOID'}: {_inline(x.statement)}", "",
                f"{x.status.capitalize()}{merged}; {x.source}. Judged on {len(judged)} transcripts: {len(passed)} "
                f"pass, {len(failed)} fail, {len(judged) - len(passed) - len(failed)} not applicable.", ""]
        if passed or failed:
            out += [f"Evidence for: {', '.join(named[t] for t in passed) or 'none'}. "
                    f"Evidence against: {', '.join(named[t] for t in failed) or 'none'}.", ""]
    out += ["## Self-play runs", ""]
    for r in file.runs:
        out += [f"### {run_name(r)}", "",
                f"{r.conversations} conversations of up to {r.max_turns} exchanges, seed {r.seed}, simulator "
                f"{_inline(r.simulator_model)}, bot {_inline(r.bot_model)}; {r.status}"
                + (f": {_inline(r.error)}" if r.error else "") + (" (archived)" if r.archived else "") + ".", ""]
        for t in r.transcripts:
            out += [f"#### Transcript {named[t.key]}", "",
                    f"Persona {_inline(personas[t.persona].name)}, scenario {_inline(scenarios[t.scenario].title)}, "
                    f"seed {t.seed}; ended by {'the user' if t.ended_by == 'user' else 'the turn limit'}"
                    + (f"; quality {t.quality.score}/7" if t.quality else "") + (" (archived)" if t.archived else "")
                    + ".", ""]
            for n, turn in enumerate(t.turns):
                out += [f"**{'User' if turn.role == 'user' else 'Bot'} [{n}]**", "", _block(turn.content), ""]
            current = {a.turn: a for a in t.annotations}  # the newest per turn: the current mark
            marks = [a for a in current.values() if a.label is not None]
            if marks:
                out += ["Marks:", ""]
                for a in sorted(marks, key=lambda a: -1 if a.turn is None else a.turn):
                    where = "whole transcript" if a.turn is None else f"turn {a.turn}"
                    out.append(f"- {where}: {a.label.replace('_', ' ')}"
                               + (f". {_inline(a.critique)}" if a.critique else ""))
                    if a.rewrite:
                        out += ["", "  Better reply:", "", _block(a.rewrite), ""]
                out.append("")
            if t.judgements:
                out += ["Judge verdicts:", ""]
                out += [f"- P{p_no[j.pattern]} ({kind[j.pattern]}): {j.verdict.replace('_', ' ')}"
                        + (f". {_inline(j.reason)}" if j.reason else "") for j in t.judgements]
                out.append("")
    out += ["## Refinement runs", ""]
    for r in file.refine_runs:
        out += [f"### Refinement run {r.number} of v{v_no[r.parent_version]}", "",
                f"{r.rounds} rounds of {r.per_round} candidates, seed {r.seed}; {r.status}"
                + (f": {_inline(r.error)}" if r.error else "") + (" (archived)" if r.archived else "") + ".", "",
                "| candidate | round | status | training pass | held-out pass | quality | version |",
                "|---|---|---|---|---|---|---|"]
        out += [f"| {c_no[c.key][1]} | {c.round} | {c.status} | {_share(c.train_pass)} | {_share(c.heldout_pass)} | "
                f"{'n/a' if c.quality is None else f'{c.quality:.1f}'} | "
                f"{f'v{v_no[c.version]}' if c.version is not None else ''} |" for c in r.candidates]
        out.append("")
        for c in r.candidates:
            if c.status == "baseline":
                continue
            out += [f"#### Candidate {c_no[c.key][1]}", ""]
            out += [f"- {_inline(change.get('summary') or change.get('after') or '')}"
                    + (f" ({_inline(change['rationale'])})" if change.get("rationale") else "") for change in c.changes]
            out += [f"- guard: {_inline(note)}" for note in c.guard_notes]
            out += ["", _block(c.text), ""]
    return "\n".join(out).rstrip() + "\n"


def export_markdown(store: Store, project_id: int) -> str:
    return project_markdown(export_project(store, project_id))
