"""Annotations: the append-only label rules, current labels, the transcript label, the review queue."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests.scripted_server import Reply
from vt_core.designer.annotations import (
    Annotation,
    annotate,
    current_annotations,
    mark,
    transcript_label,
    transcript_labels,
)
from vt_core.designer.patterns import add_pattern, judge_many
from vt_core.designer.projects import create_project
from vt_core.designer.refinement import critiques
from vt_core.designer.review import filter_transcripts, next_to_review, unreviewed
from vt_core.designer.transcripts import Turn, save_transcript

pytestmark = pytest.mark.both_backends  # each test that has a store runs on DuckDB and on PostgreSQL


@pytest.fixture
def project(store):
    return create_project(store, "movies", "Recommend movies.", "film fans", "You recommend movies.")


def new_transcript(store, project_id: int, tag: str = "t", *, scenario_id: int = 1, persona_id: int = 1) -> int:
    """Turns 0 and 2 are the user's, 1 and 3 the bot's; `tag` marks the bot's words."""
    turns = [Turn("user", "Hi, any film tips?"), Turn("assistant", f"Sure [{tag}], what genres?"),
             Turn("user", "Comedy."), Turn("assistant", f"Try Airplane! [{tag}]")]
    return save_transcript(store, run_id=1, project_id=project_id, version_id=1, persona_id=persona_id,
                           scenario_id=scenario_id, seed=0, simulator_model="sim", bot_model="bot",
                           ended_by="user", turns=turns)


def keys(annotations: list[Annotation]) -> list[tuple]:
    return [(a.transcript_id, a.turn_idx, a.label) for a in annotations]


# -- annotate and current labels ----------------------------------------------------------------


def test_the_newest_row_is_current_and_none_clears(store, project):
    t = new_transcript(store, project.id)
    annotate(store, t, turn_idx=1, label="good", critique="asks first")
    annotate(store, t, turn_idx=3, label="bad", critique="only one film", rewrite="Try Airplane! or Hot Shots!")
    annotate(store, t, turn_idx=1, label="bad", critique="  too curt  ")
    annotate(store, t, turn_idx=None, label="good")

    current = current_annotations(store, transcript_id=t)
    assert keys(current) == [(t, None, "good"), (t, 1, "bad"), (t, 3, "bad")]
    assert current[1].critique == "too curt"
    assert current[2].rewrite == "Try Airplane! or Hot Shots!"
    assert current[0].rewrite is None and isinstance(current[0].created_at, datetime)

    annotate(store, t, turn_idx=1, label=None)
    assert keys(current_annotations(store, transcript_id=t)) == [(t, None, "good"), (t, 3, "bad")]
    annotate(store, t, turn_idx=1, label="good")  # a cleared label can be set again
    assert keys(current_annotations(store, transcript_id=t))[1] == (t, 1, "good")
    rows = store.cursor().execute("SELECT count(*) FROM annotations WHERE transcript_id = ?", [t]).fetchone()[0]
    assert rows == 6  # append-only: every change is a row


def test_current_annotations_by_project(store, project):
    other = create_project(store, "other", "g", "a", "p")
    mine, theirs = new_transcript(store, project.id), new_transcript(store, other.id)
    annotate(store, mine, turn_idx=3, label="good")
    annotate(store, theirs, turn_idx=1, label="bad")
    assert keys(current_annotations(store, project_id=project.id)) == [(mine, 3, "good")]
    assert keys(current_annotations(store)) == [(mine, 3, "good"), (theirs, 1, "bad")]


@pytest.mark.parametrize("kwargs, message", [
    ({"turn_idx": 1, "label": "meh"}, "unknown label 'meh'"),
    ({"turn_idx": 0, "label": "bad"}, "turn 0 of transcript .* is the simulated user's: it can only be flagged "
                                      "'unrealistic_user'; mark the bot's replies 'good' or 'bad'"),
    ({"turn_idx": 1, "label": "unrealistic_user"}, "turn 1 of transcript .* is the bot's: it takes 'good' or 'bad'; "
                                                   "flag an unrealistic user on the simulated user's turn"),
    ({"turn_idx": 0, "label": "unrealistic_user", "rewrite": "Hello."}, "a rewrite replaces a bot turn"),
    ({"turn_idx": 7, "label": "bad"}, "has no turn 7 \\(its turns are 0 to 3\\)"),
    ({"turn_idx": None, "label": "bad", "rewrite": "Better."}, "a rewrite replaces one bot turn"),
])
def test_annotate_rejects(store, project, kwargs, message):
    t = new_transcript(store, project.id)
    with pytest.raises(ValueError, match=message):
        annotate(store, t, **kwargs)
    assert current_annotations(store, transcript_id=t) == []


def test_annotate_rejects_a_missing_transcript(store):
    for turn_idx in (None, 1):
        with pytest.raises(ValueError, match="no transcript 404"):
            annotate(store, 404, turn_idx=turn_idx, label="good")


def test_an_unrealistic_user_goes_on_the_users_turn_and_counts_against_the_simulator(store, project):
    t = new_transcript(store, project.id)
    annotate(store, t, turn_idx=2, label="unrealistic_user", critique="No one says just 'Comedy.'")
    annotate(store, t, turn_idx=3, label="good", critique="one clear pick")
    assert keys(current_annotations(store, transcript_id=t)) == [(t, 2, "unrealistic_user"), (t, 3, "good")]
    assert transcript_labels(store, project.id) == {t: "unrealistic_user"}
    assert critiques(store, project.id) == ["(good) one clear pick"]  # the simulator's fault is not the bot's
    annotate(store, t, turn_idx=1, label="bad")
    assert transcript_labels(store, project.id) == {t: "bad"}  # a bot fault stands


def test_an_old_flag_on_a_bot_turn_stays_readable(store, project):
    """Rows written before flags moved to the user's turn: read as the simulator's fault, replaced by a mark."""
    t = new_transcript(store, project.id)
    store.cursor().execute("INSERT INTO annotations (transcript_id, turn_idx, label, critique) VALUES (?, 3, ?, ?)",
                           [t, "unrealistic_user", "the user would never"])
    assert keys(current_annotations(store, transcript_id=t)) == [(t, 3, "unrealistic_user")]
    assert transcript_labels(store, project.id) == {t: "unrealistic_user"}
    assert critiques(store, project.id) == []
    mark(store, t, 3, "bad")
    [note] = current_annotations(store, transcript_id=t)
    assert (note.turn_idx, note.label, note.critique) == (3, "bad", "the user would never")


def test_mark_keeps_the_critique_and_rewrite_through_a_clear(store, project):
    t = new_transcript(store, project.id)
    annotate(store, t, turn_idx=3, label="bad", critique="one film only", rewrite="Airplane! or Top Secret!")
    mark(store, t, 3, "good")
    mark(store, t, 3, None)
    assert current_annotations(store, transcript_id=t) == []
    [cleared] = current_annotations(store, transcript_id=t, cleared=True)
    assert (cleared.label, cleared.critique) == (None, "one film only")
    mark(store, t, 3, "bad")
    [note] = current_annotations(store, transcript_id=t)
    assert (note.label, note.critique, note.rewrite) == ("bad", "one film only", "Airplane! or Top Secret!")
    mark(store, t, None, "good")  # the whole transcript, with nothing before
    assert keys(current_annotations(store, transcript_id=t)) == [(t, None, "good"), (t, 3, "bad")]


def test_a_blank_rewrite_is_no_rewrite(store, project):
    t = new_transcript(store, project.id)
    annotate(store, t, turn_idx=None, label="bad", rewrite="   ")
    assert current_annotations(store, transcript_id=t)[0].rewrite is None


# -- the transcript label -----------------------------------------------------------------------


def ann(turn_idx: int | None, label: str) -> Annotation:
    return Annotation(1, turn_idx, label, "", None, datetime(2026, 1, 1))


@pytest.mark.parametrize("annotations, expected", [
    ([], None),
    ([ann(1, "good"), ann(3, "good")], "good"),
    ([ann(1, "good"), ann(3, "bad")], "bad"),
    ([ann(0, "unrealistic_user"), ann(3, "good")], "unrealistic_user"),  # a flagged user turn
    ([ann(2, "unrealistic_user"), ann(3, "bad")], "bad"),  # a bot fault stands
    ([ann(1, "unrealistic_user"), ann(3, "good")], "unrealistic_user"),  # an old flag on a bot turn
    ([ann(None, "good"), ann(3, "bad")], "good"),  # the designer's verdict on the whole wins
    ([ann(None, "unrealistic_user"), ann(1, "good")], "unrealistic_user"),
])
def test_transcript_label(annotations, expected):
    assert transcript_label(annotations) == expected


# -- filters and the review queue ---------------------------------------------------------------


def scripted_judge(table: dict[tuple[str, str], str]):
    """A judge server: the verdict for (a word of the statement, a transcript's tag)."""

    def respond(request: dict) -> Reply:
        system, conversation = request["messages"][0]["content"], request["messages"][-1]["content"]
        for (word, tag), verdict in table.items():
            if word in system and f"[{tag}]" in conversation:
                return Reply(content=json.dumps({"verdict": verdict, "reason": f"{word} on {tag}"}))
        return Reply(content=json.dumps({"verdict": "not_applicable", "reason": "no rule"}))

    return respond


def test_filter_transcripts(store, project, make_llm, scripted):
    a = new_transcript(store, project.id, "a", scenario_id=1, persona_id=1)
    b = new_transcript(store, project.id, "b", scenario_id=2, persona_id=1)
    c = new_transcript(store, project.id, "c", scenario_id=2, persona_id=2)
    d = new_transcript(store, project.id, "d", scenario_id=1, persona_id=2)
    annotate(store, a, turn_idx=1, label="bad")
    annotate(store, b, turn_idx=None, label="good")
    annotate(store, c, turn_idx=2, label="unrealistic_user")
    genres = add_pattern(store, project.id, "keep", "The bot asks about genres")
    scripted.respond = scripted_judge({("genres", "a"): "exhibited", ("genres", "b"): "not_exhibited",
                                       ("genres", "c"): "not_applicable"})
    judge_many(make_llm(), store, [genres], [a, b, c])

    assert filter_transcripts(store, project.id) == [a, b, c, d]
    assert filter_transcripts(store, project.id, label="bad") == [a]
    assert filter_transcripts(store, project.id, label="unrealistic_user") == [c]
    assert filter_transcripts(store, project.id, label="unlabelled") == [d]
    assert filter_transcripts(store, project.id, scenario_id=2) == [b, c]
    assert filter_transcripts(store, project.id, scenario_id=2, persona_id=2) == [c]
    assert filter_transcripts(store, project.id, pattern_id=genres.id) == [a, b, c]
    assert filter_transcripts(store, project.id, pattern_id=genres.id, pattern_verdict="pass") == [a]
    assert filter_transcripts(store, project.id, pattern_id=genres.id, pattern_verdict="fail") == [b]
    assert filter_transcripts(store, project.id, pattern_id=genres.id, pattern_verdict="not_applicable") == [c]
    assert filter_transcripts(store, project.id, label="good", pattern_id=genres.id, pattern_verdict="fail") == [b]
    with pytest.raises(ValueError, match="unknown label filter"):
        filter_transcripts(store, project.id, label="great")
    with pytest.raises(ValueError, match="give pattern_id too"):
        filter_transcripts(store, project.id, pattern_verdict="pass")
    with pytest.raises(ValueError, match="unknown verdict 'maybe'"):
        filter_transcripts(store, project.id, pattern_id=genres.id, pattern_verdict="maybe")


def test_next_without_judgements_is_the_next_unannotated_in_order(store, project):
    t1, t2, t3, t4 = (new_transcript(store, project.id) for _ in range(4))
    annotate(store, t2, turn_idx=1, label="good")
    assert next_to_review(store, project.id, None) == t1
    assert next_to_review(store, project.id, t1) == t3  # t2 is done
    assert next_to_review(store, project.id, t3) == t4
    assert next_to_review(store, project.id, t4) == t1  # wraps around
    assert unreviewed(store, project.id) == [t1, t3, t4]
    annotate(store, t1, turn_idx=0, label="unrealistic_user")  # a flag on the user's turn is a mark too
    annotate(store, t3, turn_idx=None, label="good")
    assert next_to_review(store, project.id, t4) is None  # t4 itself is the last one left
    assert unreviewed(store, project.id) == [t4]
    annotate(store, t4, turn_idx=3, label="bad")
    assert next_to_review(store, project.id, t2) is None  # all done: no jump to a marked one
    assert next_to_review(store, project.id, None) is None
    assert unreviewed(store, project.id) == []


def test_next_with_one_or_no_transcript(store, project):
    assert next_to_review(store, project.id, None) is None
    t = new_transcript(store, project.id)
    assert next_to_review(store, project.id, t) is None
    assert next_to_review(store, project.id, None) == t


def test_next_alternates_between_likely_failures_and_passes(store, project, make_llm, scripted):
    f1, p1, f2, p2, unknown = (new_transcript(store, project.id, tag) for tag in ("f1", "p1", "f2", "p2", "u"))
    accepted = add_pattern(store, project.id, "avoid", "The bot lists more than three films")
    candidate = add_pattern(store, project.id, "keep", "The bot greets", status="candidate")
    scripted.respond = scripted_judge({
        ("three", "f1"): "exhibited", ("three", "f2"): "exhibited",  # an avoid pattern exhibited: fail
        ("three", "p1"): "not_exhibited", ("three", "p2"): "not_exhibited",
        ("greets", "p1"): "not_exhibited", ("greets", "p2"): "not_exhibited",  # a candidate: ignored
    })
    judge_many(make_llm(), store, [accepted, candidate], [f1, p1, f2, p2, unknown])

    order, current = [], None
    for _ in range(5):
        current = next_to_review(store, project.id, current)
        order.append(current)
    assert order == [f1, p1, f2, p2, f1]
    assert next_to_review(store, project.id, None, prefer="pass") == p1
    assert next_to_review(store, project.id, p1, prefer="pass") == p2
    assert next_to_review(store, project.id, p2, prefer="pass") == p1

    # Unannotated comes first: with both passes labelled, an unjudged one beats a labelled pass.
    annotate(store, p1, turn_idx=1, label="good")
    annotate(store, p2, turn_idx=1, label="good")
    assert next_to_review(store, project.id, f1) == unknown
    annotate(store, unknown, turn_idx=1, label="good")
    assert next_to_review(store, project.id, f1) == f2  # the only other unannotated one
    assert next_to_review(store, project.id, f2) == f1
    with pytest.raises(ValueError, match="prefer must be"):
        next_to_review(store, project.id, f1, prefer="both")
