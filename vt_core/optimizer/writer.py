"""Writing candidates: the writer rewrites a text (a system prompt, a taste specification) against
the patterns and the errors, and the guards check each draft before anything scores it: the
locked sections of the parent are put back word for word, a draft over the token budget is
rejected, and so is one in which the task's own check finds copied evidence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, Field

from vt_core.core.llm import LLM, estimate_tokens
from vt_core.core.prompts import render
from vt_core.core.text import sections


# Reply schema of the writer. No docstrings: pydantic would send them to the model.
class Change(BaseModel):
    after: str
    rationale: str
    pattern_ids: list[int] = Field(default_factory=list)


class Draft(BaseModel):
    prompt: str
    changes: list[Change] = Field(default_factory=list)


@dataclass(frozen=True)
class Writer:
    """How a task's candidates are written: the writer `template`, the section headings no draft
    may change, and the text's token budget."""

    template: str
    locked: list[str]
    budget: int

    def write(self, llm: LLM, *, seed: int, sample: int, **values) -> Draft:
        """One draft from the template, filled with `values`, the locked headings ($locked) and the
        token budget ($budget, and about as many $words)."""
        prompt = render(self.template, locked=", ".join(f"'{h}'" for h in self.locked) or "(none)",
                        budget=self.budget, words=int(self.budget * 0.75), **values)
        return llm.structured([{"role": "user", "content": prompt}], Draft, temperature=0.8,
                              max_tokens=self.max_tokens, seed=seed, sample=sample)

    @property
    def max_tokens(self) -> int:
        return min(4 * self.budget, 4000)


def check_draft(parent: str, draft: str, *, locked: list[str], budget: int,
                copied: Callable[[str], str | None]) -> tuple[str, list[str], bool]:
    """(text, notes, rejected): the parent's locked sections restored; a text over the token
    budget, or one in which `copied(text)` finds something taken from the evidence (it says
    what), is rejected."""
    text, notes = restore_locked(parent, draft, locked)
    tokens = estimate_tokens(text)
    if tokens > budget:
        notes.append(f"rejected: about {tokens} tokens, over the budget of {budget}")
        return text, notes, True
    found = copied(text)
    if found:
        notes.append(f"rejected: {found}")
        return text, notes, True
    return text, notes, False


def _line(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def restore_locked(parent: str, candidate: str, locked: list[str]) -> tuple[str, list[str]]:
    """The candidate with every locked section of the parent put back word for word."""
    kept = {s.heading: s.text for s in sections(parent) if s.heading in locked}
    notes, parts = [], []
    for section in sections(candidate):
        if section.heading in kept:
            original = kept.pop(section.heading)
            if section.text.strip() != original.strip():
                notes.append(f"restored locked section '{section.heading}'")
            parts.append(_line(original))
        else:
            parts.append(_line(section.text))
    for heading, original in kept.items():  # dropped by the candidate: put back at the end
        notes.append(f"restored locked section '{heading}', which the candidate had dropped")
        parts.append(_line(original))
    return "".join(parts).rstrip("\n") + "\n", notes
