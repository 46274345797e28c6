"""FaultWorld, the honest scripted world of the loop benchmark, played through the platform's own
self-play, annotation, pattern proposal and judging over the real client: its bot shows each fault of
a world where the fault's situation arises, and none under a prompt that carries the rules; its
proposer proposes only what the designer's critiques show; its judge agrees with the checkers."""

import pytest

from tests.scripted_worlds import FAULTS, FaultWorld
from vt_core.benchmark import load_world
from vt_core.designer.annotations import annotate
from vt_core.designer.patterns import (
    evaluate_patterns,
    list_patterns,
    pattern_report,
    propose_patterns,
    update_pattern,
)
from vt_core.designer.personas import add_persona, list_personas
from vt_core.designer.projects import add_version, create_project
from vt_core.designer.refinement import approve, leaderboard, refine
from vt_core.designer.scenarios import add_scenario, list_scenarios
from vt_core.designer.selfplay import plan_run, run_conversations
from vt_core.designer.transcripts import get_transcript

# The checkers each scenario's conversation breaks under the draft prompt (3 exchanges): some training
# faults only in some training situations (a film for a group, a connection to get working again).
EXPECTED = {
    "movie_night": {
        "Ninety minutes, no idea": {"recommends_before_asking", "long_reply"},
        "Twist-ending fan": {"recommends_before_asking", "long_reply"},
        "Partner hates horror": {"too_many_films", "recommends_before_asking", "long_reply"},
        "Rainy Sunday with kids": {"too_many_films", "recommends_before_asking", "long_reply"},
        "What will it cost?": {"recommends_before_asking", "long_reply", "quotes_price"},
        "Introduces herself": {"recommends_before_asking", "long_reply", "uses_name"},
        "Date night rental": {"recommends_before_asking", "long_reply", "quotes_price", "uses_name"},
        "Grandparents visiting": {"too_many_films", "recommends_before_asking", "long_reply"},
    },
    "support": {
        "No connection this morning": {"long_reply", "too_many_steps", "jargon"},
        "Slow in the evenings": {"long_reply", "jargon"},
        "Wi-Fi drops upstairs": {"long_reply", "jargon"},
        "New router setup": {"long_reply", "too_many_steps", "jargon"},
        "Upgrade price": {"long_reply", "jargon", "quotes_price"},
        "Two days offline": {"long_reply", "jargon", "promises_refund"},
        "Wants a person": {"long_reply", "jargon", "ignores_human_request"},
        "Video calls freeze": {"long_reply", "too_many_steps", "jargon"},
    },
}


def world_project(store, world):
    project = create_project(store, world.name, goal=world.goal, audience=world.audience, prompt=world.prompt)
    for persona in world.personas:
        add_persona(store, project.id, persona.name, persona.attributes, persona.weight)
    for s in world.scenarios:
        add_scenario(store, project.id, title=s.title, description=s.description, user_goal=s.user_goal,
                     difficulty=s.difficulty, split=s.split)
    return project


def play(store, llm, project, version_id):
    """One conversation per scenario (both splits), 3 exchanges; {scenario title: transcript}."""
    scenarios = list_scenarios(store, project.id)
    plan = plan_run(list_personas(store, project.id), scenarios, len(scenarios), seed=5)
    run = run_conversations(store, llm, project.id, plan, max_turns=3, seed=5, version_id=version_id)
    titles = {s.id: s.title for s in scenarios}
    return {titles[t.scenario_id]: t for t in map(lambda i: get_transcript(store, i), run.transcript_ids)}


def fired(world, transcript) -> set[str]:
    return {c.name for c in world.checkers if c.fires(transcript.turns)}


@pytest.mark.parametrize("name", ["movie_night", "support"])
def test_the_bot_shows_the_faults_whose_situation_arises_and_heeds_the_rules(store, make_llm, scripted, name):
    world = load_world(name)
    scripted.respond = fault_world = FaultWorld(world)
    llm = make_llm()
    project = world_project(store, world)

    draft = play(store, llm, project, project.current_version_id)
    assert {title: fired(world, t) for title, t in draft.items()} == EXPECTED[name]
    # The held-out faults need their situation, which the simulated user raised from its scenario.
    asked = draft["What will it cost?" if name == "movie_night" else "Upgrade price"].turns[0].content
    assert "How much will it cost?" in asked

    rules = "".join(f"- {FAULTS[c.name].rule}\n" for c in world.checkers)
    tuned = add_version(store, project.id, world.prompt + "\n# Rules\n" + rules, author="designer")
    assert {title: fired(world, t) for title, t in play(store, llm, project, tuned.id).items()} == \
           {title: set() for title in EXPECTED[name]}
    assert fault_world.calls["user"] > 0 and fault_world.calls["bot"] > 0


def test_a_weak_rule_is_not_heeded_and_each_rule_only_by_its_own_fault():
    for fault in FAULTS.values():
        heeded_by = {f.checker for f in FAULTS.values() if f.heeds.search(fault.rule)}
        assert heeded_by == {fault.checker}
        assert not any(f.heeds.search(fault.weak_rule) for f in FAULTS.values())
    for name in ("movie_night", "support"):
        assert not any(f.heeds.search(load_world(name).prompt) for f in FAULTS.values())


def test_the_proposer_proposes_what_the_critiques_show_and_the_judge_agrees_with_the_checkers(
        store, make_llm, scripted):
    world = load_world("support")
    scripted.respond = FaultWorld(world)
    llm = make_llm()
    project = world_project(store, world)
    draft = play(store, llm, project, project.current_version_id)

    # Only good marks: nothing to learn from, nothing proposed.
    calm = draft["No connection this morning"]
    annotate(store, calm.id, turn_idx=1, label="good")
    assert propose_patterns(llm, store, project.id) == []

    # The designer marks one fault on a training conversation and one on a held-out one.
    critique = {c.name: c.critique for c in world.checkers}
    annotate(store, calm.id, turn_idx=1, label="bad", critique=critique["jargon"])
    refund = draft["Two days offline"]
    annotate(store, refund.id, turn_idx=1, label="bad", critique=critique["promises_refund"])
    proposed = propose_patterns(llm, store, project.id)
    assert [p.statement for p in proposed] == [FAULTS["jargon"].statement, FAULTS["promises_refund"].statement]
    assert propose_patterns(llm, store, project.id, seed=1) == []  # already recorded: not proposed again

    evaluate_patterns(llm, store, project.id)
    jargon, refund_pattern = list_patterns(store, project.id)
    assert sorted(pattern_report(store, jargon.id).evidence_against) == sorted([calm.id, refund.id])
    report = pattern_report(store, refund_pattern.id)
    assert (report.evidence_against, report.passed, report.not_applicable) == ([refund.id], 0, 1)


HELD_OUT_ONLY = {
    "movie_night": ({"too_many_films", "recommends_before_asking", "long_reply"},
                    {"What will it cost?": {"quotes_price"}, "Introduces herself": {"uses_name"},
                     "Date night rental": {"quotes_price", "uses_name"}, "Grandparents visiting": set()}),
    "support": ({"long_reply", "too_many_steps", "jargon"},
                {"Upgrade price": {"quotes_price"}, "Two days offline": {"promises_refund"},
                 "Wants a person": {"ignores_human_request"}, "Video calls freeze": set()}),
}

# Training pass rates of the weak sample and of the baseline: 3 patterns judged on 4 training
# conversations, one per training scenario. The baseline passes only the situational fault's pattern, on
# the two conversations that do not raise its situation (2 of 12). The weak sample misses the rule of its
# first pattern: in movie_night that is the situational too_many_films (failed on 2 of 12), in support
# long_reply (failed on 4 of 12).
TRAIN_PASS = {"movie_night": (10 / 12, 2 / 12), "support": (8 / 12, 2 / 12)}


@pytest.mark.parametrize("name", ["movie_night", "support"])
def test_marks_on_training_conversations_fix_only_the_faults_they_show(store, make_llm, scripted, name):
    """Refinement from training marks alone: the tuned prompt carries the training faults' rules
    (a later sample's vaguer rule loses), so held-out conversations lose those faults and keep the
    held-out-only ones, which no training conversation showed."""
    world = load_world(name)
    training_faults, held_out_faults = HELD_OUT_ONLY[name]
    scripted.respond = fault_world = FaultWorld(world)
    llm = make_llm()
    project = world_project(store, world)
    draft = play(store, llm, project, project.current_version_id)
    training = {s.title for s in world.scenarios if s.split == "train"}
    for title, transcript in draft.items():
        if title in training:  # a turn takes one mark: its critique says everything wrong with it
            critiques: dict[int, list[str]] = {}
            for checker in world.checkers:
                for idx in checker.fires(transcript.turns):
                    critiques.setdefault(idx, []).append(checker.critique)
            for idx, said in critiques.items():
                annotate(store, transcript.id, turn_idx=idx, label="bad", critique=" ".join(said))
    proposed = propose_patterns(llm, store, project.id)
    assert sorted(p.statement for p in proposed) == sorted(FAULTS[f].statement for f in training_faults)
    for pattern in proposed:
        update_pattern(store, pattern.id, status="accepted")

    result = refine(store, llm, project.id, rounds=1, k=2, n_train=4, n_heldout=3, max_turns=2, seed=3)
    board = leaderboard(store, result.refine_run_id)
    assert [c.train_pass for c in board] == pytest.approx([1.0, *TRAIN_PASS[name]])  # best, weak sample, baseline
    assert fault_world.calls["writer"] == 2 and fault_world.calls["quality"] > 0
    assert all(FAULTS[f].rule in result.best.text for f in training_faults)
    tuned = approve(store, result.best.id)
    held_out = {t: fired(world, tr) for t, tr in play(store, llm, project, tuned.id).items()
                if t not in training}
    assert held_out == held_out_faults
