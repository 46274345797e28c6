"""The real embedded model (SmolLM2-135M through llama.cpp). Its words mean nothing, so these
tests check structure only: the plumbing works end to end."""

from typing import Literal

import pytest
from pydantic import BaseModel, Field

from vt_core.core.config import Settings
from vt_core.core.llm import LLM
from vt_core.core.store import Store

pytestmark = pytest.mark.embedded


class Verdict(BaseModel):
    verdict: Literal["holds", "violated", "not_applicable"]
    confidence: int = Field(ge=1, le=5)
    reason: str


@pytest.fixture(scope="module")
def llm(tmp_path_factory):
    settings = Settings.from_env({"VT_DB_PATH": str(tmp_path_factory.mktemp("emb") / "vt.duckdb")})
    llm = LLM.from_settings(settings, Store(settings.db_path))
    assert llm.backend.kind == "embedded" and llm.backend.demo
    return llm


def test_chat_call_succeeds(llm):
    completion = llm.chat([{"role": "user", "content": "Say hello."}], max_tokens=24, seed=1)
    assert completion.text.strip()
    assert completion.tokens_in > 0 and 0 < completion.tokens_out <= 24
    assert not completion.cached
    assert llm.endpoint().startswith("http://127.0.0.1:")
    again = llm.chat([{"role": "user", "content": "Say hello."}], max_tokens=24, seed=1)
    assert again.cached and again.text == completion.text


def test_structured_call_returns_a_valid_object(llm):
    verdict = llm.structured(
        [{"role": "system", "content": "You judge chatbot replies. Answer in JSON."},
         {"role": "user", "content": "Reply: 'Hello! How can I help?' Rule: greet the user. Verdict?"}],
        Verdict,
        max_tokens=120,
        temperature=0.0,
    )
    assert isinstance(verdict, Verdict)
    assert verdict.verdict in ("holds", "violated", "not_applicable")
    assert 1 <= verdict.confidence <= 5


def test_concurrent_calls_to_the_one_server(llm):
    prompts = [[{"role": "user", "content": f"Name a colour. ({i})"}] for i in range(4)]
    seen = []
    results = llm.map(lambda m: llm.chat(m, max_tokens=8), prompts, concurrency=4,
                      progress=lambda done, total: seen.append(done))
    assert [r.tokens_out > 0 for r in results] == [True] * 4
    assert seen == [0, 1, 2, 3, 4]
