"""Visionary Tuning for taste: learn a film critic's taste as a written specification.

The optimizer's loop (vt_core.optimizer), with the critic's ratings in place of the designer:
- self-play: under the current specification (at first a neutral one) the model predicts the
  critic's class (low, mid, high) of every training film;
- marks: those predictions beside the critic's classes; the errors are the "bad" marks;
- patterns: the proposer (`optimizer.propose`, with its near-duplicate filter) reads them and
  proposes taste patterns, each with the training films whose ratings support it and those
  that contradict it;
- refinement: candidate specifications are written against the patterns and the error counts
  and pass the optimizer's guards (`optimizer.check_draft`): the locked Task
  section is put back, a token budget holds, and a candidate that lists training films is
  rejected. Each survivor is scored by macro-F1 on the split's validation films, which neither
  the proposer nor the writer ever sees; a candidate replaces the best specification only if it
  scores higher.
After the rounds, the best specification predicts the test films. Predictions go in batches,
at temperature 0 with the run's seed, and the writer samples with seeded sample indices, so a
run repeated with the same split, seed and backend sends the same requests, which the LLM cache
answers.

A designer can step in: a run and its patterns are stored (`save_run`); the designer accepts,
edits or rejects patterns (`update_taste_pattern`, `add_taste_pattern`), and `retune` refines
again from the neutral specification with the patterns they kept (all but the rejected ones)
and proposes none of its own.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

from pydantic import BaseModel, Field

from vt_core.core.llm import LLM, Estimate, LLMError, Usage
from vt_core.core.progress import Progress, StageProgress, in_stage
from vt_core.core.prompts import render
from vt_core.core.store import Store
from vt_core.critic.baselines import DEFAULT_BATCH, ask_classes, class_request, film_line
from vt_core.critic.data import CLASSES, Critic, Film, Split, Thresholds, readable_title
from vt_core.critic.metrics import Prediction, Scores, score, score_predictions
from vt_core.optimizer import (
    MAX_PROPOSED,
    PATTERN_SOURCES,
    PROPOSER_MAX_TOKENS,
    Attempt,
    Brief,
    Score,
    Writer,
    check_draft,
    optimize,
    propose,
)

LOCKED = ["Task"]  # the section that says what to predict; refinement leaves it as it is
SPEC_TOKEN_BUDGET = 500
WRITER = Writer("critic_tune_refine", LOCKED, SPEC_TOKEN_BUDGET)
MAX_NAMED_FILMS = 2  # a specification naming more training films than this pastes a list
TASTE_PATTERN_STATUSES = ("candidate", "accepted", "rejected")


# Reply schema of the proposer. No docstrings: pydantic would send them to the model.
class TasteDraft(BaseModel):
    statement: str = Field(min_length=1)
    evidence_for: list[int] = Field(default_factory=list)
    evidence_against: list[int] = Field(default_factory=list)


class TasteProposal(BaseModel):
    patterns: list[TasteDraft] = Field(json_schema_extra={"minItems": 1, "maxItems": MAX_PROPOSED})


@dataclass(frozen=True)
class TastePattern:
    number: int  # its number within the run, as the writer's changes cite it
    statement: str  # one tendency of the critic's taste
    evidence_for: tuple[int, ...]  # movie ids of training films whose ratings support it
    evidence_against: tuple[int, ...]  # and of those whose ratings contradict it
    round: int  # the round that proposed it; 0: kept from an earlier run or written by hand
    status: str = "candidate"  # candidate, accepted or rejected; all but rejected ones are used
    source: str = "proposed"  # proposed or designer
    id: int | None = None  # the stored row, once saved


@dataclass(frozen=True)
class SpecCandidate:
    round: int  # 0: the neutral specification
    text: str
    changes: tuple[dict, ...]  # the writer's account: after, rationale, pattern_ids
    guard_notes: tuple[str, ...]
    status: str  # baseline, evaluated or rejected
    validation_f1: float | None  # macro-F1 on the validation films; None when rejected


@dataclass(frozen=True)
class Round:
    number: int
    spec: str  # the best specification at the round's start: it predicted the training films
    train_predictions: tuple[Prediction, ...]
    errors: int  # training films predicted wrong
    proposed: tuple[int, ...]  # numbers of the patterns this round proposed
    candidates: tuple[SpecCandidate, ...]
    validation_f1: float  # of the best specification after the round
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TasteRun:
    split: Split
    seed: int
    rounds: int
    candidates: int  # written per round
    backend: str  # what produced it (llm.backend.describe())
    model: str
    baseline: SpecCandidate  # the neutral specification, scored on the validation films
    history: tuple[Round, ...]
    patterns: tuple[TastePattern, ...]
    spec: str  # the learned specification: the best one on the validation films
    predictions: tuple[Prediction, ...]  # of the test films, under `spec`
    usage: Usage
    id: int | None = None  # once saved
    parent_id: int | None = None  # the run whose kept patterns this one refined with

    @property
    def validation(self) -> list[float]:
        """Validation macro-F1 of the best specification: the neutral one, then after each round."""
        return [self.baseline.validation_f1, *(r.validation_f1 for r in self.history)]

    @property
    def scores(self) -> Scores:
        """The test scores of the learned specification."""
        return score_predictions(self.split, self.predictions)

    def leaderboard(self) -> list[SpecCandidate]:
        """Every specification tried, best validation macro-F1 first, rejected ones last."""
        every = [self.baseline, *(c for r in self.history for c in r.candidates)]
        return sorted(every, key=lambda c: (c.status == "rejected", -(c.validation_f1 or 0.0), c.round))


# -- predicting ------------------------------------------------------------------------------


def neutral_spec(critic: Critic) -> str:
    """The specification a run starts from: what to predict, and no taste yet."""
    low, high = critic.scale
    return render("critic_tune_spec", scale_low=f"{low:g}", scale_high=f"{high:g}",
                  low_max=f"{critic.thresholds.low_max:g}", high_min=f"{critic.thresholds.high_min:g}")


def _batches(films: Sequence[Film]) -> list[Sequence[Film]]:
    return [films[i:i + DEFAULT_BATCH] for i in range(0, len(films), DEFAULT_BATCH)]


def predict(llm: LLM, spec: str, films: Sequence[Film], *, seed: int,
            progress: Progress | None = None) -> list[Prediction]:
    """The class of every film under `spec`, in the films' order (labels only, rating None): asked
    exactly as the LLM baselines ask, with the specification as the system message."""
    return ask_classes(llm, "critic_tune_predict", films, seed=seed, system=spec, progress=progress)


def _macro_f1(films: Sequence[Film], predictions: Sequence[Prediction]) -> float:
    return score([f.label for f in films], [p.label for p in predictions]).macro_f1


# -- the marks, the patterns, the guards -----------------------------------------------------


def _marks(films: Sequence[Film], predictions: Sequence[Prediction]) -> str:
    """The training films as the proposer reads them, numbered from 1, errors marked WRONG."""
    return "\n".join(
        f"[{i}] {film_line(f)} · predicted {p.label} · the critic: {f.label} ({f.rating:g})"
        + (" · WRONG" if p.label != f.label else "")
        for i, (f, p) in enumerate(zip(films, predictions), start=1))


def _critiques(films: Sequence[Film], predictions: Sequence[Prediction]) -> list[str]:
    """The errors, counted by true and predicted class, as lines for the writer (no titles)."""
    counts = Counter((f.label, p.label) for f, p in zip(films, predictions) if f.label != p.label)
    return [render("critic_tune_critique", count=counts[t, p], truth=t, predicted=p).strip()
            for t in CLASSES for p in CLASSES if counts[t, p]]


def _propose(llm: LLM, spec: str, films: Sequence[Film], predictions: Sequence[Prediction],
             known: Sequence[TastePattern], *, round_: int, seed: int) -> list[TastePattern]:
    drafts = propose(llm, "critic_tune_patterns", TasteProposal,
                     [p.statement for p in known if p.status != "rejected"], seed=seed, spec=spec,
                     films=_marks(films, predictions))
    by_number = {i: f.movie_id for i, f in enumerate(films, start=1)}
    cited = lambda numbers: tuple(dict.fromkeys(by_number[n] for n in numbers if n in by_number))  # noqa: E731
    return [TastePattern(len(known) + i, d.statement.strip(), cited(d.evidence_for), cited(d.evidence_against),
                         round_) for i, d in enumerate(drafts, start=1)]


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def named_films(text: str, films: Sequence[Film]) -> list[str]:
    """Titles of `films` that `text` names, as whole words (a leading article and alternative
    titles in parentheses aside). Titles of one word under six letters ("Up", "Heat") are too
    common to count."""
    words = f" {_words(text)} "
    found = []
    for film in films:
        title = re.sub(r"^(the|a|an) ", "", _words(re.sub(r"\(.*?\)", " ", readable_title(film.title))))
        if title and (" " in title or len(title) >= 6) and f" {title} " in words:
            found.append(film.title)
    return found


def pasted_films(films: Sequence[Film]) -> Callable[[str], str | None]:
    """The guard against pasting films into a specification, for `optimizer.check_draft`."""
    def check(text: str) -> str | None:
        names = named_films(text, films)
        if len(names) > MAX_NAMED_FILMS:
            return (f"names {len(names)} training films ({', '.join(names[:4])}{', …' if len(names) > 4 else ''}); "
                    f"a specification describes taste, it does not list films")
        return None

    return check


# -- the loop --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Marks:
    """What one round learned from the training films, before the writer ran."""

    predictions: tuple[Prediction, ...]
    errors: int
    proposed: tuple[int, ...]
    notes: tuple[str, ...]


@dataclass
class _TasteTask:
    """Taste tuning as a task of the optimizer: a candidate is scored by macro-F1 on the validation
    films; each round's brief comes from the errors on the training films, and, when proposing,
    from the taste patterns proposed from them."""

    llm: LLM
    split: Split
    seed: int
    proposing: bool
    found: list[TastePattern]
    writer: Writer = WRITER

    def brief(self, best: SpecCandidate, round: int, progress: StageProgress | None) -> Brief:
        train = self.split.train
        predicted = predict(self.llm, best.text, train, seed=self.seed,
                            progress=in_stage(progress, f"round {round}: predicting the training films"))
        errors = sum(f.label != p.label for f, p in zip(train, predicted))
        notes, proposed = [], ()
        if self.proposing and errors:
            if progress:
                progress(f"round {round}: proposing taste patterns from {errors} errors", 0, 1)
            try:
                new = _propose(self.llm, best.text, train, predicted, self.found, round_=round,
                               seed=self.seed + round)
            except LLMError as exc:
                notes.append(f"no new patterns: the proposer's reply failed ({exc})")
            else:
                self.found += new
                proposed = tuple(p.number for p in new)
            if progress:
                progress(f"round {round}: proposed {len(proposed)} taste patterns", 1, 1)
        elif self.proposing:
            notes.append("no new patterns: every training film was predicted right")
        kept = [p for p in self.found if p.status != "rejected"]
        listed = "\n".join(f"- [{p.number}] {p.statement} (films for: {len(p.evidence_for)}, against: "
                           f"{len(p.evidence_against)})" for p in kept) or "- (none)"
        return Brief({"patterns": listed, "critiques": "\n".join(_critiques(train, predicted)) or "- (no errors)"},
                     _Marks(tuple(predicted), errors, proposed, tuple(notes)))

    def guard(self, parent: str, draft: str) -> tuple[str, list[str], bool]:
        return check_draft(parent, draft, locked=WRITER.locked, budget=WRITER.budget,
                           copied=pasted_films(self.split.train))

    def evaluate(self, attempt: Attempt, progress: StageProgress | None) -> SpecCandidate:
        stage = ("the neutral specification on the validation films" if attempt.round == 0 else
                 f"round {attempt.round}: scoring candidate {attempt.index} of {attempt.of} on the validation films")
        checked = predict(self.llm, attempt.text, self.split.validation, seed=self.seed,
                          progress=in_stage(progress, stage))
        return SpecCandidate(attempt.round, attempt.text, attempt.changes, attempt.notes,
                             "baseline" if attempt.round == 0 else "evaluated",
                             _macro_f1(self.split.validation, checked))

    def reject(self, attempt: Attempt) -> SpecCandidate:
        return SpecCandidate(attempt.round, attempt.text, attempt.changes, attempt.notes, "rejected", None)

    def score(self, candidate: SpecCandidate) -> Score | None:
        if candidate.status == "rejected":
            return None
        f1 = candidate.validation_f1
        return Score((f1,), f1, "validation macro-F1", f"{f1:.2f}")


def tune(llm: LLM, split: Split, *, rounds: int = 2, candidates: int = 3, seed: int | None = None,
         patterns: Sequence[TastePattern] | None = None, progress: StageProgress | None = None) -> TasteRun:
    """Learn the critic's taste from `split.train`, choose on `split.validation`, predict `split.test`.

    `seed` defaults to the split's. With `patterns` given (the ones a designer kept), the run
    refines with exactly those, renumbered from 1, and proposes none; see the module docstring.
    Every round runs: a round that finds no better specification keeps the best one.
    """
    if rounds < 1 or candidates < 1:
        raise ValueError(f"tuning needs at least one round and one candidate; got rounds={rounds}, "
                         f"candidates={candidates}")
    if not split.validation:
        raise ValueError("tuning scores its candidates on validation films; this split has none "
                         "(use validation_per_class >= 1)")
    seed = split.seed if seed is None else seed
    llm = llm.for_run(f"critic:tuning:{split.critic.id}:k{split.k}:s{seed}:{uuid.uuid4().hex[:8]}")
    found = [replace(p, number=i, round=0, id=None) for i, p in enumerate(patterns or (), start=1)]
    task = _TasteTask(llm, split, seed, patterns is None, found)
    result = optimize(task, llm, neutral_spec(split.critic), rounds=rounds, candidates=candidates, seed=seed,
                      stop_without_gain=False, progress=progress)
    history = tuple(Round(r.number, r.parent, m.predictions, m.errors, m.proposed, r.candidates, r.best.validation_f1,
                          m.notes) for r in result.rounds for m in [r.brief.detail])
    predictions = predict(llm, result.best.text, split.test, seed=seed,
                          progress=in_stage(progress, "predicting the test films"))
    return TasteRun(split, seed, rounds, candidates, llm.backend.describe(), llm.model, result.baseline, history,
                    tuple(task.found), result.best.text, tuple(predictions), llm.usage())


def predict_test(llm: LLM, split: Split, *, progress: StageProgress | None = None) -> list[Prediction]:
    """Visionary Tuning as a method beside the baselines: tune at the defaults, predict the test films."""
    return list(tune(llm, split, progress=progress).predictions)


def planned_calls(split: Split, *, rounds: int = 2, candidates: int = 3, proposing: bool = True) -> int:
    """The most LLM calls a run makes (each structured reply may take one corrective retry more)."""
    batches = lambda films: math.ceil(len(films) / DEFAULT_BATCH)  # noqa: E731
    per_round = batches(split.train) + int(proposing) + candidates + candidates * batches(split.validation)
    return batches(split.validation) + rounds * per_round + batches(split.test)


def estimate(llm: LLM, split: Split, *, rounds: int = 2, candidates: int = 3, seed: int | None = None,
             proposing: bool = True) -> Estimate:
    """Calls and tokens a run would cost. `cached` counts the first round's requests already in the
    cache (a repeated run is answered from it); tokens are rough: about half the budget of
    specification per prediction, and every reply at its most."""
    seed = split.seed if seed is None else seed
    neutral = neutral_spec(split.critic)
    first = [class_request(llm, "critic_tune_predict", batch, seed=seed, system=neutral)
             for batch in _batches(split.validation) + _batches(split.train)]
    known = llm.estimate(first)
    calls = planned_calls(split, rounds=rounds, candidates=candidates, proposing=proposing)
    writers, proposers = rounds * candidates, rounds * int(proposing)
    predictions = calls - writers - proposers
    mean_in = known.tokens_in / max(len(first) - known.cached, 1) if known.tokens_in else 300
    return Estimate(
        calls=calls, cached=known.cached,
        tokens_in=round((predictions + writers + proposers) * (mean_in + SPEC_TOKEN_BUDGET / 2)),
        tokens_out=predictions * (12 * DEFAULT_BATCH + 32) + writers * WRITER.max_tokens
        + proposers * PROPOSER_MAX_TOKENS)


# -- storing runs and the designer's hand --------------------------------------------------


@dataclass(frozen=True)
class StoredRun:
    """A line of the list of stored runs."""

    id: int
    parent_id: int | None
    critic: str
    k: int
    seed: int
    model: str
    validation_f1: float
    created_at: object


def _split_json(split: Split) -> str:
    critic = split.critic
    return json.dumps({
        "critic": {"id": critic.id, "source": critic.source, "scale": list(critic.scale),
                   "thresholds": asdict(critic.thresholds), "user_id": critic.user_id},
        "k": split.k, "seed": split.seed,
        **{part: [asdict(f) for f in getattr(split, part)] for part in ("train", "validation", "test")},
    })


def _split_from(text: str) -> Split:
    data = json.loads(text)
    parts = {part: tuple(Film(**{**f, "genres": tuple(f["genres"])}) for f in data[part])
             for part in ("train", "validation", "test")}
    c = data["critic"]
    critic = Critic(c["id"], parts["train"] + parts["validation"] + parts["test"], Thresholds(**c["thresholds"]),
                    tuple(c["scale"]), c["source"], c["user_id"])
    return Split(critic, data["k"], data["seed"], parts["train"], parts["validation"], parts["test"])


def _candidate_from(data: dict) -> SpecCandidate:
    return SpecCandidate(data["round"], data["text"], tuple(data["changes"]), tuple(data["guard_notes"]),
                         data["status"], data["validation_f1"])


def _predictions_from(rows: list[dict]) -> tuple[Prediction, ...]:
    return tuple(Prediction(**row) for row in rows)


def _result_json(run: TasteRun) -> str:
    return json.dumps({
        "baseline": asdict(run.baseline),
        "history": [asdict(r) for r in run.history],
        "predictions": [asdict(p) for p in run.predictions],
        "usage": asdict(run.usage),
    })


def save_run(store: Store, run: TasteRun) -> TasteRun:
    """Store a finished run and its patterns; returns it with its id and the patterns' ids."""
    def save(db) -> int:
        run_id = db.execute(
            "INSERT INTO taste_runs (parent_id, critic, k, seed, rounds, candidates, backend, model, split, spec,"
            " result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [run.parent_id, run.split.critic.id, run.split.k, run.seed, run.rounds, run.candidates, run.backend,
             run.model, _split_json(run.split), run.spec, _result_json(run)],
        ).fetchone()[0]
        for p in run.patterns:
            db.execute(
                "INSERT INTO taste_patterns (taste_run_id, number, round, statement, evidence_for, evidence_against,"
                " status, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, p.number, p.round, p.statement, json.dumps(p.evidence_for), json.dumps(p.evidence_against),
                 p.status, p.source])
        return run_id

    return load_run(store, store.transaction(save))


def load_run(store: Store, run_id: int) -> TasteRun:
    row = store.cursor().execute(
        "SELECT parent_id, seed, rounds, candidates, backend, model, split, spec, result FROM taste_runs"
        " WHERE id = ?", [run_id]).fetchone()
    if row is None:
        raise ValueError(f"no taste run {run_id}")
    parent_id, seed, rounds, candidates, backend, model, split, spec, result = row
    result = json.loads(result)
    history = tuple(
        Round(r["number"], r["spec"], _predictions_from(r["train_predictions"]), r["errors"], tuple(r["proposed"]),
              tuple(_candidate_from(c) for c in r["candidates"]), r["validation_f1"], tuple(r["notes"]))
        for r in result["history"])
    return TasteRun(_split_from(split), seed, rounds, candidates, backend, model, _candidate_from(result["baseline"]),
                    history, tuple(taste_patterns(store, run_id)), spec, _predictions_from(result["predictions"]),
                    Usage(**result["usage"]), run_id, parent_id)


def list_taste_runs(store: Store) -> list[StoredRun]:
    """Every stored run, newest first."""
    rows = store.cursor().execute(
        "SELECT id, parent_id, critic, k, seed, model, result, created_at FROM taste_runs ORDER BY id DESC").fetchall()
    return [StoredRun(*row[:6], json.loads(row[6])["history"][-1]["validation_f1"], row[7]) for row in rows]


_PATTERN_COLUMNS = "number, statement, evidence_for, evidence_against, round, status, source, id"


def _pattern(row) -> TastePattern:
    return TastePattern(row[0], row[1], tuple(json.loads(row[2])), tuple(json.loads(row[3])), *row[4:])


def taste_patterns(store: Store, run_id: int) -> list[TastePattern]:
    """A stored run's patterns, by number."""
    rows = store.cursor().execute(
        f"SELECT {_PATTERN_COLUMNS} FROM taste_patterns WHERE taste_run_id = ? ORDER BY number", [run_id]).fetchall()
    return [_pattern(row) for row in rows]


def get_taste_pattern(store: Store, pattern_id: int) -> TastePattern:
    row = store.cursor().execute(f"SELECT {_PATTERN_COLUMNS} FROM taste_patterns WHERE id = ?",
                                 [pattern_id]).fetchone()
    if row is None:
        raise ValueError(f"no taste pattern {pattern_id}")
    return _pattern(row)


def _check(statement: str | None, status: str | None) -> None:
    if statement is not None and not statement.strip():
        raise ValueError("a taste pattern needs a statement of the critic's taste")
    if status is not None and status not in TASTE_PATTERN_STATUSES:
        raise ValueError(f"unknown taste pattern status {status!r}; use one of {', '.join(TASTE_PATTERN_STATUSES)}")


def update_taste_pattern(store: Store, pattern_id: int, *, statement: str | None = None,
                         status: str | None = None) -> TastePattern:
    """The designer's hand: edit a pattern's statement, accept or reject it."""
    _check(statement, status)

    def update(db) -> None:
        pattern = get_taste_pattern(store, pattern_id)  # read in the transaction: another tab's change is kept
        db.execute("UPDATE taste_patterns SET statement = ?, status = ? WHERE id = ?",
                   [pattern.statement if statement is None else statement.strip(),
                    pattern.status if status is None else status, pattern_id])

    store.transaction(update)
    return get_taste_pattern(store, pattern_id)


def add_taste_pattern(store: Store, run_id: int, statement: str) -> TastePattern:
    """A pattern the designer writes by hand: accepted, with no evidence cited."""
    _check(statement, None)
    load_run(store, run_id)  # says so if there is no such run
    number = store.cursor().execute("SELECT coalesce(max(number), 0) + 1 FROM taste_patterns WHERE taste_run_id = ?",
                                    [run_id]).fetchone()[0]
    pattern_id = store.cursor().execute(
        "INSERT INTO taste_patterns (taste_run_id, number, round, statement, status, source)"
        " VALUES (?, ?, 0, ?, 'accepted', ?) RETURNING id", [run_id, number, statement.strip(), PATTERN_SOURCES[1]],
    ).fetchone()[0]
    return get_taste_pattern(store, pattern_id)


def retune(llm: LLM, store: Store, run_id: int, *, rounds: int | None = None, candidates: int | None = None,
           progress: StageProgress | None = None) -> TasteRun:
    """Refine again, from the neutral specification, with the patterns of run `run_id` the designer
    kept (every one not rejected), on the same split and seed; the new run is stored and returned."""
    parent = load_run(store, run_id)
    kept = [p for p in parent.patterns if p.status != "rejected"]
    if not kept:
        raise ValueError(f"run {run_id} has no patterns left to refine with: accept, edit or write one first")
    run = tune(llm, parent.split, rounds=rounds or parent.rounds, candidates=candidates or parent.candidates,
               seed=parent.seed, patterns=kept, progress=progress)
    return save_run(store, replace(run, parent_id=run_id))
