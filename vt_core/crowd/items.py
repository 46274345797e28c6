"""A study's items: the transcripts raters read, one per item.

Regular items come from self-play (the same plan under every condition's prompt version, matched
across conditions by scenario and seed) or from JSONL in the OpenAI chat format; attention-check
and gold items come from the definition and carry the answer expected on them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import duckdb

from vt_core.core.llm import LLM
from vt_core.core.progress import Progress
from vt_core.core.store import Store, insert_rows
from vt_core.crowd.pairs import Conversation, insert_pairs, plan_pairs
from vt_core.crowd.studies import CHECKS_CONDITION, Study, StudyDefinition, StudyError
from vt_core.designer import (
    ProjectError,
    Turn,
    find_version,
    get_project,
    list_transcripts,
    plan_for_project,
    run_conversations,
)


@dataclass(frozen=True)
class StudyItem:
    """A row of study_items: what raters read, one transcript or check. Its turns and expected
    answers are parsed when first read, so that the assignment can plan over many items cheaply."""

    id: int
    study_id: int
    condition: str = field(repr=False)  # never shown to raters; CHECKS_CONDITION for attention and gold items
    kind: str  # regular, gold or attention
    match_key: str | None
    transcript_id: int | None
    turns_json: str = field(repr=False)
    expected_json: str | None = field(repr=False)

    @cached_property
    def turns(self) -> list[Turn]:
        return [Turn(t["role"], t["content"]) for t in json.loads(self.turns_json)]

    @cached_property
    def expected(self) -> dict[str, int] | None:
        return None if self.expected_json is None else json.loads(self.expected_json)


def _require_draft(study: Study) -> None:
    if study.status != "draft":
        raise StudyError(f"study {study.name!r} is {study.status}; items can be added only while it is a draft")


def _insert_items(db: duckdb.DuckDBPyConnection, study_id: int, rows: list[tuple]) -> None:
    """rows: (condition, kind, match_key, transcript_id, turns, expected)."""
    if rows:
        insert_rows(
            db, "INSERT INTO study_items (study_id, condition, kind, match_key, transcript_id, turns, expected)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [[study_id, c, k, m, t, json.dumps([{"role": x.role, "content": x.content} for x in turns]),
              None if e is None else json.dumps(e)] for c, k, m, t, turns, e in rows],
        )


def unresolved_prompts(store: Store, definition: StudyDefinition) -> list[str]:
    """What the conditions name that the database does not hold (yet), each with its field path. A
    study may be defined before its prompt versions exist; its self-play items need them."""
    problems = []
    for i, condition in enumerate(definition.conditions):
        if not condition.is_selfplay:
            continue
        try:
            project = get_project(store, condition.project)
        except ProjectError:
            problems.append(f"conditions[{i}].project: there is no project named {condition.project!r}")
            continue
        try:
            find_version(store, project.id, condition.version)
        except ProjectError as exc:
            problems.append(f"conditions[{i}].version: {exc}")
    return problems


def _selfplay_project(store: Store, definition: StudyDefinition) -> int:
    """The one project every condition plays, after checking each version belongs to it."""
    imported = [c.name for c in definition.conditions if not c.is_selfplay]
    if imported:
        raise StudyError(f"condition(s) {', '.join(imported)} name no project and version; "
                         f"their items can only be imported")
    projects = {c.project for c in definition.conditions}
    if len(projects) > 1:
        raise StudyError(f"self-play items need one project for all conditions (the same scenarios and "
                         f"personas), but the conditions name {', '.join(sorted(projects))}")
    if problems := unresolved_prompts(store, definition):
        raise StudyError(f"study {definition.name!r} names prompts that do not exist:\n" + "\n".join(problems))
    return get_project(store, projects.pop()).id


def add_items_from_selfplay(store: Store, llm: LLM, study: Study, *, n: int, max_turns: int, seed: int,
                            progress: Progress | None = None) -> list[StudyItem]:
    """Play the same plan (scenarios, personas, seeds) under every condition's prompt version and
    store one item per transcript, matched across conditions by f"{scenario_id}:{seed}".

    The transcripts are stored by each self-play run as it goes; the items are written together
    at the end, so a failed run (SelfPlayError) leaves no items, and a rerun is answered from the
    LLM cache.
    """
    _require_draft(study)
    project_id = _selfplay_project(store, study.definition)
    plan = plan_for_project(store, project_id, n, seed)
    total, done_before = n * len(study.definition.conditions), 0
    rows = []
    played: dict[str, dict[str, Conversation]] = {}
    for condition in study.definition.conditions:
        offset = done_before
        report = (lambda done, _total, offset=offset: progress(offset + done, total)) if progress else None
        result = run_conversations(store, llm, project_id, plan, max_turns=max_turns, seed=seed,
                                   version_id=find_version(store, project_id, condition.version).id,
                                   progress=report)
        for transcript in list_transcripts(store, project_id, run_id=result.run_id):
            match_key = f"{transcript.scenario_id}:{transcript.seed}"
            rows.append((condition.name, "regular", match_key, transcript.id, transcript.turns, None))
            played.setdefault(condition.name, {})[match_key] = Conversation(transcript.id, transcript.turns)
        done_before += n
    if study.definition.side_by_side:  # one item per match_key, both conversations in it
        planned = plan_pairs(study.definition, played, seed)
        store.transaction(lambda db: insert_pairs(db, study.id, planned))
    else:
        store.transaction(lambda db: _insert_items(db, study.id, rows))
    return list_items(store, study.id, kind="regular")


class _BadLine(Exception):
    """What is wrong with one JSONL line."""


def _parse_line(line: str) -> tuple[list[Turn], str | None]:
    """One JSONL line in the OpenAI chat format; raises _BadLine naming what is wrong."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _BadLine(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise _BadLine("expected a JSON object with a 'messages' list")
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _BadLine("'messages' must be a non-empty list")
    turns = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _BadLine(f"messages[{i}] must be an object with 'role' and 'content'")
        role, content = message.get("role"), message.get("content")
        if role not in ("system", "user", "assistant"):
            raise _BadLine(f"messages[{i}].role must be 'system', 'user' or 'assistant', found {role!r}")
        if not isinstance(content, str):
            raise _BadLine(f"messages[{i}].content must be a string")
        if role != "system":  # raters never see prompts
            turns.append(Turn(role, content))
    if not any(t.role == "assistant" for t in turns):
        raise _BadLine("no assistant message to rate")
    match_key = record.get("match_key")
    if match_key is not None and not isinstance(match_key, str):
        raise _BadLine(f"match_key must be a string, found {match_key!r}")
    return turns, match_key


def _read_lines(source: str | Path | bytes | Iterable[str], name: str | None) -> tuple[str, list[str]]:
    """(the source's name, its lines): a file's path, an upload's bytes, or lines already read."""
    if isinstance(source, (str, Path)):
        name = name or str(source)
        try:
            source = Path(source).read_bytes()
        except OSError as exc:
            raise StudyError(f"{name}: cannot read the file: {exc}") from None
    if isinstance(source, bytes):
        name = name or "the uploaded file"
        try:
            return name, source.decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise StudyError(f"{name}: not UTF-8 text (byte {exc.start} cannot be read); save it as UTF-8 and "
                             f"import it again") from None
    return name or "JSONL input", list(source)


def _parse_lines(source: str | Path | bytes | Iterable[str], name: str | None) -> list[tuple[list[Turn], str | None]]:
    """(turns, match_key) of every line of a JSONL source; StudyError naming every bad line by number."""
    source, lines = _read_lines(source, name)
    parsed, problems = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            parsed.append(_parse_line(line))
        except _BadLine as exc:
            problems.append(f"{source} line {number}: {exc}")
    if problems:
        raise StudyError("nothing was imported:\n" + "\n".join(problems))
    if not parsed:
        raise StudyError(f"{source}: no transcripts found")
    return parsed


def import_pairs_jsonl(store: Store, study: Study, sources: dict[str, str | Path | bytes | Iterable[str]],
                       seed: int = 0) -> list[StudyItem]:
    """Import a side-by-side study's pairs: one JSONL file per condition (condition name -> path, bytes or
    lines), every line with a match_key that the other file has too. All pairs or none."""
    _require_draft(study)
    if not study.definition.side_by_side:
        raise StudyError(f"study {study.name!r} rates one transcript per item; import each condition with "
                         f"import_items_jsonl")
    conversations: dict[str, dict[str, Conversation]] = {}
    for condition, source in sources.items():
        study.definition.condition(condition)
        by_key = conversations[condition] = {}
        for number, (turns, match_key) in enumerate(_parse_lines(source, None), start=1):
            if match_key is None:
                raise StudyError(f"condition {condition!r}, transcript {number}: a side-by-side pair needs a "
                                 f"match_key on every line, to find the other condition's conversation")
            if match_key in by_key:
                raise StudyError(f"condition {condition!r}: match_key {match_key!r} appears twice")
            by_key[match_key] = Conversation(None, turns)
    planned = plan_pairs(study.definition, conversations, seed)
    ids = set(store.transaction(lambda db: insert_pairs(db, study.id, planned)))
    return [item for item in list_items(store, study.id, kind="regular") if item.id in ids]


def import_items_jsonl(store: Store, study: Study, condition: str, source: str | Path | bytes | Iterable[str],
                       name: str | None = None) -> list[StudyItem]:
    """Import one condition's transcripts from a JSONL file's path, an upload's bytes (named `name`) or
    lines; all lines or none (every bad line is reported by its number)."""
    _require_draft(study)
    study.definition.condition(condition)
    if study.definition.side_by_side:
        raise StudyError(f"study {study.name!r} is side by side: import both conditions' files together "
                         f"(import_pairs_jsonl), so that each match_key becomes one pair")
    rows = [(condition, "regular", match_key, None, turns, None) for turns, match_key in _parse_lines(source, name)]
    def insert(db) -> int:
        before = db.execute("SELECT max(id) FROM study_items").fetchone()[0] or 0
        _insert_items(db, study.id, rows)
        return before

    before = store.transaction(insert)
    return [item for item in list_items(store, study.id, kind="regular") if item.id > before]


def add_check_items(store: Store, study: Study) -> list[StudyItem]:
    """Store the definition's attention checks and gold items (once)."""
    _require_draft(study)
    definition = study.definition
    rows = [(CHECKS_CONDITION, "attention", f"attention:{i}", None,
             [Turn("assistant", check.instruction)], {check.dimension: check.expected})
            for i, check in enumerate(definition.attention_checks)]
    rows += [(CHECKS_CONDITION, "gold", f"gold:{i}", None,
              [Turn(m.role, m.content) for m in gold.turns], dict(gold.expected))
             for i, gold in enumerate(definition.gold_items)]
    def insert(db) -> None:
        if db.execute("SELECT 1 FROM study_items WHERE study_id = ? AND kind IN ('attention', 'gold')",
                      [study.id]).fetchone():
            raise StudyError(f"study {study.name!r} already has its check items")
        _insert_items(db, study.id, rows)

    store.transaction(insert)
    return [i for i in list_items(store, study.id) if i.kind != "regular"]


ITEM_COLUMNS = "id, study_id, condition, kind, match_key, transcript_id, turns, expected"  # StudyItem's order


def study_items(db, study_id: int, kind: str | None = None) -> list[StudyItem]:
    """The study's items in id order, read through `db` (a cursor, or a transaction's connection)."""
    rows = db.execute(f"SELECT {ITEM_COLUMNS} FROM study_items WHERE study_id = ?"
                      " AND (CAST(? AS VARCHAR) IS NULL OR kind = ?) ORDER BY id", [study_id, kind, kind]).fetchall()
    return [StudyItem(*row) for row in rows]


def list_items(store: Store, study_id: int, kind: str | None = None) -> list[StudyItem]:
    return study_items(store.cursor(), study_id, kind)
