"""Compare before approving: a refinement candidate's conversations beside the baseline's on the same
scenario, persona and seed, with the judge's verdicts per pattern, in vt_core and on the Compare page.

The scripted world is the emoji world, except that in one training scenario the simulated user asks for
no emojis and the bot obliges: there the baseline passes already, so the candidate changes no verdict."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.scripted_server import Reply
from tests.scripted_worlds import PROMPT, RULE, EmojiWorld
from vt_core.core.store import Store
from vt_core.core.text import escape_markdown
from vt_core.designer import comparison, leaderboard
from vt_core.designer.patterns import add_pattern
from vt_core.designer.personas import generate_personas
from vt_core.designer.projects import create_project, current_version
from vt_core.designer.refinement import refine
from vt_core.designer.scenarios import add_scenario

POLITE = "situation 1"  # the training scenario whose user asks for no emojis


class PoliteUserWorld(EmojiWorld):
    def __call__(self, request: dict) -> Reply:
        messages = request["messages"]
        first = messages[0]["content"]
        if "role-playing a USER" in first and POLITE in first:
            return Reply(content="A film for tonight, without emojis please.")
        if messages[0]["role"] == "system" and "without emojis" in messages[-1]["content"]:
            return Reply(content="Try Alien.")  # the bot, asked politely
        return super().__call__(request)


def refine_once(store: Store, llm, project_id: int):
    """One refinement run (one round, one candidate); the run, its candidate and the self-play runs it made."""
    def last_run() -> int:
        return store.cursor().execute("SELECT coalesce(max(id), 0) FROM selfplay_runs").fetchone()[0]

    before = last_run()
    result = refine(store, llm, project_id, rounds=1, k=1, n_train=2, n_heldout=1, max_turns=1, seed=3)
    return result.refine_run_id, result.best, range(before + 1, last_run() + 1)


@pytest.fixture
def project_id(store):
    project = create_project(store, "Movie bot", goal="recommend films", audience="fans", prompt=PROMPT)
    generate_personas(store, project.id, 2, seed=0)
    for i, split in enumerate(["train", "train", "heldout"]):
        add_scenario(store, project.id, title=f"s{i}", description=f"situation {i}", user_goal="a film",
                     difficulty=1, split=split)
    add_pattern(store, project.id, "avoid", "The bot uses emojis in its replies", status="accepted")
    return project.id


@pytest.mark.both_backends
def test_pairs_by_scenario_persona_and_seed_with_verdicts(store, make_llm, scripted, project_id):
    scripted.respond = PoliteUserWorld()
    llm = make_llm()
    parent = current_version(store, project_id)
    # Two runs on the same prompt version and seed: each candidate pairs with its own run's baseline.
    first_run, first, first_plays = refine_once(store, llm, project_id)
    second_run, second, second_plays = refine_once(store, llm, project_id)
    assert RULE in first.text and RULE in second.text

    for run_id, candidate, plays in ((first_run, first, first_plays), (second_run, second, second_plays)):
        found = comparison(store, run_id, candidate.id)
        assert [p.statement for p in found.patterns] == ["The bot uses emojis in its replies"]
        assert sorted(p.scenario.title for p in found.pairs[:2]) == ["s0", "s1"]  # in the order played
        assert [(p.split, p.scenario.title) for p in found.pairs][2:] == [("heldout", "s2")]
        assert [p.split for p in found.pairs] == ["train", "train", "heldout"]
        for pair in found.pairs:
            ours, theirs = pair.candidate, pair.baseline
            key = (pair.scenario.id, pair.persona.id, pair.seed)
            assert (ours.scenario_id, ours.persona_id, ours.seed) == key
            assert (theirs.scenario_id, theirs.persona_id, theirs.seed) == key
            assert (ours.candidate_id, ours.version_id) == (candidate.id, None)
            assert (theirs.candidate_id, theirs.version_id) == (None, parent.id)
            assert {ours.run_id, theirs.run_id} <= set(plays)  # both played in this run
            polite = pair.scenario.title == "s1"
            assert theirs.turns[-1].content == ("Try Alien." if polite else "Try Alien 🎬🍿")
            assert ours.turns[-1].content == "Try Alien."
            [check] = pair.checks
            assert (check.baseline.verdict, check.candidate.verdict) == (
                "not_exhibited" if polite else "exhibited", "not_exhibited")
            assert (check.baseline_outcome, check.candidate_outcome) == ("pass" if polite else "fail", "pass")
            assert check.baseline.reason == "checked the bot turns"
            assert pair.changed() is (not polite)
        assert [p.scenario.title for p in found.changed()] == [p.scenario.title for p in found.pairs if
                                                               p.scenario.title != "s1"]
        assert found.changed(found.patterns[0].id) == found.changed()
        assert found.changed(-1) == []  # a pattern the run did not judge changes nothing


@pytest.fixture
def app_run(store, make_llm, scripted, project_id, app_env):
    """Two finished refinement runs in the database the app opens (the store fixture's DuckDB file); the
    first's id and candidate (the pages open on the newest run)."""
    scripted.respond = PoliteUserWorld()
    run_id, candidate, _ = refine_once(store, make_llm(), project_id)
    refine_once(store, make_llm(), project_id)
    app_env(scripted.url)
    return run_id, candidate


def test_the_compare_page_shows_the_pairs_filters_them_and_approves(store, project_id, app_run):
    run_id, candidate = app_run
    found = comparison(store, run_id, candidate.id)
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    at.switch_page("views/designer/refine.py").run()
    at.selectbox(key="rf_run").set_value(run_id).run()
    [link] = [link for link in at.get("page_link") if "Compare its conversations" in link.proto.label]
    assert (link.proto.page, link.proto.query_string) == ("designer_compare", f"run={run_id}&candidate={candidate.id}")
    at.query_params.update({"run": run_id, "candidate": candidate.id})
    at.switch_page("views/designer/compare.py").run()
    assert not at.exception, at.exception
    assert (at.selectbox(key="cmp_run").value, at.selectbox(key="cmp_candidate").value) == (run_id, candidate.id)
    assert not at.selectbox(key="cmp_run").options[0].startswith(f"#{run_id} ")  # the link's run, not the newest

    def header(pair) -> str:
        return f"**{pair.scenario.title}** · persona {escape_markdown(pair.persona.name)} · seed {pair.seed}"

    def headers() -> list[str]:
        return [m.value for m in at.markdown if "· persona" in m.value]

    def verdicts() -> list[str]:
        return [m.value for m in at.markdown if ": baseline " in m.value]

    def conversations() -> list[list[str]]:
        return [[m.text[0].value for m in side.chat_message] for side in at.columns if side.chat_message
                and not side.columns]

    assert headers() == [header(p) for p in found.pairs]
    pattern = found.patterns[0]
    name = escape_markdown(f"P{pattern.number} AVOID: The bot uses emojis in its replies")
    assert verdicts() == [f"{name}: baseline :green-badge[pass] → candidate :green-badge[pass]"
                          if p.scenario.title == "s1" else
                          f"{name}: baseline :red-badge[fail] → candidate :green-badge[pass] :violet-badge[changed]"
                          for p in found.pairs]
    assert conversations() == [side for p in found.pairs for side in
                               ([t.content for t in p.baseline.turns], [t.content for t in p.candidate.turns])]
    assert "3 of 3 conversation pairs shown; the candidate changed a verdict in 2." in [c.value for c in at.caption]

    at.toggle(key="cmp_changed").set_value(True).run()
    changed = [p for p in found.pairs if p.scenario.title != "s1"]
    assert headers() == [header(p) for p in changed]
    assert all(v.endswith(":violet-badge[changed]") for v in verdicts()) and len(verdicts()) == 2
    at.selectbox(key="cmp_pattern").set_value(pattern.id).run()
    assert len(headers()) == 2

    assert any("+" + RULE in block.value for block in at.code)  # the diff beside the conversations
    at.button(key="cmp_approve").click().run()
    assert not at.exception, at.exception
    assert current_version(store, project_id).text == candidate.text
    assert leaderboard(store, run_id)[0].status == "approved"
    assert f"Approved as prompt version v{current_version(store, project_id).number}." in [s.value for s in at.success]
