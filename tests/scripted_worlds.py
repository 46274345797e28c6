"""Scripted models that play every part of the designer loop, for tests and demos of its logic."""

import json
import re

from tests.scripted_server import Reply

PROMPT = "# Persona\nYou are MovieBot, a film expert.\n\n# Rules\nRecommend one film at a time.\n"
RULE = "- Never use emojis."


class EmojiWorld:
    """Plays every part: the simulated user, the bot, the judge, the pattern proposer, the
    candidate writer and the quality rater, telling them apart by their prompts.

    With `other_rule`, every writer but the first of a round (a later sample, as its seed tells)
    adds that rule instead of RULE. The bot heeds only "Never use emojis", so such a candidate keeps
    the emojis and scores what the prompt it refines scores."""

    def __init__(self, other_rule: str | None = None):
        assert other_rule is None or "Never use emojis" not in other_rule
        self.writer_calls = 0
        self.other_rule = other_rule

    def __call__(self, request: dict) -> Reply:
        messages = request["messages"]
        first = messages[0]["content"]
        if "role-playing a USER" in first:
            return Reply(content="Can you suggest a film for tonight?")
        if first.startswith("You are a careful, impartial judge"):
            conversation = messages[-1]["content"]
            verdict = "exhibited" if "🎬" in conversation else "not_exhibited"
            return Reply(content=json.dumps({"verdict": verdict, "reason": "checked the bot turns"}))
        if "turn their review notes" in first:
            return Reply(content=json.dumps({"patterns": [
                {"kind": "avoid", "statement": "The bot uses emojis in its replies"}]}))
        if first.startswith("You improve the system prompt"):
            self.writer_calls += 1
            pattern_id = int(re.search(r"\[(\d+)\] AVOID", first).group(1))
            parent = first.split("===\n")[1].rsplit("\n===", 1)[0]
            rule, why = RULE, "The designer marked emoji replies as bad."
            if self.other_rule and request.get("seed", 0) >= 1000:  # a later sample of the round
                rule, why = self.other_rule, "The designer asked for a film for tonight."
            # The writer also meddles with the locked Persona section: the guard must undo that.
            new = parent.replace("a film expert", "a cheerful film buff")
            new = new if rule in new else new.rstrip("\n") + "\n" + rule + "\n"
            return Reply(content=json.dumps({"prompt": new, "changes": [
                {"after": rule, "rationale": why, "pattern_ids": [pattern_id]}]}))
        if first.startswith("Rate the overall quality"):
            return Reply(content=json.dumps({"score": 5, "reason": "fine"}))
        # Otherwise it is the bot, under the system prompt being tested.
        return Reply(content="Try Alien." if "Never use emojis" in first else "Try Alien 🎬🍿")


class TasteWorld:
    """A critic who loves science fiction and dislikes comedies, and a model that plays every part of
    taste tuning, telling the parts apart by their prompts: the predictor rates a Sci-Fi film high
    only when the specification mentions science fiction, and a Comedy low only when it mentions
    comedies (else mid; with no specification, as the LLM baselines ask, always mid); the proposer offers the pattern behind each kind of error it reads; the
    writer puts the listed patterns into the Taste section and also meddles with the locked Task
    section. With `titles`, every writer but the first of a round pastes those film titles."""

    def __init__(self, titles: tuple[str, ...] = ()):
        self.titles = titles
        self.writer_prompts: list[str] = []

    def __call__(self, request: dict) -> Reply:
        messages = request["messages"]
        first = messages[0]["content"]
        if '"film_1"' in messages[-1]["content"]:  # films to classify, under a specification or (baselines) none
            spec = first.lower() if messages[0]["role"] == "system" else ""
            films = re.findall(r"^(\d+)\. (.*)$", messages[-1]["content"], re.M)
            return Reply(content=json.dumps({f"film_{n}": self._rate(line, spec) for n, line in films}))
        if first.startswith("You study one film critic's ratings"):
            marks = re.findall(r"^\[(\d+)\] (.*)$", first, re.M)
            patterns = []
            for genre, statement in (("Sci-Fi", "The critic rates science fiction highly"),
                                     ("Comedy", "The critic dislikes broad comedies")):
                wrong = [int(n) for n, line in marks if genre in line and "WRONG" in line]
                if wrong:  # 999 names no film: the loop must drop it
                    patterns.append({"statement": statement, "evidence_for": wrong, "evidence_against": [999]})
            return Reply(content=json.dumps({"patterns": patterns}))
        if first.startswith("You improve a specification of one film critic's taste"):
            self.writer_prompts.append(first)
            parent = first.split("===\n")[1].rsplit("\n===", 1)[0]
            task = parent.split("# Taste")[0].replace("You predict", "You guess")
            listed = re.findall(r"^- \[(\d+)\] (.*?) \(films for", first, re.M)
            if self.titles and request.get("seed", 0) >= 1000:  # a later sample: pastes the training films
                return Reply(content=json.dumps({"prompt": task + "# Taste\nLoves " + ", ".join(self.titles),
                                                 "changes": []}))
            taste = "".join(f"- {statement}\n" for _, statement in listed) or "Nothing known yet.\n"
            return Reply(content=json.dumps({"prompt": task + "# Taste\n" + taste, "changes": [
                {"after": f"- {statement}", "rationale": "the errors call for it", "pattern_ids": [int(n)]}
                for n, statement in listed]}))
        return Reply(content="unexpected request", status=400)

    @staticmethod
    def _rate(line: str, spec: str) -> str:
        if "Sci-Fi" in line and "science fiction" in spec:
            return "high"
        if "Comedy" in line and "comed" in spec:
            return "low"
        return "mid"
