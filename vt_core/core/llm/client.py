"""The one way the platform calls a language model.

`LLM` wraps the `openai` client for every backend and adds what the platform needs on top:
retries with backoff for transient faults, structured output with one corrective retry, a
cache of identical requests and an account of every call, both in the `llm_calls` table,
a reply streamed as it is written (`stream`), and a bounded-concurrency `map` for batches.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx2
import openai
from pydantic import BaseModel, ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from vt_core.core.config import Settings
from vt_core.core.design import derive_seed
from vt_core.core.llm.backend import Backend, resolve_backend
from vt_core.core.llm.calls import CallLog, CallRecord, call_log
from vt_core.core.llm.structured import parse_reply, response_format
from vt_core.core.progress import Cancelled, Progress
from vt_core.core.store import Store

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

MAX_RETRY_AFTER_S = 60.0


class LLMError(RuntimeError):
    """A request failed for good. The message names the endpoint, the model and the cause."""

    def __init__(self, message: str, attempts: int = 1):
        super().__init__(message)
        self.attempts = attempts


class StructuredOutputError(LLMError):
    """The model's reply did not validate against the schema, even after a corrective retry."""


class BatchError(LLMError):
    """Some items of a `map` failed. `results` holds every item's result or exception, in order."""

    def __init__(self, results: list):
        self.results = results
        failures = [r for r in results if isinstance(r, Exception)]
        super().__init__(f"{len(failures)} of {len(results)} items failed; first: {failures[0]}")


class _MalformedResponse(Exception):
    """The server answered 200 with something that is not a chat completion."""


class _InvalidReply(Exception):
    def __init__(self, text: str, error: str):
        super().__init__(error)
        self.text = text


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict[str, str]]
    temperature: float = 0.7
    max_tokens: int = 512
    seed: int | None = None
    sample: int = 0  # a different index asks for a fresh sample of the same request
    response_format: dict | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    tokens_in: int
    tokens_out: int
    latency_ms: float
    cached: bool
    attempts: int
    # Why the reply ended, as the endpoint said ('stop', 'length': cut at max_tokens, ...; None if it did
    # not say). The cache keeps no finish reason: a cached reply counts as 'length' when it used every token.
    finish_reason: str | None = None

    @property
    def cut_off(self) -> bool:
        """The reply was cut at the maximum length."""
        return self.finish_reason == "length"


@dataclass(frozen=True)
class Usage:
    calls: int  # requests made, including those answered from the cache
    cache_hits: int
    errors: int  # failed calls and replies that did not validate
    tokens_in: int  # tokens sent to the endpoint (cache hits cost none)
    tokens_out: int
    model: str | None = None  # the model called (the greatest name of several); None before any call


def run_usage(store: Store, run_id: str | None) -> Usage:
    """Calls and tokens recorded under `run_id` and the runs nested in it (None: every call)."""
    return Usage(*call_log(store).usage(run_id))


@dataclass(frozen=True)
class Estimate:
    calls: int
    cached: int  # of `calls`, already answered in the cache: free
    tokens_in: int  # approximate, for the calls not cached
    tokens_out: int  # upper bound (max_tokens), for the calls not cached


def estimate_tokens(text: str) -> int:
    """About four characters per token for English; good enough for a cost preview."""
    return math.ceil(len(text) / 4)


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(exc, openai.APIConnectionError | _MalformedResponse | json.JSONDecodeError)


def _retry_after(exc: BaseException | None) -> float:
    if isinstance(exc, openai.APIStatusError):
        try:
            return min(float(exc.response.headers.get("retry-after", 0)), MAX_RETRY_AFTER_S)
        except ValueError:
            return 0.0
    return 0.0


@dataclass
class _Connection:
    """What all copies of one LLM share: the store's call log, the openai client, the model."""

    calls: CallLog
    lock: threading.Lock = field(default_factory=threading.Lock)
    client: openai.OpenAI | None = None
    model: str | None = None


class LLM:
    """A model behind the openai client. Thread-safe: one per process, shared by all sessions.

    Copies made by `for_run` share the client, the model name and the store's call log.
    """

    def __init__(
        self,
        store: Store,
        backend: Backend,
        *,
        concurrency: int = 8,
        timeout_s: float = 120.0,
        attempts: int = 4,
        backoff_s: float = 0.5,
        run_id: str | None = None,
    ):
        self.store = store
        self.backend = backend
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.run_id = run_id
        self._stop: Callable[[], bool] | None = None
        self._connection = _Connection(call_log(store), model=backend.model)

    @classmethod
    def from_settings(cls, settings: Settings, store: Store) -> LLM:
        return cls(
            store,
            resolve_backend(settings),
            concurrency=settings.concurrency,
            timeout_s=settings.timeout_s,
            attempts=settings.attempts,
        )

    def for_run(self, run_id: str) -> LLM:
        """The same LLM, with every call recorded under `run_id` for `usage()`.

        Runs nest: `llm.for_run("session:7").for_run("selfplay:3")` records under
        "session:7/selfplay:3", which counts towards both.
        """
        bound = copy.copy(self)
        bound.run_id = f"{self.run_id}/{run_id}" if self.run_id else run_id
        return bound

    def until(self, stop: Callable[[], bool]) -> LLM:
        """The same LLM, refusing every request once `stop()` is true (a cancelled job): each call
        then raises Cancelled, so a batch ends within the calls already under way."""
        bound = copy.copy(self)
        bound._stop = stop
        return bound

    # -- the endpoint ----------------------------------------------------------------------

    def endpoint(self) -> str:
        """Base URL of the server; starts the embedded server on first use."""
        return self.backend.url()

    def _client(self) -> openai.OpenAI:
        url = self.endpoint()
        with self._connection.lock:
            client = self._connection.client
            if client is None or str(client.base_url).rstrip("/") != url:
                client = openai.OpenAI(
                    base_url=url, api_key=self.backend.api_key, timeout=self.timeout_s, max_retries=0
                )
                self._connection.client = client
            return client

    @property
    def model(self) -> str:
        """The model name sent with each request; if none was configured, the first one listed."""
        if self._connection.model is None:
            try:
                listed = [m.id for m in self._client().models.list()]
            except openai.OpenAIError as exc:
                hint = "" if isinstance(exc, openai.APIConnectionError) else "; set VT_MODEL"
                raise LLMError(
                    f"endpoint {self.backend.base_url}: could not list models to choose one "
                    f"({self._cause(exc)}){hint}"
                ) from exc
            if not listed:
                raise LLMError(f"endpoint {self.backend.base_url} lists no models; set VT_MODEL")
            self._connection.model = listed[0]
        return self._connection.model

    # -- single requests -------------------------------------------------------------------

    def chat(self, messages: list[dict[str, str]], **params: Any) -> Completion:
        return self.complete(ChatRequest(messages, **params))

    def complete(
        self,
        request: ChatRequest,
        *,
        fresh: bool = False,
        validate: Callable[[str], object] | None = None,
    ) -> Completion:
        """Answer `request` from the cache, or else from the endpoint, and record the call.

        `fresh` skips the cache lookup (the answer is still stored). `validate` checks the
        reply text; a reply it rejects is recorded as invalid, never served from the cache,
        and raised as _InvalidReply.
        """
        self._check_stop()
        payload = self._payload(request)
        key = self._request_hash(payload, request.sample)
        if not fresh and (hit := self._cached(key, payload)) is not None:
            return hit

        client = self._client()  # starts the embedded server outside the timed call
        started = time.perf_counter()
        try:
            text, usage, finish_reason, attempts = self._send(client, payload)
        except LLMError as exc:
            self._log_failure(key, payload, exc, started)
            raise
        error = None
        if validate is not None:
            try:
                validate(text)
            except ValidationError as exc:
                error = str(exc)
        completion = self._log_reply(key, payload, text, usage, attempts, started, error=error,
                                     finish_reason=finish_reason)
        if error is not None:
            raise _InvalidReply(text, error)
        return completion

    def stream(self, request: ChatRequest, *, fresh: bool = False) -> Iterator[str]:
        """The reply to `request` in pieces, as the endpoint writes them (`stream=True`); a reply in
        the cache comes at once, whole. Like `complete` otherwise: the same payload and cache key, the
        same retries of errors before the first piece, the same timeout (between pieces) and LLMError,
        and one row in the call log, written when the reply has ended, with the whole reply. The usage
        is the server's (`stream_options.include_usage`) or else estimated. A reader that stops early
        leaves the call recorded as an error with the part it read."""
        self._check_stop()
        payload = self._payload(request)
        key = self._request_hash(payload, request.sample)
        if not fresh and (hit := self._cached(key, payload)) is not None:
            yield hit.text
            return

        client = self._client()
        started = time.perf_counter()
        body = {**payload, "stream": True, "stream_options": {"include_usage": True}}
        try:
            (chunks, first), attempts = self._retried(lambda: _first_chunk(client.post(
                "/chat/completions", cast_to=object, body=body, options=_OPTIONS | {"timeout": self.timeout_s},
                stream=True, stream_cls=openai.Stream[object])))
        except LLMError as exc:
            self._log_failure(key, payload, exc, started)
            raise
        pieces: list[str] = []
        usage: dict = {}
        chunk = first
        try:
            while chunk is not None:
                piece, chunk_usage = _delta(chunk)
                usage = chunk_usage or usage
                if piece:
                    pieces.append(piece)
                    yield piece
                chunk = next(chunks, None)
        except (openai.OpenAIError, _MalformedResponse, json.JSONDecodeError) as exc:
            failure = LLMError(f"{self._where()}: {self._cause(exc)} after {len(''.join(pieces))} characters "
                               "of the reply", attempts=attempts)
            self._log_failure(key, payload, failure, started, response="".join(pieces))
            raise failure from exc
        except GeneratorExit:
            chunks.close()
            self._log_failure(key, payload, LLMError("the reader stopped before the reply ended",
                                                     attempts=attempts), started, response="".join(pieces))
            raise
        self._log_reply(key, payload, "".join(pieces), usage, attempts, started)

    def check(self) -> Completion:
        """One real, uncached call: proves that the backend answers (doctor, Settings page)."""
        ping = ChatRequest([{"role": "user", "content": "Reply with the single word: ready"}],
                           temperature=0.0, max_tokens=16)
        return self.complete(ping, fresh=True)

    def structured(self, messages: list[dict[str, str]], schema: type[M], **params: Any) -> M:
        """A reply validated against the pydantic model `schema`.

        The backend is asked for JSON its own way; a reply that still does not validate is
        shown to the model with the validation error, once, before giving up.
        """
        fmt = response_format(schema, self.backend.structured_format)
        validate = lambda text: parse_reply(text, schema)  # noqa: E731
        try:
            completion = self.complete(ChatRequest(messages, response_format=fmt, **params), validate=validate)
        except _InvalidReply as first:
            correction = [
                *messages,
                {"role": "assistant", "content": first.text},
                {"role": "user", "content": (
                    f"That reply is not a valid JSON object for the schema {schema.__name__}: "
                    f"{_short(str(first), 600)}\nReply again with only the corrected JSON object."
                )},
            ]
            try:
                completion = self.complete(
                    ChatRequest(correction, response_format=fmt, **params), validate=validate
                )
            except _InvalidReply as second:
                raise StructuredOutputError(
                    f"{self._where()}: the reply did not validate as {schema.__name__} even after a "
                    f"corrective retry: {_short(str(second), 600)}",
                    attempts=2,
                ) from None
        return parse_reply(completion.text, schema)

    # -- many requests ---------------------------------------------------------------------

    def map(
        self,
        fn: Callable[[T], Any],
        items: Iterable[T],
        *,
        concurrency: int | None = None,
        progress: Progress | None = None,
    ) -> list:
        """Run `fn` on every item, at most `concurrency` at a time; results in item order.

        `progress(done, total)` is called from the calling thread as items finish, so a
        Streamlit script can update its progress bar from it. Every item runs even if some
        fail; then BatchError carries all results, exceptions in place of the failures. If the
        work was cancelled (see `until`), Cancelled is raised instead, `kept` holding the results.
        """
        items = list(items)
        results: list = [None] * len(items)
        failed = False
        if progress:
            progress(0, len(items))
        with ThreadPoolExecutor(max_workers=concurrency or self.concurrency) as pool:
            futures = {pool.submit(fn, item): index for index, item in enumerate(items)}
            for done, future in enumerate(as_completed(futures), start=1):
                try:
                    results[futures[future]] = future.result()
                except Exception as exc:  # noqa: BLE001 - collected and raised below
                    results[futures[future]] = exc
                    failed = True
                if progress:
                    progress(done, len(items))
        if any(isinstance(r, Cancelled) for r in results):
            raise Cancelled(kept=results)
        if failed:
            raise BatchError(results)
        return results

    def batch(self, requests: list[ChatRequest], *, progress: Progress | None = None) -> list[Completion]:
        return self.map(self.complete, requests, progress=progress)

    # -- accounting ------------------------------------------------------------------------

    def estimate(self, requests: list[ChatRequest]) -> Estimate:
        """Calls and tokens `requests` would cost, before running them."""
        payloads = [self._payload(r) for r in requests]
        keys = [self._request_hash(p, r.sample) for p, r in zip(payloads, requests)]
        cached = self._connection.calls.cached(keys)
        todo = [(p, r) for p, r, k in zip(payloads, requests, keys) if k not in cached]
        return Estimate(
            calls=len(requests),
            cached=len(requests) - len(todo),
            tokens_in=sum(estimate_tokens(json.dumps(p["messages"])) for p, _ in todo),
            tokens_out=sum(r.max_tokens for _, r in todo),
        )

    def usage(self, run_id: str | None = None) -> Usage:
        """Calls and tokens recorded under `run_id` and the runs nested in it (default: this
        LLM's run; for an LLM bound to no run, all calls)."""
        return Usage(*self._connection.calls.usage(run_id or self.run_id))

    # -- internals -------------------------------------------------------------------------

    def _payload(self, request: ChatRequest) -> dict:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        if request.seed is not None:
            payload["seed"] = request.seed if request.sample == 0 else derive_seed(request.seed, request.sample)
        if request.response_format is not None:
            payload["response_format"] = request.response_format
        return payload

    def _request_hash(self, payload: dict, sample: int) -> str:
        keyed = {"backend": self.backend.identity, "sample": sample, **payload}
        return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()

    def _send(self, client: openai.OpenAI, payload: dict) -> tuple[str, dict, str | None, int]:
        """POST the payload as it is: the client's documented `post` skips `create`'s transform of every
        argument into its typed form, which cost a third of the CPU of a call (bench/llm_concurrency.py).
        Returns the reply's text, its usage ({} if the server sent none), its finish reason and the attempts
        it took."""
        (text, usage, finish_reason), attempts = self._retried(lambda: _reply(client.post(
            "/chat/completions", cast_to=httpx2.Response, body=payload,
            options=_OPTIONS | {"timeout": self.timeout_s}).json()))
        return text, usage, finish_reason, attempts

    def _retried(self, send: Callable[[], T]) -> tuple[T, int]:
        """`send()` and the attempts it took, retried with backoff while it fails transiently; LLMError
        (naming the endpoint, the model and the cause) when it fails for good."""
        retrying = Retrying(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    result = send()
        except (openai.OpenAIError, _MalformedResponse, json.JSONDecodeError) as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            after = f" after {attempts} attempts" if attempts > 1 else ""
            raise LLMError(f"{self._where()}: {self._cause(exc)}{after}", attempts=attempts) from exc
        return result, retrying.statistics["attempt_number"]

    def _wait(self, state: RetryCallState) -> float:
        exponential = wait_exponential_jitter(multiplier=self.backoff_s, max=30, jitter=self.backoff_s)(state)
        return max(exponential, _retry_after(state.outcome.exception() if state.outcome else None))

    def _where(self) -> str:
        """The endpoint by its URL (the embedded server's too, never the model file's path) and the model."""
        where = f"endpoint {self.backend.base_url}" if self.backend.base_url else f"embedded server {self.endpoint()}"
        return f"{where} (model {self._connection.model})"

    def _cause(self, exc: BaseException) -> str:
        """What went wrong, for people; the API key is blanked out of anything the endpoint echoed."""
        if isinstance(exc, openai.APITimeoutError):
            cause = f"timed out after {self.timeout_s:g} s"
        elif isinstance(exc, openai.APIConnectionError):
            cause = f"could not connect ({exc.__cause__ or exc})"
        elif isinstance(exc, openai.RateLimitError):
            cause = f"rate limited (HTTP 429): {_short(exc.message)}"
        elif isinstance(exc, openai.APIStatusError):
            cause = f"HTTP {exc.status_code}: {_short(exc.message)}"
        elif isinstance(exc, json.JSONDecodeError):
            cause = f"the response body is not valid JSON ({exc})"
        else:
            cause = str(exc)
        key = self.backend.api_key
        return cause.replace(key, "[API key]") if len(key) >= 8 else cause

    def _check_stop(self) -> None:
        if self._stop is not None and self._stop():
            raise Cancelled("stopped before this model call: the work was cancelled")

    def _cached(self, key: str, payload: dict) -> Completion | None:
        """The cache's answer to the request, recorded as a cache hit; None if it has none."""
        hit = self._connection.calls.lookup(key)
        if hit is None:
            return None
        text, tokens_in, tokens_out = hit
        self._log(key, payload, status="ok", response=text, cache_hit=True, tokens_in=tokens_in, tokens_out=tokens_out)
        finish = "length" if tokens_out >= payload.get("max_tokens", float("inf")) else "stop"
        return Completion(text, payload["model"], tokens_in, tokens_out, 0.0, True, 0, finish)

    def _log_reply(self, key: str, payload: dict, text: str, usage: dict, attempts: int, started: float,
                   *, error: str | None = None, finish_reason: str | None = None) -> Completion:
        """Record a reply from the endpoint ("invalid" with `error` if validation rejected it): its tokens
        as the server counted them, or estimated if it sent no usage."""
        latency_ms = (time.perf_counter() - started) * 1000
        tokens_in = usage.get("prompt_tokens", 0) if usage else estimate_tokens(json.dumps(payload["messages"]))
        tokens_out = usage.get("completion_tokens", 0) if usage else estimate_tokens(text)
        self._log(key, payload, status="ok" if error is None else "invalid", response=text, error=error,
                  attempts=attempts, tokens_in=tokens_in, tokens_out=tokens_out, latency_ms=latency_ms)
        return Completion(text, payload["model"], tokens_in, tokens_out, latency_ms, False, attempts, finish_reason)

    def _log_failure(self, key: str, payload: dict, exc: LLMError, started: float,
                     response: str | None = None) -> None:
        self._log(key, payload, status="error", response=response, error=str(exc), attempts=exc.attempts,
                  latency_ms=(time.perf_counter() - started) * 1000)

    def _log(self, key: str, payload: dict, *, status: str, response: str | None = None,
             error: str | None = None, cache_hit: bool = False, tokens_in: int = 0,
             tokens_out: int = 0, latency_ms: float = 0.0, attempts: int = 0) -> None:
        self._connection.calls.record(CallRecord(
            self.run_id, key, self.backend.kind, self.backend.identity, payload["model"],
            json.dumps(payload), response, status, error, cache_hit, tokens_in, tokens_out,
            latency_ms, attempts,
        ))


_OPTIONS = {"security": {"bearer_auth": True}}  # what `chat.completions.create` sends with each request


def _reply(body: object) -> tuple[str, dict, str | None]:
    """The text, usage and finish reason of a chat completion's JSON body; _MalformedResponse if it is not one."""
    try:
        text = body["choices"][0]["message"]["content"] or ""
        finish_reason = body["choices"][0].get("finish_reason")
        usage = body.get("usage") or {}
    except (KeyError, IndexError, TypeError, AttributeError):
        raise _MalformedResponse(f"the response is not a chat completion: {_short(json.dumps(body), 200)}") from None
    if not isinstance(text, str) or not isinstance(usage, dict):
        raise _MalformedResponse(f"the response is not a chat completion: {_short(json.dumps(body), 200)}")
    return text, usage, finish_reason if isinstance(finish_reason, str) else None


def _first_chunk(chunks: openai.Stream) -> tuple[openai.Stream, object]:
    """The stream and its first chunk (None if it ended at once): reading it is part of the attempt, so
    that an error before the reply begins is retried like a failed request."""
    return chunks, next(chunks, None)


def _delta(chunk: object) -> tuple[str, dict]:
    """The text and usage of one streamed chunk (`choices[0].delta.content`; the last chunk may carry
    only the usage, with no choices); _MalformedResponse if it is not a chat completion chunk."""
    try:
        choices = chunk.get("choices") or []
        text = ((choices[0].get("delta") or {}).get("content") or "") if choices else ""
        usage = chunk.get("usage") or {}
        if not isinstance(text, str) or not isinstance(usage, dict):
            raise TypeError
    except (IndexError, TypeError, AttributeError):
        raise _MalformedResponse(f"the chunk is not a chat completion chunk: {_short(json.dumps(chunk), 200)}") \
            from None
    return text, usage


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
