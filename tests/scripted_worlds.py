"""Scripted models that play every part of the designer loop, for tests and demos of its logic."""

import json
import re

from tests.scripted_server import Reply

PROMPT = "# Persona\nYou are MovieBot, a film expert.\n\n# Rules\nRecommend one film at a time.\n"
RULE = "- Never use emojis."


class EmojiWorld:
    """Plays every part: the simulated user, the bot, the judge, the pattern proposer, the
    candidate writer and the quality rater, telling them apart by their prompts."""

    def __init__(self):
        self.writer_calls = 0

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
            # The writer also meddles with the locked Persona section: the guard must undo that.
            new = parent.replace("a film expert", "a cheerful film buff")
            new = new if RULE in new else new.rstrip("\n") + "\n" + RULE + "\n"
            return Reply(content=json.dumps({"prompt": new, "changes": [
                {"after": RULE, "rationale": "The designer marked emoji replies as bad.",
                 "pattern_ids": [pattern_id]}]}))
        if first.startswith("Rate the overall quality"):
            return Reply(content=json.dumps({"score": 5, "reason": "fine"}))
        # Otherwise it is the bot, under the system prompt being tested.
        return Reply(content="Try Alien." if "Never use emojis" in first else "Try Alien 🎬🍿")
