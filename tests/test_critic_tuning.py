"""Visionary Tuning for taste against a scripted model (tests/scripted_worlds.py TasteWorld): a critic
who loves science fiction and dislikes comedies, a predictor that gets those films right only when the
specification says so. The loop must find both patterns from its errors, write them into the
specification, score higher on the validation films, and keep the designer's hand."""

import pytest

from tests.conftest import llm_calls
from tests.scripted_server import Reply
from tests.scripted_worlds import TasteWorld
from vt_core.core.config import Settings
from vt_core.core.llm import LLM
from vt_core.core.store import Store
from vt_core.core.text import sections
from vt_core.critic.data import CLASSES, Critic, Film, Thresholds, choose_critics, movielens_critic, split
from vt_core.critic.tuning import (
    LOCKED,
    SPEC_TOKEN_BUDGET,
    add_taste_pattern,
    estimate,
    list_taste_runs,
    load_run,
    named_films,
    neutral_spec,
    pasted_films,
    planned_calls,
    predict_test,
    retune,
    save_run,
    tune,
    update_taste_pattern,
)
from vt_core.optimizer import check_draft

pytestmark = pytest.mark.both_backends  # each test that has a store runs on DuckDB and on PostgreSQL

GENRES = {"high": ("Sci-Fi", "Drama"), "low": ("Comedy",), "mid": ("Drama",)}
RATINGS = {"high": 4.5, "low": 1.5, "mid": 3.0}
WORDS = ("Amber", "Silent", "Iron", "Velvet", "Hollow", "Crimson", "Paper", "Winter", "Golden")
NOUNS = {"high": "Orbit", "low": "Picnic", "mid": "Harbour"}


def taste_critic() -> Critic:
    films = tuple(
        Film(100 * n + i, f"The {word} {NOUNS[label]}", 1970 + i, GENRES[label], RATINGS[label], label)
        for n, label in enumerate(("low", "mid", "high"), start=1) for i, word in enumerate(WORDS))
    return Critic("csv:taste", films, Thresholds(), (0.5, 5.0), "taste")


@pytest.fixture
def taste_split():
    return split(taste_critic(), k=3, seed=0, test_per_class=3, validation_per_class=3)


@pytest.fixture
def world(scripted, taste_split):
    scripted.respond = world = TasteWorld(titles=tuple(f.title for f in taste_split.train))
    return world


def test_tuning_finds_the_taste_and_scores_higher(make_llm, world, taste_split):
    stages = []
    llm = make_llm()
    run = tune(llm, taste_split, rounds=2, candidates=2, progress=lambda s, d, t: stages.append(s))

    # The neutral specification predicts "mid" for everything; the learned one names both patterns.
    assert run.baseline.text == neutral_spec(taste_split.critic)
    assert run.validation[0] == pytest.approx(1 / 6)  # F1 0.5 for mid, 0 for low and high
    assert run.validation == pytest.approx([1 / 6, 1.0, 1.0])
    assert "science fiction" in run.spec and "comedies" in run.spec
    assert run.scores.macro_f1 == 1.0 and run.scores.recall_spread == 0.0
    assert [p.label for p in run.predictions] == [f.label for f in taste_split.test]

    # Patterns come from round 1's six errors, with their evidence among the training films only.
    first, second = run.history
    assert (first.errors, second.errors) == (6, 0)
    assert [p.statement for p in run.patterns] == ["The critic rates science fiction highly",
                                                   "The critic dislikes broad comedies"]
    scifi = {f.movie_id for f in taste_split.train if "Sci-Fi" in f.genres}
    assert set(run.patterns[0].evidence_for) == scifi and run.patterns[0].evidence_against == ()
    assert first.proposed == (1, 2) and second.proposed == ()
    assert second.notes == ("no new patterns: every training film was predicted right",)

    # Guards: the locked Task section is put back, and the candidate that pasted films is rejected.
    task = sections(neutral_spec(taste_split.critic))[0].text
    assert run.spec.startswith(task) and "You guess" not in run.spec
    honest, paster = first.candidates
    assert honest.status == "evaluated" and "restored locked section 'Task'" in honest.guard_notes
    assert honest.changes[0]["pattern_ids"] == [1]
    assert paster.status == "rejected" and paster.validation_f1 is None
    assert paster.guard_notes[-1].startswith("rejected: names 9 training films")
    assert run.leaderboard()[0].validation_f1 == 1.0 and run.leaderboard()[-1].status == "rejected"

    # The writer never sees a film title; the run's calls are counted.
    assert not any(f.title in prompt for prompt in world.writer_prompts for f in taste_split.train)
    # neutral on validation 1; round 1: train 1, proposer 1, writers 2, validation 1; round 2: train 1,
    # writers 2, validation 1 (no errors, no proposer); test 1.
    assert run.usage.calls == 11 <= planned_calls(taste_split, rounds=2, candidates=2)
    assert any(s.startswith("round 1: proposing taste patterns from 6 errors") for s in stages)
    assert stages[-1] == "predicting the test films"
    assert (run.backend, run.model) == (llm.backend.describe(), "scripted-model")


def test_a_run_repeats_from_its_seed_out_of_the_cache(store, make_llm, world, taste_split):
    llm = make_llm()
    assert estimate(llm, taste_split, rounds=2, candidates=2).cached == 0
    first = tune(llm, taste_split, rounds=2, candidates=2, seed=5)
    again = tune(llm, taste_split, rounds=2, candidates=2, seed=5)
    assert (again.spec, again.predictions, again.validation) == (first.spec, first.predictions, first.validation)
    assert again.usage.calls == first.usage.calls and again.usage.cache_hits == again.usage.calls
    cost = estimate(llm, taste_split, rounds=2, candidates=2, seed=5)
    assert cost.cached == 2 and cost.calls == planned_calls(taste_split, rounds=2, candidates=2)
    assert estimate(llm, taste_split, rounds=2, candidates=2, seed=6).cached == 0


def test_the_designer_rejects_and_edits_patterns_then_refines_again(store, make_llm, world, taste_split):
    llm = make_llm()
    saved = save_run(store, tune(llm, taste_split, rounds=1, candidates=1))
    assert load_run(store, saved.id).spec == saved.spec and saved.scores == load_run(store, saved.id).scores
    scifi, comedy = saved.patterns
    assert comedy.id is not None and comedy.status == "candidate"

    update_taste_pattern(store, comedy.id, status="rejected")
    update_taste_pattern(store, scifi.id, statement="The critic loves science fiction of every era", status="accepted")
    world.writer_prompts.clear()
    again = retune(llm, store, saved.id)

    assert again.parent_id == saved.id and again.id != saved.id
    assert [(p.number, p.statement, p.status, p.round) for p in again.patterns] == [
        (1, "The critic loves science fiction of every era", "accepted", 0)]
    assert again.patterns[0].evidence_for == scifi.evidence_for
    assert world.writer_prompts and not any("comed" in prompt for prompt in world.writer_prompts)
    assert "comed" not in again.spec and "science fiction of every era" in again.spec
    # Comedies are back to "mid": high and mid right, low missed: F1 (1 + 2/3 + 0) / 3.
    assert again.validation == pytest.approx([1 / 6, 5 / 9])
    assert again.history[0].proposed == () and again.history[0].errors == 6
    assert [r.id for r in list_taste_runs(store)] == [again.id, saved.id]
    assert list_taste_runs(store)[0].validation_f1 == pytest.approx(5 / 9)

    written = add_taste_pattern(store, again.id, "  The critic dislikes comedies  ")
    assert (written.number, written.statement, written.source, written.status) == (
        2, "The critic dislikes comedies", "designer", "accepted")
    with pytest.raises(ValueError, match="needs a statement"):
        update_taste_pattern(store, written.id, statement="  ")
    with pytest.raises(ValueError, match="unknown taste pattern status 'merged'"):
        update_taste_pattern(store, written.id, status="merged")
    for pattern in load_run(store, saved.id).patterns:
        update_taste_pattern(store, pattern.id, status="rejected")
    with pytest.raises(ValueError, match="no patterns left"):
        retune(llm, store, saved.id)


def test_unusable_proposer_and_writer_replies_are_noted_and_the_run_goes_on(scripted, make_llm, taste_split):
    world = TasteWorld()

    def respond(request: dict) -> Reply:
        first = request["messages"][0]["content"]
        if first.startswith(("You study one film critic's ratings", "You improve a specification")):
            return Reply(content="I would rather not.")
        return world(request)

    scripted.respond = respond
    run = tune(make_llm(), taste_split, rounds=1, candidates=2)
    [only] = run.history
    assert only.notes[0].startswith("no new patterns: the proposer's reply failed")
    assert [c.status for c in only.candidates] == ["rejected", "rejected"]
    assert only.candidates[0].guard_notes[0].startswith("rejected: the writer's reply failed")
    assert run.patterns == () and run.spec == neutral_spec(taste_split.critic)
    assert len(run.predictions) == len(taste_split.test)


def test_predict_test_is_a_method_over_the_test_films(make_llm, world, taste_split):
    predictions = predict_test(make_llm(), taste_split)
    assert [p.movie_id for p in predictions] == [f.movie_id for f in taste_split.test]
    assert all(p.rating is None for p in predictions)


def test_tuning_refuses_a_split_without_validation_films(store, make_llm, scripted):
    no_validation = split(taste_critic(), k=3, seed=0, test_per_class=3, validation_per_class=0)
    with pytest.raises(ValueError, match="validation films"):
        tune(make_llm(), no_validation)
    assert llm_calls(store) == []


def test_the_guards_on_a_specification(taste_split):
    parent = neutral_spec(taste_split.critic)
    films = [Film(1, "Deer Hunter, The", 1978, ("Drama",), 2.0, "low"), Film(2, "Up", 2009, (), 4.0, "high"),
             Film(3, "Dracula (Bram Stoker's Dracula)", 1992, (), 3.0, "mid"), Film(4, "Gandhi", 1982, (), 2, "low")]
    text = "Loves the deer hunter. Liked Up; rated dracula and Gandhi low."
    assert named_films(text, films) == ["Deer Hunter, The", "Dracula (Bram Stoker's Dracula)", "Gandhi"]
    assert named_films("The critic likes deer, hunters and war films", films) == []

    _, notes, rejected = check_draft(parent, parent + text, locked=LOCKED, budget=SPEC_TOKEN_BUDGET,
                                     copied=pasted_films(films))
    assert rejected and notes == ["rejected: names 3 training films (Deer Hunter, The, Dracula (Bram Stoker's "
                                  "Dracula), Gandhi); a specification describes taste, it does not list films"]
    _, _, two_named = check_draft(parent, parent + "Loves the deer hunter and Gandhi.", locked=LOCKED,
                                  budget=SPEC_TOKEN_BUDGET, copied=pasted_films(films))
    assert not two_named
    _, notes, long = check_draft(parent, parent + "word " * 2000, locked=LOCKED, budget=SPEC_TOKEN_BUDGET,
                                 copied=pasted_films(films))
    assert long and "over the budget of 500" in notes[-1]


@pytest.mark.embedded
def test_tuning_on_the_embedded_model(tmp_path):
    """The real SmolLM2 on a tiny MovieLens split, one round of one candidate: structure only, its
    patterns and classes mean nothing."""
    store = Store(tmp_path / "vt.duckdb")
    llm = LLM.from_settings(Settings.from_env({"VT_DB_PATH": str(tmp_path / "vt.duckdb")}), store)
    one = split(movielens_critic(choose_critics(1, 3, seed=0)[0]), k=1, seed=0, test_per_class=1,
                validation_per_class=1)
    run = save_run(store, tune(llm, one, rounds=1, candidates=1))
    assert run.backend == llm.backend.describe() and "SmolLM2" in run.model
    assert all(0.0 <= f1 <= 1.0 for f1 in run.validation) and len(run.validation) == 2
    assert [p.movie_id for p in run.predictions] == [f.movie_id for f in one.test]
    assert {p.label for p in run.predictions} <= set(CLASSES) and 0.0 <= run.scores.macro_f1 <= 1.0
    assert run.spec.startswith(sections(neutral_spec(one.critic))[0].text)  # the locked Task section holds
    [candidate] = run.history[0].candidates
    assert candidate.status in ("evaluated", "rejected")
    assert {p.status for p in run.patterns} <= {"candidate"}
    assert {i for p in run.patterns for i in p.evidence_for + p.evidence_against} <= {f.movie_id for f in one.train}
    assert load_run(store, run.id).spec == run.spec and 5 <= run.usage.calls <= planned_calls(one, rounds=1,
                                                                                             candidates=1) * 2
