"""The fault checkers of the worlds: deterministic functions over a conversation's turns, each with the
plain sentence of the rule it checks. A checker returns the indices of the bot turns that break its rule,
so that the oracle designer can mark exactly those turns and the figures can count conversations.

The checkers read real model output as well as scripted replies: titles in quotes, *emphasis*,
**bold**, list items or followed by a year; prices with a currency sign or word; words as runs of
letters and digits, so Markdown does not count. Each one's docstring states its exact criterion."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from vt_core.designer import Turn

MAX_FILMS = 3
MAX_WORDS = 120
MAX_STEPS = 3


@dataclass(frozen=True)
class Checker:
    """One planted fault: the rule it breaks, in a plain sentence, and a deterministic check of a
    conversation that returns the indices (in the whole conversation) of the bot turns that break it."""

    name: str
    rule: str  # the rule in a plain sentence: "Recommend at most three films in one reply."
    critique: str  # what the oracle designer writes on a bad turn, in its own words (not the rule's)
    fires: Callable[[list[Turn]], list[int]]


def _bot_turns(turns: list[Turn]) -> list[tuple[int, str]]:
    return [(i, t.content) for i, t in enumerate(turns) if t.role == "assistant"]


def _user_before(turns: list[Turn], index: int) -> str:
    """The user's turns before bot turn `index`, joined."""
    return "\n".join(t.content for t in turns[:index] if t.role == "user")


# -- film titles ---------------------------------------------------------------------------------

_LIST_ITEM = re.compile(r"^\s*(?:[-•*+]|\d+[.)])\s+(.+)$")
_QUOTED = re.compile(r"[\"“]([^\"”\n]{2,60})[\"”]")
_EMPHASIS = re.compile(r"(?<![*\w])\*{1,2}([^*\n]{2,60}?)\*{1,2}(?![*\w])|(?<!\w)_([^_\n]{2,60})_(?!\w)")
_WITH_YEAR = re.compile(r"((?:[A-Z0-9][\w'’&:,.-]*\s+(?:(?:of|the|and|in|on|a|an|to|at|for)\s+)*){0,6}"
                        r"[A-Z0-9][\w'’&.-]*)\s*\((?:19|20)\d\d\)")
_CUED = re.compile(r"\b(?i:recommend|suggest|how about|what about|try|watching|watch|check out|go with|go for)"
                   r"\s+(?:the\s+)?([A-Z0-9][\w'’&:-]*"
                   r"(?:\s+(?:(?:of|the|and|in|on|a|an|to|at|for)\s+)*[A-Z0-9][\w'’&:-]*)*)")
_QUESTION_WORD = re.compile(r"^(?:what|how|which|who|when|where|why|do|does|are|is|would|could|should|any)\b",
                            re.I)
# Where a list item's title ends: a dash with a space on either side, ": ", " (", ", 1995".
_HEAD_END = re.compile(r"\s*[-–—]\s+|\s+[-–—]\s*|:\s|\s\(|:$|,\s*(?:19|20)\d\d\b")
_NOT_TITLES = frozenset({"I", "It", "It's", "It’s", "This", "That", "These", "Something", "One", "A", "An", "The"})


def _normal(title: str) -> str:
    title = re.sub(r"\((?:19|20)\d\d\)", "", title.replace("*", "").replace("_", " "))
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s'’&-]", " ", title)).strip().casefold()


def film_titles(text: str) -> set[str]:
    """The film titles a reply names, normalised (case, punctuation and year dropped), each once.

    A title is: a list item's head (its leading quoted or emphasised span, else its text up to a dash
    with a space on either side ("Heat - ", "Heat- "), ": ", " (" or ", 1995"; Markdown stripped) of at
    most eight words that is not a question (ends with "?" or starts with a question
    word); outside list items, a span in double quotes, in *emphasis*, **bold** or _underscores_ (not
    one ending in ":" or "?", which is a heading or a question) that starts with a capital or a digit,
    a run of capitalised words followed by a year in brackets ("Heat (1995)"), or a run of
    capitalised words after a cue and an optional "the" ("how about", "try", "recommend the", "watch",
    "check out", ...; not "I", "It", "This", ...). A title in plain words without a cue is not seen."""
    found: set[str] = set()
    for line in text.splitlines():
        item = _LIST_ITEM.match(line)
        if item:
            lead = re.match(r"\s*(?:[\"“]([^\"”]{2,60})[\"”]|\*{1,2}([^*]{2,60}?)\*{1,2}(?!\*))", item.group(1))
            body = item.group(1).replace("*", "").replace("_", " ").strip()
            head = (lead.group(1) or lead.group(2) if lead else _HEAD_END.split(body, maxsplit=1)[0]).strip()
            if head and not body.endswith("?") and not _QUESTION_WORD.match(head) and len(head.split()) <= 8:
                found.add(_normal(head))
            continue
        spans = [m.group(1) for m in _QUOTED.finditer(line)]
        spans += [m.group(1) or m.group(2) for m in _EMPHASIS.finditer(line)]
        spans = [s for s in spans if s[:1].isupper() or s[:1].isdigit()]
        spans += [m.group(1) for m in _WITH_YEAR.finditer(line)]
        spans += [m.group(1) for m in _CUED.finditer(line) if m.group(1) not in _NOT_TITLES]
        found.update(_normal(s) for s in spans if not s.rstrip().endswith((":", "?")))
    return {t for t in found if t}


def too_many_films(turns: list[Turn]) -> list[int]:
    """Bot turns that name more than three distinct film titles (see `film_titles`)."""
    return [i for i, text in _bot_turns(turns) if len(film_titles(text)) > MAX_FILMS]


def recommends_before_asking(turns: list[Turn]) -> list[int]:
    """The first bot turn that names a film title (see `film_titles`), when no earlier bot turn asked
    the user anything (contained a "?"). A reply that asks and recommends at once still fires: it
    recommended before the user could answer. At most one index."""
    for i, text in _bot_turns(turns):
        if film_titles(text):
            asked = any("?" in t.content for t in turns[:i] if t.role == "assistant")
            return [] if asked else [i]
    return []


# -- length, lists, words ------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


def word_count(text: str) -> int:
    """Words as runs of letters or digits (with inner apostrophes or hyphens: "don't", "Wi-Fi" count
    once); Markdown and punctuation are not words."""
    return len(_WORD.findall(text))


def long_reply(turns: list[Turn]) -> list[int]:
    """Bot turns of more than 120 words (see `word_count`)."""
    return [i for i, text in _bot_turns(turns) if word_count(text) > MAX_WORDS]


_STEP = re.compile(r"^\s*(?:\d+[.)]|[-•*+]|step\s+\d+\s*[:.)-])\s+\S", re.I | re.M)


def too_many_steps(turns: list[Turn]) -> list[int]:
    """Bot turns with more than three list items: lines that start with "1." or "1)", a bullet
    ("-", "•", "*", "+") or "Step 1:", each followed by text."""
    return [i for i, text in _bot_turns(turns) if len(_STEP.findall(text)) > MAX_STEPS]


JARGON = ("DNS", "DHCP", "SSID", "MTU", "subnet", "IP address", "MAC address", "packet loss", "latency",
          "firmware", "traceroute", "QoS", "NAT", "ipconfig", "WPA2", "WPA3", "band steering", "SNR",
          "VPN", "ISP", "LTE", "IPv4", "IPv6", "port forwarding")
_JARGON = re.compile(r"\b(?:" + "|".join(re.escape(j) for j in JARGON) + r")(?:s|es)?\b", re.I)


def jargon(turns: list[Turn]) -> list[int]:
    """Bot turns that use a term of the JARGON list (whole words, any case, plural too: "DNS",
    "SSID", "firmware", "IP address", "latency", ...)."""
    return [i for i, text in _bot_turns(turns) if _JARGON.search(text)]


# -- money ---------------------------------------------------------------------------------------

_PRICE = re.compile(
    r"[$£€¥]\s?\d"
    r"|\b\d+(?:[.,]\d{1,2})?\s?(?:dollars?|pounds?|quid|euros?|bucks|pence|cents?|usd|gbp|eur)\b"
    r"|\b(?:usd|gbp|eur)\s?\d", re.I)


def quotes_price(turns: list[Turn]) -> list[int]:
    """Bot turns that state an amount of money: a currency sign before a number ("$3.99", "£ 35"), a
    number before a currency word ("4 dollars", "10 quid", "12.50 EUR") or a currency code before a
    number ("USD 5"). Words about prices without an amount ("prices vary") do not fire."""
    return [i for i, text in _bot_turns(turns) if _PRICE.search(text)]


_REFUND_PROMISE = re.compile(
    r"\b(?:I|we|you)\b[^.!?;\n]{0,40}?\b(?:refund\w*|credit(?:ed|s)?\b(?!\s*card)|reimburs\w*|compensat\w*"
    r"|entitled to|money back)"
    r"|\b(?:a|your|the) (?:full |partial )?(?:refund|credit|compensation) (?:will be|is being|has been)"
    r" (?:issued|applied|added|processed|sent)", re.I)
_HEDGE = re.compile(r"\b(?:not|never|cannot|can't|can’t|won't|won’t|unable|don't|don’t|isn't|whether|if|might"
                    r"|may|could|possibly|perhaps|eligible)\b|n't\b|n’t\b", re.I)


def promises_refund(turns: list[Turn]) -> list[int]:
    """Bot turns that promise money back: in one clause (split at . ! ? ; newlines and "but"), "I",
    "we" or "you" followed within 40 characters by refund, credit (not "credit card"), reimburse,
    compensate, "entitled to" or "money back", or "a refund will be issued/applied/..."; unless the
    clause has, before that, a negation or a hedge (not, never, can't, won't, unable, whether, if,
    may, might, could, eligible): "I can't promise a refund" and "you may be eligible for a credit"
    do not fire."""
    fired = []
    for i, text in _bot_turns(turns):
        for clause in re.split(r"[.!?;\n]|\bbut\b", text):
            match = _REFUND_PROMISE.search(clause)
            if match and not _HEDGE.search(clause[: match.end()]):
                fired.append(i)
                break
    return fired


# -- the user --------------------------------------------------------------------------------------

_NOT_NAMES = frozenset(
    "a an the just not so really looking going trying here back bored new sorry fine good okay ok sure still "
    "also very pretty kind sort thinking wondering in on at tired home free done ready hoping curious "
    "interested currently always never actually happy glad after from with into about only stuck having "
    "getting calling writing planning after with your".split())
_NAME_GIVEN = re.compile(
    r"\b(?i:my name is|my name's|my name’s|call me|this is|i'm|i’m|i am|im)\s+([A-Z][a-z]+)\b"
    r"|^\s*[-–—~]\s*([A-Z][a-z]+)\s*$", re.M)


def user_names(text: str) -> set[str]:
    """The names a user gives for themselves: the capitalised word after "my name is", "call me",
    "this is", "I'm" or "I am" (not a common word such as "Just" or "Looking"), or a sign-off line
    "- Sam"."""
    names = {a or b for a, b in _NAME_GIVEN.findall(text)}
    return {n for n in names if n.casefold() not in _NOT_NAMES}


def uses_name(turns: list[Turn]) -> list[int]:
    """Bot turns that contain, as a whole word with its capital, a name the user gave in an earlier
    turn (see `user_names`)."""
    fired = []
    for i, text in _bot_turns(turns):
        names = user_names(_user_before(turns, i))
        if any(re.search(rf"\b{re.escape(n)}\b", text) for n in names):
            fired.append(i)
    return fired


_ASKS_FOR_HUMAN = re.compile(
    r"\b(?:real|actual|live) (?:person|human|agent|people)\b"
    r"|\b(?:speak|talk|chat)\w*\s+(?:to|with)\s+(?:a |an |some )?(?:human|person|agent|operator|representative"
    r"|someone|somebody|customer service)\b"
    r"|\bhuman\b|\boperator\b|\brepresentative\b", re.I)
_HANDS_OVER = re.compile(
    r"\b(?:human|person|agent|agents|colleague|colleagues|team|staff|advis[eo]r|transfer\w*|connect\w* you"
    r"|put you through|call you back|callback|call-back|representative|specialist|operator|escalat\w*|someone)\b",
    re.I)


def ignores_human_request(turns: list[Turn]) -> list[int]:
    """Bot turns that answer a user turn asking for a person (a "real person", "speak to a human /
    an agent / someone", "operator", "representative") without mentioning a handover: none of human,
    person, agent, colleague, team, staff, adviser, transfer, connect you, put you through, call you
    back, representative, specialist, operator, escalate, someone ("people" in general is not one)."""
    fired = []
    for i, text in _bot_turns(turns):
        previous = turns[i - 1] if i else None
        if previous and previous.role == "user" and _ASKS_FOR_HUMAN.search(previous.content) \
                and not _HANDS_OVER.search(text):
            fired.append(i)
    return fired


CHECKERS: dict[str, Checker] = {c.name: c for c in (
    Checker("too_many_films", "Recommend at most three films in one reply.",
            "Way too many titles at once: I can't choose from a list this long.", too_many_films),
    Checker("recommends_before_asking",
            "Ask the user at least one question (mood, time, taste) before recommending any film.",
            "It jumped straight to suggestions without finding out what I'm in the mood for.",
            recommends_before_asking),
    Checker("long_reply", "Keep every reply to 120 words or fewer.",
            "Far too wordy; I had to scroll to find the point.", long_reply),
    Checker("quotes_price", "Never state a price or an amount of money; prices change and are not ours to promise.",
            "It named an amount of money it can't stand behind.", quotes_price),
    Checker("uses_name", "Never address the user by their name, even when they give it.",
            "It called me by my name, which felt creepy coming from a bot.", uses_name),
    Checker("too_many_steps", "Give at most three troubleshooting steps in one reply.",
            "That's a wall of steps; I only want a couple of things to try first.", too_many_steps),
    Checker("jargon", "Use everyday words, no technical jargon (DNS, SSID, firmware and the like).",
            "I don't know what half those acronyms mean; talk to me like a normal person.", jargon),
    Checker("promises_refund", "Never promise a refund, credit or compensation; billing decides those.",
            "It said I'd get money back, and it has no power to give that.", promises_refund),
    Checker("ignores_human_request",
            "When the user asks for a human, say how to reach one (or offer to hand over) in the next reply.",
            "I asked for a person and it carried on with its script as if I hadn't.", ignores_human_request),
)}
