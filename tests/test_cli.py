"""`python -m vt_core` commands (doctor, the designer loop, worker), run as a user would, in a subprocess."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.scripted_server import Reply, ScriptedServer
from tests.scripted_worlds import PROMPT, RULE, EmojiWorld
from vt_core.core.jobs import get_job, worker_name
from vt_core.core.store import Store, discover_migrations
from vt_core.designer import list_selfplay_runs, plan_for_project, submit_selfplay
from vt_core.designer.annotations import annotate
from vt_core.designer.patterns import list_patterns, update_pattern
from vt_core.designer.personas import generate_personas
from vt_core.designer.projects import create_project, current_version
from vt_core.designer.scenarios import add_scenario
from vt_core.designer.transcripts import list_transcripts

ROOT = Path(__file__).resolve().parent.parent


def cli(args: list[str], env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "VT_"))}
    env.update({"VT_DB_PATH": str(tmp_path / "vt.duckdb"), **env_extra})
    return subprocess.run([sys.executable, "-m", "vt_core", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def doctor(env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    return cli(["doctor"], env_extra, tmp_path)


def test_doctor_with_a_scripted_endpoint(tmp_path):
    with ScriptedServer(Reply(content="ready")) as server:
        result = doctor({"OPENAI_BASE_URL": server.url}, tmp_path)
        assert len(server.requests) == 1
    assert result.returncode == 0, result.stderr
    assert f"endpoint {server.url}" in result.stdout
    assert "model:    scripted-model" in result.stdout
    assert f"schema version {len(discover_migrations())}" in result.stdout
    assert "'ready'" in result.stdout


def test_doctor_fails_clearly_when_the_endpoint_errors(tmp_path):
    with ScriptedServer(Reply(status=503)) as server:
        result = doctor({"OPENAI_BASE_URL": server.url, "VT_MODEL": "m", "VT_LLM_ATTEMPTS": "2"}, tmp_path)
        assert len(server.requests) == 2
    assert result.returncode == 1
    assert "doctor: FAILED:" in result.stderr
    assert server.url in result.stderr and "HTTP 503" in result.stderr


def test_doctor_reports_bad_configuration(tmp_path):
    result = doctor({"VT_CONCURRENCY": "many"}, tmp_path)
    assert result.returncode == 1
    assert "VT_CONCURRENCY" in result.stderr


@pytest.mark.embedded
def test_doctor_on_the_embedded_default(tmp_path):
    result = doctor({}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "embedded demo model" in result.stdout
    assert "call:     ok" in result.stdout


def test_the_designer_loop_headless(tmp_path):
    """selfplay, patterns, refine and approve from the command line, as separate processes on
    one database file (DuckDB lets one process at a time open it)."""
    def step(*args):
        result = cli(list(args), {"OPENAI_BASE_URL": server.url}, tmp_path)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]

    store = Store(tmp_path / "vt.duckdb")
    project = create_project(store, "Movie bot", goal="recommend films", audience="fans", prompt=PROMPT)
    generate_personas(store, project.id, 2, seed=0)
    for i, split in enumerate(["train", "heldout"]):
        add_scenario(store, project.id, title=f"s{i}", description=f"situation {i}", user_goal="a film",
                     difficulty=1, split=split)
    store.close()

    with ScriptedServer(respond=EmojiWorld()) as server:
        assert step("selfplay", "--project", "Movie bot", "--n", "2", "--turns", "1").startswith(
            "self-play run 1: 2 transcripts, 4 calls (0 cached)")
        store = Store(tmp_path / "vt.duckdb")
        transcript = list_transcripts(store, project.id)[0]
        annotate(store, transcript.id, turn_idx=1, label="bad", critique="No emojis.")
        store.close()

        assert step("patterns", "--project", "Movie bot") == "patterns: 1 proposed, 1 evaluated for project 'Movie bot'"
        store = Store(tmp_path / "vt.duckdb")
        [pattern] = list_patterns(store, project.id)
        update_pattern(store, pattern.id, status="accepted")
        store.close()

        summary = step("refine", "--project", "Movie bot", "--rounds", "1", "--candidates", "1",
                       "--train", "2", "--heldout", "1", "--turns", "1")
        assert summary.startswith("refine run 1: best candidate 2 (ran every round (1))")
        assert step("approve", "2") == "candidate 2 is now prompt version v2, current for its project"

        # The long commands ran as jobs, in the foreground, recorded like the app's.
        listed = cli(["jobs"], {"OPENAI_BASE_URL": server.url}, tmp_path).stdout.splitlines()
        assert [line.split()[1:3] for line in listed] == [["refine", "done"], ["judge", "done"], ["selfplay", "done"]]
        assert listed[2].split()[3] == "2/2" and listed[2].endswith("Self-play: 2 conversations of v1")

    store = Store(tmp_path / "vt.duckdb")
    assert RULE in current_version(store, project.id).text
    store.close()


def test_a_missing_project_is_a_clear_error(tmp_path):
    result = cli(["selfplay", "--project", "nope"], {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "VT_MODEL": "m"},
                 tmp_path)
    assert result.returncode == 1
    assert "selfplay: FAILED: no project 'nope'" in result.stderr


def test_seed_demo_creates_the_demo_project_once(tmp_path):
    for _ in range(2):
        result = cli(["seed-demo"], {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "VT_MODEL": "m"}, tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "demo project 'Movie night (demo)' is ready (id 1)"
    store = Store(tmp_path / "vt.duckdb")
    designer_runs = {r.id for r in list_selfplay_runs(store, 1)}  # not the conversations of its refinement run
    assert len([t for t in list_transcripts(store, 1) if t.run_id in designer_runs]) == 4
    assert {p.status for p in list_patterns(store, 1)} == {"accepted", "candidate"}
    store.close()


def queued_selfplay(tmp_path: Path, n: int = 2) -> int:
    """A project and a self-play job queued for it, with no process running it; the job's id."""
    store = Store(tmp_path / "vt.duckdb")
    try:
        project = create_project(store, "Movie bot", goal="recommend films", audience="fans", prompt=PROMPT)
        generate_personas(store, project.id, 2, seed=0)
        add_scenario(store, project.id, title="s0", description="situation 0", user_goal="a film", difficulty=1)
        plan = plan_for_project(store, project.id, n, seed=1)
        return submit_selfplay(store, project.id, project.current_version_id, plan, max_turns=1, seed=1).id
    finally:
        store.close()


def finished_job(tmp_path: Path, job_id: int):
    store = Store(tmp_path / "vt.duckdb")
    try:
        job = get_job(store, job_id)
        return job, len(list_transcripts(store, job.project_id))
    finally:
        store.close()


def test_a_worker_process_runs_what_was_queued_and_exits_when_idle(tmp_path):
    job_id = queued_selfplay(tmp_path)
    with ScriptedServer(respond=EmojiWorld()) as server:
        result = cli(["worker", "--until-idle"], {"OPENAI_BASE_URL": server.url}, tmp_path)
    assert result.returncode == 0, result.stderr
    job, transcripts = finished_job(tmp_path, job_id)
    assert (job.status, job.error, transcripts) == ("done", None, 2)
    assert job.worker != worker_name() and f"worker {job.worker}" in result.stderr  # it ran in the worker


def test_a_worker_stopped_with_sigterm_finishes_the_job_it_runs_first(tmp_path):
    job_id = queued_selfplay(tmp_path)
    release = threading.Event()
    world = EmojiWorld()

    def held(request):
        release.wait(30)
        return world(request)

    with ScriptedServer(respond=held) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "VT_"))}
        env.update({"VT_DB_PATH": str(tmp_path / "vt.duckdb"), "OPENAI_BASE_URL": server.url})
        worker = subprocess.Popen([sys.executable, "-m", "vt_core", "worker"], cwd=ROOT, env=env,
                                  stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: server.requests, what="the job's first model call", timeout_s=60)
            worker.send_signal(signal.SIGTERM)  # stop taking jobs; the one running goes on
            time.sleep(0.5)
            assert worker.poll() is None
            release.set()
            assert worker.wait(timeout=60) == 0, worker.stderr.read()
        finally:
            release.set()
            if worker.poll() is None:
                worker.kill()
    job, transcripts = finished_job(tmp_path, job_id)
    assert (job.status, transcripts) == ("done", 2)


def test_project_create_list_export_import_archive_delete(tmp_path):
    """A project made, listed, exported and imported headless; a second database takes the export."""
    offline = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "VT_MODEL": "m"}  # no command here calls a model

    def run(*args, stdin: str | None = None, db: str = "vt.duckdb") -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "VT_"))}
        env.update({"VT_DB_PATH": str(tmp_path / db), **offline})
        return subprocess.run([sys.executable, "-m", "vt_core", "project", *args], cwd=ROOT, env=env, input=stdin,
                              capture_output=True, text=True, timeout=120)

    made = run("create", "Movie bot", "--goal", "recommend films", "--audience", "film fans", stdin=PROMPT)
    assert made.returncode == 0, made.stderr
    assert "project 1 'Movie bot' created" in made.stdout
    (tmp_path / "prompt.md").write_text("# Tone\nBe brief.\n")
    assert run("create", "Second", "--goal", "g", "--audience", "a", "--prompt", str(tmp_path / "prompt.md")).returncode == 0
    duplicate = run("create", "Movie bot", "--goal", "g", "--audience", "a", stdin="p")
    assert duplicate.returncode == 1 and "project create: FAILED: a project named 'Movie bot' already exists" \
        in duplicate.stderr

    listed = run("list").stdout.splitlines()
    assert listed[0].split() == ["id", "versions", "transcripts", "archived", "name"]
    assert [line.split() for line in listed[1:]] == [["1", "1", "0", "no", "Movie", "bot"], ["2", "1", "0", "no", "Second"]]

    exported = run("export", "Movie bot", "--out", str(tmp_path / "movie.json"))
    assert exported.returncode == 0, exported.stderr
    data = json.loads((tmp_path / "movie.json").read_text())
    assert (data["format"], data["version"], data["versions"][0]["text"]) == ("visionary-tuning-project", 1, PROMPT)
    markdown = run("export", "1", "--markdown")
    assert markdown.stdout.startswith("# Movie bot\n") and "```text\n" + PROMPT in markdown.stdout

    # Another machine: an empty database.
    imported = run("import", str(tmp_path / "movie.json"), db="other.duckdb")
    assert imported.returncode == 0, imported.stderr
    assert "imported project 1 'Movie bot'" in imported.stdout
    again = run("export", "Movie bot", db="other.duckdb")
    assert json.loads(again.stdout)["versions"][0]["text"] == PROMPT
    assert run("import", "-", stdin=again.stdout, db="other.duckdb").stdout.strip() == \
        "imported project 2 'Movie bot (imported)'"
    (tmp_path / "bad.json").write_text('{"format": "visionary-tuning-project", "version": 7}')
    bad = run("import", str(tmp_path / "bad.json"), db="other.duckdb")
    assert bad.returncode == 1 and "project import: FAILED: the file is in version 7" in bad.stderr
    missing = run("import", str(tmp_path / "nowhere.json"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr

    assert run("archive", "Second").returncode == 0
    assert run("list").stdout.splitlines()[2].split()[3] == "yes"
    refused = run("delete", "Second")
    assert refused.returncode == 1 and "add --yes" in refused.stderr
    assert run("delete", "Second", "--yes").stdout.strip() == "deleted project 'Second' with its 0 transcripts"
    assert len(run("list").stdout.splitlines()) == 2
