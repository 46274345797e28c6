"""Jobs: long work that outlives the page that started it.

A job is a row of `jobs`: a kind, its parameters, its progress and how it ended. A page or the CLI
`submit`s one and reads it back (`get_job`, `list_jobs`); a `Runner`, a few threads in the server
process, claims queued jobs (one atomic UPDATE each, so several runners on one database never take
the same job) and runs each with its kind's handler: a function that calls the same domain function
a page used to call, with a `JobContext` whose progress is written to the row.

Cancelling sets a flag that the job's LLM checks before each request, so a job stops within one batch
and keeps what finished. A job whose heartbeat stops (its process died) is marked interrupted by any
runner; `resume` queues it again, and the request cache answers every call that had finished.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import astuple, dataclass
from datetime import datetime, timedelta
from typing import Any

from vt_core.core.llm import LLM, Usage, run_usage
from vt_core.core.progress import Cancelled, Progress, StageProgress
from vt_core.core.store import Store, naive_utc

ACTIVE = ("queued", "running")
HEARTBEAT_S = 2.0  # how often a runner says its jobs are alive
STALE_S = 15.0  # a running job silent this long lost its process

log = logging.getLogger(__name__)
_COLUMNS = ("id, kind, params, project_id, study_id, title, status, stage, done, total, result, error,"
            " cancel_requested, worker, llm_run, created_at, started_at, finished_at, heartbeat_at,"
            " calls, cache_hits, errors, tokens_in, tokens_out, model")


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    params: dict
    project_id: int | None
    study_id: int | None
    title: str
    status: str
    stage: str
    done: int
    total: int
    result: dict | None
    error: str | None
    cancel_requested: bool
    worker: str | None
    llm_run: str | None  # the LLM run its calls count towards besides its own (a study session's)
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    usage: Usage  # its model and cost so far, as of the runner's last heartbeat

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def run_id(self) -> str:
        """The LLM run id of the job's calls (`usage` is their sum when the runner last wrote it)."""
        return f"{self.llm_run}/job:{self.id}" if self.llm_run else f"job:{self.id}"


def _job(row) -> Job:
    values = list(row)
    values[2] = json.loads(values[2])
    values[10] = json.loads(values[10]) if values[10] is not None else None
    return Job(*values[:19], Usage(*values[19:]))


_wakeup = threading.Event()  # set by submit and resume, so a runner in this process starts at once
_current: ContextVar[int | None] = ContextVar("vt_job", default=None)


def current_job_id() -> int | None:
    """The job the calling thread is running, if any. A domain run records it, so that a run its job left
    unfinished reads as interrupted (see `run_status`)."""
    return _current.get()


def run_status(table: str) -> str:
    """SQL for the status of a domain run in `table` (a row with `status` and `job_id`): 'interrupted' for
    one still 'running' whose job has ended (its process stopped under it, or it failed before the run
    was closed), else the stored status."""
    return (f"CASE WHEN {table}.status = 'running' AND EXISTS (SELECT 1 FROM jobs WHERE jobs.id = {table}.job_id"
            f" AND jobs.status NOT IN ('queued', 'running')) THEN 'interrupted' ELSE {table}.status END")


def submit(store: Store, kind: str, params: Mapping[str, Any], *, title: str, project_id: int | None = None,
           study_id: int | None = None, llm_run: str | None = None) -> Job:
    """Queue a job; it returns at once. `params` must be JSON: what the handler needs to run it again."""
    job_id = store.transaction(lambda db: db.execute(
        "INSERT INTO jobs (kind, params, project_id, study_id, title, status, llm_run)"
        " VALUES (?, ?, ?, ?, ?, 'queued', ?) RETURNING id",
        [kind, json.dumps(dict(params)), project_id, study_id, title, llm_run]).fetchone()[0])
    _wakeup.set()
    return get_job(store, job_id)


def get_job(store: Store, job_id: int) -> Job:
    row = store.cursor().execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", [job_id]).fetchone()
    if row is None:
        raise KeyError(f"no job {job_id}")
    return _job(row)


def list_jobs(store: Store, *, project_id: int | None = None, study_id: int | None = None, kind: str | None = None,
              limit: int = 50) -> list[Job]:
    """Jobs, newest first; of one project, study or kind when given."""
    rows = store.cursor().execute(
        f"SELECT {_COLUMNS} FROM jobs WHERE (CAST(? AS BIGINT) IS NULL OR project_id = ?)"
        " AND (CAST(? AS BIGINT) IS NULL OR study_id = ?) AND (CAST(? AS VARCHAR) IS NULL OR kind = ?)"
        " ORDER BY id DESC LIMIT ?",
        [project_id, project_id, study_id, study_id, kind, kind, limit]).fetchall()
    return [_job(row) for row in rows]


def count_jobs(store: Store) -> tuple[int, int]:
    """(jobs, of which queued or running): one narrow query, for a page to decide what to show before it
    reads any job."""
    total, active = store.cursor().execute(
        "SELECT count(*), count(*) FILTER (WHERE status IN ('queued', 'running')) FROM jobs").fetchone()
    return total, active


def cancel(store: Store, job_id: int) -> Job:
    """Ask a job to stop: a queued one never starts; a running one stops before its next model call."""
    store.transaction(lambda db: db.execute(
        "UPDATE jobs SET cancel_requested = true,"
        " status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,"
        " finished_at = CASE WHEN status = 'queued' THEN ? ELSE finished_at END"
        " WHERE id = ? AND status IN ('queued', 'running')", [naive_utc(), job_id]))
    return get_job(store, job_id)


def resume(store: Store, job_id: int) -> Job:
    """Queue an interrupted or failed job again, with the same parameters; finished calls come from
    the request cache."""
    resumed = store.transaction(lambda db: db.execute(
        "UPDATE jobs SET status = 'queued', error = NULL, cancel_requested = false, stage = '', done = 0,"
        " total = 0, worker = NULL, started_at = NULL, finished_at = NULL, heartbeat_at = NULL"
        " WHERE id = ? AND status IN ('interrupted', 'failed') RETURNING id", [job_id]).fetchall())
    if not resumed:
        raise ValueError(f"job {job_id} is {get_job(store, job_id).status}: only an interrupted or failed job "
                         f"can be resumed")
    _wakeup.set()
    return get_job(store, job_id)


def mark_interrupted(store: Store, *, stale_s: float = STALE_S, now: datetime | None = None) -> int:
    """Mark as interrupted the running jobs whose process is gone: its heartbeat stopped `stale_s` ago,
    or it ran on this machine and that process no longer exists. How many there were."""
    cutoff = naive_utc(now) - timedelta(seconds=stale_s)
    lost = [job_id for job_id, worker, beat in store.cursor().execute(
        "SELECT id, worker, coalesce(heartbeat_at, started_at) FROM jobs WHERE status = 'running'").fetchall()
        if beat < cutoff or _gone(worker)]
    if not lost:  # the usual case, every heartbeat: no write
        return 0
    return len(store.transaction(lambda db: db.execute(
        "UPDATE jobs SET status = 'interrupted', finished_at = ?,"
        " error = 'the process running it stopped (a restart or a crash); resume it to run it again'"
        " WHERE id = ANY(CAST(? AS BIGINT[])) AND status = 'running' RETURNING id",
        [naive_utc(now), lost]).fetchall()))


def _gone(worker: str | None) -> bool:
    """Whether `worker` (host:pid) was a process of this machine that has ended."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class _CancelCheck:
    """Whether someone asked a job to stop: one indexed read of its row, before each model call."""

    def __init__(self, store: Store, job_id: int):
        self.store, self.job_id = store, job_id
        self._cancelled = False

    def __call__(self) -> bool:
        if not self._cancelled:
            self._cancelled = bool(self.store.cursor().execute(
                "SELECT cancel_requested FROM jobs WHERE id = ?", [self.job_id]).fetchone()[0])
        return self._cancelled


@dataclass(frozen=True)
class JobContext:
    """What a handler gets: the job, the store, an LLM whose calls count towards the job and stop once
    it is cancelled, `cancelled()`, and `progress(stage, done, total)`, which writes the job's row."""

    job: Job
    store: Store
    llm: LLM
    cancelled: Callable[[], bool]
    echo: StageProgress | None = None  # the CLI's progress bar, when it runs the job in the foreground

    @property
    def params(self) -> dict:
        return self.job.params

    def progress(self, stage: str, done: int, total: int) -> None:
        self.store.transaction(lambda db: db.execute(
            "UPDATE jobs SET stage = ?, done = ?, total = ?, heartbeat_at = ? WHERE id = ?",
            [stage, done, total, naive_utc(), self.job.id]))
        if self.echo:
            self.echo(stage, done, total)

    def stage(self, stage: str) -> Progress:
        """The `Progress` callback of one stage."""
        return lambda done, total: self.progress(stage, done, total)


Handler = Callable[[JobContext], Mapping[str, Any] | None]


def run_job(store: Store, llm: LLM, job: Job, handler: Handler, echo: StageProgress | None = None) -> Job:
    """Run a claimed job to its end and record how it ended: done with its result, cancelled (with what
    it kept, when the handler returned it), or failed with its error. Nothing escapes but a crash.
    `echo` sees the progress too (the CLI runs jobs in the foreground this way)."""
    cancelled = _CancelCheck(store, job.id)
    bound = llm.for_run(job.llm_run) if job.llm_run else llm
    context = JobContext(job, store, bound.for_run(f"job:{job.id}").until(cancelled), cancelled, echo)
    result, error = None, None
    token = _current.set(job.id)
    try:
        result = handler(context)
    except Cancelled:
        pass
    except Exception as exc:  # noqa: BLE001 - the job's end, recorded for the person who started it
        error = str(exc) or type(exc).__name__
        log.warning("job %d (%s) failed: %s", job.id, job.kind, error)
    finally:
        _current.reset(token)
    status = "cancelled" if context.cancelled() else "failed" if error else "done"
    _record_usage(store, [job])
    store.transaction(lambda db: db.execute(
        "UPDATE jobs SET status = ?, result = ?, error = ?, finished_at = ?, heartbeat_at = ? WHERE id = ?",
        [status, json.dumps(dict(result)) if result is not None else None, None if status == "cancelled" else error,
         naive_utc(), naive_utc(), job.id]))
    return get_job(store, job.id)


def _record_usage(store: Store, jobs: list[Job]) -> None:
    """Write on each job's row its model and cost so far, summed from the call log, so that pages read one
    row. The counts only grow, so a late heartbeat never undoes a later sum. If the log cannot be read,
    the rows keep their last figures."""

    def write(db) -> None:
        for job_id, u in usage.items():
            db.execute(
                "UPDATE jobs SET calls = greatest(calls, ?), cache_hits = greatest(cache_hits, ?),"
                " errors = greatest(errors, ?), tokens_in = greatest(tokens_in, ?),"
                " tokens_out = greatest(tokens_out, ?), model = coalesce(?, model) WHERE id = ?",
                [*astuple(u), job_id])

    try:
        usage = {job.id: run_usage(store, job.run_id) for job in jobs}
        if usage:
            store.transaction(write)
    except Exception:  # noqa: BLE001 - figures for people: a job's end or heartbeat must not fail for them
        log.exception("could not write the model calls of jobs %s", sorted(job.id for job in jobs))

def claim(store: Store, worker: str, kinds: list[str], job_id: int | None = None) -> Job | None:
    """The oldest queued job of these kinds (or job `job_id`, if it is queued), now running in `worker`;
    None when there is none. One statement, so two runners never take the same job; an idle runner's
    polls cost a plain read."""
    if job_id is None and store.cursor().execute("SELECT 1 FROM jobs WHERE status = 'queued' LIMIT 1").fetchone() is None:
        return None
    row = store.transaction(lambda db: db.execute(
        "UPDATE jobs SET status = 'running', worker = ?, started_at = ?, heartbeat_at = ?"
        " WHERE id = (SELECT min(id) FROM jobs WHERE status = 'queued' AND kind = ANY(CAST(? AS VARCHAR[]))"
        "  AND (CAST(? AS BIGINT) IS NULL OR id = ?)) AND status = 'queued' RETURNING id",
        [worker, naive_utc(), naive_utc(), kinds, job_id, job_id]).fetchone())
    return get_job(store, row[0]) if row else None


class JobError(RuntimeError):
    """A job run in the foreground did not finish; the message says how it ended and why."""


def run_here(store: Store, llm: LLM, job: Job, handlers: Mapping[str, Handler],
             echo: StageProgress | None = None) -> Job:
    """Run a queued job in this thread (the CLI's foreground), recorded in the jobs table like any other;
    JobError unless it finished."""
    claimed = claim(store, worker_name(), [job.kind], job.id)
    if claimed is None:
        raise JobError(f"job {job.id} is {get_job(store, job.id).status}, not queued")
    ended = run_job(store, llm, claimed, handlers[job.kind], echo)
    if ended.status != "done":
        raise JobError(f"job {ended.id} ({ended.title}) {ended.status}" + (f": {ended.error}" if ended.error else ""))
    return ended


class Runner:
    """`workers` threads that run the queued jobs of this store with `handlers` (kind -> handler), and a
    heartbeat thread that keeps their jobs alive and marks silent ones interrupted. Daemon threads: they
    end with the process, and a job cut off that way is found interrupted."""

    def __init__(self, store: Store, llm: LLM, handlers: Mapping[str, Handler], *, workers: int = 2):
        self.store, self.llm, self.handlers, self.workers = store, llm, dict(handlers), workers
        self.name = worker_name()
        self._running: dict[int, Job] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> Runner:
        mark_interrupted(self.store)
        self._threads = [threading.Thread(target=self._work, name=f"vt-job-{i}", daemon=True)
                         for i in range(self.workers)]
        self._threads.append(threading.Thread(target=self._beat, name="vt-job-heartbeat", daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, wait: bool = True) -> None:
        """Stop taking jobs; with `wait`, wait for those running to end."""
        self._stop.set()
        _wakeup.set()
        for thread in self._threads if wait else ():
            thread.join()

    def _work(self) -> None:
        kinds = sorted(self.handlers)
        while not self._stop.is_set():
            try:
                job = claim(self.store, self.name, kinds)
            except Exception:  # noqa: BLE001 - the database went away (closed, or a failing disk)
                log.exception("could not claim a job; this worker stops")
                return
            if job is None:
                _wakeup.wait(0.5)
                _wakeup.clear()
                continue
            with self._lock:
                self._running[job.id] = job
            try:
                run_job(self.store, self.llm, job, self.handlers[job.kind])
            except Exception:  # noqa: BLE001 - its end went unrecorded: the row, no longer beating, turns interrupted
                log.exception("job %d ended but could not be recorded", job.id)
            finally:
                with self._lock:
                    self._running.pop(job.id, None)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with self._lock:
                running = list(self._running.values())
            try:
                if running:
                    self.store.transaction(lambda db: db.execute(
                        "UPDATE jobs SET heartbeat_at = ? WHERE id = ANY(CAST(? AS BIGINT[])) AND status = 'running'",
                        [naive_utc(), [job.id for job in running]]))
                mark_interrupted(self.store)
            except Exception:  # noqa: BLE001 - a heartbeat that fails once must not stop the next
                log.exception("the job heartbeat failed")
            _record_usage(self.store, running)
