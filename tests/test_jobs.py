"""Jobs on a real DuckDB file and the scripted server: queued, claimed once, run by a runner's threads
with their progress in the row, cancelled between model calls keeping what finished, marked
interrupted when their process is gone, and resumed from the request cache."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest

from tests.conftest import app_store, finish_jobs, wait_for
from tests.scripted_server import Reply, ScriptedServer
from tests.scripted_worlds import PROMPT, EmojiWorld
from tests.test_selfplay import is_simulator, project, scripted_conversation  # noqa: F401 - the project fixture
from vt_core.core.jobs import (
    Runner,
    cancel,
    claim,
    get_job,
    list_jobs,
    mark_interrupted,
    resume,
    run_job,
    submit,
)
from vt_core.core.llm import run_usage
from vt_core.core.store import naive_utc
from vt_core.designer import (
    JOBS,
    add_pattern,
    add_scenario,
    create_project,
    generate_personas,
    leaderboard,
    list_patterns,
    list_refine_runs,
    list_selfplay_runs,
    plan_for_project,
    submit_judging,
    submit_refine,
    submit_selfplay,
    update_pattern,
)
from vt_core.designer.transcripts import list_transcripts

pytestmark = pytest.mark.both_backends  # each test that has a store runs on DuckDB and on PostgreSQL


def selfplay_job(store, project, n: int, *, max_turns: int = 2, seed: int = 3):
    plan = plan_for_project(store, project.id, n, seed)
    return submit_selfplay(store, project.id, project.current_version_id, plan, max_turns=max_turns, seed=seed)


def test_a_selfplay_job_runs_in_the_background_and_records_its_result(store, make_llm, scripted, project):
    scripted.respond = scripted_conversation
    job = selfplay_job(store, project, 3)
    assert (job.status, job.kind, job.project_id) == ("queued", "selfplay", project.id)
    assert job.title == f"Self-play: 3 conversations of v{project.current_version_id}"
    runner = Runner(store, make_llm(), JOBS, workers=1).start()
    try:
        done = wait_for(lambda: (j := get_job(store, job.id)).status not in ("queued", "running") and j, what="the job")
    finally:
        runner.stop()
    assert (done.status, done.error, done.stage, done.done, done.total) == ("done", None, "conversations", 3, 3)
    [run] = list_selfplay_runs(store, project.id)
    assert done.result == {"run_id": run.id, "number": run.number,
                           "transcript_ids": [t.id for t in list_transcripts(store, project.id)]}
    assert run.status == "done" and len(done.result["transcript_ids"]) == 3
    usage = run_usage(store, done.run_id)
    assert usage.calls == len(scripted.requests) == 3 * 2 * 2  # every call counted towards the job
    assert done.usage == usage and usage.model == scripted.chat_requests[0]["model"]  # on its row, for pages
    assert done.worker and done.started_at <= done.finished_at


def test_cancel_stops_within_the_batch_and_keeps_the_finished_conversations(store, make_llm, scripted, project):
    """Two at a time, one exchange each: the first two conversations end; the next two wait in their
    simulated user's call until the job is cancelled, then stop before their bot's call. (Counted by the
    simulated user's calls: a conversation that ends early may start the third before the second's bot
    call is sent.)"""
    release, lock, answered, users = threading.Event(), threading.Lock(), [], []

    def first_two_then_wait(request):
        with lock:
            answered.append(request)
            if is_simulator(request):
                users.append(request)
            later = is_simulator(request) and len(users) > 2
        if later:
            release.wait(10)
        return scripted_conversation(request)

    scripted.respond = first_two_then_wait
    job = selfplay_job(store, project, 8, max_turns=1)
    runner = Runner(store, make_llm({"VT_CONCURRENCY": "2"}), JOBS, workers=1).start()
    try:
        wait_for(lambda: len(answered) == 6, what="the third and fourth conversations' first calls")
        wait_for(lambda: get_job(store, job.id).usage.calls == 4, what="the heartbeat's count of the calls so far")
        assert cancel(store, job.id).cancel_requested
        release.set()
        ended = wait_for(lambda: (j := get_job(store, job.id)).status != "running" and j, what="the job's end")
    finally:
        release.set()
        runner.stop()
    assert (ended.status, ended.error) == ("cancelled", None)
    kept = list_transcripts(store, project.id)
    assert len(kept) == 2 and ended.result["transcript_ids"] == [t.id for t in kept]
    assert all(len(t.turns) == 2 for t in kept)  # whole conversations only
    assert len(scripted.requests) == 6  # nothing was sent after the cancel
    [run] = list_selfplay_runs(store, project.id)
    assert (run.status, run.error) == ("failed", "cancelled: 2 of 8 conversations had ended and are stored")


def test_a_queued_job_cancelled_never_starts(store, make_llm, scripted, project):
    job = selfplay_job(store, project, 2)
    assert cancel(store, job.id).status == "cancelled"
    assert claim(store, "w", list(JOBS)) is None
    assert scripted.requests == []


def test_two_runners_never_run_one_job_twice(store, make_llm):
    seen = Counter()
    lock = threading.Lock()

    def count(job):
        with lock:
            seen[job.params["n"]] += 1
        job.progress("counting", 1, 1)
        return {"n": job.params["n"]}

    jobs = [submit(store, "count", {"n": i}, title=f"count {i}") for i in range(24)]
    runners = [Runner(store, make_llm(), {"count": count}, workers=3).start() for _ in range(2)]
    try:
        wait_for(lambda: all(get_job(store, j.id).status == "done" for j in jobs), what="every job")
    finally:
        for runner in runners:
            runner.stop()
    assert seen == Counter(range(24))
    assert {get_job(store, j.id).result["n"] for j in jobs} == set(range(24))


def test_a_failing_job_says_why_and_a_silent_one_is_interrupted_then_resumed_from_the_cache(
        store, make_llm, scripted, project):
    scripted.respond = scripted_conversation
    llm = make_llm()
    first = selfplay_job(store, project, 2)
    assert run_job(store, llm, claim(store, "w", ["selfplay"]), JOBS["selfplay"]).status == "done"
    calls = len(scripted.requests)

    # The same work again, in a process that died while running it: its heartbeat stopped.
    again = selfplay_job(store, project, 2)
    claimed = claim(store, "dead-host:1", ["selfplay"])
    assert claimed.id == again.id
    assert mark_interrupted(store, now=naive_utc() + timedelta(seconds=5)) == 0  # still fresh
    assert mark_interrupted(store, now=naive_utc() + timedelta(minutes=1)) == 1
    interrupted = get_job(store, again.id)
    assert interrupted.status == "interrupted" and "resume it" in interrupted.error
    assert resume(store, again.id).status == "queued"
    resumed = run_job(store, llm, claim(store, "w", ["selfplay"]), JOBS["selfplay"])
    assert resumed.status == "done" and len(resumed.result["transcript_ids"]) == 2
    assert len(scripted.requests) == calls  # every call answered from the cache
    assert run_usage(store, resumed.run_id).cache_hits == run_usage(store, resumed.run_id).calls > 0
    assert resumed.usage == run_usage(store, resumed.run_id)  # both attempts' calls
    with pytest.raises(ValueError, match="only an interrupted or failed job can be resumed"):
        resume(store, first.id)

    scripted.respond = lambda request: Reply(status=400)
    failing = selfplay_job(store, project, 1, seed=99)
    failed = run_job(store, llm, claim(store, "w", ["selfplay"]), JOBS["selfplay"])
    assert failed.id == failing.id and failed.status == "failed"
    assert "1 of 1 conversations failed" in failed.error and f"endpoint {scripted.url}" in failed.error
    assert [j.id for j in list_jobs(store, project_id=project.id)] == [failing.id, again.id, first.id]


def refinable(store, name: str = "Movie bot"):
    project = create_project(store, name, goal="recommend films", audience="film fans", prompt=PROMPT)
    generate_personas(store, project.id, 2, seed=0)
    for i, split in enumerate(["train", "train", "heldout"]):
        add_scenario(store, project.id, title=f"s{i}", description=f"situation {i}", user_goal="a film",
                     difficulty=1, split=split)
    pattern = add_pattern(store, project.id, "avoid", "The bot uses emojis in its replies")
    update_pattern(store, pattern.id, status="accepted")
    return project


def test_a_refinement_job_and_one_cancelled_while_its_candidates_are_written(store, make_llm, scripted):
    project = refinable(store)
    scripted.respond = EmojiWorld()
    llm = make_llm()
    settings = dict(rounds=1, k=1, n_train=2, n_heldout=1, max_turns=1, seed=0)
    submit_refine(store, project.id, **settings)
    done = run_job(store, llm, claim(store, "w", list(JOBS)), JOBS["refine"])
    assert done.status == "done" and done.result["stopped"] == "ran every round (1)"
    assert [c.status for c in leaderboard(store, done.result["refine_run_id"])] == ["evaluated", "baseline"]

    world = EmojiWorld()
    job = submit_refine(store, project.id, **{**settings, "seed": 1})

    def cancel_at_the_writer(request):
        if request["messages"][0]["content"].startswith("You improve the system prompt"):
            cancel(store, job.id)  # the designer presses Cancel while the candidates are written
        return world(request)

    scripted.respond = cancel_at_the_writer
    ended = run_job(store, llm, claim(store, "w", list(JOBS)), JOBS["refine"])
    assert (ended.status, ended.error, ended.result) == ("cancelled", None, None)
    run = list_refine_runs(store, project.id)[0]
    assert run.status == "failed" and "cancelled" in run.error
    # The writer's call under way was the last: the candidate's conversations were never played.
    assert scripted.chat_requests[-1]["messages"][0]["content"].startswith("You improve the system prompt")


def test_two_jobs_at_once_on_two_projects_both_finish(store, make_llm, scripted, project):
    """Self-play on one project and refinement on another, side by side on a runner of two workers;
    then judging, a third kind, on the refined project."""
    other = refinable(store, "Film bot")
    world = EmojiWorld()
    scripted.respond = world
    # One call at a time per job: two calls in flight together are the two jobs'.
    scripted.hold_until_together(2)
    selfplay = selfplay_job(store, project, 3)
    refinement = submit_refine(store, other.id, rounds=1, k=1, n_train=2, n_heldout=1, max_turns=1, seed=0)
    runner = Runner(store, make_llm({"VT_CONCURRENCY": "1"}), JOBS, workers=2).start()
    try:
        wait_for(lambda: all(get_job(store, j.id).status == "done" for j in (selfplay, refinement)), what="both")
        assert scripted.max_in_flight == 2
        judging = submit_judging(store, other.id)
        done = wait_for(lambda: (j := get_job(store, judging.id)).status == "done" and j, what="the judging")
    finally:
        runner.stop()
    assert len(get_job(store, selfplay.id).result["transcript_ids"]) == 3
    assert get_job(store, refinement.id).result["stopped"] == "ran every round (1)"
    [pattern] = list_patterns(store, other.id)
    assert done.result == {"pattern_ids": [pattern.id]} and done.stage == "verdicts"


def test_a_job_that_fails_says_why_on_its_page_and_in_the_sidebar(app_env, monkeypatch):
    """An endpoint that answers every call with 429: the job fails once, with one clear error naming the
    endpoint and the cause, and nothing is stored as a finished transcript."""
    from streamlit.testing.v1 import AppTest

    with ScriptedServer(Reply(status=429)) as server:
        app_env(server.url)
        monkeypatch.setenv("VT_LLM_ATTEMPTS", "2")
        store = app_store()
        project = create_project(store, "Movie bot", goal="recommend films", audience="film fans", prompt=PROMPT)
        generate_personas(store, project.id, 1, seed=0)
        add_scenario(store, project.id, title="s", description="d", user_goal="a film", difficulty=1)
        at = AppTest.from_file("../app.py", default_timeout=30).run()
        at.switch_page("views/designer/selfplay.py").run()
        at.number_input(key="sp_n").set_value(1)
        at.button(key="sp_run").click().run()
        [job] = finish_jobs(store)
        at.run()
    assert job.status == "failed"
    errors = [e.value.replace("\\", "") for e in at.error]  # as shown: the Markdown escapes taken out
    assert len(errors) == 1 and errors[0].startswith("Self-play: 1 conversations of v1: failed.")
    assert f"endpoint {server.url}" in errors[0] and "rate limited (HTTP 429)" in errors[0]
    assert any("#1 Self-play: 1 conversations of v1: failed; 1 calls" in c.value.replace("\\", "") for c in at.caption)
    assert list_transcripts(store, project.id) == [] and list_selfplay_runs(store, project.id)[0].status == "failed"
    assert [b.label for b in at.button if b.label == "Resume"] == ["Resume"]
