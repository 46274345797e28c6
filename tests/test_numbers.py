"""Numbers a designer reads: versions, self-play runs and transcripts count from 1 within their project,
whatever the global ids, also when writers race and on a database made before the numbers existed."""

import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.scripted_server import Reply
from vt_core.core.store import MIGRATIONS_DIR, Store
from vt_core.designer.personas import generate_personas
from vt_core.designer.projects import add_version, create_project, versions
from vt_core.designer.scenarios import add_scenario
from vt_core.designer.selfplay import list_selfplay_runs, plan_for_project, run_conversations
from vt_core.designer.transcripts import list_transcripts

pytestmark = pytest.mark.both_backends


def make_project(store, name):
    project = create_project(store, name, goal="recommend movies", audience="film fans", prompt="You recommend.")
    generate_personas(store, project.id, 2, seed=1)
    add_scenario(store, project.id, title="a night in", description="tired", user_goal="a film", difficulty=1)
    return project


def play(store, llm, project, n, seed=0):
    plan = plan_for_project(store, project.id, n, seed=seed)
    return run_conversations(store, llm, project.id, plan, max_turns=1, seed=seed,
                             version_id=versions(store, project.id)[-1].id)


def test_a_second_project_numbers_its_versions_runs_and_transcripts_from_one(store, make_llm, scripted):
    scripted.respond = lambda request: Reply(content="fine, thanks")
    llm = make_llm()
    first = make_project(store, "First bot")
    add_version(store, first.id, "You recommend films.", author="designer")
    play(store, llm, first, 3)

    second = make_project(store, "Second bot")
    assert [v.number for v in versions(store, second.id)] == [1]
    assert versions(store, second.id)[0].id > versions(store, first.id)[-1].id  # the global ids go on
    play(store, llm, second, 2)
    add_version(store, second.id, "You recommend films kindly.", author="designer")
    play(store, llm, second, 2, seed=1)

    assert [v.number for v in versions(store, second.id)] == [1, 2]
    assert [r.number for r in list_selfplay_runs(store, second.id)] == [2, 1]  # newest first
    transcripts = list_transcripts(store, second.id)
    assert [t.number for t in transcripts] == [1, 2, 3, 4]
    assert [t.number for t in list_transcripts(store, first.id)] == [1, 2, 3]


def test_versions_saved_at_once_get_distinct_numbers(store):
    project = create_project(store, "Movie bot", goal="g", audience="a", prompt="v1")
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda i: add_version(store, project.id, f"text {i}", author="designer"), range(6)))
    assert sorted(v.number for v in versions(store, project.id)) == [1, 2, 3, 4, 5, 6, 7]


def test_a_database_made_before_the_numbers_gets_them_in_id_order(store_target, tmp_path):
    older = tmp_path / "migrations"
    older.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql"))[:8]:
        shutil.copy(path, older)
    store = Store(store_target, migrations_dir=older)
    db = store.cursor()
    for project_id in (7, 9):
        for text in ("one", "two"):
            db.execute("INSERT INTO prompt_versions (project_id, text, author) VALUES (?, ?, 'designer')",
                       [project_id, text])
    store.close()

    store = Store(store_target)
    assert [v.number for v in versions(store, 9)] == [1, 2]
    project = create_project(store, "Movie bot", goal="g", audience="a", prompt="v1")
    version = add_version(store, 7, "three", author="designer", parent_id=versions(store, 7)[-1].id)
    assert version.number == 3 and versions(store, project.id)[0].number == 1
