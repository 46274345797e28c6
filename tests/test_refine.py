"""The whole designer loop against a scripted model whose bot uses emojis unless its system
prompt forbids them: the loop must find that anti-behaviour from the designer's marks, write a
prompt that forbids it, and show a higher pass rate for it, on held-out scenarios too."""

import pytest

from tests.scripted_server import Reply
from tests.scripted_worlds import PROMPT, RULE, EmojiWorld
from vt_core.designer.annotations import annotate
from vt_core.designer.patterns import add_pattern, evaluate_patterns, propose_patterns, update_pattern
from vt_core.designer.personas import generate_personas
from vt_core.designer.projects import (
    add_version,
    create_project,
    current_version,
    get_project,
    update_project,
    versions,
)
from vt_core.designer.refinement import (
    RefineError,
    apply_guards,
    approve,
    copied_text,
    get_candidate,
    leaderboard,
    linked_diff,
    list_refine_runs,
    refine,
)
from vt_core.designer.scenarios import add_scenario
from vt_core.designer.selfplay import plan_for_project, run_conversations
from vt_core.designer.transcripts import Turn, get_transcript, list_transcripts, save_transcript
from vt_core.optimizer import restore_locked


@pytest.fixture
def project(store):
    project = create_project(store, "Movie bot", goal="recommend films", audience="film fans", prompt=PROMPT)
    update_project(store, project.id, locked_sections=["Persona"])
    generate_personas(store, project.id, 2, seed=0)
    for i, split in enumerate(["train", "train", "heldout"]):
        add_scenario(store, project.id, title=f"s{i}", description=f"situation {i}", user_goal="a film",
                     difficulty=1, split=split)
    return get_project(store, project.id)


def test_the_loop_finds_the_anti_behaviour_and_fixes_it(store, make_llm, scripted, project):
    scripted.respond = world = EmojiWorld()
    llm = make_llm()
    first_version = current_version(store, project.id)

    # Self-play and the designer's marks.
    run = run_conversations(store, llm, project.id, plan_for_project(store, project.id, 2, seed=1),
                            max_turns=1, seed=1, version_id=first_version.id)
    marked = get_transcript(store, run.transcript_ids[0])
    assert "🎬" in marked.turns[1].content
    annotate(store, marked.id, turn_idx=1, label="bad", critique="No emojis, please.")
    annotate(store, marked.id, turn_idx=None, label="bad")

    # Pattern discovery finds it, the judge agrees with the designer, the designer accepts it.
    [pattern] = propose_patterns(llm, store, project.id)
    assert (pattern.kind, pattern.status) == ("avoid", "candidate")
    [report] = evaluate_patterns(llm, store, project.id)
    assert (report.passed, report.failed, report.evidence_against) == (0, 1, [marked.id])
    update_pattern(store, pattern.id, status="accepted")

    # Refinement writes a prompt that forbids it and scores it higher, held-out too.
    stages = []
    result = refine(store, llm, project.id, rounds=2, k=2, n_train=2, n_heldout=1, max_turns=1, seed=3,
                    progress=lambda stage, done, total: stages.append(stage))
    board = leaderboard(store, result.refine_run_id)
    baseline = next(c for c in board if c.status == "baseline")
    assert (baseline.train_pass, baseline.heldout_pass) == (0.0, 0.0)
    assert result.best.status == "evaluated" and result.best.round == 1
    assert (result.best.train_pass, result.best.heldout_pass) == (1.0, 1.0)
    assert result.best.pass_by_pattern == {str(pattern.id): {"train": 1.0, "heldout": 1.0}}
    assert result.best.quality == 5.0
    assert RULE in result.best.text
    assert "a film expert" in result.best.text and "cheerful" not in result.best.text  # locked section held
    assert any("restored locked section 'Persona'" in note for note in result.best.guard_notes)
    assert result.stopped.startswith("round 2: the best candidate did not raise the held-out pass rate")
    assert world.writer_calls == 4
    assert any(stage.startswith("baseline: self-play on train") for stage in stages)

    # The candidates played the baseline's conversations: same personas, scenarios and seeds.
    runs = store.cursor().execute(
        "SELECT id, candidate_id FROM selfplay_runs WHERE purpose = 'refine' ORDER BY id").fetchall()
    plays = {run_id: [(t.persona_id, t.scenario_id, t.seed) for t in list_transcripts(store, project.id, run_id=run_id)]
             for run_id, _ in runs}
    baseline_train = plays[runs[0][0]]
    candidate_train = plays[next(r for r, c in runs if c == result.best.id)]
    assert candidate_train == baseline_train

    # The diff links the added rule to the pattern behind it.
    [added] = [h for h in linked_diff(result.best) if h.hunk.tag != "equal"]
    assert added.hunk.new == [RULE]
    assert added.changes[0]["pattern_ids"] == [pattern.id]

    # Nothing is current until the designer approves; then it is a new version.
    assert current_version(store, project.id).id == first_version.id
    version = approve(store, result.best.id)
    assert current_version(store, project.id).id == version.id
    assert (version.author, version.parent_id, version.pattern_ids) == ("refinement", first_version.id, [pattern.id])
    assert version.text == result.best.text
    assert [(v.id, v.number) for v in versions(store, project.id)] == [(first_version.id, 1), (version.id, 2)]
    assert [r.number for r in list_refine_runs(store, project.id)] == [1]
    # Only the designer's own conversations are numbered: refinement's are not, and take no numbers.
    assert [t.number for t in list_transcripts(store, project.id)
            if t.run_id not in [r for r, _ in runs]] == [1, 2]
    assert {t.number for r, _ in runs for t in list_transcripts(store, project.id, run_id=r)} == {None}
    with pytest.raises(RefineError, match="approved"):
        approve(store, result.best.id)


def test_refinement_needs_accepted_patterns_and_held_out_scenarios(store, make_llm, project):
    with pytest.raises(RefineError, match="accept at least one pattern"):
        refine(store, make_llm(), project.id)
    bare = create_project(store, "bare", goal="g", audience="a", prompt="p")
    add_pattern(store, bare.id, "avoid", "The bot uses emojis")
    generate_personas(store, bare.id, 1, seed=0)
    add_scenario(store, bare.id, title="t", description="d", user_goal="g", difficulty=1, split="train")
    with pytest.raises(RefineError, match="held-out"):
        refine(store, make_llm(), bare.id)


def test_locked_sections_are_restored_even_when_dropped(project):
    candidate = "# Rules\nRecommend two films.\n"
    text, notes = restore_locked(PROMPT, candidate, ["Persona"])
    assert "# Persona\nYou are MovieBot, a film expert.\n" in text and "Recommend two films." in text
    assert notes == ["restored locked section 'Persona', which the candidate had dropped"]
    unchanged, none = restore_locked(PROMPT, PROMPT, ["Persona"])
    assert (unchanged, none) == (PROMPT, [])


def test_the_token_budget_rejects_a_long_candidate(store, project):
    project = update_project(store, project.id, prompt_token_budget=60)
    long = PROMPT + "\n".join(f"- rule number {i} about films" for i in range(40))
    text, notes, rejected = apply_guards(project, PROMPT, long, [])
    assert rejected and "over the budget of 60" in notes[-1]
    _, _, fits = apply_guards(project, PROMPT, PROMPT + RULE, [])
    assert fits is False


def test_conversation_text_copied_into_a_candidate_is_rejected(store, project):
    transcript_id = save_transcript(
        store, run_id=1, project_id=project.id, version_id=1, persona_id=1, scenario_id=1, seed=0,
        simulator_model="m", bot_model="m", ended_by="user",
        turns=[Turn("user", "I loved the long slow ending of that strange Swedish vampire film"),
               Turn("assistant", "Then try Let the Right One In.")])
    transcripts = [get_transcript(store, transcript_id)]
    copying = PROMPT + "- If a user loved the long slow ending of that strange Swedish vampire film, agree.\n"
    assert copied_text(copying, PROMPT, transcripts) == "loved the long slow ending of that strange"
    _, notes, rejected = apply_guards(project, PROMPT, copying, transcripts)
    assert rejected and "copies conversation text" in notes[-1]
    assert copied_text(PROMPT + RULE, PROMPT, transcripts) is None


class FlakyRater(EmojiWorld):
    """The emoji world, but the quality rater's first two replies (one rating and its corrective
    retry) are not JSON."""

    def __init__(self):
        super().__init__()
        self.ratings = 0

    def __call__(self, request):
        if request["messages"][0]["content"].startswith("Rate the overall quality"):
            self.ratings += 1
            if self.ratings <= 2:
                return Reply(content="I would say it was fine overall.")
        return super().__call__(request)


def test_a_few_unusable_judge_replies_are_left_out_not_fatal(store, make_llm, scripted, project):
    scripted.respond = FlakyRater()
    llm = make_llm({"VT_CONCURRENCY": "1"})  # one call at a time: the first rating is the one that fails
    add_pattern(store, project.id, "avoid", "The bot uses emojis in its replies")
    result = refine(store, llm, project.id, rounds=1, k=1, n_train=2, n_heldout=1, max_turns=1, seed=0)
    baseline = next(c for c in leaderboard(store, result.refine_run_id) if c.status == "baseline")
    assert baseline.guard_notes[0].startswith("1 of 3 quality ratings failed and are left out of the scores")
    assert baseline.quality == 5.0  # the mean of the two ratings that came back
    assert result.best.status == "evaluated" and result.best.heldout_pass == 1.0


class TimeoutOnce(EmojiWorld):
    """The emoji world, but the bot's first reply under a candidate prompt never comes in time,
    on every attempt: one of the candidate's conversations fails for good."""

    def __init__(self, attempts: int):
        super().__init__()
        self.stalls_left = attempts

    def __call__(self, request):
        first = request["messages"][0]["content"]
        if "Never use emojis" in first and request["messages"][0]["role"] == "system" and self.stalls_left:
            self.stalls_left -= 1
            return Reply(delay_s=3.0)
        return super().__call__(request)


def test_one_failed_conversation_leaves_the_candidate_scored_on_the_rest(store, make_llm, scripted, project):
    scripted.respond = TimeoutOnce(attempts=2)
    llm = make_llm({"VT_CONCURRENCY": "1", "VT_LLM_ATTEMPTS": "2"}, timeout_s=0.5)
    add_pattern(store, project.id, "avoid", "The bot uses emojis in its replies")
    result = refine(store, llm, project.id, rounds=1, k=1, n_train=2, n_heldout=1, max_turns=1, seed=0)

    run = next(r for r in list_refine_runs(store, project.id) if r.id == result.refine_run_id)
    assert (run.status, run.error) == ("done", None)
    candidate = result.best
    assert candidate.status == "evaluated" and candidate.heldout_pass == 1.0 and candidate.train_pass == 1.0
    [note] = [n for n in candidate.guard_notes if n.startswith("scored without")]
    assert note.startswith("scored without 1 of 2 conversations on train scenarios, which failed (first: ")
    assert f"endpoint {scripted.url}" in note and "timed out after 0.5 s after 2 attempts" in note
    assert len([t for t in list_transcripts(store, project.id) if t.candidate_id == candidate.id]) == 2


def stored_candidate(store, project, *, run_status: str = "done") -> int:
    """An evaluated candidate of a refinement run on the current version, written as a run writes it."""
    parent = current_version(store, project.id)
    run_id = store.cursor().execute(
        "INSERT INTO refine_runs (project_id, parent_version_id, rounds, candidates, seed, status)"
        " VALUES (?, ?, 1, 1, 0, ?) RETURNING id", [project.id, parent.id, run_status]).fetchone()[0]
    return store.cursor().execute(
        "INSERT INTO candidates (refine_run_id, round, parent_text, text, changes, status)"
        " VALUES (?, 1, ?, ?, '[]', 'evaluated') RETURNING id", [run_id, parent.text, parent.text + RULE]).fetchone()[0]


def test_a_candidate_of_a_failed_run_cannot_be_approved(store, project):
    candidate_id = stored_candidate(store, project, run_status="failed")
    with pytest.raises(RefineError, match="is failed; only the candidates of a finished run"):
        approve(store, candidate_id)
    assert len(versions(store, project.id)) == 1


def test_approval_never_replaces_a_newer_version(store, project):
    candidate_id = stored_candidate(store, project)
    refined = current_version(store, project.id)
    newer = add_version(store, project.id, PROMPT + "The designer's own edit.\n", author="designer", make_current=True)
    with pytest.raises(RefineError, match=f"the current prompt is v{newer.id}, but run .* refined v{refined.id}"):
        approve(store, candidate_id)
    assert current_version(store, project.id).id == newer.id and len(versions(store, project.id)) == 2
    assert leaderboard(store, get_candidate(store, candidate_id).refine_run_id)[0].status == "evaluated"


def test_approval_is_one_transaction(store, project, monkeypatch):
    candidate_id = stored_candidate(store, project)
    before = current_version(store, project.id)

    def broken_set_current(*args, **kwargs):  # the second of the approval's writes fails
        raise RuntimeError("disk full")

    monkeypatch.setattr("vt_core.designer.projects.set_current", broken_set_current)
    with pytest.raises(RuntimeError, match="disk full"):
        approve(store, candidate_id)
    assert [v.id for v in versions(store, project.id)] == [before.id]  # the new version was rolled back
    assert get_candidate(store, candidate_id).status == "evaluated"
    monkeypatch.undo()
    assert approve(store, candidate_id).text == before.text + RULE


def test_removal_measures_what_a_candidate_takes_out():
    from vt_core.designer import REMOVED_SHARE_WARNING, removal

    parent = "# Persona\nYou are MovieBot, a film expert.\n\n# Rules\nRecommend one film at a time.\n"
    assert removal(parent, parent + "- Never use emojis.\n").removed_share == 0 and not removal(parent, parent).gutted
    reworded = removal(parent, parent.replace("You are MovieBot, a film expert.", "You are MovieBot."))
    assert reworded.dropped_sections == [] and 0 < reworded.removed_share < REMOVED_SHARE_WARNING
    assert not reworded.gutted and reworded.removed_lines == ["You are MovieBot, a film expert."]
    cut = removal(parent, "# Persona\nYou are MovieBot, a film expert.\n")
    assert cut.gutted and cut.dropped_sections == ["Rules"] and cut.removed_lines == ["", "# Rules",
                                                                                    "Recommend one film at a time."]
    shortened = removal(parent, "# Persona\nYou are MovieBot.\n\n# Rules\nOne film.\n")
    assert shortened.dropped_sections == [] and shortened.gutted  # no section gone, but over the share
