"""Projects (one chatbot each) and the history of their system prompts."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from datetime import datetime

from vt_core.core.store import KEY_TAKEN, Store


class ProjectError(ValueError):
    """A project operation that cannot be done; the message says why."""


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    goal: str
    audience: str
    current_version_id: int | None
    locked_sections: list[str]
    prompt_token_budget: int
    created_at: datetime
    archived_at: datetime | None = None  # archived: hidden from lists and pickers, kept whole


@dataclass(frozen=True)
class PromptVersion:
    id: int
    project_id: int
    parent_id: int | None
    text: str
    author: str  # "designer" or "refinement"
    rationale: str
    pattern_ids: list[int]
    created_at: datetime
    number: int  # within the project: v1, v2, ...


_PROJECT_COLUMNS = ("id, name, goal, audience, current_version_id, locked_sections, prompt_token_budget, created_at,"
                    " archived_at")
_VERSION_COLUMNS = "id, project_id, parent_id, text, author, rationale, pattern_ids, created_at, number"


def _project(row) -> Project:
    return Project(*row[:5], json.loads(row[5]), *row[6:])


def _version(row) -> PromptVersion:
    return PromptVersion(*row[:6], json.loads(row[6]), *row[7:])


def create_project(store: Store, name: str, goal: str, audience: str, prompt: str) -> Project:
    """A new project whose first prompt version (by the designer) is `prompt`: both or neither."""
    name = name.strip()
    if not name:
        raise ProjectError("a project needs a name")
    _check_prompt(prompt)
    taken = ProjectError(f"a project named {name!r} already exists")

    def create(db) -> int:
        if db.execute("SELECT 1 FROM projects WHERE name = ?", [name]).fetchone():
            raise taken
        project_id = db.execute(
            "INSERT INTO projects (name, goal, audience) VALUES (?, ?, ?) RETURNING id",
            [name, goal.strip(), audience.strip()],
        ).fetchone()[0]
        add_version(store, project_id, prompt, author="designer", rationale="first draft", make_current=True)
        return project_id

    try:
        project_id = store.transaction(create)
    except KEY_TAKEN as exc:  # a concurrent create took the name first
        raise taken from exc
    return get_project(store, project_id)


def next_numbers(db, project_id: int, kind: str, count: int = 1) -> int:
    """The first of `count` new numbers of `kind` ('version', 'selfplay_run', 'refine_run', 'transcript', 'pattern')
    in the project, numbered from 1: the numbers a designer reads, beside the global ids. Call it in the
    transaction that inserts the numbered rows; two at once conflict on the counter, and one runs again."""
    last = db.execute(
        "INSERT INTO project_counters (project_id, kind, last) VALUES (?, ?, ?) ON CONFLICT (project_id, kind)"
        " DO UPDATE SET last = project_counters.last + excluded.last RETURNING last",
        [project_id, kind, count]).fetchone()[0]
    return last - count + 1


def recount(db, project_id: int) -> None:
    """Set the project's counters past the numbers its rows hold (after rows were inserted with theirs)."""
    lasts = {kind: db.execute(sql, [project_id]).fetchone()[0] for kind, sql in (
        ("version", "SELECT max(number) FROM prompt_versions WHERE project_id = ?"),
        ("selfplay_run", "SELECT max(number) FROM selfplay_runs WHERE project_id = ?"),
        ("refine_run", "SELECT max(number) FROM refine_runs WHERE project_id = ?"),
        ("pattern", "SELECT max(number) FROM patterns WHERE project_id = ?"),
        ("transcript", "SELECT max(greatest(t.number, s.first_transcript + s.conversations - 1)) FROM selfplay_runs s"
                       " LEFT JOIN transcripts t ON t.run_id = s.id WHERE s.project_id = ?"),
    )}
    for kind, last in lasts.items():
        if last is not None:
            db.execute("INSERT INTO project_counters (project_id, kind, last) VALUES (?, ?, ?)"
                       " ON CONFLICT (project_id, kind) DO UPDATE SET last = excluded.last", [project_id, kind, last])


def _check_prompt(text: str) -> None:
    if not text.strip():
        raise ProjectError("a prompt version cannot be empty")


def get_project(store: Store, key: int | str) -> Project:
    """A project by id or by name."""
    column = "id" if isinstance(key, int) else "name"
    row = store.cursor().execute(
        f"SELECT {_PROJECT_COLUMNS} FROM projects WHERE {column} = ?", [key]
    ).fetchone()
    if row is None:
        raise ProjectError(f"no project {key!r}")
    return _project(row)


def list_projects(store: Store, *, include_archived: bool = False) -> list[Project]:
    """The projects by name; archived ones only with `include_archived`."""
    rows = store.cursor().execute(
        f"SELECT {_PROJECT_COLUMNS} FROM projects WHERE archived_at IS NULL OR ? ORDER BY name", [include_archived]
    ).fetchall()
    return [_project(row) for row in rows]


def project_counts(store: Store) -> dict[int, tuple[int, int]]:
    """Every project's number of prompt versions and of transcripts, by project id."""
    rows = store.cursor().execute(
        "SELECT p.id, (SELECT count(*) FROM prompt_versions v WHERE v.project_id = p.id),"
        " (SELECT count(*) FROM transcripts t WHERE t.project_id = p.id) FROM projects p").fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def update_project(store: Store, project_id: int, *, goal: str | None = None, audience: str | None = None,
                   locked_sections: list[str] | None = None, prompt_token_budget: int | None = None) -> Project:
    if prompt_token_budget is not None and prompt_token_budget < 50:
        raise ProjectError("the prompt token budget must be at least 50 tokens")

    def update(db) -> None:
        project = get_project(store, project_id)  # read in the transaction: another tab's change is kept
        db.execute(
            "UPDATE projects SET goal = ?, audience = ?, locked_sections = ?, prompt_token_budget = ? WHERE id = ?",
            [goal if goal is not None else project.goal,
             audience if audience is not None else project.audience,
             json.dumps(locked_sections if locked_sections is not None else project.locked_sections),
             prompt_token_budget if prompt_token_budget is not None else project.prompt_token_budget,
             project_id],
        )

    store.transaction(update)
    return get_project(store, project_id)


def add_version(store: Store, project_id: int, text: str, *, author: str, parent_id: int | None = None,
                rationale: str = "", pattern_ids: list[int] = (), make_current: bool = False) -> PromptVersion:
    """Record a prompt version; its parent defaults to the project's current version."""
    _check_prompt(text)

    def add(db) -> int:
        parent = parent_id if parent_id is not None else db.execute(
            "SELECT current_version_id FROM projects WHERE id = ?", [project_id]).fetchone()[0]
        version_id = db.execute(
            "INSERT INTO prompt_versions (project_id, parent_id, text, author, rationale, pattern_ids, number)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [project_id, parent, text, author, rationale, json.dumps(list(pattern_ids)),
             next_numbers(db, project_id, "version")],
        ).fetchone()[0]
        if make_current:
            set_current(store, project_id, version_id)
        return version_id

    return get_version(store, store.transaction(add))


def get_version(store: Store, version_id: int) -> PromptVersion:
    row = store.cursor().execute(
        f"SELECT {_VERSION_COLUMNS} FROM prompt_versions WHERE id = ?", [version_id]
    ).fetchone()
    if row is None:
        raise ProjectError(f"no prompt version {version_id}")
    return _version(row)


def find_version(store: Store, project_id: int, number: int) -> PromptVersion:
    """A project's prompt version by the number the designer reads (v1, v2, ...)."""
    row = store.cursor().execute(
        f"SELECT {_VERSION_COLUMNS} FROM prompt_versions WHERE project_id = ? AND number = ?", [project_id, number]
    ).fetchone()
    if row is None:
        raise ProjectError(f"project {get_project(store, project_id).name!r} has no prompt version {number}")
    return _version(row)


def versions(store: Store, project_id: int) -> list[PromptVersion]:
    """The project's prompt versions, oldest first."""
    rows = store.cursor().execute(
        f"SELECT {_VERSION_COLUMNS} FROM prompt_versions WHERE project_id = ? ORDER BY id", [project_id]
    ).fetchall()
    return [_version(row) for row in rows]


def current_version(store: Store, project_id: int) -> PromptVersion:
    return get_version(store, get_project(store, project_id).current_version_id)


def set_current(store: Store, project_id: int, version_id: int) -> None:
    if get_version(store, version_id).project_id != project_id:
        raise ProjectError(f"prompt version {version_id} belongs to another project")
    store.transaction(lambda db: db.execute("UPDATE projects SET current_version_id = ? WHERE id = ?",
                                            [version_id, project_id]))


# -- diffs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hunk:
    tag: str  # "equal", "replace", "delete" or "insert"
    old: list[str]
    new: list[str]


def diff(old: str, new: str) -> list[Hunk]:
    """Line hunks turning `old` into `new`."""
    a, b = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    return [Hunk(tag, a[i1:i2], b[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes()]


def unified_diff(old: str, new: str, old_name: str = "before", new_name: str = "after") -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        old_name, new_name))
