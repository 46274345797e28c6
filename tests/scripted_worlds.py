"""Scripted models that play every part of the designer loop, for tests and demos of its logic."""

import json
import re
import threading
from collections import Counter
from dataclasses import dataclass

from tests.scripted_server import Reply
from vt_core.benchmark import CHECKERS
from vt_core.designer import Turn

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


# -- FaultWorld: an honest scripted world for the loop benchmark ---------------------------------

PRICE_ASKED = re.compile(r"\b(?:how much|price|prices|cost|costs|pay)\b", re.I)
REFUND_ASKED = re.compile(r"\b(?:refund|money back|compensat\w*)\b", re.I)
HUMAN_ASKED = re.compile(r"\b(?:real person|a human|someone real|an agent)\b", re.I)
NAME_GIVEN = re.compile(r"\b(?:I'm|I am|my name is)\s+([A-Z][a-z]+)\b")
INTRODUCES = re.compile(r"\bintroduces (?:herself|himself|themselves) as ([A-Z][a-z]+)")
# The situations that tempt the bot into two training faults, so that the designer's marks (and the
# judge) see those faults in some training conversations and not in others: a film for a group gets a
# long list, a connection that is down or a router to set up gets the whole checklist.
GROUP_PICK = re.compile(r"\b(?:both|family|everyone|kids)\b", re.I)
FULL_CHECKLIST = re.compile(r"\b(?:working again|set up|freez\w*)\b", re.I)


@dataclass(frozen=True)
class Fault:
    """How FaultWorld plays one checker's fault. Each part reads only its own prompt: the bot its
    system prompt (`heeds`) and the user's words (`arises`), the proposer the designer's critiques
    (`critique` -> `statement`), the writer and the judge a pattern's statement (`about`)."""

    checker: str
    statement: str  # the AVOID pattern the proposer writes when a critique shows the fault
    critique: re.Pattern  # words of a designer's critique that show it
    about: re.Pattern  # words of a pattern statement that name it
    rule: str  # the rule the candidate writer writes for it
    weak_rule: str  # the vaguer rule a later sample writes instead, which the bot does not heed
    heeds: re.Pattern  # words of a system prompt that the bot takes as a rule against it
    arises: re.Pattern | None = None  # the user's words that raise its situation (None: every conversation)


def _words(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.I)


FAULTS: dict[str, Fault] = {f.checker: f for f in (
    Fault("too_many_films", "The bot offers the user more than three films to choose from at once",
          _words(r"too many (?:titles|films|movies)|list this long"),
          _words(r"more than (?:three|3) (?:films|movies|titles)"),
          "Suggest no more than three films in any one reply.", "Keep the choice manageable for the user.",
          _words(r"\b(?:at most|no more than|up to|not more than|maximum of)\s+(?:three|3|two|2)\s+"
                 r"(?:films|movies|titles|recommendations|suggestions)\b|\bone (?:film|movie) at a time\b")),
    Fault("recommends_before_asking", "The bot recommends films before asking the user anything",
          _words(r"straight to suggestions|without (?:finding out|asking)"),
          _words(r"recommend\w*[^.]*before (?:asking|finding out)"),
          "Ask at least one question about the user's mood or time before you recommend any film.",
          "Get to know the user.",
          _words(r"\bask\w*\b[^.\n]{0,80}\bbefore\b[^.\n]{0,40}\b(?:recommend|suggest)\w*"
                 r"|\bbefore (?:recommending|suggesting)\b[^.\n]{0,80}\bask")),
    Fault("long_reply", "The bot writes replies that run far beyond a hundred words",
          _words(r"wordy|too long|scroll|rambl"),
          _words(r"(?:long|lengthy|wordy|hundred words|\d+ words)"),
          "Keep every reply under 100 words.", "Be mindful of the user's time.",
          _words(r"\b(?:under|at most|no more than|fewer than|within|up to|not more than|maximum of)\s+"
                 r"(?:[1-9]\d?|1[01]\d|120)\s+words\b"
                 r"|\b(?:keep|make)\b[^.\n]{0,30}\b(?:replies|answers|messages|responses)\b[^.\n]{0,20}"
                 r"\b(?:short|brief|concise)\b")),
    Fault("quotes_price", "The bot states a price or an amount of money",
          _words(r"amount of money|\bprice|what it costs"),
          _words(r"\bprice|amount of money|\bcost"),
          "Never quote a price or a cost; point the user to where current prices are shown.",
          "Be careful with money matters.",
          _words(r"\b(?:never|do not|don't|not)\b[^.\n]{0,20}\b(?:quote|give|state|mention|name|share)\b"
                 r"[^.\n]{0,30}\b(?:price|prices|cost|costs|amount)"),
          PRICE_ASKED),
    Fault("uses_name", "The bot addresses the user by their name",
          _words(r"\bmy name\b|by name"),
          _words(r"\bname\b"),
          "Never address the user by their name, even when they give it.", "Keep a friendly, respectful tone.",
          _words(r"\b(?:never|do not|don't|avoid)\b[^.\n]{0,40}\b(?:use|say|address|call|repeat)\w*\b"
                 r"[^.\n]{0,40}\bname"),
          NAME_GIVEN),
    Fault("too_many_steps", "The bot lists more than three troubleshooting steps in a single message",
          _words(r"wall of steps|too many steps|couple of things"),
          _words(r"more than (?:three|3) (?:\w+ )?steps"),
          "Give at most three steps in one reply, then check how they went.",
          "Make troubleshooting easy to follow.",
          _words(r"\b(?:at most|no more than|up to|not more than|maximum of)\s+(?:three|3|two|2)\s+steps\b"
                 r"|\bone step at a time\b|\b(?:three|3|two|2) steps at a time\b")),
    Fault("jargon", "The bot uses technical jargon",
          _words(r"acronyms|jargon|normal person"),
          _words(r"jargon|technical (?:terms|words|language)|acronyms"),
          "Avoid technical jargon; explain everything in everyday words.", "Be clear.",
          _words(r"\b(?:avoid|no|never|without|don't|do not)\b[^.\n]{0,30}\b(?:jargon|technical (?:terms|words"
                 r"|language))|\bplain (?:english|language|words)\b|\beveryday (?:words|language)\b")),
    Fault("promises_refund", "The bot promises the customer a refund or credit",
          _words(r"money back|refund|has no power"),
          _words(r"refund|money back|credit|compensation"),
          "Never promise a refund or credit; say that the billing team decides and offer to pass the request on.",
          "Handle billing questions politely.",
          _words(r"\b(?:never|do not|don't|not)\b[^.\n]{0,20}\bpromise\w*\b[^.\n]{0,40}"
                 r"\b(?:refund|refunds|credit|compensation|money back)"),
          REFUND_ASKED),
    Fault("ignores_human_request", "The bot ignores the customer's request to speak to a human",
          _words(r"asked for a (?:person|human)|as if I hadn't"),
          _words(r"(?:human|person|agent)"),
          "When a customer asks for a person, offer at once to connect them with a human agent.",
          "Listen to what the customer wants.",
          _words(r"\b(?:human|person|agent|team member)\b[^.\n]{0,80}\b(?:offer|connect|transfer|hand over)"
                 r"|\b(?:offer|connect|transfer|hand over)\w*\b[^.\n]{0,60}\b(?:human|person|agent|team member)\b"),
          HUMAN_ASKED),
)}

FILMS = [("Paddington 2", 2017, "warm, funny and kind, with a heist at its heart"),
         ("The Grand Budapest Hotel", 2014, "a quick, witty caper that looks like a storybook"),
         ("Knives Out", 2019, "a sharp whodunit with a cast clearly having fun"),
         ("Arrival", 2016, "quiet, clever science fiction that stays with you"),
         ("The Princess Bride", 1987, "adventure and romance that never takes itself seriously"),
         ("Hunt for the Wilderpeople", 2016, "a funny, touching chase through the New Zealand bush")]
STEPS = {  # (with jargon, in everyday words)
    "restart": ("Restart the router and check the DNS settings on your laptop.",
                "Turn the router off, wait a minute, and turn it back on."),
    "network": ("Make sure your devices are on the right SSID.",
                "Check that your phone and laptop are on your own Wi-Fi network."),
    "update": ("Update the router's firmware from its admin page.",
               "Check that the cable from the wall socket is pushed firmly in."),
    "test": ("Run a speed test and note the latency and packet loss.",
             "Run a speed test on our website and note the result."),
    "address": ("Look up your laptop's IP address in the network settings.",
                "Move the router somewhere open, off the floor."),
    "devices": ("Check the DHCP lease list for devices you do not know.",
                "Unplug devices you are not using for now."),
}
PADDING = {
    "films": "A little more about why I picked these: each is easy to start on a weeknight, none needs homework "
             "beforehand, and all of them hold up on a small screen as well as a big one. If you are watching "
             "with company, read the short descriptions together and pick the one that makes you both smile "
             "first. Whatever you choose, dim the lights, put your phone in another room and enjoy the evening. "
             "Films are best when you give them your full attention, and a good one can turn an ordinary "
             "evening into something to remember for a long while.",
    "steps": "A little background that may help: home connections are sensitive to where the router sits, how "
             "many devices share it and what else is running at the same time. Thick walls, mirrors and fish "
             "tanks all weaken the signal, and so does a router tucked away in a cupboard or behind the "
             "television. Most problems clear up with a restart and a better spot for the router, so it is "
             "worth trying those before anything else. Write down what you try and when, so that it is easy "
             "to tell what made the difference later on.",
}


def _transcript_turns(text: str) -> list[Turn]:
    """The turns of a conversation as `Transcript.text()` writes it: "USER [0]: ...", "BOT [1]: ..."."""
    parts = re.split(r"^(USER|BOT) \[\d+\]: ", text, flags=re.M)
    return [Turn("user" if who == "USER" else "assistant", content.rstrip("\n"))
            for who, content in zip(parts[1::2], parts[2::2])]


def _with_rules(prompt: str, rules: list[str]) -> str:
    """`prompt` with `rules` at the end of its "# Rules" section, which is added at the end if missing."""
    lines = prompt.rstrip("\n").split("\n")
    if not rules:
        return prompt
    if "# Rules" not in lines:
        return "\n".join([*lines, "", "# Rules", *rules]) + "\n"
    end = next((i for i in range(lines.index("# Rules") + 1, len(lines)) if lines[i].startswith("# ")), len(lines))
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    return "\n".join([*lines[:end], *rules, *lines[end:]]) + "\n"


def _between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0] if start in text else ""


class FaultWorld:
    """Plays every part of the loop for a benchmark world (vt_core.benchmark), honestly: each part
    reads only the request the platform sends it, told apart by its prompt as in EmojiWorld.

    - The simulated user acts out the situation in its prompt: it asks what it costs, asks for a
      refund or for a real person, or introduces itself by name (as the scenario's description says,
      "introduces herself as Maya"), in its first message, then follows up and leaves.
    - The bot shows each fault of the world whose situation arises (a price asked, a name given; a
      long list of films for a group, the whole checklist for a connection that is down or a router
      to set up; long replies, jargon and recommending before asking always), unless its system prompt carries a rule against it in
      words it looks for (`Fault.heeds`, a small vocabulary per fault, not a token of the proposer).
    - The pattern proposer reads the critiques of the bot turns and conversations marked bad in its
      prompt and proposes a fault's AVOID pattern only when a critique's words show it; with no bad
      marks, or only for faults already recorded, it proposes nothing.
    - The judge finds the fault a statement names (`Fault.about`) and checks the conversation in its
      prompt with that fault's checker: not applicable when the situation never arose.
    - The candidate writer writes each listed AVOID pattern as its rule (`Fault.rule`), added under
      "# Rules". A writer request with a seed of `later_sample_seed` (2**20) or more is a later sample
      of its round (the client derives those seeds by hashing into 31 bits; the first sample sends
      the run's seed plus the round, so run seeds must stay below it): it writes the first pattern's
      vaguer rule (`Fault.weak_rule`), which the bot does not heed.
    - Only the judge uses a checker (`vt_core.benchmark.CHECKERS`), on the conversation in its own
      prompt; no part sees a checker's verdict on anything else, nor the designer's marks except as
      the proposer's prompt shows them.
    - The quality rater scores 6, one less for long replies on average and one less for a reply with
      more than four list items.
    """

    def __init__(self, world, *, later_sample_seed: int = 2**20):
        unknown = [c.name for c in world.checkers if c.name not in FAULTS]
        assert not unknown, f"FaultWorld does not know how to plant {unknown}"
        self.world = world
        self.faults = [FAULTS[c.name] for c in world.checkers]
        films = any(f.checker in ("too_many_films", "recommends_before_asking") for f in self.faults)
        self.kind = "films" if films else "steps"  # a recommender's replies, or a support desk's
        self.later_sample_seed = later_sample_seed
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, request: dict) -> Reply:
        messages = request["messages"]
        first = messages[0]["content"]
        if "role-playing a USER" in first:
            part, content = "user", self._user(first, messages)
        elif first.startswith("You are a careful, impartial judge"):
            part, content = "judge", self._judge(first, messages[-1]["content"])
        elif "turn their review notes" in first:
            part, content = "proposer", self._propose(first)
        elif first.startswith("You improve the system prompt"):
            part, content = "writer", self._write(first, request.get("seed", 0))
        elif first.startswith("Rate the overall quality"):
            part, content = "quality", self._rate(first)
        else:
            part, content = "bot", self._bot(first, [Turn(m["role"], m["content"]) for m in messages[1:]])
        with self._lock:
            self.calls[part] += 1
        return Reply(content=content)

    # -- the simulated user --

    def _user(self, system: str, messages: list[dict]) -> str:
        situation = _between(system, "Your situation: ", "\n")
        goal = _between(system, "What you want from this conversation: ", "\n")
        said = sum(m["role"] == "assistant" for m in messages)  # the simulator speaks as "assistant"
        if said == 0:
            name = INTRODUCES.search(situation)
            asks = [ask for words, ask in (
                (PRICE_ASKED, "How much will it cost?"),
                (REFUND_ASKED, "Will I get a refund for the days without internet?"),
                (HUMAN_ASKED, "Can I speak to a real person, please?")) if words.search(situation)]
            mood = "Honestly, this is getting on my nerves. " if "mood: frustrated" in system else ""
            hello = f"Hi, I'm {name.group(1)}." if name else "Hi."
            return " ".join([hello, f"{mood}Here's what I'm after: {goal}", *asks])
        if said == 1:
            return f"Thanks. To be clear, what matters most to me: {goal}"
        return "Great, thanks, that's what I needed. [END]"

    # -- the bot --

    def _bot(self, system: str, turns: list[Turn]) -> str:
        heeded = {f.checker for f in self.faults if f.heeds.search(system)}
        shows = {f.checker for f in self.faults if f.checker not in heeded}
        said = "\n".join(t.content for t in turns if t.role == "user")
        last = next((t.content for t in reversed(turns) if t.role == "user"), "")
        asked_before = any("?" in t.content for t in turns if t.role == "assistant")
        name = NAME_GIVEN.search(said)
        if self.kind == "films":
            hello = f"Happy to help, {name.group(1)}!" if name and "uses_name" in shows else "Happy to help!"
        else:
            hello = "Sorry to hear about the trouble."
        parts = [hello]
        if PRICE_ASKED.search(last) and "quotes_price" in [f.checker for f in self.faults]:
            parts.append(self._price("quotes_price" in shows))
        if REFUND_ASKED.search(last) and "promises_refund" in [f.checker for f in self.faults]:
            parts.append("I'll refund you for both days on your next bill." if "promises_refund" in shows else
                         "I can't promise a refund myself: billing decides those, and I can pass your request on.")
        if HUMAN_ASKED.search(last) and "ignores_human_request" in heeded:
            parts.append("Of course: I'll connect you with a member of our support team, who can call you back.")
        if self.kind == "films":
            if "recommends_before_asking" in heeded and not asked_before:
                parts.append("Before I suggest anything: what are you in the mood for, and how much time do you have?")
            else:
                films = FILMS[:5] if "too_many_films" in shows and GROUP_PICK.search(said) else FILMS[:3]
                parts.append("Here are my picks:\n" + "\n".join(
                    f"{i}. **{title}** ({year}) – {why}." for i, (title, year, why) in enumerate(films, 1)))
        else:
            steps = [bad if "jargon" in shows else plain for bad, plain in STEPS.values()]
            steps = steps if "too_many_steps" in shows and FULL_CHECKLIST.search(said) else steps[:3]
            parts.append("Let's try this:\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1)))
            parts.append("Let me know how it goes.")
        if "long_reply" in shows:
            parts.append(PADDING[self.kind])
        return "\n\n".join(parts)

    def _price(self, shows: bool) -> str:
        if self.kind == "films":
            return ("Renting a new film costs about $3.99 on most services." if shows else
                    "Rental prices differ from one service to another, so check in your app before you rent.")
        return ("The Fibre 500 plan is £35 a month, £10 more than yours." if shows else
                "Plan prices change, so the Plans page of your account shows what a faster plan would be today.")

    # -- the judge, the proposer, the writer, the rater --

    def _judge(self, system: str, user: str) -> str:
        statement = _between(system, 'Behaviour:\n"', '"\n')
        turns = _transcript_turns(_between(user, "<<<\n", "\n>>>"))
        fault = next((f for f in FAULTS.values() if f.about.search(statement)), None)
        said = "\n".join(t.content for t in turns if t.role == "user")
        if fault is None or (fault.arises is not None and not fault.arises.search(said)):
            return json.dumps({"reason": "The conversation never raised this.", "verdict": "not_applicable"})
        shown = CHECKERS[fault.checker].fires(turns)
        return json.dumps({"reason": f"BOT turns {shown} show it." if shown else "No BOT turn shows it.",
                           "verdict": "exhibited" if shown else "not_exhibited"})

    def _propose(self, prompt: str) -> str:
        evidence = _between(prompt, "The designer's annotated conversations:", "Patterns already recorded")
        existing = _between(prompt, "Patterns already recorded", "Task:")
        critiques = re.findall(r'labelled "bad": ".*?"\n  Critique: ([^\n]*)', evidence, re.S)
        critiques += re.findall(r"\(overall: bad\)\nCritique of the whole conversation: ([^\n]*)", evidence)
        shown = [f for f in FAULTS.values() if any(f.critique.search(c) for c in critiques)]
        return json.dumps({"patterns": [{"kind": "avoid", "statement": f.statement}
                                        for f in shown if not f.about.search(existing)]})

    def _write(self, prompt: str, seed: int) -> str:
        parent = prompt.split("===\n", 1)[1].rsplit("\n===", 1)[0]
        listed = re.findall(r"^- \[(\d+)\] AVOID: (.*)$", prompt, re.M)
        rules, changes = [], []
        for n, (pattern_id, statement) in enumerate(listed):
            fault = next((f for f in FAULTS.values() if f.about.search(statement)), None)
            if fault is None or fault.heeds.search(parent):
                continue
            rule = f"- {fault.weak_rule if n == 0 and seed >= self.later_sample_seed else fault.rule}"
            rules.append(rule)
            changes.append({"after": rule, "rationale": "The designer marked replies that show this.",
                            "pattern_ids": [int(pattern_id)]})
        return json.dumps({"prompt": _with_rules(parent, rules), "changes": changes})

    @staticmethod
    def _rate(prompt: str) -> str:
        turns = _transcript_turns(_between(prompt, "The conversation:\n", "\n\nReply with a JSON object"))
        replies = [t.content for t in turns if t.role == "assistant"] or [""]
        long = sum(len(r.split()) for r in replies) / len(replies) > 120
        cluttered = any(len(re.findall(r"^\s*(?:\d+[.)]|[-•*])\s", r, re.M)) > 4 for r in replies)
        return json.dumps({"score": 6 - long - cluttered, "reason": "judged on length and lists"})
