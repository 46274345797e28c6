"""`python -m vt_core doctor`, run as a user would, in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scripted_server import Reply, ScriptedServer
from tests.scripted_worlds import PROMPT, RULE, EmojiWorld
from vt_core.core.store import Store, discover_migrations
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
        assert step("approve", "2") == "candidate 2 is now prompt version 2, current for its project"

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
    assert len(list_transcripts(store, 1)) == 4
    assert {p.status for p in list_patterns(store, 1)} == {"accepted", "candidate"}
    store.close()
