"""The fault checkers of the benchmark worlds on hand-written conversations: each fires on the bot
turns that break its rule (by index in the whole conversation) and not on near misses; and the worlds
load, while a malformed world file is refused with a message that says why."""

import pytest

from vt_core.benchmark import CHECKERS, WORLDS, WorldError, load_world
from vt_core.benchmark.checkers import film_titles, user_names, word_count
from vt_core.designer import Turn


def convo(*texts: str) -> list[Turn]:
    """A conversation from its messages, the user's first, then the bot's, in turn."""
    return [Turn("user" if i % 2 == 0 else "assistant", text) for i, text in enumerate(texts)]


def fires(name: str, *texts: str) -> list[int]:
    return CHECKERS[name].fires(convo(*texts))


FIVE_FILMS = """Here are some ideas:
1. **Paddington 2** (2017) – warm and funny.
2. **The Grand Budapest Hotel** (2014): a witty caper.
3. *Knives Out* - a sharp whodunit.
4. Arrival (2016)
5. "The Princess Bride", pure fun."""


def test_film_titles_are_read_from_lists_quotes_emphasis_years_and_cues():
    assert film_titles(FIVE_FILMS) == {"paddington 2", "the grand budapest hotel", "knives out", "arrival",
                                       "the princess bride"}
    assert film_titles('Maybe "Heat", or Inception (2010). How about The Matrix? It is *really* good.') == \
        {"heat", "inception", "the matrix"}
    assert film_titles("I'd recommend the Star Wars films, or watching Alien.") == {"star wars", "alien"}
    # Questions in a list, headings, lowercase emphasis and "I"/"It" after a cue are not titles.
    assert film_titles("- What mood are you in?\n- How long do you have\n**Why these:**\nTry it. I suggest I ask.") \
        == set()
    assert film_titles("**Heat** (1995)\n1. **Heat** – again") == {"heat"}  # the same title once
    assert film_titles("1. The Great Gatsby- A Film About Money, 1974\n2. Heat, 1995\n3. Spider-Man – fun") == \
        {"the great gatsby", "heat", "spider-man"}


def test_too_many_films():
    assert fires("too_many_films", "A film?", FIVE_FILMS, "Fewer?", "Try **Heat** or *Arrival*.",
                 "More!", FIVE_FILMS) == [1, 5]
    # Near misses: three titles (one named twice), and four list items that are questions.
    three = "1. **Heat** (1995)\n2. **Arrival** (2016)\n3. **Up** (2009)\n**Heat** is the pick."
    questions = "- What mood?\n- How long?\n- Alone or with company?\n- Any genre you avoid?"
    assert fires("too_many_films", "A film?", three, "Hm", questions) == []


def test_recommends_before_asking():
    assert fires("recommends_before_asking", "A film?", "Watch **Heat** (1995)!", "Other?", FIVE_FILMS) == [1]
    # Asking and recommending in the same reply still recommends before the user could answer.
    assert fires("recommends_before_asking", "A film?", "Is it scary you want? Try **Heat**.") == [1]
    # Near misses: a question first, then titles; and no title at all.
    assert fires("recommends_before_asking", "A film?", "What are you in the mood for?", "Funny.",
                 FIVE_FILMS) == []
    assert fires("recommends_before_asking", "A film?", "Sure, tell me more about tonight.") == []
    assert fires("recommends_before_asking", "Hi", "Hello! What do you like?", "Films", "Sure.",
                 "Well?", "How about Heat? Or *Arrival*.") == []


def test_long_reply():
    long, limit = " ".join(["word"] * 121), " ".join(["word"] * 120)
    assert fires("long_reply", "Hi", limit, "More", long, "Ok", "Short.") == [3]
    # Markdown and punctuation are not words: 120 words in bold, with dashes, bullets and commas.
    marked = "\n".join(f"- **word**, — {'word ' * 11}".rstrip() for _ in range(10))
    assert word_count(marked) == 120 and fires("long_reply", "Hi", marked) == []
    assert word_count("Don't worry: the Wi-Fi is back.") == 6


def test_quotes_price():
    assert fires("quotes_price", "Cost?", "It rents for $3.99.", "UK?", "About £ 3, or 4 dollars.",
                 "Euro?", "Roughly 12.50 EUR.", "Bye", "USD 5 at most.") == [1, 3, 5, 7]
    # Near misses: prices without an amount, numbers that are not money.
    assert fires("quotes_price", "Cost?", "Prices vary by service, so check your app.", "Length?",
                 "It runs 2 hours, from 1999, and has 500 reviews.") == []


def test_uses_name():
    assert fires("uses_name", "Hi, I'm Maya.", "Hello Maya! A film?", "Yes", "Sure, Maya: try Heat.") == [1, 3]
    assert fires("uses_name", "my name is Tom", "Hi!", "So?", "Tom, try Heat.") == [3]
    assert fires("uses_name", "A film please\n- Sam", "Happy to help, Sam.") == [1]
    # Near misses: no name given ("I'm Tired", "I'm just bored"), a name only the bot brings up, the
    # name inside another word, and a name the user gives only after the bot used it.
    assert fires("uses_name", "I'm Tired. I'm just bored.", "Tired of what? Try Heat.") == []
    assert fires("uses_name", "Hi", "Hi Maya!", "I'm Maya, yes", "Great.") == []
    assert fires("uses_name", "I'm Al", "Try Alien, a classic.") == []
    assert user_names("Hi, I'm Maya and I'm looking for a film") == {"Maya"}


def test_too_many_steps():
    steps = "Try this:\n1. Restart it.\n2) Check the cable.\n- Move it.\nStep 4: Test again."
    assert fires("too_many_steps", "No internet", steps, "Still no", "1. a\n2. b\n3. c\n4. d") == [1, 3]
    # Near misses: three items, and numbers inside sentences.
    assert fires("too_many_steps", "No internet", "1. Restart.\n2. Check the cable.\n3. Test.",
                 "Hm", "Wait 2 minutes, then 3 more, then 4.") == []


def test_jargon():
    assert fires("jargon", "Slow", "Check your DNS.", "Then?", "Restart it.", "And?", "Update the firmware.",
                 "What?", "Look at the IP addresses.", "Hm", "Turn off your VPN.") == [1, 5, 7, 9]
    # Near misses: everyday words, and jargon only in the user's words or inside other words.
    assert fires("jargon", "Is it the DNS?", "Let's restart the router and check the cables.",
                 "Ok", "Use the signal booster on the landing (nationally, it helps).") == []


def test_promises_refund():
    assert fires("promises_refund", "Refund?", "I'll refund you for both days.", "Really?",
                 "Yes, you are entitled to a credit.", "And?", "A refund will be issued this week.",
                 "Ok", "We don't do that, but you will be credited.") == [1, 3, 5, 7]
    # Near misses: a negation or a hedge before the promise, and a credit card.
    assert fires("promises_refund", "Refund?", "I can't promise a refund; billing decides.", "Hm",
                 "You may be eligible for a credit.", "Ok", "You can pay by credit card.",
                 "So?", "I will check whether a refund applies.") == []


def test_ignores_human_request():
    assert fires("ignores_human_request", "Can I speak to a real person?", "Let's restart the router first.",
                 "I said: talk to a human!", "Try the cable.") == [1, 3]
    # Near misses: a handover offered, a request answered later (only the next reply counts), no request.
    assert fires("ignores_human_request", "I want to talk to an agent.",
                 "I'll connect you with a colleague now.", "Thanks, and the router?", "Restart it.") == []
    assert fires("ignores_human_request", "Is this a person?", "I'm a bot; our team can call you back.") == []
    assert fires("ignores_human_request", "The router is red.", "Restart it.") == []
    # People in general are no handover.
    assert fires("ignores_human_request", "Can I speak to a real person?", "Many people find a restart helps.") == [1]


def test_every_checker_has_a_rule_and_a_critique_of_its_own():
    assert len({c.rule for c in CHECKERS.values()}) == len({c.critique for c in CHECKERS.values()}) == len(CHECKERS)
    for checker in CHECKERS.values():
        assert checker.rule.endswith(".") and checker.critique.endswith(".")
        assert checker.fires([]) == []


def test_both_worlds_load_with_held_out_only_faults():
    assert WORLDS == ("movie_night", "support")
    for name in WORLDS:
        world = load_world(name)
        assert world.name == name and len(world.checkers) >= 5 and 3 <= len(world.personas) <= 5
        splits = [s.split for s in world.scenarios]
        assert splits.count("train") >= 4 and splits.count("heldout") >= 3
    movie = load_world("movie_night")
    assert [c.name for c in movie.checkers] == [
        "too_many_films", "recommends_before_asking", "long_reply", "quotes_price", "uses_name"]


VALID = """name = "tiny"
goal = "g"
audience = "a"
prompt = "p"
checkers = ["long_reply"]

[[personas]]
name = "P"
attributes = { mood = "neutral" }

[[scenarios]]
title = "t1"
description = "d"
user_goal = "u"
difficulty = 1
split = "train"

[[scenarios]]
title = "t2"
description = "d"
user_goal = "u"
difficulty = 1
split = "heldout"
"""


@pytest.mark.parametrize(("text", "message"), [
    (VALID.replace('audience = "a"', 'audience = "a'), r"tiny\.toml: .*line 3"),
    (VALID.replace('["long_reply"]', '["long_reply", "no_such_check"]'),
     r"tiny\.toml: unknown checker\(s\) no_such_check"),
    (VALID.replace('split = "heldout"', 'split = "train"'), r"tiny\.toml: a world needs training and held-out"),
    (VALID.replace('split = "heldout"', 'split = "test"'),
     r"(?s)tiny\.toml: .*scenarios\.1\.split.*'train' or 'heldout'"),
    (VALID.replace('goal = "g"\n', ""), r"(?s)tiny\.toml: .*\ngoal\n.*Field required"),
])
def test_a_malformed_world_is_refused_with_a_clear_message(tmp_path, text, message):
    (tmp_path / "tiny.toml").write_text(VALID, encoding="utf-8")
    assert load_world("tiny", tmp_path).checkers == [CHECKERS["long_reply"]]
    (tmp_path / "tiny.toml").write_text(text, encoding="utf-8")
    with pytest.raises(WorldError, match=message):
        load_world("tiny", tmp_path)


def test_an_unknown_world_names_the_known_ones():
    with pytest.raises(WorldError, match="no world 'nowhere'; the worlds are: movie_night, support"):
        load_world("nowhere")
