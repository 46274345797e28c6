"""Reading the log of model calls: list (by run, by text), show one, prune the old ones and their cached
answers; through the functions on both databases, and through `python -m vt_core calls`."""

from datetime import timedelta

import pytest

from tests.conftest import app_store
from tests.scripted_server import Reply
from tests.test_cli import cli
from tests.test_designer_pages import BOT_REPLY, create_project, open_app, pid, server  # noqa: F401 - a fixture
from vt_core.core.config import Settings
from vt_core.core.jobs import submit
from vt_core.core.llm import LLM, get_call, list_calls, prune_calls
from vt_core.core.llm.calls import call_log
from vt_core.core.store import naive_utc

pytestmark = pytest.mark.both_backends  # each test that has a store runs on DuckDB and on PostgreSQL


def echo(request: dict) -> Reply:
    return Reply(content=f"re: {request['messages'][-1]['content']}")


@pytest.fixture
def three_calls(store, make_llm, scripted):
    """Three calls: two in job:1 (one of them in a run nested in it), one in job:2."""
    scripted.respond = echo
    llm = make_llm({"VT_MODEL": "m"})
    llm.for_run("job:1").chat([{"role": "user", "content": "first: 100% sure?"}])
    llm.for_run("job:1").for_run("selfplay:3").chat([{"role": "system", "content": "Be brief."},
                                                     {"role": "user", "content": "second, about CAFE"}])
    llm.for_run("job:2").chat([{"role": "user", "content": "third"}])
    return llm


def test_calls_are_listed_newest_first_by_run_and_by_text(store, three_calls):
    assert [c.run_id for c in list_calls(store)] == ["job:2", "job:1/selfplay:3", "job:1"]
    assert [c.run_id for c in list_calls(store, runs=["job:1"])] == ["job:1/selfplay:3", "job:1"]
    assert [c.run_id for c in list_calls(store, runs=["job:2", "job:1/selfplay:3"])] == ["job:2", "job:1/selfplay:3"]
    assert [c.run_id for c in list_calls(store, runs=["job"])] == []  # a run, not a prefix of its name
    assert list_calls(store, runs=[]) == []
    assert [c.response for c in list_calls(store, search="cafe")] == ["re: second, about CAFE"]  # any case
    assert [c.response for c in list_calls(store, search="re: third")] == ["re: third"]  # in the reply
    assert [c.run_id for c in list_calls(store, search="100%")] == ["job:1"]  # % is a character here
    assert list_calls(store, search="1_0") == []  # and _ too: "100" does not match
    assert len(list_calls(store, limit=2)) == 2


def test_a_call_shows_its_request_reply_and_figures(store, three_calls):
    newest, second, _ = list_calls(store)
    call = get_call(store, second.id)
    assert call.messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "second, about CAFE"}]
    assert (call.response, call.status, call.cache_hit, call.model) == ("re: second, about CAFE", "ok", False, "m")
    assert call.tokens_in > 0 and call.latency_ms > 0 and call.attempts == 1
    with pytest.raises(ValueError, match="no model call 999"):
        get_call(store, 999)


def test_pruning_deletes_the_old_calls_and_their_cached_answers(store, three_calls, scripted):
    assert prune_calls(store, naive_utc() - timedelta(days=1)) == 0
    three_calls.for_run("job:3").chat([{"role": "user", "content": "third"}])  # answered from the cache
    assert len(scripted.requests) == 3
    assert prune_calls(store, naive_utc() + timedelta(seconds=1)) == 4
    assert list_calls(store) == []
    three_calls.chat([{"role": "user", "content": "third"}])  # the cache forgot it: asked again
    assert len(scripted.requests) == 4


def test_the_calls_command(store, store_target, three_calls, tmp_path):
    if store.backend == "duckdb":  # the command's VT_DB_PATH is this file
        target = {}
        call_log(store).close()  # the calls written, then the file closed: DuckDB lets one process open it
        store.close()
    else:
        target = {"VT_DATABASE_URL": store_target}
    listed = cli(["calls", "list", "-q", "CAFE"], target, tmp_path)
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    call_id = int(line.split()[0])
    assert "job:1/selfplay:3" in line and "'re: second, about CAFE'" in line
    shown = cli(["calls", "show", str(call_id)], target, tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "--- system\nBe brief.\n\n--- user\nsecond, about CAFE\n\n--- reply\nre: second, about CAFE" in shown.stdout
    missing = cli(["calls", "show", "999"], target, tmp_path)
    assert missing.returncode != 0 and "no model call 999" in missing.stderr
    pruned = cli(["calls", "prune", "--before", "2999-01-01"], target, tmp_path)
    assert pruned.returncode == 0 and "deleted 3 model calls made before 2999-01-01" in pruned.stdout


def test_the_calls_page_finds_a_call_by_text_and_shows_it_as_text(server):
    """The Model calls page (AppTest): the calls of the project's jobs, one found by a word of its reply,
    opened whole; markup in a message stays text."""
    at = create_project(open_app())
    store = app_store()
    job = submit(store, "note", {}, title="calls of a test", project_id=pid(at))  # a kind no runner takes
    other = submit(store, "note", {}, title="another project's", project_id=pid(at) + 1)
    llm = LLM.from_settings(Settings.from_env({"OPENAI_BASE_URL": server.url, "VT_MODEL": "m"}), store)
    llm.for_run(f"job:{job.id}").chat([{"role": "user", "content": "Which **film** tonight?"}])
    llm.for_run(f"job:{job.id}").chat([{"role": "user", "content": "And tomorrow?"}])
    llm.for_run(f"job:{other.id}").chat([{"role": "user", "content": "Not this project's"}])

    at.switch_page("views/designer/calls.py").run()
    assert not at.exception
    assert list(at.dataframe[0].value["id"]) == [2, 1]  # this project's, newest first
    at.text_input(key="calls_search").input("**FILM**").run()
    assert list(at.dataframe[0].value["id"]) == [1]
    assert at.selectbox(key="calls_open").value == 1
    assert [t.value for t in at.text][:2] == ["Which **film** tonight?", BOT_REPLY]
    at.text_input(key="calls_search").input("nothing like it").run()
    assert at.info[0].value == "No calls match."
