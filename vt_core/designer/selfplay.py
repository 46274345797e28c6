"""Self-play: simulated users talk to the chatbot under a prompt version, many times at once.

A run is N conversations of up to T exchanges (a user message and the bot's reply). Each
conversation gets a persona, a scenario and a seed from a plan fixed by the run's seed, and
every request carries a seed derived from it, so a run repeated with the same plan sends the
same requests, which the LLM cache answers without calling the endpoint.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from vt_core.core.design import derive_seed
from vt_core.core.jobs import current_job_id, run_status
from vt_core.core.llm import LLM, BatchError, ChatRequest, Completion, Estimate, estimate_tokens
from vt_core.core.progress import Cancelled, Progress
from vt_core.core.prompts import render
from vt_core.core.store import Store
from vt_core.designer.personas import Persona, assign_personas, get_persona, list_personas
from vt_core.designer.projects import get_project, get_version, next_numbers
from vt_core.designer.scenarios import Scenario, get_scenario, list_scenarios
from vt_core.designer.transcripts import Turn, list_transcripts, save_transcript

END_MARKER = "[END]"
SIMULATOR_MAX_TOKENS = 200
BOT_MAX_TOKENS = 400
BOT_TEMPERATURE = 0.7
# Rough sizes of a turn, for the cost estimate shown before a run.
TYPICAL_USER_TOKENS = 40
TYPICAL_BOT_TOKENS = 150



class SelfPlayError(RuntimeError):
    """A run could not be done; the message says why (and how much of it was stored). When
    conversations failed, `partial` holds the run and the transcripts that were stored, and
    `failures` the errors of those that were not."""

    def __init__(self, message: str, partial: RunResult | None = None, failures: Sequence[Exception] = ()):
        super().__init__(message)
        self.partial = partial
        self.failures = list(failures)


@dataclass(frozen=True)
class Conversation:
    """One planned conversation of a run."""

    persona: Persona
    scenario: Scenario
    seed: int


@dataclass(frozen=True)
class Run:
    id: int
    version_id: int | None
    candidate_id: int | None
    purpose: str  # "selfplay" (the designer's) or "refine" (evaluating a candidate)
    conversations: int
    max_turns: int
    seed: int
    simulator_model: str
    bot_model: str
    status: str  # running, done or failed
    error: str | None
    created_at: object
    number: int | None  # within the project, for the designer's own runs


def new_run(db, project_id: int, *, conversations: int, version_id: int | None, candidate_id: int | None = None,
            refine_run_id: int | None = None, max_turns: int, seed: int, simulator_model: str, bot_model: str,
            job_id: int | None = None, status: str = "running") -> tuple[int, int | None]:
    """Insert a self-play run (in the caller's transaction); returns its id and number. A designer's run is numbered
    in the project and reserves the numbers of its planned transcripts; a refinement run's
    (`refine_run_id`) is not."""
    purpose = "selfplay" if refine_run_id is None else "refine"
    number = first_transcript = None
    if purpose == "selfplay":
        number = next_numbers(db, project_id, "selfplay_run")
        first_transcript = next_numbers(db, project_id, "transcript", conversations)
    return db.execute(
        "INSERT INTO selfplay_runs (project_id, version_id, candidate_id, refine_run_id, purpose, conversations,"
        " max_turns, seed, simulator_model, bot_model, status, job_id, number, first_transcript,"
        " finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
        " CASE WHEN ? = 'running' THEN NULL ELSE current_timestamp END) RETURNING id, number",
        [project_id, version_id, candidate_id, refine_run_id, purpose, conversations, max_turns, seed,
         simulator_model, bot_model, status, job_id, number, first_transcript, status],
    ).fetchone()


@dataclass(frozen=True)
class RunResult:
    run_id: int
    transcript_ids: list[int]
    number: int | None = None  # the run's in the project (a designer's run)


def plan_run(personas: list[Persona], scenarios: list[Scenario], n: int, seed: int) -> list[Conversation]:
    """`n` conversations: scenarios in a seeded order, repeated as needed; personas by weight."""
    if not scenarios:
        raise SelfPlayError("the project has no scenarios for this run; add or generate some first")
    order = list(scenarios)
    random.Random(f"scenarios:{seed}").shuffle(order)
    people = assign_personas(personas, n, seed)
    return [Conversation(people[i], order[i % len(order)], derive_seed(seed, i)) for i in range(n)]


def bot_request(system_prompt: str, turns: Sequence[Turn], *, seed: int | None = None, sample: int = 0,
                temperature: float = BOT_TEMPERATURE, max_tokens: int = BOT_MAX_TOKENS) -> ChatRequest:
    """The request for the chatbot's next message under `system_prompt`."""
    messages = [{"role": "system", "content": system_prompt},
                *({"role": t.role, "content": t.content} for t in turns)]
    return ChatRequest(messages, temperature=temperature, max_tokens=max_tokens, seed=seed, sample=sample)


def bot_reply(llm: LLM, system_prompt: str, turns: list[Turn], *, seed: int | None = None,
              sample: int = 0) -> Completion:
    """The chatbot's next message under `system_prompt`."""
    return llm.complete(bot_request(system_prompt, turns, seed=seed, sample=sample))


def _simulator_request(bot_goal: str, conversation: Conversation, turns: list[Turn], exchange: int) -> ChatRequest:
    system = render(
        "simulator",
        bot_goal=bot_goal,
        persona=conversation.persona.describe(),
        situation=conversation.scenario.description,
        user_goal=conversation.scenario.user_goal,
        end_marker=END_MARKER,
    )
    # The simulator speaks as "assistant"; the bot's messages reach it as "user".
    messages = [{"role": "system", "content": system},
                {"role": "user", "content": render("simulator_opening").strip()}]
    for turn in turns:
        messages.append({"role": "assistant" if turn.role == "user" else "user", "content": turn.content})
    return ChatRequest(messages, temperature=1.0, max_tokens=SIMULATOR_MAX_TOKENS,
                       seed=derive_seed(conversation.seed, exchange, "user"))


def converse(llm: LLM, simulator: LLM, bot_goal: str, system_prompt: str, conversation: Conversation,
             max_turns: int) -> tuple[list[Turn], str]:
    """Play one conversation; returns its turns and how it ended ('user' or 'max_turns')."""
    turns: list[Turn] = []
    for exchange in range(max_turns):
        said = simulator.complete(_simulator_request(bot_goal, conversation, turns, exchange))
        ended = END_MARKER in said.text
        message = said.text.replace(END_MARKER, "").strip()
        if message:
            turns.append(Turn("user", message, said.cut_off))
        if ended or not message:  # an empty message without the signal counts as leaving too
            return turns, "user"
        reply = bot_reply(llm, system_prompt, turns, seed=derive_seed(conversation.seed, exchange, "bot"))
        turns.append(Turn("assistant", reply.text.strip(), reply.cut_off))
    return turns, "max_turns"


def estimate_run(llm: LLM, bot_goal: str, system_prompt: str, conversations: list[Conversation],
                 max_turns: int) -> Estimate:
    """The most calls and tokens a run can cost. A conversation whose opening request is already
    in the cache is counted as cached (a repeated run costs nothing) and costs nothing here."""
    openings = [_simulator_request(bot_goal, c, [], 0) for c in conversations]
    cached = llm.estimate(openings).cached
    todo = len(conversations) - cached
    context = estimate_tokens(system_prompt) + estimate_tokens(openings[0].messages[0]["content"]) if openings else 0
    per_conversation = sum(context + 2 * t * (TYPICAL_USER_TOKENS + TYPICAL_BOT_TOKENS) for t in range(max_turns))
    return Estimate(calls=2 * max_turns * len(conversations), cached=2 * max_turns * cached,
                    tokens_in=todo * per_conversation,
                    tokens_out=todo * max_turns * (SIMULATOR_MAX_TOKENS + BOT_MAX_TOKENS))


def run_conversations(store: Store, llm: LLM, project_id: int, conversations: list[Conversation], *,
                      max_turns: int, seed: int, version_id: int | None = None,
                      candidate: tuple[int, str] | None = None, refine_run_id: int | None = None,
                      simulator: LLM | None = None, progress: Progress | None = None) -> RunResult:
    """Play and store every planned conversation, concurrently through `llm.map`.

    The bot plays prompt version `version_id`, or else `candidate` = (candidate id, prompt
    text), a refinement candidate that is not a version until the designer approves it.
    Each transcript is stored when its conversation ends; a conversation that fails is not
    stored at all. If any failed, the run is marked failed and SelfPlayError says how many
    transcripts were kept.
    """
    if (version_id is None) == (candidate is None):
        raise ValueError("give exactly one of version_id and candidate")
    project = get_project(store, project_id)
    candidate_id, system_prompt = candidate or (None, get_version(store, version_id).text)
    simulator = simulator or llm
    run_id, number = store.transaction(lambda db: new_run(
        db, project_id, conversations=len(conversations), version_id=version_id, refine_run_id=refine_run_id,
        candidate_id=candidate_id, max_turns=max_turns, seed=seed, simulator_model=simulator.model,
        bot_model=llm.model, job_id=current_job_id()))
    llm, simulator = llm.for_run(f"selfplay:{run_id}"), simulator.for_run(f"selfplay:{run_id}")

    def play(numbered: tuple[int, Conversation]) -> int:
        position, conversation = numbered
        turns, ended_by = converse(llm, simulator, project.goal, system_prompt, conversation, max_turns)
        return save_transcript(
            store, run_id=run_id, position=position, project_id=project_id, version_id=version_id, candidate_id=candidate_id,
            persona_id=conversation.persona.id, scenario_id=conversation.scenario.id, seed=conversation.seed,
            simulator_model=simulator.model, bot_model=llm.model, ended_by=ended_by, turns=turns,
        )

    try:
        transcript_ids = llm.map(play, enumerate(conversations), progress=progress)
    except Cancelled as exc:
        kept = [r for r in exc.kept if isinstance(r, int)]
        store.transaction(lambda db: db.execute(
            "UPDATE selfplay_runs SET status = 'failed', error = ?, finished_at = current_timestamp WHERE id = ?",
            [f"cancelled: {len(kept)} of {len(conversations)} conversations had ended and are stored", run_id]))
        raise Cancelled(f"self-play run {run_id} was cancelled", RunResult(run_id, kept, number)) from exc
    except BatchError as exc:
        kept = [r for r in exc.results if isinstance(r, int)]
        failures = [r for r in exc.results if isinstance(r, Exception)]
        message = f"{len(failures)} of {len(conversations)} conversations failed ({len(kept)} stored); " \
                  f"first error: {failures[0]}"
        store.transaction(lambda db: db.execute(
            "UPDATE selfplay_runs SET status = 'failed', error = ?, finished_at = current_timestamp WHERE id = ?",
            [message, run_id]))
        raise SelfPlayError(f"self-play run {run_id}: {message}", RunResult(run_id, kept, number), failures) from exc
    store.transaction(lambda db: db.execute(
        "UPDATE selfplay_runs SET status = 'done', finished_at = current_timestamp WHERE id = ?", [run_id]))
    return RunResult(run_id, transcript_ids, number)


def plan_for_project(store: Store, project_id: int, n: int, seed: int, split: str = "train") -> list[Conversation]:
    """A plan over the project's personas and its scenarios of one split."""
    return plan_run(list_personas(store, project_id), list_scenarios(store, project_id, split=split), n, seed)


def replan(store: Store, run_id: int) -> list[Conversation]:
    """The conversations of an earlier run: same personas, scenarios and seeds, in order."""
    project_id = store.cursor().execute("SELECT project_id FROM selfplay_runs WHERE id = ?", [run_id]).fetchone()
    if project_id is None:
        raise SelfPlayError(f"no self-play run {run_id}")
    return [Conversation(get_persona(store, t.persona_id), get_scenario(store, t.scenario_id), t.seed)
            for t in list_transcripts(store, project_id[0], run_id=run_id, include_archived=True)]


def list_selfplay_runs(store: Store, project_id: int, purpose: str | None = "selfplay", *,
                       include_archived: bool = False) -> list[Run]:
    """The project's runs, newest first (only the designer's own, unless `purpose` is None; archived ones
    only with `include_archived`)."""
    rows = store.cursor().execute(
        "SELECT id, version_id, candidate_id, purpose, conversations, max_turns, seed, simulator_model,"
        f" bot_model, {run_status('selfplay_runs')}, error, created_at, number FROM selfplay_runs"
        " WHERE project_id = ? AND (CAST(? AS VARCHAR) IS NULL OR purpose = ?) AND (archived_at IS NULL OR ?)"
        " ORDER BY id DESC",
        [project_id, purpose, purpose, include_archived],
    ).fetchall()
    return [Run(*row) for row in rows]
