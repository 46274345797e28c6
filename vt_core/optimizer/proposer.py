"""Proposing patterns: one structured call reads the marks (a designer's labels, a critic's ratings
beside the model's predictions) and names the behaviours or tastes behind them; near-duplicates of
what is known already, or of each other, are dropped."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel

from vt_core.core.llm import LLM
from vt_core.core.prompts import render

PATTERN_SOURCES = ("proposed", "designer")  # who wrote a pattern: the proposer, or a person by hand
DUPLICATE_JACCARD = 0.6
MAX_PROPOSED = 8
PROPOSER_MAX_TOKENS = 900

# Words that say nothing about which behaviour a statement names; ignored when comparing statements.
_STOPWORDS = frozenset(
    "a an the bot chatbot assistant it its is are be being been to of and or in on at for with by as"
    " that this these those when whenever if".split()
)


def _tokens(statement: str) -> frozenset[str]:
    """The statement's words, lower-cased, without punctuation and stopwords."""
    return frozenset(w for w in re.findall(r"[a-z0-9]+", statement.lower()) if w not in _STOPWORDS)


def similarity(a: str, b: str) -> float:
    """Jaccard index of the two statements' normalised token sets (1.0 for two empty sets)."""
    ta, tb = _tokens(a), _tokens(b)
    return len(ta & tb) / len(ta | tb) if ta | tb else 1.0


def dedupe(statements: list[str], existing: Iterable[str] = ()) -> list[int]:
    """Indices of the statements to keep: each one not a near-duplicate (Jaccard >= 0.6,
    whatever the kind) of an existing statement or of an earlier statement kept."""
    seen = list(existing)
    kept = []
    for i, statement in enumerate(statements):
        if all(similarity(statement, other) < DUPLICATE_JACCARD for other in seen):
            kept.append(i)
            seen.append(statement)
    return kept


def propose(llm: LLM, template: str, schema: type[BaseModel], existing: list[str], *, seed: int, **values) -> list:
    """The drafts of one structured call to the proposer `template`, filled with `values`, the
    `existing` statements (as $existing) and $max_patterns. `schema` holds a list `patterns` of
    drafts with a `statement`; at most MAX_PROPOSED are kept, none empty, none a near-duplicate
    of an existing statement or of an earlier draft (see `dedupe`)."""
    content = render(template, existing="\n".join(f"- {s}" for s in existing) or "(none)",
                     max_patterns=MAX_PROPOSED, **values)
    reply = llm.structured([{"role": "user", "content": content}], schema, temperature=0.4, seed=seed,
                           max_tokens=PROPOSER_MAX_TOKENS)
    drafts = [d for d in reply.patterns[:MAX_PROPOSED] if d.statement.strip()]
    return [drafts[i] for i in dedupe([d.statement for d in drafts], existing)]
