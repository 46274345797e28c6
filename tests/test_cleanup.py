"""Keep and clean: archiving hides and keeps; deleting removes a row and what belongs only to it, in one
transaction, and is refused, with the reason, for what a rating study or a user study uses."""

import pytest

from tests.scripted_worlds import PROMPT, EmojiWorld
from tests.test_studies import minimal
from tests.test_userstudy import T0, make_study
from vt_core.crowd.items import add_items_from_selfplay, list_items
from vt_core.crowd.studies import create_study, parse_study
from vt_core.designer import (
    CleanupError,
    archive,
    blockers,
    delete,
    list_personas,
    list_projects,
    list_refine_runs,
    list_scenarios,
    list_selfplay_runs,
    plan_for_project,
)
from vt_core.designer.annotations import annotate
from vt_core.designer.patterns import add_pattern, judge_many
from vt_core.designer.personas import add_persona
from vt_core.designer.playground import add_message
from vt_core.designer.projects import add_version, create_project, get_project
from vt_core.designer.refinement import judge_quality, refine
from vt_core.designer.scenarios import add_scenario
from vt_core.designer.selfplay import Conversation, run_conversations
from vt_core.designer.transcripts import DESIGNER_TRANSCRIPT_IDS, get_transcript, list_transcripts
from vt_core.userstudy import participants, start_task

pytestmark = pytest.mark.both_backends

DEPENDENTS = ("turns", "annotations", "judgements", "quality_scores")


def rows(store, table: str, column: str, ids: list[int]) -> int:
    return store.cursor().execute(f"SELECT count(*) FROM {table} WHERE {column} = ANY(CAST(? AS BIGINT[]))",
                                  [ids]).fetchone()[0]


def dependents(store, transcript_ids: list[int]) -> dict[str, int]:
    return {table: rows(store, table, "transcript_id", transcript_ids) for table in DEPENDENTS}


@pytest.fixture
def world(store, make_llm, scripted):
    """A project whose persona Ann plays in a rating study's items; Bob's transcript is marked, judged and
    rated, but no study uses it."""
    scripted.respond = EmojiWorld()
    llm = make_llm()
    project = create_project(store, "Movie bot", goal="recommend films", audience="film fans", prompt=PROMPT)
    tuned = add_version(store, project.id, PROMPT + "- Never use emojis.\n", author="designer")
    ann = add_persona(store, project.id, "Ann", {"mood": "calm"})
    scenario = add_scenario(store, project.id, title="Tonight", description="wants a film", user_goal="a film",
                            difficulty=1)
    conditions = [{"name": "baseline", "project": project.name, "version": project.current_version_id},
                  {"name": "tuned", "project": project.name, "version": tuned.id}]
    study = create_study(store, parse_study(minimal(name="X", conditions=conditions)))
    add_items_from_selfplay(store, llm, study, n=2, max_turns=1, seed=0)  # Ann is the only persona yet

    bob = add_persona(store, project.id, "Bob", {"mood": "grumpy"})
    run = run_conversations(store, llm, project.id, [Conversation(bob, scenario, 5), Conversation(bob, scenario, 6)],
                            max_turns=1, seed=5, version_id=tuned.id)
    transcripts = [t for t in list_transcripts(store, project.id) if t.id in run.transcript_ids]
    annotate(store, transcripts[0].id, turn_idx=1, label="bad", critique="emoji")
    pattern = add_pattern(store, project.id, "avoid", "The bot uses emojis")
    judge_many(llm, store, [pattern], transcripts)
    judge_quality(llm, store, transcripts)
    return dict(project=project, ann=ann, bob=bob, scenario=scenario, study=study, run=run.run_id,
                bob_transcripts=run.transcript_ids, llm=llm)


def test_deleting_a_persona_in_a_rating_study_is_refused_with_the_reason(store, world):
    items = len(list_items(store, world["study"].id, kind="regular"))
    assert items == 4
    with pytest.raises(CleanupError) as refused:
        delete(store, "persona", world["ann"].id)
    assert f"persona 'Ann' is used by rating study 'X' ({items} items)" in str(refused.value)
    assert "Archive it to hide it instead" in str(refused.value)
    assert [p.name for p in list_personas(store, world["project"].id)] == ["Ann", "Bob"]
    # So are its scenario, a transcript of the study, its run, and the project the study plays.
    item = list_items(store, world["study"].id, kind="regular")[0]
    assert blockers(store, "scenario", world["scenario"].id) == [f"scenario 'Tonight' is used by rating study 'X' "
                                                                 f"({items} items)"]
    assert blockers(store, "transcript", item.transcript_id) == [
        f"transcript #{get_transcript(store, item.transcript_id).number} is used by rating study 'X' (1 item)"]
    reasons = blockers(store, "project", world["project"].id)
    assert "project 'Movie bot' is played by rating study 'X' (conditions baseline, tuned)" in reasons


def test_deleting_an_unused_persona_removes_its_transcripts_and_what_hangs_on_them(store, world):
    bob, ids = world["bob"], world["bob_transcripts"]
    assert all(n > 0 for n in dependents(store, ids).values())  # marked, judged, rated
    others = [t.id for t in list_transcripts(store, world["project"].id) if t.id not in ids]
    kept = dependents(store, others)

    deleted = delete(store, "persona", bob.id)

    assert (deleted.label, deleted.transcripts) == ("persona 'Bob'", 2)
    assert [p.name for p in list_personas(store, world["project"].id, include_archived=True)] == ["Ann"]
    assert rows(store, "transcripts", "id", ids) == 0
    assert dependents(store, ids) == dict.fromkeys(DEPENDENTS, 0)
    assert dependents(store, others) == kept and rows(store, "transcripts", "id", others) == len(others)


def test_a_delete_is_one_transaction(store, world):
    """A study item made inside the same transaction as the delete's check refuses it: nothing is removed."""
    ids = world["bob_transcripts"]
    before = dependents(store, ids)

    def add_item_then_delete(db):
        db.execute("INSERT INTO study_items (study_id, condition, kind, transcript_id, turns) VALUES (?, 'tuned',"
                   " 'regular', ?, '[]')", [world["study"].id, ids[0]])
        db.execute("DELETE FROM turns WHERE transcript_id = ?", [ids[1]])  # a first change the refusal undoes
        delete(store, "persona", world["bob"].id)

    with pytest.raises(CleanupError, match="persona 'Bob' is used by rating study 'X' \\(1 item\\)"):
        store.transaction(add_item_then_delete)
    assert dependents(store, ids) == before and rows(store, "transcripts", "id", ids) == 2


def test_archive_hides_from_lists_and_new_plans_and_keeps_everything(store, world):
    pid, bob = world["project"].id, world["bob"]
    archive(store, "persona", bob.id)
    assert [p.name for p in list_personas(store, pid)] == ["Ann"]
    assert [p.name for p in list_personas(store, pid, include_archived=True)] == ["Ann", "Bob"]
    assert {c.persona.name for c in plan_for_project(store, pid, 6, seed=1)} == {"Ann"}
    assert rows(store, "transcripts", "id", world["bob_transcripts"]) == 2  # kept

    archive(store, "selfplay_run", world["run"])
    assert world["run"] not in [r.id for r in list_selfplay_runs(store, pid)]
    assert not set(world["bob_transcripts"]) & {t.id for t in list_transcripts(store, pid)}
    designer = {r[0] for r in store.cursor().execute(DESIGNER_TRANSCRIPT_IDS).fetchall()}
    assert not set(world["bob_transcripts"]) & designer
    assert set(world["bob_transcripts"]) <= {t.id for t in list_transcripts(store, pid, include_archived=True)}

    archive(store, "scenario", world["scenario"].id)
    assert list_scenarios(store, pid) == [] and len(list_scenarios(store, pid, include_archived=True)) == 1
    archive(store, "project", pid)
    assert list_projects(store) == [] and [p.name for p in list_projects(store, include_archived=True)] == ["Movie bot"]
    archive(store, "project", pid, archived=False)  # and back
    assert [p.name for p in list_projects(store)] == ["Movie bot"]
    with pytest.raises(CleanupError, match="no persona 99999"):
        archive(store, "persona", 99999)


def test_deleting_a_selfplay_run_removes_its_transcripts(store, world):
    delete(store, "selfplay_run", world["run"])
    assert rows(store, "transcripts", "id", world["bob_transcripts"]) == 0
    assert dependents(store, world["bob_transcripts"]) == dict.fromkeys(DEPENDENTS, 0)
    assert world["run"] not in [r.id for r in list_selfplay_runs(store, world["project"].id, include_archived=True)]


def test_deleting_a_refinement_run_removes_its_candidates_and_conversations(store, world):
    pid = world["project"].id
    add_scenario(store, pid, title="Held", description="held out", user_goal="a film", difficulty=1,
                 split="heldout")
    selfplay_before = {r.id for r in list_selfplay_runs(store, pid, purpose=None)}
    result = refine(store, world["llm"], pid, rounds=1, k=1, n_train=1, n_heldout=1, max_turns=1, seed=3)
    played = {r.id for r in list_selfplay_runs(store, pid, purpose=None)} - selfplay_before
    assert len(played) == 4  # the baseline and the candidate, each on training and held-out scenarios

    delete(store, "refine_run", result.refine_run_id)

    assert list_refine_runs(store, pid, include_archived=True) == []
    assert {r.id for r in list_selfplay_runs(store, pid, purpose=None)} == selfplay_before
    assert rows(store, "candidates", "refine_run_id", [result.refine_run_id]) == 0
    assert rows(store, "transcripts", "run_id", list(played)) == 0


def test_deleting_a_project_removes_all_of_it_and_nothing_else(store, make_llm, scripted):
    scripted.respond = EmojiWorld()
    llm = make_llm()
    tables = ("projects", "prompt_versions", "personas", "scenarios", "patterns", "selfplay_runs", "transcripts",
              "turns", "annotations", "judgements", "quality_scores", "project_counters", "playground_chats",
              "playground_turns")

    def counts():
        return {t: store.cursor().execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}

    made = []
    for name in ("Keep me", "Drop me"):
        project = create_project(store, name, goal="g", audience="a", prompt=PROMPT)
        persona = add_persona(store, project.id, "Ann", {})
        scenario = add_scenario(store, project.id, title="t", description="d", user_goal="u", difficulty=1)
        run = run_conversations(store, llm, project.id, [Conversation(persona, scenario, 1)], max_turns=1, seed=1,
                                version_id=project.current_version_id)
        annotate(store, run.transcript_ids[0], turn_idx=1, label="good")
        pattern = add_pattern(store, project.id, "keep", "The bot names a film")
        judge_many(llm, store, [pattern], list_transcripts(store, project.id))
        add_message(store, project.id, "Hello")  # a Playground chat
        made.append((project, counts()))
    (kept, alone), (dropped, both) = made

    delete(store, "project", dropped.id)

    assert counts() == alone
    assert [p.name for p in list_projects(store, include_archived=True)] == ["Keep me"]


def test_a_project_in_a_user_study_is_not_deleted(store):
    study = make_study(store)
    step = start_task(store, participants(store, study.id)[0], 1, T0)
    name = get_project(store, step.record.project_id).name
    assert blockers(store, "project", step.record.project_id) == [
        f"project {name!r} holds the work of participant P01 (tool) in user study {study.name!r}"]
    with pytest.raises(CleanupError, match="holds the work of participant P01"):
        delete(store, "project", step.record.project_id)
