"""Patterns: proposal and de-duplication, the judge and its stored verdicts, reports, designer edits."""

from __future__ import annotations

import json

import pytest

from tests.conftest import llm_calls
from tests.scripted_server import Reply
from vt_core.core.llm import BatchError
from vt_core.core.prompts import render
from vt_core.designer.annotations import annotate
from vt_core.designer.patterns import (
    Pattern,
    PatternReport,
    add_pattern,
    cohen_kappa,
    evaluate_patterns,
    get_pattern,
    judge,
    judge_many,
    judgements,
    list_patterns,
    merge_patterns,
    passes,
    pattern_report,
    propose_patterns,
    update_pattern,
)
from vt_core.designer.projects import create_project
from vt_core.designer.transcripts import Turn, get_transcript, save_transcript
from vt_core.optimizer import similarity

GENRES = "The bot asks about the user's favourite genres before recommending"
TOO_MANY = "The bot recommends more than three movies at once"


@pytest.fixture
def project(store):
    return create_project(store, "movies", "Recommend movies that fit the user's taste.", "film fans",
                          "You recommend movies.")


def new_transcript(store, project_id: int, tag: str) -> int:
    """Turns 0 and 2 are the user's, 1 and 3 the bot's; `tag` marks the bot's words."""
    turns = [Turn("user", "Any film tips?"), Turn("assistant", f"Sure [{tag}], what do you like?"),
             Turn("user", "Comedy."), Turn("assistant", f"Try Airplane! [{tag}]")]
    return save_transcript(store, run_id=1, project_id=project_id, version_id=1, persona_id=1, scenario_id=1,
                           seed=0, simulator_model="sim", bot_model="bot", ended_by="user", turns=turns)


def verdict_reply(verdict: str, reason: str = "scripted") -> Reply:
    return Reply(content=json.dumps({"verdict": verdict, "reason": reason}))


def scripted_judge(table: dict[tuple[str, str], str], fail_tags: tuple[str, ...] = ()):
    """A judge server: the verdict for (a word of the pattern's statement, a transcript's tag);
    HTTP 400 (not retried) for transcripts tagged in `fail_tags`."""

    def respond(request: dict) -> Reply:
        system, conversation = request["messages"][0]["content"], request["messages"][-1]["content"]
        if any(f"[{tag}]" in conversation for tag in fail_tags):
            return Reply(status=400)
        for (word, tag), verdict in table.items():
            if word in system and f"[{tag}]" in conversation:
                return verdict_reply(verdict, f"{word} on {tag}")
        return verdict_reply("not_applicable", "no rule")

    return respond


def proposal(*patterns: tuple[str, str]) -> Reply:
    return Reply(content=json.dumps({"patterns": [{"kind": k, "statement": s} for k, s in patterns]}))


# -- pass / fail and agreement ------------------------------------------------------------------


def test_passes():
    assert passes("keep", "exhibited") is True
    assert passes("keep", "not_exhibited") is False
    assert passes("avoid", "exhibited") is False
    assert passes("avoid", "not_exhibited") is True
    assert passes("keep", "not_applicable") is None
    assert passes("avoid", "not_applicable") is None
    with pytest.raises(ValueError, match="unknown pattern kind"):
        passes("prefer", "exhibited")
    with pytest.raises(ValueError, match="unknown verdict"):
        passes("keep", "holds")


def test_cohen_kappa_by_hand():
    # 8 items: 4 both yes, 1 A yes / B no, 1 A no / B yes, 2 both no.
    # p_o = 6/8 = 0.75; p_e = (5/8)(5/8) + (3/8)(3/8) = 34/64; kappa = (0.75 - 34/64) / (30/64) = 14/30.
    pairs = [(True, True)] * 4 + [(True, False), (False, True)] + [(False, False)] * 2
    assert cohen_kappa(pairs) == pytest.approx(7 / 15)
    assert cohen_kappa([(True, True), (False, False)]) == pytest.approx(1.0)
    assert cohen_kappa([(True, False), (False, True)]) == pytest.approx(-1.0)
    # 4 items, A says yes to all, B to half: p_o = 0.5, p_e = 1*0.5 + 0*0.5 = 0.5, kappa = 0.
    assert cohen_kappa([(True, True), (True, True), (True, False), (True, False)]) == pytest.approx(0.0)
    assert cohen_kappa([(True, True)]) is None  # too few items
    assert cohen_kappa([(True, True)] * 5) is None  # p_e = 1: no disagreement possible by chance
    assert cohen_kappa([]) is None


def test_similarity_ignores_case_punctuation_and_filler_words():
    assert similarity("The bot greets the user.", "the BOT greets the user") == 1.0
    assert similarity("The bot greets the user", "The bot thanks the user") < 0.6
    assert similarity(TOO_MANY, "The bot recommends more than 3 movies at once.") >= 0.6


# -- storing and editing ------------------------------------------------------------------------


def test_a_hand_written_pattern_is_accepted_with_its_judge_prompt(store, project):
    pattern = add_pattern(store, project.id, "avoid", f"  {TOO_MANY}  ")
    assert pattern == Pattern(pattern.id, project.id, "avoid", TOO_MANY, "accepted", "designer",
                              render("judge", statement=TOO_MANY), None, 1)
    assert TOO_MANY in pattern.judge_prompt and "not_applicable" in pattern.judge_prompt
    assert get_pattern(store, pattern.id) == pattern
    with pytest.raises(ValueError, match="unknown pattern kind"):
        add_pattern(store, project.id, "prefer", "The bot is nice")
    with pytest.raises(ValueError, match="needs a statement"):
        add_pattern(store, project.id, "keep", "  ")
    with pytest.raises(ValueError, match="unknown pattern status"):
        add_pattern(store, project.id, "keep", "The bot is nice", status="maybe")


def test_list_patterns_by_status(store, project):
    a = add_pattern(store, project.id, "keep", "The bot greets", status="candidate")
    b = add_pattern(store, project.id, "keep", "The bot thanks")
    c = add_pattern(store, project.id, "avoid", "The bot swears", status="rejected")
    assert list_patterns(store, project.id) == [a, b, c]
    assert list_patterns(store, project.id, status="accepted") == [b]
    assert list_patterns(store, project.id, status=("candidate", "rejected")) == [a, c]
    with pytest.raises(ValueError, match="unknown pattern status"):
        list_patterns(store, project.id, status="old")


def test_editing_the_statement_renders_a_new_judge_prompt_and_drops_old_verdicts(store, project, make_llm,
                                                                                 scripted):
    pattern = add_pattern(store, project.id, "keep", "The bot greets", status="candidate")
    t = new_transcript(store, project.id, "a")
    scripted.respond = scripted_judge({("greets", "a"): "exhibited"})
    judge_many(make_llm(), store, [pattern], [t])

    flipped = update_pattern(store, pattern.id, kind="avoid", status="accepted")
    assert (flipped.kind, flipped.status, flipped.judge_prompt) == ("avoid", "accepted", pattern.judge_prompt)
    assert [j.verdict for j in judgements(store, pattern.id)] == ["exhibited"]  # the behaviour is the same
    assert pattern_report(store, pattern.id).failed == 1  # ... but it now counts as a failure

    edited = update_pattern(store, pattern.id, statement="The bot greets the user by name")
    assert edited.judge_prompt == render("judge", statement="The bot greets the user by name")
    assert "by name" in edited.judge_prompt
    assert judgements(store, pattern.id) == []
    with pytest.raises(ValueError, match="use merge_patterns"):
        update_pattern(store, pattern.id, status="merged")


def test_merge_patterns(store, project):
    keep = add_pattern(store, project.id, "keep", "The bot asks about genres")
    a = add_pattern(store, project.id, "keep", "The bot asks which genres the user likes", status="candidate")
    b = add_pattern(store, project.id, "keep", "The bot enquires about genres", status="candidate")
    older = add_pattern(store, project.id, "keep", "The bot asks for genres", status="candidate")
    merge_patterns(store, a.id, [older.id])

    assert merge_patterns(store, keep.id, [a.id, b.id]) == keep
    for pattern_id in (a.id, b.id, older.id):  # `older` follows `a` into `keep`
        merged = get_pattern(store, pattern_id)
        assert (merged.status, merged.merged_into) == ("merged", keep.id)
    with pytest.raises(ValueError, match="into itself"):
        merge_patterns(store, keep.id, [keep.id])
    with pytest.raises(ValueError, match="is merged"):
        merge_patterns(store, a.id, [keep.id])
    other = create_project(store, "other", "g", "a", "p")
    stranger = add_pattern(store, other.id, "keep", "The bot greets")
    with pytest.raises(ValueError, match="another project"):
        merge_patterns(store, keep.id, [stranger.id])
    unmerged = update_pattern(store, b.id, status="candidate")
    assert (unmerged.status, unmerged.merged_into) == ("candidate", None)


# -- proposing ----------------------------------------------------------------------------------


def test_propose_stores_candidates_and_merges_near_duplicates(store, project, make_llm, scripted):
    liked, disliked, odd = (new_transcript(store, project.id, tag) for tag in ("liked", "disliked", "odd"))
    annotate(store, liked, turn_idx=1, label="good", critique="Asks for genres first")
    annotate(store, disliked, turn_idx=3, label="bad", critique="Dumps a list of films",
             rewrite="Try Airplane!, it is a classic comedy.")
    annotate(store, disliked, turn_idx=None, label="bad", critique="Too pushy overall")
    annotate(store, odd, turn_idx=None, label="unrealistic_user")
    existing = add_pattern(store, project.id, "avoid", TOO_MANY)
    add_pattern(store, project.id, "avoid", "The bot uses emojis", status="rejected")
    scripted.script(proposal(
        ("keep", GENRES),
        ("keep", f"{GENRES} anything"),  # a near-duplicate of the first: collapses into it
        ("avoid", "The bot recommends more than 3 movies at once."),  # a near-duplicate of `existing`: dropped
        ("avoid", "The bot uses technical film jargon"),
        ("avoid", "The bot uses emojis"),  # only rejected before: proposed again
    ))

    created = propose_patterns(make_llm(), store, project.id, seed=5)

    assert [(p.kind, p.statement) for p in created] == [
        ("keep", GENRES), ("avoid", "The bot uses technical film jargon"), ("avoid", "The bot uses emojis")]
    for pattern in created:
        assert (pattern.status, pattern.source, pattern.project_id) == ("candidate", "proposed", project.id)
        assert pattern.judge_prompt == render("judge", statement=pattern.statement)
    assert list_patterns(store, project.id, status="candidate") == created
    assert get_pattern(store, existing.id).status == "accepted"

    [request] = scripted.requests
    assert request["seed"] == 5
    prompt = request["messages"][-1]["content"]
    for expected in ("Asks for genres first", "Dumps a list of films", "Too pushy overall",
                     "Try Airplane!, it is a classic comedy.", "[liked]", "[disliked]", TOO_MANY,
                     "Recommend movies that fit the user's taste."):
        assert expected in prompt
    assert "[odd]" not in prompt  # simulator faults are not evidence about the bot
    assert "The bot uses emojis" not in prompt  # rejected patterns are not listed as recorded


def test_propose_needs_annotations_about_the_bot(store, project, make_llm, scripted):
    with pytest.raises(ValueError, match="no annotations to learn from"):
        propose_patterns(make_llm(), store, project.id)
    t = new_transcript(store, project.id, "x")
    annotate(store, t, turn_idx=2, label="unrealistic_user")  # on the simulated user's turn
    annotate(store, t, turn_idx=3, label="good")
    annotate(store, t, turn_idx=3, label=None)  # cleared
    with pytest.raises(ValueError, match="no annotations to learn from"):
        propose_patterns(make_llm(), store, project.id)
    assert scripted.requests == []


# -- judging ------------------------------------------------------------------------------------


def test_judge_sends_the_judge_prompt_and_the_transcript(store, project, make_llm, scripted):
    pattern = add_pattern(store, project.id, "keep", GENRES)
    transcript = get_transcript(store, new_transcript(store, project.id, "a"))
    scripted.script(verdict_reply("exhibited", "BOT [1] asks what the user likes"))

    verdict = judge(make_llm(), pattern, transcript, seed=3)

    assert (verdict.verdict, verdict.reason) == ("exhibited", "BOT [1] asks what the user likes")
    [request] = scripted.requests
    assert request["messages"][0] == {"role": "system", "content": pattern.judge_prompt}
    assert transcript.text() in request["messages"][1]["content"]
    assert (request["temperature"], request["seed"]) == (0.0, 3)


def test_judge_many_stores_and_replaces_verdicts(store, project, make_llm, scripted):
    genres = add_pattern(store, project.id, "keep", GENRES)
    many = add_pattern(store, project.id, "avoid", TOO_MANY)
    a, b = new_transcript(store, project.id, "a"), new_transcript(store, project.id, "b")
    scripted.respond = scripted_judge({("genres", "a"): "exhibited", ("genres", "b"): "not_exhibited",
                                       ("three", "a"): "not_applicable", ("three", "b"): "exhibited"})
    seen = []
    result = judge_many(make_llm(), store, [genres.id, many], [a, get_transcript(store, b)],
                        progress=lambda done, total: seen.append((done, total)))

    assert [(j.pattern_id, j.transcript_id, j.verdict) for j in result] == [
        (genres.id, a, "exhibited"), (genres.id, b, "not_exhibited"),
        (many.id, a, "not_applicable"), (many.id, b, "exhibited")]
    assert seen[0] == (0, 4) and seen[-1] == (4, 4) and len(seen) == 5
    assert [(j.transcript_id, j.verdict, j.reason) for j in judgements(store, genres.id)] == [
        (a, "exhibited", "genres on a"), (b, "not_exhibited", "genres on b")]

    scripted.respond = scripted_judge({("genres", "a"): "not_exhibited"})
    judge_many(make_llm(), store, [genres], [a], seed=1)  # another seed: not answered from the cache
    rows = store.cursor().execute(
        "SELECT transcript_id, verdict FROM judgements WHERE pattern_id = ? ORDER BY transcript_id", [genres.id]
    ).fetchall()
    assert rows == [(a, "not_exhibited"), (b, "not_exhibited")]


def test_judge_many_stores_the_successes_then_raises(store, project, make_llm, scripted):
    genres = add_pattern(store, project.id, "keep", GENRES)
    good, broken = new_transcript(store, project.id, "good"), new_transcript(store, project.id, "broken")
    scripted.respond = scripted_judge({("genres", "good"): "exhibited"}, fail_tags=("broken",))

    with pytest.raises(BatchError) as raised:
        judge_many(make_llm(), store, [genres], [good, broken])

    assert [type(r).__name__ for r in raised.value.results] == ["Judgement", "LLMError"]
    assert [(j.transcript_id, j.verdict) for j in judgements(store, genres.id)] == [(good, "exhibited")]
    assert sorted(status for (status,) in llm_calls(store)) == ["error", "ok"]


# -- reports ------------------------------------------------------------------------------------


def test_report_counts_evidence_and_agreement_on_a_worked_case(store, project, make_llm, scripted):
    """An 'avoid' pattern, so the judge's pass is 'not_exhibited'. Designer against judge:
        t1-t4 good/pass, t5 good/fail, t6 bad/pass, t7-t8 bad/fail   -> the 8 agreement items
        t9 bad/not_applicable, t10 unrealistic_user/fail              -> support only
        t11 unannotated                                               -> not judged at all
    n = 8, raw agreement 6/8, kappa 7/15 (worked in test_cohen_kappa_by_hand).
    """
    t = {i: new_transcript(store, project.id, f"t{i}") for i in range(1, 12)}
    for i in (1, 2):
        annotate(store, t[i], turn_idx=None, label="good")
    for i in (3, 4, 5):
        annotate(store, t[i], turn_idx=1, label="good")
        annotate(store, t[i], turn_idx=3, label="good")
    annotate(store, t[6], turn_idx=None, label="bad")
    annotate(store, t[7], turn_idx=1, label="good")
    annotate(store, t[7], turn_idx=3, label="bad")
    annotate(store, t[8], turn_idx=3, label="bad")
    annotate(store, t[9], turn_idx=None, label="bad")
    annotate(store, t[10], turn_idx=None, label="unrealistic_user")
    pattern = add_pattern(store, project.id, "avoid", TOO_MANY, status="candidate")
    table = {("three", f"t{i}"): "not_exhibited" for i in (1, 2, 3, 4, 6)}
    table |= {("three", f"t{i}"): "exhibited" for i in (5, 7, 8, 10)}
    table[("three", "t9")] = "not_applicable"
    scripted.respond = scripted_judge(table)

    [report] = evaluate_patterns(make_llm(), store, project.id)

    assert report == PatternReport(
        pattern_id=pattern.id, passed=5, failed=4, not_applicable=1,
        evidence_for=[t[1], t[2], t[3], t[4], t[6]], evidence_against=[t[5], t[7], t[8], t[10]],
        agreement_n=8, raw_agreement=0.75, kappa=pytest.approx(7 / 15))
    assert not any("[t11]" in r["messages"][-1]["content"] for r in scripted.requests)
    assert pattern_report(store, pattern.id) == report


def test_evaluate_defaults_to_candidate_and_accepted_patterns(store, project, make_llm, scripted):
    t = new_transcript(store, project.id, "a")
    annotate(store, t, turn_idx=1, label="good")
    accepted = add_pattern(store, project.id, "keep", "The bot greets")
    candidate = add_pattern(store, project.id, "keep", "The bot thanks", status="candidate")
    add_pattern(store, project.id, "keep", "The bot waves", status="rejected")
    scripted.respond = scripted_judge({("greets", "a"): "exhibited", ("thanks", "a"): "not_exhibited"})

    reports = evaluate_patterns(make_llm(), store, project.id)

    assert [(r.pattern_id, r.passed, r.failed) for r in reports] == [(accepted.id, 1, 0), (candidate.id, 0, 1)]
    assert (reports[0].agreement_n, reports[0].raw_agreement, reports[0].kappa) == (1, 1.0, None)
    assert len(scripted.requests) == 2
    other = create_project(store, "other", "g", "a", "p")
    with pytest.raises(ValueError, match="another project"):
        evaluate_patterns(make_llm(), store, other.id, [accepted.id])


def test_a_pattern_never_judged_has_an_empty_report(store, project):
    pattern = add_pattern(store, project.id, "keep", "The bot greets")
    assert pattern_report(store, pattern.id) == PatternReport(pattern.id, 0, 0, 0, [], [], 0, None, None)


# -- the real embedded model --------------------------------------------------------------------


@pytest.mark.embedded
def test_the_embedded_model_proposes_and_judges(tmp_path):
    """Structure only: the toy model's words mean nothing."""
    from vt_core.core.config import Settings
    from vt_core.core.llm import LLM
    from vt_core.core.llm.calls import call_log
    from vt_core.core.store import Store
    from vt_core.designer.scenarios import propose_scenarios

    settings = Settings.from_env({"VT_DB_PATH": str(tmp_path / "x.duckdb")})
    store = Store(settings.db_path)
    try:
        llm = LLM.from_settings(settings, store)
        assert llm.backend.kind == "embedded"
        project = create_project(store, "movies", "Recommend movies.", "film fans",
                                 "You recommend movies. Ask about genres first. Never list more than three.")

        drafts = propose_scenarios(llm, project.goal, "You recommend movies. Ask about genres first.", 2, seed=1)
        assert len(drafts) <= 2
        for draft in drafts:
            assert draft.difficulty in (1, 2, 3) and isinstance(draft.covered, bool)
            assert draft.title and isinstance(draft.rules, list)

        t = new_transcript(store, project.id, "a")
        annotate(store, t, turn_idx=3, label="bad", critique="Recommends without asking about genres.")
        created = propose_patterns(llm, store, project.id, seed=1)
        for pattern in created:
            assert pattern.kind in ("keep", "avoid") and pattern.statement
            assert (pattern.status, pattern.source) == ("candidate", "proposed")
            assert pattern.statement in pattern.judge_prompt

        pattern = created[0] if created else add_pattern(store, project.id, "keep", GENRES)
        verdict = judge(llm, pattern, get_transcript(store, t))
        assert verdict.verdict in ("exhibited", "not_exhibited", "not_applicable")
        assert isinstance(verdict.reason, str)
    finally:
        call_log(store).close()
        store.close()
