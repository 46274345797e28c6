"""Pilot a rating study with simulated raters before paying people.

LLM raters with varied personas go through the same assignment logic as people (register,
next item, submit, finish), stored as rater kind 'llm' on platform 'llm'. They skip consent
and the comprehension check, and they use their own capacity: k counts raters of one kind, so
a pilot never takes items away from humans. The monitor shows their agreement, and human-LLM
agreement once both exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, create_model

from vt_core.core.llm import LLM
from vt_core.core.progress import Progress
from vt_core.core.prompts import render
from vt_core.core.store import Store
from vt_core.crowd.assignment import (
    Identity,
    Item,
    finish,
    next_item,
    register_rater,
    set_rater_status,
    submit,
)
from vt_core.crowd.pairs import item_pair
from vt_core.crowd.studies import PAIR_CONDITION, Study, StudyDefinition

PERSONAS = [
    {"name": "careful reader", "style": "reads every turn closely and rates strictly by the instructions"},
    {"name": "hurried worker", "style": "skims the conversation and rates on a first impression"},
    {"name": "generous rater", "style": "gives the chatbot the benefit of the doubt"},
    {"name": "critical expert", "style": "knows chatbots well and notices small failures"},
]


@dataclass(frozen=True)
class PilotResult:
    rater_ids: list[int]
    ratings: int  # items rated, over all simulated raters


def _answer_model(definition: StudyDefinition) -> type[BaseModel]:
    """The reply schema: a reason first, then each dimension as one of its scale points."""
    fields = {"reason": (str, ...)}
    for dimension in definition.dimensions:
        fields[dimension.key] = (Literal[tuple(range(1, dimension.points + 1))], ...)
    return create_model("Ratings", **fields)


def _transcript(turns) -> str:
    return "\n".join(f"{'USER' if t.role == 'user' else 'BOT'}: {t.content}" for t in turns)


def conversation_text(store: Store, item: Item) -> str:
    """What a simulated rater reads: the transcript, or a side-by-side pair's two, labelled LEFT and RIGHT."""
    if item.condition != PAIR_CONDITION:
        return _transcript(item.turns)
    pair = item_pair(store, item.id)
    return f"LEFT conversation:\n{_transcript(pair.left.turns)}\n\nRIGHT conversation:\n{_transcript(pair.right.turns)}"


def rate(llm: LLM, definition: StudyDefinition, persona: dict, conversation: str, *, seed: int) -> dict[str, int]:
    """One simulated rater's values for one item's conversation text (conversation_text)."""
    questions = "\n".join(
        f'- {d.key}: "{d.question}" ' + ", ".join(f"{i} = {label}" for i, label in enumerate(d.labels, start=1))
        for d in definition.dimensions)
    messages = [
        {"role": "system", "content": render(
            "pilot_rater", persona=f"{persona['name']}: {persona['style']}", task=definition.instruction_text,
            instructions="\n".join(f"- {line}" for line in definition.instructions) or "- (none)")},
        {"role": "user", "content": render("pilot_item", conversation=conversation, questions=questions)},
    ]
    answer = llm.structured(messages, _answer_model(definition), temperature=0.7, max_tokens=200, seed=seed)
    return {d.key: getattr(answer, d.key) for d in definition.dimensions}


def run_pilot(store: Store, llm: LLM, study: Study, *, raters: int, seed: int = 0,
              progress: Progress | None = None) -> PilotResult:
    """`raters` simulated raters rate the study, concurrently, each through the whole sequence.
    Running it again with the same seed resumes the same raters (registration is idempotent)."""
    definition = study.definition
    conditions = [c.name for c in definition.conditions]
    llm = llm.for_run(f"pilot:{study.id}:{seed}")

    def one_rater(index: int) -> tuple[int, int]:
        persona = PERSONAS[index % len(PERSONAS)]
        identity = Identity(platform="llm", external_id=f"pilot-{seed}-{index}")
        rater = register_rater(store, study.id, identity, kind="llm", persona=persona,
                               conditions=conditions, seed=seed * 1000 + index)
        if rater.status in ("consent", "comprehension"):
            set_rater_status(store, rater.id, "rating")
        rated = 0
        while (item := next_item(store, rater.id, items_per_rater=definition.items_per_rater,
                                 k=definition.ratings_per_item, lease_minutes=definition.lease_minutes)):
            values = rate(llm, definition, persona, conversation_text(store, item), seed=seed * 1000 + index)
            result = submit(store, rater.id, item.id, values,
                            expected=item.expected if item.kind == "attention" else None, k=definition.ratings_per_item)
            rated += result.stored
        finish(store, rater.id)
        return rater.id, rated

    results = llm.map(one_rater, range(raters), progress=progress)
    return PilotResult([r for r, _ in results], sum(n for _, n in results))

