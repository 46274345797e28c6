"""The one optimizer loop, on a task whose scores are a table: the writers are real structured calls
to the scripted server, the guards the real ones; the refinement and taste-tuning tests cover the
two real tasks."""

import json
from dataclasses import dataclass

import pytest

from tests.scripted_server import Reply
from vt_core.optimizer import Attempt, Brief, Score, Writer, check_draft, optimize

START = "# Rules\nBe kind.\n"
SCORES = {"better": 0.5, "best": 0.9, "worse": 0.1, "same": 0.2}  # by the text's last word; START scores 0.2


@dataclass(frozen=True)
class Tried:
    text: str
    status: str
    notes: tuple[str, ...]
    score: float | None


class TableTask:
    """Scores a text by its last word; copies are texts that mention 'secret'."""

    def __init__(self, locked=(), budget=200):
        self.writer = Writer("refine", list(locked), budget)
        self.briefs: list[int] = []
        self.evaluated: list[str] = []

    def brief(self, best, round, progress):
        self.briefs.append(round)
        return Brief({"goal": "be kind", "audience": "anyone", "patterns": "- [1] KEEP: kind", "critiques": "- (none)"},
                     detail=f"round {round}")

    def guard(self, parent, draft):
        return check_draft(parent, draft, locked=self.writer.locked, budget=self.writer.budget,
                           copied=lambda text: "quotes a secret" if "secret" in text else None)

    def evaluate(self, attempt: Attempt, progress):
        self.evaluated.append(attempt.text)
        score = 0.2 if attempt.round == 0 else SCORES[attempt.text.split()[-1]]
        return Tried(attempt.text, "baseline" if attempt.round == 0 else "evaluated", attempt.notes, score)

    def reject(self, attempt: Attempt):
        return Tried(attempt.text, "rejected", attempt.notes, None)

    def score(self, candidate: Tried):
        if candidate.status == "rejected":
            return None
        return Score((candidate.score,), candidate.score, "table score", f"{candidate.score:.1f}")


def draft(words: str) -> str:
    return START + "# Notes\n" + words + "\n"


def writers(scripted, *texts: str | None) -> None:
    """The writer calls' replies in order: a text becomes a draft; None (and every call after the
    last), a reply that is no draft."""
    replies = iter(texts)

    def respond(request):
        text = next(replies, None)
        return Reply(content="no JSON here" if text is None else json.dumps({"prompt": text, "changes": []}))

    scripted.respond = respond


@pytest.fixture
def llm(make_llm):
    return make_llm({"VT_CONCURRENCY": "1"})  # one writer at a time: the replies come in order


def test_keeps_the_best_and_stops_at_the_first_round_without_gain(scripted, llm):
    writers(scripted, draft("better"), draft("worse"), draft("worse"), draft("same"))
    task = TableTask()
    result = optimize(task, llm, START, rounds=3, candidates=2, seed=5)
    assert result.baseline.score == 0.2 and result.best.text == draft("better")
    assert [len(r.candidates) for r in result.rounds] == [2, 2] and task.briefs == [1, 2]
    assert [r.best.score for r in result.rounds] == [0.5, 0.5]
    assert result.rounds[1].parent == draft("better") and result.rounds[0].brief.detail == "round 1"
    assert result.stopped == "round 2: the best candidate did not raise the table score (0.2 vs 0.5)"


def test_without_stopping_every_round_runs_and_the_best_is_kept(scripted, llm):
    writers(scripted, draft("better"), draft("worse"), draft("same"), draft("worse"),
            draft("best"), draft("same"))
    result = optimize(TableTask(), llm, START, rounds=3, candidates=2, seed=5, stop_without_gain=False)
    assert [r.best.score for r in result.rounds] == [0.5, 0.5, 0.9]
    assert result.best.text == draft("best") and result.stopped == "ran every round (3)"


def test_guards_and_failed_writers_reject_candidates(scripted, llm):
    writers(scripted, "# Rules\nBe rude.\n# Notes\nbetter\n",  # the locked section is put back
            draft("a secret better"),  # copies evidence
            draft("word " * 400 + "best"),  # over the budget
            None)  # the writer's reply is no draft, even after the corrective retry
    task = TableTask(locked=["Rules"], budget=60)
    result = optimize(task, llm, START, rounds=1, candidates=4, seed=0)
    restored, copied, long, failed = result.rounds[0].candidates
    assert restored.status == "evaluated" and restored.text.startswith(START)
    assert restored.notes == ("restored locked section 'Rules'",)
    assert copied.status == "rejected" and copied.notes[-1] == "rejected: quotes a secret"
    assert long.status == "rejected" and "over the budget of 60" in long.notes[-1]
    assert failed.status == "rejected" and failed.notes[0].startswith("rejected: the writer's reply failed")
    assert failed.text == START and result.best is restored
    assert task.evaluated == [START, restored.text]  # rejected candidates are never scored


def test_a_round_the_guards_reject_whole_ends_the_run(scripted, llm):
    writers(scripted, draft("secret better"), draft("secret best"))
    result = optimize(TableTask(), llm, START, rounds=2, candidates=2, seed=0)
    assert result.best is result.baseline and len(result.rounds) == 1
    assert result.stopped == "round 1: the guards rejected every candidate"
