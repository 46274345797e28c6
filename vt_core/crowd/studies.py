"""Crowd-rating studies: the definition (as data or a TOML file) and the study row.

A study compares two or more conditions (prompt versions of one project, or imported transcript
sets). Raters read items, one transcript each, and rate them on labelled scales, by default
adherence (to the designer's instructions, which the rater sees as a list) and quality. Items of
different conditions made from the same scenario and seed share a match_key, so the comparison is
paired. Attention-check and gold items carry the answer expected on them.

Items live in vt_core.crowd.items; raters, leases and ratings in vt_core.crowd.assignment.
"""

from __future__ import annotations

import secrets
import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from vt_core.core.store import KEY_TAKEN, Store

Definition = TypeVar("Definition", bound=BaseModel)

# Attention-check and gold items belong to no condition; the column is NOT NULL, so they are stored
# under this name, which condition names may not take (they may not start with "_").
CHECKS_CONDITION = "_checks"
# A side-by-side item shows both conditions at once; it is stored under this name (see vt_core.crowd.pairs).
PAIR_CONDITION = "_pair"
PER_TRANSCRIPT, SIDE_BY_SIDE = "per_transcript", "side_by_side"  # the study designs
# A side-by-side question's answers, by value: sides, not conditions (the item records which is where)
SIDE_LABELS = ("Left", "About the same", "Right")
DEFAULT_LABELS = ("Strongly disagree", "Disagree", "Somewhat disagree", "Neither agree nor disagree",
                  "Somewhat agree", "Agree", "Strongly agree")
MAX_STUDY_FILE_BYTES = 1_000_000
MIN_ATTENTION_CHECKS = 2  # Prolific rejects a submission only after two failed instructed-response checks

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class StudyError(ValueError):
    """A study operation that cannot be done; the message says why."""


class StudyFileError(StudyError):
    """An invalid study file or definition: one line per problem, each naming the field path."""


# -- the definition --------------------------------------------------------------------------


class _Model(BaseModel):
    # strict: TOML already has real types, so "20" for a number is a mistake, not something to coerce
    model_config = ConfigDict(extra="forbid", strict=True)


class Condition(_Model):
    """A prompt version of a project (self-play items), or just a name (imported items)."""

    name: Text
    project: Text | None = None
    version: int | None = None  # the version's number in its project (v1, v2, ...), as the Projects page shows

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name.startswith("_"):
            raise ValueError(f"condition names may not start with '_' (reserved for check items), got {name!r}")
        return name

    @model_validator(mode="after")
    def _project_and_version_together(self) -> Condition:
        if (self.project is None) != (self.version is None):
            raise ValueError("give both project and version (a self-play condition) or neither (imported items)")
        return self

    @property
    def is_selfplay(self) -> bool:
        return self.project is not None


class Dimension(_Model):
    """A labelled rating scale from 1 to len(labels)."""

    key: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
    question: Text
    labels: list[Text] = Field(default_factory=lambda: list(DEFAULT_LABELS), min_length=2, max_length=11)
    show_instructions: bool = False  # the rater sees the designer's instructions with this question

    @property
    def points(self) -> int:
        return len(self.labels)


DEFAULT_DIMENSIONS = [
    Dimension(key="adherence", question="The bot follows the designer's instructions listed above.",
              show_instructions=True),
    Dimension(key="quality", question="The bot's replies are helpful and well written."),
]

PREFERENCE_DIMENSIONS = [
    Dimension(key="adherence", question="Which conversation better follows the instructions listed above?",
              labels=list(SIDE_LABELS), show_instructions=True),
    Dimension(key="quality", question="Which conversation is better overall?", labels=list(SIDE_LABELS)),
]


class AttentionCheck(_Model):
    """An instructed-response check: `instruction` is shown in place of a transcript."""

    instruction: Text
    dimension: Text
    expected: int


class Message(_Model):
    role: Literal["user", "assistant"]
    content: str


class GoldItem(_Model):
    """A transcript whose right answer is known, e.g. one that plainly breaks the instructions."""

    turns: list[Message] = Field(min_length=1)
    expected: dict[str, int] = Field(min_length=1)


class Comprehension(_Model):
    question: Text
    options: list[Text] = Field(min_length=2)
    answer: Text
    attempts: int = Field(default=2, ge=1)

    @model_validator(mode="after")
    def _answer_is_an_option(self) -> Comprehension:
        if len(set(self.options)) != len(self.options):
            raise ValueError("the options must differ from each other")
        if self.answer not in self.options:
            raise ValueError(f"the answer {self.answer!r} is not one of the options")
        return self


class CompletionCodes(_Model):
    completed: Text
    screened_out: Text
    failed_checks: Text

    @model_validator(mode="after")
    def _distinct(self) -> CompletionCodes:
        if len({self.completed, self.screened_out, self.failed_checks}) != 3:
            raise ValueError("the three completion codes must differ, or the platform cannot tell outcomes apart")
        return self


class StudyDefinition(_Model):
    """The whole study as data. `items_per_rater` counts regular items; attention checks and gold
    items are shown on top of them."""

    name: Text
    description: str = ""
    # per_transcript: one transcript per item, rated on scales. side_by_side: the two conditions'
    # transcripts of one scenario, persona and seed side by side, each question answered Left / About
    # the same / Right (values 1, 2, 3), with an optional reason.
    design: Literal["per_transcript", "side_by_side"] = PER_TRANSCRIPT
    platform: Literal["prolific", "mturk", "anonymous"] = "prolific"
    conditions: list[Condition]
    instructions: list[Text] = Field(default_factory=list)  # the designer's instructions, for adherence
    dimensions: list[Dimension] = Field(default_factory=lambda: [d.model_copy() for d in DEFAULT_DIMENSIONS])
    items_per_rater: int = Field(ge=1)
    ratings_per_item: int = Field(ge=1)
    attention_checks: list[AttentionCheck]
    gold_items: list[GoldItem] = Field(default_factory=list)
    comprehension: Comprehension
    consent_text: Text
    instruction_text: Text  # how to do the task, shown before the comprehension check
    completion_codes: CompletionCodes
    lease_minutes: int = Field(default=30, ge=1)
    min_seconds_per_item: float = Field(default=4.0, ge=0)
    # Raters working at once; a new one over it is asked to come back in a few minutes, unregistered
    # (a burst from the platform must not slow every rater down). None: no cap.
    max_active_raters: int | None = Field(default=None, ge=1)

    @field_validator("conditions")
    @classmethod
    def _conditions(cls, conditions: list[Condition]) -> list[Condition]:
        if len(conditions) < 2:
            raise ValueError(f"at least 2 conditions are needed to compare, found {len(conditions)}")
        if duplicates := repeated(c.name for c in conditions):
            raise ValueError(f"condition names must be unique; repeated: {', '.join(duplicates)}")
        return conditions

    @field_validator("attention_checks")
    @classmethod
    def _enough_checks(cls, checks: list[AttentionCheck]) -> list[AttentionCheck]:
        if len(checks) < MIN_ATTENTION_CHECKS:
            raise ValueError(f"at least {MIN_ATTENTION_CHECKS} instructed-response checks are needed "
                             f"(Prolific rejects submissions only with two), found {len(checks)}")
        return checks

    @field_validator("dimensions")
    @classmethod
    def _dimensions(cls, dimensions: list[Dimension]) -> list[Dimension]:
        if not dimensions:
            raise ValueError("at least 1 rating dimension is needed")
        if duplicates := repeated(d.key for d in dimensions):
            raise ValueError(f"dimension keys must be unique; repeated: {', '.join(duplicates)}")
        return dimensions

    @model_validator(mode="before")
    @classmethod
    def _preference_questions(cls, data: Any) -> Any:
        """A side-by-side study without its own dimensions asks the two preference questions."""
        if isinstance(data, dict) and data.get("design") == SIDE_BY_SIDE and "dimensions" not in data:
            data = {**data, "dimensions": [d.model_dump() for d in PREFERENCE_DIMENSIONS]}
        return data

    @model_validator(mode="after")
    def _cross_checks(self) -> StudyDefinition:
        """Checks between fields; each problem names its own path (pydantic cannot place it)."""
        problems = [*self._check_answers(), *self._check_instructions(), *self._check_side_by_side()]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _check_answers(self) -> Iterator[str]:
        scales = {d.key: d.points for d in self.dimensions}
        for i, check in enumerate(self.attention_checks):
            path = f"attention_checks[{i}]"
            yield from _check_answer(f"{path}.dimension", f"{path}.expected", check.dimension, check.expected, scales)
        for i, gold in enumerate(self.gold_items):
            path = f"gold_items[{i}].expected"
            for key, value in gold.expected.items():
                yield from _check_answer(path, f"{path}.{key}", key, value, scales)

    def _check_instructions(self) -> Iterator[str]:
        needing = [d.key for d in self.dimensions if d.show_instructions]
        if needing and not self.instructions:
            yield (f"instructions: dimension {needing[0]!r} shows the designer's instructions to raters, "
                   f"so list at least one")

    def _check_side_by_side(self) -> Iterator[str]:
        if self.design != SIDE_BY_SIDE:
            return
        if len(self.conditions) != 2:
            yield (f"conditions: a side-by-side study compares exactly 2 conditions (the baseline and the one "
                   f"compared with it), found {len(self.conditions)}")
        for i, dimension in enumerate(self.dimensions):
            if dimension.points != len(SIDE_LABELS):
                yield (f"dimensions[{i}].labels: a side-by-side question has 3 answers, in this order: left, "
                       f"about the same, right (e.g. {', '.join(SIDE_LABELS)}), found {dimension.points}")
        if self.gold_items:
            yield ("gold_items: a side-by-side study has no gold items (a gold item is one transcript); "
                   "use attention checks")

    @property
    def side_by_side(self) -> bool:
        return self.design == SIDE_BY_SIDE

    @property
    def items_in_all(self) -> int:
        """What one rater rates: `items_per_rater` regular items and every check."""
        return self.items_per_rater + len(self.attention_checks) + len(self.gold_items)

    def dimension(self, key: str) -> Dimension:
        return next(d for d in self.dimensions if d.key == key)

    def condition(self, name: str) -> Condition:
        for condition in self.conditions:
            if condition.name == name:
                return condition
        raise StudyError(f"study {self.name!r} has no condition {name!r} "
                         f"(it has {', '.join(c.name for c in self.conditions)})")


def repeated(values: Iterable[str]) -> list[str]:
    """The values that occur more than once, sorted (in linear time: a definition may be large)."""
    return sorted(value for value, n in Counter(values).items() if n > 1)


def _check_answer(key_path: str, value_path: str, key: str, value: int, scales: dict[str, int]) -> Iterator[str]:
    """A problem with an expected answer: an unknown dimension, or a value off its scale."""
    if key not in scales:
        yield f"{key_path}: unknown dimension {key!r} (the study rates {', '.join(scales)})"
    elif not 1 <= value <= scales[key]:
        yield f"{value_path}: {value} is off the scale of {key!r}, which runs from 1 to {scales[key]}"


# -- turning pydantic's errors into one line per problem ---------------------------------------


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as list[X] or X | None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if found := _model_in(arg):
            return found
    return None


def _allowed_fields(loc: tuple, root: type[BaseModel]) -> list[str]:
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, str) and model is not None:
            field = model.model_fields.get(part)
            model = _model_in(field.annotation) if field else None
    return list(model.model_fields) if model else []


def _describe(error: dict, root: type[BaseModel]) -> list[str]:
    """One or more 'path: problem' lines for one pydantic error."""
    loc, kind, ctx = tuple(error["loc"]), error["type"], error.get("ctx", {})
    path = _path(loc) or "study"
    if kind == "value_error":
        lines = str(ctx.get("error", error["msg"])).splitlines()
        # A model-level check has no location: its lines name their own paths.
        return lines if not loc else [f"{path}: {line}" for line in lines]
    if kind == "missing":
        return [f"{path}: required field is missing"]
    if kind == "extra_forbidden":
        allowed = _allowed_fields(loc[:-1], root)
        return [f"{path}: unknown field" + (f" (allowed: {', '.join(allowed)})" if allowed else "")]
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return [f"{path}: must not be empty"]
    if kind == "greater_than_equal":
        return [f"{path}: must be at least {ctx['ge']}, found {error['input']!r}"]
    if kind == "literal_error":
        return [f"{path}: must be one of {ctx['expected']}, found {error['input']!r}"]
    return [f"{path}: {error['msg'][0].lower()}{error['msg'][1:]}, found {error['input']!r}"]


def format_errors(exc: ValidationError, root: type[BaseModel] = StudyDefinition) -> list[str]:
    """One 'path: problem' line per problem; `root` is the model that was validated."""
    lines = []
    for error in exc.errors(include_url=False):
        for line in _describe(error, root):
            if line not in lines:
                lines.append(line)
    return lines


def parse_definition(model: type[Definition], data: dict, source: str) -> Definition:
    """Validate a definition (a crowd or user study) given as plain data; every problem, with its
    field path, in one StudyFileError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = format_errors(exc, model)
        raise StudyFileError(f"{source}: {len(lines)} problem(s)\n" + "\n".join(f"{source}: {line}" for line in lines)) \
            from None


def parse_study(data: dict, source: str = "study definition") -> StudyDefinition:
    """Validate a study given as plain data (a parsed TOML file, a form's values)."""
    return parse_definition(StudyDefinition, data, source)


def parse_toml(content: bytes, source: str) -> dict:
    """The data of a TOML file's bytes (a file, an upload); bad text raises StudyFileError."""
    _check_size(len(content), source)
    try:
        return tomllib.loads(content.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise StudyFileError(f"{source}: not UTF-8 text: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise StudyFileError(f"{source}: TOML syntax error: {exc}") from None


def read_toml(path: str | Path) -> dict:
    """A TOML file's data; a file that cannot be read or parsed raises StudyFileError."""
    try:
        _check_size(Path(path).stat().st_size, str(path))  # before reading: a huge file is never read whole
        content = Path(path).read_bytes()
    except OSError as exc:
        raise StudyFileError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    return parse_toml(content, str(path))


def _check_size(size: int, source: str) -> None:
    if size > MAX_STUDY_FILE_BYTES:
        raise StudyFileError(f"{source}: {size:,} bytes is more than a study file may hold "
                             f"({MAX_STUDY_FILE_BYTES:,} bytes); a study definition is a few kilobytes")


def load_study_file(path: str | Path) -> StudyDefinition:
    """A study from a TOML file; every problem, with its field path, in one StudyFileError."""
    return parse_study(read_toml(path), str(path))


def definition_to_toml(definition: StudyDefinition) -> str:
    """The definition as a TOML study file that load_study_file reads back to an equal definition."""
    return tomli_w.dumps(definition.model_dump(exclude_none=True))


# -- the study row ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Study:
    id: int
    name: str
    token: str  # the secret part of the rater link
    definition: StudyDefinition
    status: str  # draft, open or closed
    created_at: datetime


_STUDY_COLUMNS = "id, name, token, definition, status, created_at"
_TRANSITIONS = {"open": ("draft", "closed"), "closed": ("open",)}


def _study(row) -> Study:
    return Study(row[0], row[1], row[2], StudyDefinition.model_validate_json(row[3]), row[4], row[5])


def create_study(store: Store, definition: StudyDefinition) -> Study:
    """A new draft study with a fresh link token; a taken name is refused and nothing is written."""
    def create(db) -> int:
        if db.execute("SELECT 1 FROM studies WHERE name = ?", [definition.name]).fetchone():
            raise StudyError(f"a study named {definition.name!r} already exists; choose another name")
        return db.execute(
            "INSERT INTO studies (name, token, definition, status) VALUES (?, ?, ?, 'draft') RETURNING id",
            [definition.name, secrets.token_urlsafe(16), definition.model_dump_json()],
        ).fetchone()[0]

    try:
        study_id = store.transaction(create)
    except KEY_TAKEN as exc:  # a concurrent create took the name first
        raise StudyError(f"a study named {definition.name!r} already exists; choose another name") from exc
    return get_study(store, study_id)


def create_study_from_file(store: Store, path: str | Path) -> Study:
    """Load a study file and create its draft study; an invalid file writes nothing."""
    return create_study(store, load_study_file(path))


def get_study(store: Store, key: int | str) -> Study:
    """A study by id or by name."""
    column = "id" if isinstance(key, int) else "name"
    row = store.cursor().execute(f"SELECT {_STUDY_COLUMNS} FROM studies WHERE {column} = ?", [key]).fetchone()
    if row is None:
        raise StudyError(f"no study {key!r}")
    return _study(row)


def get_study_by_token(store: Store, token: str) -> Study:
    row = store.cursor().execute(f"SELECT {_STUDY_COLUMNS} FROM studies WHERE token = ?", [token]).fetchone()
    if row is None:
        raise StudyError("no study has this link; check that it was copied whole")
    return _study(row)


def list_studies(store: Store) -> list[Study]:
    rows = store.cursor().execute(f"SELECT {_STUDY_COLUMNS} FROM studies ORDER BY created_at, id").fetchall()
    return [_study(row) for row in rows]


def set_study_status(store: Store, study_id: int, status: str) -> Study:
    """Open a draft (or reopen a closed study), or close an open one. Opening needs items in
    every condition and the attention checks, or raters would have nothing valid to do."""
    if status not in _TRANSITIONS:
        raise StudyError(f"a study can be set to 'open' or 'closed', not {status!r}")
    study = get_study(store, study_id)
    if study.status not in _TRANSITIONS[status]:
        raise StudyError(f"study {study.name!r} is {study.status}; it cannot be set to {status}")
    if status == "open" and (problems := not_ready(store, study)):
        raise StudyError(f"study {study.name!r} cannot open: {problems[0]}")
    store.transaction(lambda db: db.execute("UPDATE studies SET status = ? WHERE id = ?", [status, study_id]))
    return get_study(store, study_id)


def not_ready(store: Store, study: Study) -> list[str]:
    """Why raters would have nothing valid to do yet: conditions without items, attention checks not added."""
    counts = dict(store.cursor().execute(
        "SELECT condition, count(*) FROM study_items WHERE study_id = ? GROUP BY condition", [study.id]).fetchall())
    problems = []
    if study.definition.side_by_side:
        if not counts.get(PAIR_CONDITION):
            problems.append("it has no side-by-side pairs of transcripts yet")
    elif empty := [c.name for c in study.definition.conditions if not counts.get(c.name)]:
        problems.append(f"no items yet for condition(s) {', '.join(empty)}")
    if not counts.get(CHECKS_CONDITION):
        problems.append("its attention checks are not added yet")
    return problems
