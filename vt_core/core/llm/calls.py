"""The log of every LLM call, in the `llm_calls` table, which also serves as the request cache.

Two things keep the log off the critical path of a batch. Rows are written by one background
thread in batched transactions: DuckDB commits one transaction at a time (about 0.5 ms each),
and 16 concurrent workers would otherwise queue for it once per call. And the hashes of all
cacheable requests are kept in memory (about 65 bytes each), so a request that was never made
before, the usual case, is known to miss without a query. Until a row is written, lookups find
it in memory; every read of the table waits for the writer first.

A batch the database refuses (a full disk, say) is not dropped: it is logged as an error where
it happened and kept, written again with the next batch, and `flush` raises while it waits.

`list_calls` and `get_call` read the log (`python -m vt_core calls`); `CallLog.prune` deletes the calls
made before a date, and with them their answers from the cache.
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from datetime import datetime

from vt_core.core.store import DATABASE_ERRORS, Store, insert_rows, naive_utc

BATCH = 256
LINGER_S = 0.05  # how long the writer waits for more calls to join a batch: fewer, larger transactions

log = logging.getLogger(__name__)

_INSERT = (
    "INSERT INTO llm_calls (run_id, request_hash, backend, endpoint, model, request, response,"
    " status, error, cache_hit, tokens_in, tokens_out, latency_ms, attempts)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True)
class CallRecord:
    run_id: str | None
    request_hash: str
    backend: str
    endpoint: str
    model: str
    request: str  # JSON
    response: str | None
    status: str  # "ok", "error" or "invalid"
    error: str | None
    cache_hit: bool
    tokens_in: int
    tokens_out: int
    latency_ms: float
    attempts: int

    @property
    def cacheable(self) -> bool:
        return self.status == "ok" and not self.cache_hit


class CallLog:
    """One per store (see `call_log`), shared by every LLM that writes to it."""

    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._queue: queue.Queue[CallRecord | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._write_lock = threading.Lock()  # one insert at a time: the writer's, or flush's retry
        self._unwritten: list[CallRecord] = []  # refused by the database, written with the next batch
        self._failure: Exception | None = None
        self._pending: dict[str, CallRecord] = {}  # cacheable rows not yet written
        self._cacheable = self._stored_hashes()

    def record(self, call: CallRecord) -> None:
        with self._lock:
            if call.cacheable:
                self._pending.setdefault(call.request_hash, call)
                self._cacheable.add(bytes.fromhex(call.request_hash))
            if self._writer is None:
                self._writer = threading.Thread(target=self._write, name="llm-call-log", daemon=True)
                self._writer.start()
        self._queue.put(call)

    def lookup(self, request_hash: str) -> tuple[str, int, int] | None:
        """The cached reply to a request as (text, tokens_in, tokens_out), or None."""
        with self._lock:
            if bytes.fromhex(request_hash) not in self._cacheable:
                return None
            pending = self._pending.get(request_hash)
        if pending is not None:
            return pending.response, pending.tokens_in, pending.tokens_out
        return self.store.cursor().execute(
            "SELECT response, tokens_in, tokens_out FROM llm_calls"
            " WHERE request_hash = ? AND status = 'ok' AND NOT cache_hit ORDER BY id LIMIT 1",
            [request_hash],
        ).fetchone()

    def cached(self, request_hashes: list[str]) -> set[str]:
        """Which of these requests the cache can answer."""
        with self._lock:
            return {h for h in request_hashes if bytes.fromhex(h) in self._cacheable}

    def usage(self, run_id: str | None) -> tuple[int, int, int, int, int, str | None]:
        """(calls, cache hits, errors, tokens in, tokens out, model) for a run and the runs nested in
        it, or for all calls; the model is the one they called (the greatest name if several), None
        before any call."""
        self.flush()
        row = self.store.cursor().execute(
            "SELECT count(*), count(*) FILTER (WHERE cache_hit), count(*) FILTER (WHERE status <> 'ok'),"
            " coalesce(sum(tokens_in) FILTER (WHERE NOT cache_hit), 0),"
            " coalesce(sum(tokens_out) FILTER (WHERE NOT cache_hit), 0), max(model)"
            " FROM llm_calls WHERE CAST(? AS VARCHAR) IS NULL OR run_id = ?"
            " OR starts_with(run_id, CAST(? AS VARCHAR) || '/')",
            [run_id, run_id, run_id],
        ).fetchone()
        return (*(int(v) for v in row[:5]), row[5])

    def prune(self, before: datetime) -> int:
        """Delete the calls made before `before` (their answers leave the cache); how many there were."""
        self.flush()
        with self._lock:  # no lookup between the delete and the cache's new contents
            deleted = self.store.transaction(lambda db: db.execute(
                "DELETE FROM llm_calls WHERE created_at < ? RETURNING id", [naive_utc(before)]).fetchall())
            self._cacheable = self._stored_hashes()
        return len(deleted)

    def _stored_hashes(self) -> set[bytes]:
        """The requests the table can answer (a cacheable row each)."""
        return {bytes.fromhex(row[0]) for row in self.store.cursor().execute(
            "SELECT DISTINCT request_hash FROM llm_calls WHERE status = 'ok' AND NOT cache_hit").fetchall()}

    def flush(self) -> None:
        """Wait until every recorded call is in the table. Calls the database refused before are
        tried once more now; if they are refused again, raise (they stay kept for the next try)."""
        self._queue.join()
        self._insert([])
        if self._failure is not None:
            raise RuntimeError(f"{len(self._unwritten)} model calls could not be written to llm_calls "
                               f"({self._failure}); they are kept and written when the database accepts them"
                               ) from self._failure

    def close(self) -> None:
        """Write what is queued and stop the writer (at exit, so its cursor is released)."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(None)
            writer.join()

    def _write(self) -> None:
        while True:
            batch = [self._queue.get()]
            deadline = time.monotonic() + LINGER_S
            while batch[-1] is not None and len(batch) < BATCH:
                try:
                    batch.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            try:
                self._insert([call for call in batch if call is not None])
            finally:
                for _ in batch:
                    self._queue.task_done()
            if batch[-1] is None:
                if self._unwritten:
                    log.error("%d model calls were never written to llm_calls: %s", len(self._unwritten),
                              self._failure)
                self.store.cursor().close()
                return

    def _insert(self, calls: list[CallRecord]) -> None:
        """Write `calls` and those refused before, in one transaction; if the database refuses them,
        log it and keep them all for the next try."""
        with self._write_lock:
            calls = self._unwritten + calls
            if not calls:
                return
            try:
                self.store.transaction(lambda db: insert_rows(db, _INSERT, [astuple(call) for call in calls]))
            except DATABASE_ERRORS as exc:
                self._unwritten, self._failure = calls, exc
                log.error("could not write %d model calls to llm_calls; kept to write with the next batch: %s",
                          len(calls), exc)
                return
            self._unwritten, self._failure = [], None
        with self._lock:
            for call in calls:
                if self._pending.get(call.request_hash) is call:
                    del self._pending[call.request_hash]


@dataclass(frozen=True)
class Call(CallRecord):
    """A row of the log, as `list_calls` and `get_call` read it: the record, its id and when it was made."""

    id: int
    created_at: datetime

    @property
    def messages(self) -> list[dict]:
        return json.loads(self.request).get("messages", [])

    @property
    def parameters(self) -> dict:
        """What was sent beside the messages (model, temperature, ...)."""
        return {k: v for k, v in json.loads(self.request).items() if k != "messages"}


_CALL_COLUMNS = ("run_id, request_hash, backend, endpoint, model, request, response, status, error, cache_hit,"
                 " tokens_in, tokens_out, latency_ms, attempts, id, created_at")  # Call's fields, in order


def _like(text: str) -> str:
    """`text` anywhere, as a LIKE pattern: its own % and _ match only themselves."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def list_calls(store: Store, *, runs: Sequence[str] | None = None, search: str | None = None,
               limit: int = 50) -> list[Call]:
    """The newest calls first: those of `runs` and of the runs nested in them (e.g. ["job:7"]), those whose
    request or reply holds `search` (in any case), at most `limit`."""
    call_log(store).flush()
    rows = store.cursor().execute(
        f"SELECT {_CALL_COLUMNS} FROM llm_calls"
        " WHERE (CAST(? AS VARCHAR[]) IS NULL OR EXISTS (SELECT 1 FROM unnest(CAST(? AS VARCHAR[])) AS r(run)"
        "        WHERE run_id = r.run OR starts_with(run_id, r.run || '/')))"
        " AND (CAST(? AS VARCHAR) IS NULL OR CAST(request AS VARCHAR) ILIKE ? ESCAPE '\\'"
        "      OR response ILIKE ? ESCAPE '\\')"
        " ORDER BY id DESC LIMIT ?",
        [runs, runs, search, *[_like(search or "")] * 2, limit]).fetchall()
    return [Call(*row) for row in rows]


def prune_calls(store: Store, before: datetime) -> int:
    """Delete the calls made before `before`, and their answers from the cache; how many there were."""
    return call_log(store).prune(before)


def get_call(store: Store, call_id: int) -> Call:
    call_log(store).flush()
    row = store.cursor().execute(f"SELECT {_CALL_COLUMNS} FROM llm_calls WHERE id = ?", [call_id]).fetchone()
    if row is None:
        raise ValueError(f"no model call {call_id}")
    return Call(*row)


_logs: weakref.WeakKeyDictionary[Store, CallLog] = weakref.WeakKeyDictionary()
_logs_lock = threading.Lock()


@atexit.register
def _close_all() -> None:
    for log in list(_logs.values()):
        log.close()


def call_log(store: Store) -> CallLog:
    """The store's call log, so that every LLM on one store shares one cache and one writer."""
    with _logs_lock:
        log = _logs.get(store)
        if log is None:
            log = _logs[store] = CallLog(store)
        return log
