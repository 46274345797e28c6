"""The LLM client against a real OpenAI-compatible HTTP server that answers from a script.

The `openai` client is real and talks HTTP over loopback; only the server's answers are chosen.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from tests.conftest import llm_calls, llm_calls_summary
from tests.scripted_server import MODEL, Reply
from vt_core.core.llm.calls import call_log
from vt_core.core.llm import (
    BatchError,
    ChatRequest,
    Completion,
    LLMError,
    StructuredOutputError,
    estimate_tokens,
)

HELLO = [{"role": "user", "content": "Say hello."}]


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


class Verdict(BaseModel):
    verdict: Literal["holds", "violated"]
    confidence: int = Field(ge=1, le=5)


VALID = '{"verdict": "holds", "confidence": 4}'
INVALID = '{"verdict": "maybe", "confidence": 9}'


# -- single calls ------------------------------------------------------------------------------


def test_chat_returns_the_reply_and_records_the_call(make_llm, scripted, store):
    scripted.script(Reply(content="hello there", tokens_in=13, tokens_out=5))
    llm = make_llm({"VT_MODEL": "m1"})
    completion = llm.chat(HELLO, max_tokens=32, temperature=0.2)

    assert completion.text == "hello there"
    assert (completion.tokens_in, completion.tokens_out) == (13, 5)
    assert completion.cached is False
    assert completion.attempts == 1
    assert completion.model == "m1"
    [sent] = scripted.requests
    assert sent["messages"] == HELLO
    assert (sent["model"], sent["max_tokens"], sent["temperature"]) == ("m1", 32, 0.2)

    rows = llm_calls(store, "status, backend, endpoint, model, tokens_in, tokens_out, attempts, cache_hit,"
                            " response, request")
    assert len(rows) == 1
    status, backend, endpoint, model, tokens_in, tokens_out, attempts, cache_hit, response, request = rows[0]
    assert (status, backend, endpoint, model) == ("ok", "endpoint", scripted.url, "m1")
    assert (tokens_in, tokens_out, attempts, cache_hit) == (13, 5, 1, False)
    assert response == "hello there"
    assert json.loads(request)["messages"] == HELLO


def test_a_refused_log_write_is_kept_reported_and_written_later(make_llm, scripted, store, caplog):
    """The call log's writer meets a database that refuses the insert: the calls are not lost, the
    failure is logged where it happened and raised by flush, and they are written once it works."""
    llm = make_llm({"VT_MODEL": "m1"})
    llm.chat(HELLO)
    assert llm_calls(store, "response") == [("scripted reply",)]
    db = store.cursor()
    db.execute("DROP INDEX llm_calls_request_hash; DROP INDEX llm_calls_run_id")  # so that it can be renamed
    db.execute("ALTER TABLE llm_calls RENAME TO llm_calls_away")  # every insert now fails
    scripted.script(Reply(content="second"), Reply(content="third"))
    llm.chat([{"role": "user", "content": "again"}])
    llm.chat([{"role": "user", "content": "and again"}])
    with pytest.raises(RuntimeError, match="2 model calls could not be written to llm_calls"):
        call_log(store).flush()
    assert "could not write" in caplog.text
    assert llm.chat([{"role": "user", "content": "again"}]).cached  # still answered from memory
    db.execute("ALTER TABLE llm_calls_away RENAME TO llm_calls")
    assert llm_calls(store, "response, cache_hit") == [
        ("scripted reply", False), ("second", False), ("third", False), ("second", True)]


def test_transient_errors_are_retried(make_llm, scripted, store):
    scripted.script(Reply(status=429), Reply(status=500), Reply(content="finally"))
    llm = make_llm()
    completion = llm.chat(HELLO)
    assert completion.text == "finally"
    assert completion.attempts == 3
    assert len(scripted.requests) == 3
    assert llm_calls(store, "status, attempts") == [("ok", 3)]


def test_persistent_server_errors_fail_clearly_and_are_never_cached(make_llm, scripted, store):
    scripted.script(*[Reply(status=500)] * 3)
    llm = make_llm({"VT_LLM_ATTEMPTS": "3"})
    with pytest.raises(LLMError) as caught:
        llm.chat(HELLO)
    message = str(caught.value)
    assert scripted.url in message
    assert "HTTP 500" in message
    assert "after 3 attempts" in message
    assert caught.value.attempts == 3
    assert len(scripted.requests) == 3
    assert llm_calls(store, "status, attempts, error IS NOT NULL") == [("error", 3, True)]

    again = llm.chat(HELLO)  # the server recovered (default reply): the error was not cached
    assert len(scripted.requests) == 4
    assert again.text == "scripted reply" and again.cached is False
    assert llm_calls(store, "status") == [("error",), ("ok",)]


def test_a_timeout_is_retried_then_reported(make_llm, scripted, store):
    scripted.script(Reply(delay_s=2.0), Reply(delay_s=2.0))
    llm = make_llm({"VT_LLM_ATTEMPTS": "2", "VT_MODEL": "m"}, timeout_s=0.3)
    with pytest.raises(LLMError, match="timed out") as caught:
        llm.chat(HELLO)
    assert "after 2 attempts" in str(caught.value)
    assert len(scripted.requests) == 2
    assert llm_calls(store, "status, attempts") == [("error", 2)]


def test_a_broken_json_body_is_retried(make_llm, scripted):
    scripted.script(Reply(body="{not json"), Reply(content="whole"))
    completion = make_llm().chat(HELLO)
    assert completion.text == "whole"
    assert completion.attempts == 2
    assert len(scripted.requests) == 2


def test_a_persistently_broken_body_fails_clearly(make_llm, scripted, store):
    scripted.default = Reply(body="{not json")
    with pytest.raises(LLMError, match="not valid JSON") as caught:
        make_llm({"VT_LLM_ATTEMPTS": "2"}).chat(HELLO)
    assert scripted.url in str(caught.value)
    assert len(scripted.requests) == 2
    assert llm_calls(store, "status") == [("error",)]


def test_a_200_without_choices_is_retried(make_llm, scripted):
    scripted.script(Reply(body='{"id": "x", "object": "chat.completion", "choices": []}'), Reply(content="ok"))
    completion = make_llm().chat(HELLO)
    assert completion.text == "ok" and completion.attempts == 2
    assert len(scripted.requests) == 2


def test_a_client_error_is_not_retried(make_llm, scripted, store):
    scripted.default = Reply(status=400)
    with pytest.raises(LLMError, match="HTTP 400") as caught:
        make_llm().chat(HELLO)
    assert "attempts" not in str(caught.value)
    assert caught.value.attempts == 1
    assert len(scripted.requests) == 1
    assert llm_calls(store, "status, attempts") == [("error", 1)]


def test_a_refused_connection_fails_clearly(make_llm):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"  # nothing listens here any more
    llm = make_llm({"OPENAI_BASE_URL": url, "VT_MODEL": "m", "VT_LLM_ATTEMPTS": "2"})
    with pytest.raises(LLMError, match="could not connect") as caught:
        llm.chat(HELLO)
    assert url in str(caught.value)
    assert "after 2 attempts" in str(caught.value)


def test_listing_models_on_a_dead_endpoint_fails_clearly(make_llm):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    llm = make_llm({"OPENAI_BASE_URL": url})
    with pytest.raises(LLMError, match="could not list models") as caught:
        llm.chat(HELLO)
    assert url in str(caught.value) and "could not connect" in str(caught.value)


def test_model_comes_from_the_endpoint_when_not_configured(make_llm, scripted):
    llm = make_llm()
    assert llm.backend.model is None
    assert llm.model == MODEL == "scripted-model"
    llm.chat(HELLO)
    assert scripted.requests[0]["model"] == "scripted-model"


def test_a_configured_model_is_sent_as_is(make_llm, scripted):
    llm = make_llm({"VT_MODEL": "my-model"})
    assert llm.model == "my-model"
    llm.chat(HELLO)
    assert scripted.requests[0]["model"] == "my-model"


# -- structured output ------------------------------------------------------------------------


def test_structured_sends_json_schema_by_default(make_llm, scripted):
    scripted.script(Reply(content=VALID))
    result = make_llm().structured(HELLO, Verdict)
    assert result == Verdict(verdict="holds", confidence=4)
    assert scripted.requests[0]["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "Verdict", "schema": Verdict.model_json_schema()}}


def test_structured_sends_json_object_with_schema_when_asked(make_llm, scripted):
    scripted.script(Reply(content=VALID))
    make_llm({"VT_RESPONSE_FORMAT": "json_object"}).structured(HELLO, Verdict)
    assert scripted.requests[0]["response_format"] == {"type": "json_object", "schema": Verdict.model_json_schema()}


def test_structured_with_format_none_sends_no_response_format(make_llm, scripted):
    scripted.script(Reply(content=VALID))
    make_llm({"VT_RESPONSE_FORMAT": "none"}).structured(HELLO, Verdict)
    assert "response_format" not in scripted.requests[0]


def test_structured_tolerates_fences_and_prose(make_llm, scripted, store):
    # braces in the prose: only the fenced block is a valid object
    scripted.script(Reply(content=f"Sure {{as asked}}! Here it is:\n```json\n{VALID}\n```\nDone {{ok}}."))
    result = make_llm().structured(HELLO, Verdict)
    assert result == Verdict(verdict="holds", confidence=4)
    assert len(scripted.requests) == 1
    assert llm_calls(store, "status") == [("ok",)]


class Rewrite(BaseModel):
    prompt: str
    rationale: str


def test_structured_keeps_code_fences_inside_the_json_strings(make_llm, scripted):
    """A writer's reply whose prompt holds a fenced block: the fences belong to the strings."""
    reply = {"prompt": "# Format\nAnswer like this:\n```\nTitle (year)\n```\n", "rationale": "Show the ```format```."}
    scripted.script(Reply(content=json.dumps(reply)))
    assert make_llm().structured(HELLO, Rewrite) == Rewrite(**reply)
    assert len(scripted.requests) == 1  # no corrective retry


def test_structured_corrects_an_invalid_reply_once(make_llm, scripted, store):
    scripted.script(Reply(content=INVALID), Reply(content='{"verdict": "violated", "confidence": 2}'))
    result = make_llm().structured(HELLO, Verdict)
    assert result == Verdict(verdict="violated", confidence=2)
    assert len(scripted.requests) == 2
    first, second = scripted.requests
    assert first["messages"] == HELLO
    assert second["messages"][: len(HELLO)] == HELLO
    assert second["messages"][-2] == {"role": "assistant", "content": INVALID}
    assert second["messages"][-1]["role"] == "user"
    assert "Verdict" in second["messages"][-1]["content"]
    assert second["response_format"] == first["response_format"]
    assert llm_calls(store, "status") == [("invalid",), ("ok",)]


def test_structured_gives_up_after_two_invalid_replies(make_llm, scripted, store):
    scripted.script(Reply(content=INVALID), Reply(content="no JSON at all"))
    with pytest.raises(StructuredOutputError) as caught:
        make_llm().structured(HELLO, Verdict)
    assert scripted.url in str(caught.value)
    assert "Verdict" in str(caught.value)
    assert isinstance(caught.value, LLMError)
    assert len(scripted.requests) == 2
    assert llm_calls(store, "status") == [("invalid",), ("invalid",)]


def test_an_invalid_reply_is_never_served_from_the_cache(make_llm, scripted, store):
    llm = make_llm()
    scripted.script(Reply(content=INVALID), Reply(content=VALID))
    assert llm.structured(HELLO, Verdict) == Verdict(verdict="holds", confidence=4)

    scripted.script(Reply(content='{"verdict": "violated", "confidence": 1}'))
    assert llm.structured(HELLO, Verdict) == Verdict(verdict="violated", confidence=1)
    assert len(scripted.requests) == 3
    assert scripted.requests[2]["messages"] == HELLO
    assert llm_calls(store, "status, cache_hit") == [("invalid", False), ("ok", False), ("ok", False)]


def test_a_repeated_valid_structured_call_is_cached(make_llm, scripted):
    llm = make_llm()
    scripted.script(Reply(content=VALID))
    assert llm.structured(HELLO, Verdict) == llm.structured(HELLO, Verdict)
    assert len(scripted.requests) == 1


# -- the cache --------------------------------------------------------------------------------


def test_an_identical_request_is_answered_from_the_cache(make_llm, scripted, store):
    llm = make_llm()
    scripted.script(Reply(content="first", tokens_in=20, tokens_out=4))
    first = llm.chat(HELLO, seed=7)
    second = llm.chat(HELLO, seed=7)
    assert len(scripted.requests) == 1
    assert (first.cached, second.cached) == (False, True)
    assert second.text == "first"
    assert (second.tokens_in, second.tokens_out, second.attempts) == (20, 4, 0)
    rows = llm_calls(store, "status, cache_hit, request_hash, tokens_in")
    assert [row[:2] for row in rows] == [("ok", False), ("ok", True)]
    assert rows[0][2] == rows[1][2]  # one request, keyed once
    assert [row[3] for row in rows] == [20, 20]


def test_the_cache_survives_a_new_llm_on_the_same_store(make_llm, scripted):
    make_llm().chat(HELLO)
    assert make_llm().chat(HELLO).cached is True
    assert len(scripted.requests) == 1


def test_another_sample_is_a_new_request_with_another_seed(make_llm, scripted):
    llm = make_llm()
    zero = llm.complete(ChatRequest(HELLO, seed=7))
    one = llm.complete(ChatRequest(HELLO, seed=7, sample=1))
    assert (zero.cached, one.cached) == (False, False)
    assert len(scripted.requests) == 2
    assert scripted.requests[0]["seed"] == 7
    assert scripted.requests[1]["seed"] != 7
    assert llm.complete(ChatRequest(HELLO, seed=7, sample=1)).cached is True
    assert len(scripted.requests) == 2


def test_another_sample_without_seed_is_a_new_request(make_llm, scripted):
    llm = make_llm()
    llm.complete(ChatRequest(HELLO))
    assert llm.complete(ChatRequest(HELLO, sample=1)).cached is False
    assert len(scripted.requests) == 2
    assert "seed" not in scripted.requests[1]


def test_fresh_skips_the_cache(make_llm, scripted):
    llm = make_llm()
    llm.complete(ChatRequest(HELLO))
    scripted.script(Reply(content="newer"))
    fresh = llm.complete(ChatRequest(HELLO), fresh=True)
    assert fresh.cached is False and fresh.text == "newer"
    assert len(scripted.requests) == 2


@pytest.mark.parametrize("change", [{"temperature": 0.1}, {"max_tokens": 9}, {"seed": 3}])
def test_different_parameters_are_a_new_request(make_llm, scripted, change):
    llm = make_llm()
    llm.chat(HELLO)
    assert llm.chat(HELLO, **change).cached is False
    assert len(scripted.requests) == 2


def test_a_different_model_is_a_new_request(make_llm, scripted):
    make_llm({"VT_MODEL": "a"}).chat(HELLO)
    assert make_llm({"VT_MODEL": "b"}).chat(HELLO).cached is False
    assert len(scripted.requests) == 2


# -- accounting -------------------------------------------------------------------------------


def test_usage_counts_calls_hits_errors_and_tokens(make_llm, scripted):
    llm = make_llm({"VT_LLM_ATTEMPTS": "1"})
    scripted.script(Reply(tokens_in=10, tokens_out=3), Reply(tokens_in=20, tokens_out=5), Reply(status=400))
    llm.chat(user("a"))
    llm.chat(user("b"))
    llm.chat(user("a"))  # cache hit: counted as a call, its tokens cost nothing
    with pytest.raises(LLMError):
        llm.chat(user("c"))
    usage = llm.usage()
    assert (usage.calls, usage.cache_hits, usage.errors) == (4, 1, 1)
    assert (usage.tokens_in, usage.tokens_out) == (30, 8)


def test_usage_separates_runs(make_llm, scripted):
    llm = make_llm()
    a, b = llm.for_run("a"), llm.for_run("b")
    scripted.script(Reply(tokens_in=1, tokens_out=2), Reply(tokens_in=3, tokens_out=4),
                    Reply(tokens_in=100, tokens_out=200))
    a.chat(user("one"))
    a.chat(user("two"))
    b.chat(user("three"))
    b.chat(user("one"))  # answered from run a's call: the cache is shared across runs
    assert len(scripted.requests) == 3
    assert llm.usage("a") == a.usage()
    assert (a.usage().calls, a.usage().cache_hits, a.usage().tokens_in, a.usage().tokens_out) == (2, 0, 4, 6)
    assert (b.usage().calls, b.usage().cache_hits, b.usage().tokens_in, b.usage().tokens_out) == (2, 1, 100, 200)
    assert llm.usage().calls == 4
    assert llm.run_id is None and a.run_id == "a"


def test_estimate_before_and_after_a_batch(make_llm, scripted):
    llm = make_llm()
    requests = [ChatRequest(user(f"question {i} " + "x" * i), max_tokens=10 + i) for i in range(5)]
    before = llm.estimate(requests)
    assert before.calls == 5
    assert before.cached == 0
    assert before.tokens_out == sum(r.max_tokens for r in requests)
    assert before.tokens_in == sum(estimate_tokens(json.dumps(r.messages)) for r in requests) > 0
    assert scripted.requests == []  # estimating sends nothing

    llm.batch(requests)
    after = llm.estimate(requests)
    assert (after.calls, after.cached, after.tokens_in, after.tokens_out) == (5, 5, 0, 0)

    partly = llm.estimate([*requests[:2], ChatRequest(user("new"), max_tokens=77)])
    assert (partly.calls, partly.cached, partly.tokens_out) == (3, 2, 77)


# -- concurrency ------------------------------------------------------------------------------


def test_batch_is_bounded_ordered_and_reports_progress(make_llm, scripted, store):
    scripted.respond = lambda request: Reply(content=request["messages"][-1]["content"])
    scripted.hold_until_together(6)
    llm = make_llm({"VT_CONCURRENCY": "6"})
    assert llm.concurrency == 6
    requests = [ChatRequest(user(f"item {i}")) for i in range(24)]
    seen: list[tuple[int, int]] = []
    callers: set[int] = set()

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        callers.add(threading.get_ident())

    results = llm.batch(requests, progress=progress)

    assert scripted.max_in_flight == 6
    assert len(scripted.requests) == 24
    assert [r.text for r in results] == [f"item {i}" for i in range(24)]
    assert all(isinstance(r, Completion) and not r.cached for r in results)
    assert seen == [(done, 24) for done in range(25)]
    assert callers == {threading.get_ident()}  # called from the caller's thread only
    assert llm_calls_summary(store, "count(*), count(DISTINCT request_hash)") == (24, 24)


def test_map_concurrency_argument_overrides_the_default(make_llm, scripted):
    scripted.hold_until_together(3)
    llm = make_llm({"VT_CONCURRENCY": "8", "VT_MODEL": "m"})
    llm.map(lambda i: llm.chat(user(f"n{i}")), range(9), concurrency=3)
    assert scripted.max_in_flight == 3


def test_map_collects_every_result_and_failure(make_llm, scripted, store):
    scripted.respond = lambda request: Reply(
        status=400 if request["messages"][-1]["content"] == "bad" else 200,
        content=request["messages"][-1]["content"])
    llm = make_llm({"VT_CONCURRENCY": "4"})
    contents = ["a", "b", "bad", "c", "d"]
    with pytest.raises(BatchError) as caught:
        llm.map(lambda text: llm.chat(user(text)), contents)
    results = caught.value.results
    assert len(results) == 5
    assert isinstance(results[2], LLMError) and "HTTP 400" in str(results[2])
    assert [r.text for i, r in enumerate(results) if i != 2] == ["a", "b", "c", "d"]
    assert all(isinstance(r, Completion) for i, r in enumerate(results) if i != 2)
    assert "1 of 5 items failed" in str(caught.value)
    assert len(scripted.requests) == 5  # every item ran; the 400 was not retried
    assert sorted(llm_calls(store, "status")) == [("error",)] + [("ok",)] * 4


def test_concurrent_calls_from_many_threads_are_all_recorded(make_llm, scripted, store):
    llm = make_llm({"VT_MODEL": "m"})
    per_thread, threads = 25, 8
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(per_thread):
                llm.chat(user(f"{t}-{i}"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert len(scripted.requests) == per_thread * threads
    assert llm_calls_summary(store, "count(*), count(DISTINCT request_hash)") == (200, 200)
    assert llm.usage().calls == 200



def test_runs_nest_and_count_towards_their_parents(make_llm, scripted):
    llm = make_llm()
    session = llm.for_run("session:7")
    session.chat(user("in the session"))
    session.for_run("selfplay:3").chat(user("in a run of the session"))
    llm.for_run("session:70").chat(user("another session, same prefix"))
    assert session.for_run("selfplay:3").run_id == "session:7/selfplay:3"
    assert llm.usage("session:7").calls == 2
    assert llm.usage("session:7/selfplay:3").calls == 1
    assert llm.usage("session:70").calls == 1


def test_structured_accepts_raw_newlines_inside_strings(make_llm, scripted):
    scripted.script(Reply(content='{"verdict": "holds", "confidence": 3, "note": "line one\nline two"}'))
    assert make_llm().structured(HELLO, Verdict) == Verdict(verdict="holds", confidence=3)
    assert len(scripted.requests) == 1


# -- streaming --------------------------------------------------------------------------------


def timed_pieces(stream) -> list[tuple[str, float]]:
    """Each piece of a stream with the time it arrived."""
    return [(piece, time.monotonic()) for piece in stream]


def test_a_stream_yields_the_pieces_in_order_as_they_come_and_is_logged_once(make_llm, scripted, store):
    scripted.script(Reply(content="one two three four", chunk_delay_s=0.15, tokens_in=13, tokens_out=4))
    llm = make_llm({"VT_MODEL": "m1"})
    pieces = timed_pieces(llm.stream(ChatRequest(HELLO, temperature=0.3, max_tokens=40)))

    assert [p for p, _ in pieces] == ["one", " two", " three", " four"]
    gaps = [later - earlier for (_, earlier), (_, later) in zip(pieces, pieces[1:])]
    assert min(gaps) > 0.1  # each piece came when the server wrote it, not all at the end
    [sent] = scripted.requests
    assert (sent["stream"], sent["stream_options"]) == (True, {"include_usage": True})
    assert (sent["model"], sent["temperature"], sent["max_tokens"], sent["messages"]) == ("m1", 0.3, 40, HELLO)
    rows = llm_calls(store, "status, response, tokens_in, tokens_out, attempts, cache_hit, latency_ms, request")
    assert len(rows) == 1
    status, response, tokens_in, tokens_out, attempts, cache_hit, latency_ms, request = rows[0]
    assert (status, response, tokens_in, tokens_out, attempts, cache_hit) == (
        "ok", "one two three four", 13, 4, 1, False)
    assert latency_ms >= 400  # three gaps of 0.15 s
    assert "stream" not in json.loads(request)  # the request as `complete` sends it: one cache key for both


def test_a_streamed_reply_is_cached_for_both_ways_of_asking(make_llm, scripted, store):
    llm = make_llm()
    scripted.script(Reply(content="cached words"))
    assert "".join(llm.stream(ChatRequest(HELLO))) == "cached words"
    assert list(llm.stream(ChatRequest(HELLO))) == ["cached words"]  # from the cache, at once and whole
    assert llm.complete(ChatRequest(HELLO)).cached is True
    assert len(scripted.requests) == 1
    assert llm_calls(store, "status, cache_hit, response") == [
        ("ok", False, "cached words"), ("ok", True, "cached words"), ("ok", True, "cached words")]
    list(llm.stream(ChatRequest(HELLO), fresh=True))
    assert len(scripted.requests) == 2


def test_a_stream_without_usage_estimates_the_tokens(make_llm, scripted, store):
    scripted.script(Reply(content="x" * 40, chunks=["x" * 20, "x" * 20], stream_usage=False))
    assert list(make_llm().stream(ChatRequest(HELLO))) == ["x" * 20, "x" * 20]
    assert llm_calls(store, "tokens_in, tokens_out") == [(estimate_tokens(json.dumps(HELLO)), 10)]


def test_errors_before_the_first_piece_are_retried(make_llm, scripted, store):
    scripted.script(Reply(status=503), Reply(content="at last"))
    assert "".join(make_llm().stream(ChatRequest(HELLO))) == "at last"
    assert len(scripted.requests) == 2
    assert llm_calls(store, "status, attempts, response") == [("ok", 2, "at last")]


def test_a_stream_that_fails_for_good_says_why(make_llm, scripted, store):
    scripted.script(Reply(status=400))
    with pytest.raises(LLMError, match="HTTP 400") as caught:
        list(make_llm().stream(ChatRequest(HELLO)))
    assert scripted.url in str(caught.value)
    assert len(scripted.requests) == 1  # a client error is not retried
    assert llm_calls(store, "status, cache_hit") == [("error", False)]


def test_a_stream_cut_off_midway_fails_with_what_came_and_is_not_cached(make_llm, scripted, store):
    scripted.script(Reply(content="one two three", cut_after=2))
    llm = make_llm()
    received = []
    with pytest.raises(LLMError, match="after 7 characters of the reply"):
        for piece in llm.stream(ChatRequest(HELLO)):
            received.append(piece)
    assert received == ["one", " two"]
    assert len(scripted.requests) == 1  # not retried once the reply had begun
    assert llm_calls(store, "status, response") == [("error", "one two")]
    assert "".join(llm.stream(ChatRequest(HELLO))) == "scripted reply"  # asked again, not from the cache


def test_a_stream_that_stalls_times_out(make_llm, scripted, store):
    scripted.script(Reply(content="slow words here", chunk_delay_s=2.0))
    llm = make_llm({"VT_MODEL": "m"}, timeout_s=0.5)
    with pytest.raises(LLMError, match="timed out after 0.5 s"):
        list(llm.stream(ChatRequest(HELLO)))
    assert llm_calls(store, "status, response") == [("error", "slow")]


def test_a_reader_that_stops_early_leaves_the_call_recorded_as_an_error(make_llm, scripted, store):
    scripted.script(Reply(content="one two three"))
    stream = make_llm().stream(ChatRequest(HELLO))
    assert next(stream) == "one"
    stream.close()
    assert llm_calls(store, "status, response, error") == [
        ("error", "one", "the reader stopped before the reply ended")]
