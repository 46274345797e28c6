"""Self-play against the scripted server: the simulated user and the bot are both scripted, so
the tests can check the conversation rules, what is stored, repeatability and failure."""

import pytest

from tests.conftest import llm_calls_summary
from tests.scripted_server import Reply
from vt_core.designer.personas import add_persona, assign_personas, generate_personas, list_personas
from vt_core.designer.projects import create_project
from vt_core.designer.scenarios import add_scenario, list_scenarios
from vt_core.designer.selfplay import (
    END_MARKER,
    SelfPlayError,
    estimate_run,
    plan_for_project,
    plan_run,
    replan,
    run_conversations,
)
from vt_core.designer.transcripts import list_transcripts


def is_simulator(request: dict) -> bool:
    return "role-playing a USER" in request["messages"][0]["content"]


def user_turns(request: dict) -> int:
    """How many messages the simulated user has written so far in this request."""
    return sum(m["role"] == "assistant" for m in request["messages"])


@pytest.fixture
def project(store):
    project = create_project(store, "Movie bot", goal="recommend movies", audience="film fans",
                             prompt="You recommend movies.")
    generate_personas(store, project.id, 3, seed=1)
    for i in range(2):
        add_scenario(store, project.id, title=f"scenario {i}", description=f"situation {i}",
                     user_goal=f"goal {i}", difficulty=1 + i)
    return project


def scripted_conversation(request: dict) -> Reply:
    if is_simulator(request):
        return Reply(content=f"user says {user_turns(request)}")
    return Reply(content=f"bot answers {len(request['messages'])}")


def test_a_run_stores_every_conversation_with_its_provenance(store, make_llm, scripted, project):
    scripted.respond = scripted_conversation
    llm = make_llm({"VT_MODEL": "bot-model"})
    plan = plan_for_project(store, project.id, 3, seed=5)
    seen = []
    result = run_conversations(store, llm, project.id, plan, max_turns=2, seed=5,
                               version_id=project.current_version_id, progress=lambda d, t: seen.append((d, t)))

    transcripts = list_transcripts(store, project.id, run_id=result.run_id)
    assert [t.id for t in transcripts] == result.transcript_ids
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)
    for transcript, conversation in zip(transcripts, plan):
        assert [t.role for t in transcript.turns] == ["user", "assistant"] * 2
        assert [t.content for t in transcript.turns if t.role == "user"] == ["user says 0", "user says 1"]
        assert transcript.ended_by == "max_turns"
        assert (transcript.persona_id, transcript.scenario_id, transcript.seed) == (
            conversation.persona.id, conversation.scenario.id, conversation.seed)
        assert (transcript.version_id, transcript.candidate_id) == (project.current_version_id, None)
        assert (transcript.simulator_model, transcript.bot_model) == ("bot-model", "bot-model")
    assert len(scripted.requests) == 3 * 4
    assert llm.usage(f"selfplay:{result.run_id}").calls == 12


def test_the_simulator_sees_its_persona_and_scenario_and_the_bot_its_prompt(store, make_llm, scripted, project):
    scripted.respond = scripted_conversation
    plan = plan_for_project(store, project.id, 1, seed=2)
    run_conversations(store, make_llm(), project.id, plan, max_turns=1, seed=2,
                      version_id=project.current_version_id)
    simulator, bot = scripted.requests
    system = simulator["messages"][0]["content"]
    assert plan[0].scenario.description in system and plan[0].scenario.user_goal in system
    assert plan[0].persona.attributes["mood"] in system and "recommend movies" in system
    assert END_MARKER in system
    assert bot["messages"][0] == {"role": "system", "content": "You recommend movies."}
    assert bot["messages"][1] == {"role": "user", "content": "user says 0"}


def test_the_user_ends_the_conversation_with_the_signal(store, make_llm, scripted, project):
    def respond(request):
        if is_simulator(request):
            return Reply(content=f"thanks, bye {END_MARKER}" if user_turns(request) == 1 else "hello")
        return Reply(content="a reply")

    scripted.respond = respond
    plan = plan_for_project(store, project.id, 1, seed=0)
    result = run_conversations(store, make_llm(), project.id, plan, max_turns=5, seed=0,
                               version_id=project.current_version_id)
    [transcript] = list_transcripts(store, project.id, run_id=result.run_id)
    assert transcript.ended_by == "user"
    assert [(t.role, t.content) for t in transcript.turns] == [
        ("user", "hello"), ("assistant", "a reply"), ("user", "thanks, bye")]


def test_a_repeated_run_sends_nothing_and_reproduces_the_transcripts(store, make_llm, scripted, project):
    scripted.respond = scripted_conversation
    llm = make_llm()
    plan = plan_for_project(store, project.id, 4, seed=9)
    first = run_conversations(store, llm, project.id, plan, max_turns=2, seed=9,
                              version_id=project.current_version_id)
    sent = len(scripted.requests)
    assert estimate_run(llm, project.goal, "You recommend movies.", plan, 2).cached == 16

    again = run_conversations(store, llm, project.id, replan(store, first.run_id), max_turns=2, seed=9,
                              version_id=project.current_version_id)
    assert len(scripted.requests) == sent
    before = list_transcripts(store, project.id, run_id=first.run_id)
    after = list_transcripts(store, project.id, run_id=again.run_id)
    assert [(t.persona_id, t.scenario_id, t.seed, t.turns) for t in before] == \
           [(t.persona_id, t.scenario_id, t.seed, t.turns) for t in after]


def test_the_estimate_before_a_run(store, make_llm, scripted, project):
    llm = make_llm()
    plan = plan_for_project(store, project.id, 5, seed=1)
    estimate = estimate_run(llm, project.goal, "You recommend movies.", plan, 3)
    assert (estimate.calls, estimate.cached) == (30, 0)
    assert estimate.tokens_in > 0 and estimate.tokens_out == 5 * 3 * (200 + 400)
    assert scripted.requests == []


def test_a_failing_conversation_is_not_stored_and_fails_the_run(store, make_llm, scripted, project):
    def respond(request):
        if is_simulator(request) and "situation 1" in request["messages"][0]["content"]:
            return Reply(status=400)
        return scripted_conversation(request)

    scripted.respond = respond
    plan = plan_for_project(store, project.id, 4, seed=3)
    failing = sum(c.scenario.description == "situation 1" for c in plan)
    assert 0 < failing < 4
    with pytest.raises(SelfPlayError, match=f"{failing} of 4 conversations failed"):
        run_conversations(store, make_llm({"VT_LLM_ATTEMPTS": "1"}), project.id, plan, max_turns=2, seed=3,
                          version_id=project.current_version_id)
    status, error = store.cursor().execute("SELECT status, error FROM selfplay_runs").fetchone()
    assert status == "failed" and "HTTP 400" in error
    kept = list_transcripts(store, project.id)
    assert len(kept) == 4 - failing
    assert all(len(t.turns) == 4 for t in kept)
    assert llm_calls_summary(store, "count(*) FILTER (WHERE status = 'error')")[0] == failing


def test_plans_are_fixed_by_the_seed(store, project):
    personas = [add_persona(store, project.id, "pinned", {"mood": "calm"}, pinned=True)]
    everyone, scenarios = list_personas(store, project.id), list_scenarios(store, project.id)
    a = plan_run(everyone, scenarios, 6, seed=4)
    assert a == plan_run(everyone, scenarios, 6, seed=4)
    assert a != plan_run(everyone, scenarios, 6, seed=5)
    assert personas[0] in [c.persona for c in a]  # pinned personas always play
    assert {c.scenario.id for c in a} == {s.id for s in scenarios}
    assert len({c.seed for c in a}) == 6
    with pytest.raises(SelfPlayError, match="no scenarios"):
        plan_run(everyone, [], 2, seed=0)
    with pytest.raises(ValueError):
        assign_personas([], 2, seed=0)
