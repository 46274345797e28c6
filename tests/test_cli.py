"""`python -m vt_core doctor`, run as a user would, in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scripted_server import Reply, ScriptedServer

ROOT = Path(__file__).resolve().parent.parent


def doctor(env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "VT_"))}
    env.update({"VT_DB_PATH": str(tmp_path / "vt.duckdb"), **env_extra})
    return subprocess.run([sys.executable, "-m", "vt_core", "doctor"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_doctor_with_a_scripted_endpoint(tmp_path):
    with ScriptedServer(Reply(content="ready")) as server:
        result = doctor({"OPENAI_BASE_URL": server.url}, tmp_path)
        assert len(server.requests) == 1
    assert result.returncode == 0, result.stderr
    assert f"endpoint {server.url}" in result.stdout
    assert "model:    scripted-model" in result.stdout
    assert "schema version 1" in result.stdout
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
