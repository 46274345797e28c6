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
