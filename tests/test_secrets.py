"""The API key appears in no repr, no doctor output, no error message and no call-log row, even when the
endpoint echoes it back."""

import json

import pytest

from tests.conftest import llm_calls
from tests.scripted_server import Reply, ScriptedServer
from tests.test_cli import doctor
from vt_core.core.config import Settings
from vt_core.core.llm import LLMError

KEY = "sk-test-R3COGNISABLE-fake-key-0042"


def test_no_repr_holds_the_key(make_llm):
    settings = Settings.from_env({"OPENAI_API_KEY": KEY})
    llm = make_llm({"OPENAI_API_KEY": KEY})
    assert settings.openai_api_key == KEY and llm.backend.api_key == KEY  # kept, for the client
    for shown in (repr(settings), repr(llm.backend), repr(llm), str(settings)):
        assert KEY not in shown


def test_an_endpoint_that_echoes_the_key_gets_it_blanked(store, scripted, make_llm):
    scripted.default = Reply(status=401, body=json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}",
                                                                    "type": "invalid_request_error"}}))
    llm = make_llm({"OPENAI_API_KEY": KEY, "VT_MODEL": "m"})
    with pytest.raises(LLMError) as caught:
        llm.chat([{"role": "user", "content": "hi"}])
    assert "HTTP 401" in str(caught.value) and "Incorrect API key provided: [API key]" in str(caught.value)
    assert KEY not in str(caught.value)
    assert all(KEY not in (error or "") for (error,) in llm_calls(store, "error"))


def test_the_doctor_never_prints_the_key(tmp_path):
    with ScriptedServer(Reply(status=401, body=json.dumps({"error": {"message": f"bad key {KEY}"}}))) as server:
        failed = doctor({"OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": KEY, "VT_MODEL": "m"}, tmp_path)
    with ScriptedServer(Reply(content="ready")) as server:
        passed = doctor({"OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": KEY}, tmp_path)
    assert failed.returncode != 0 and passed.returncode == 0, passed.stderr
    assert "bad key [API key]" in failed.stdout + failed.stderr
    for run in (failed, passed):
        assert KEY not in run.stdout + run.stderr


def test_the_database_password_appears_in_no_repr_and_no_output(postgres_url, tmp_path):
    """VT_DATABASE_URL holds the PostgreSQL password: the store gets it, nothing shows it."""
    password = postgres_url.split(":")[2].split("@")[0]
    settings = Settings.from_env({"VT_DATABASE_URL": postgres_url})
    assert settings.database == postgres_url and f":{password}@" not in repr(settings)
    with ScriptedServer(Reply(content="ready")) as server:
        run = doctor({"OPENAI_BASE_URL": server.url, "VT_DATABASE_URL": postgres_url}, tmp_path)
    assert run.returncode == 0, run.stderr
    assert f"database: {postgres_url.replace(f':{password}@', ':***@')} (schema version" in run.stdout
    assert f":{password}@" not in run.stdout + run.stderr
    unreachable = postgres_url.replace("127.0.0.1:5432", "127.0.0.1:9")
    run = doctor({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "VT_DATABASE_URL": unreachable}, tmp_path)
    assert run.returncode != 0 and "cannot connect to database postgresql://vt:***@127.0.0.1:9/" in run.stderr
    assert f":{password}@" not in run.stdout + run.stderr


def test_a_database_url_that_is_not_postgresql_is_refused_by_name():
    with pytest.raises(ValueError, match="VT_DATABASE_URL must be a postgresql:// URL"):
        Settings.from_env({"VT_DATABASE_URL": "mysql://u:p@h/db"})
