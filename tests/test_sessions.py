"""Study-session events and measures, on a real DuckDB and a real LLM against the scripted server."""

from datetime import timedelta

import pytest

from vt_core.designer.sessions import log_event, session_events, session_measures, session_run_id


def test_events_are_appended_in_order_with_their_detail(store):
    first = log_event(store, "S1", "started")
    second = log_event(store, "S1", "version_saved", project_id=3, version_id=7, page="playground")
    log_event(store, "S2", "started")

    logged = session_events(store, "S1")
    assert [e.id for e in logged] == [first, second]
    assert [e.kind for e in logged] == ["started", "version_saved"]
    assert logged[0].project_id is None and logged[0].detail == {}
    assert logged[1].project_id == 3
    assert logged[1].detail == {"version_id": 7, "page": "playground"}
    assert [e.session_id for e in session_events(store, "S2")] == ["S2"]
    assert session_events(store, "nobody") == []


@pytest.mark.parametrize("session_id, kind", [("S1", "clicked"), ("", "started"), ("  ", "started")])
def test_unknown_kinds_and_empty_sessions_are_refused(store, session_id, kind):
    with pytest.raises(ValueError):
        log_event(store, session_id, kind)
    assert store.cursor().execute("SELECT count(*) FROM session_events").fetchone()[0] == 0


def test_measures_count_events_of_the_session_only(store):
    for kind in ["started", "pattern_noted", "pattern_noted", "pattern_accepted", "version_saved",
                 "version_saved", "version_saved", "selfplay_run", "refine_run", "finished"]:
        log_event(store, "S1", kind, project_id=1)
    log_event(store, "S2", "pattern_noted")
    log_event(store, "S10", "version_saved")

    measures = session_measures(store, "S1")
    assert (measures.patterns_noted, measures.patterns_accepted, measures.versions_saved) == (2, 1, 3)
    assert measures.llm_calls == 0
    assert 0 <= measures.minutes_on_task < 1


def test_minutes_on_task_run_from_the_first_event_to_the_last(store):
    log_event(store, "S1", "started")
    log_event(store, "S1", "pattern_noted")
    last = log_event(store, "S1", "finished")
    first_at = session_events(store, "S1")[0].created_at
    store.cursor().execute("UPDATE session_events SET created_at = ? WHERE id = ?",
                           [first_at + timedelta(minutes=42, seconds=30), last])

    assert session_measures(store, "S1").minutes_on_task == pytest.approx(42.5)


def test_a_session_without_events_measures_zero(store):
    measures = session_measures(store, "never")
    assert (measures.patterns_noted, measures.patterns_accepted, measures.versions_saved,
            measures.minutes_on_task, measures.llm_calls) == (0, 0, 0, 0.0, 0)


def test_llm_calls_count_the_session_and_the_runs_nested_in_it(make_llm, scripted, store):
    llm = make_llm()
    assert session_run_id("S1") == "session:S1"
    session = llm.for_run(session_run_id("S1"))
    session.chat([{"role": "user", "content": "one"}])
    session.chat([{"role": "user", "content": "two"}])
    session.chat([{"role": "user", "content": "one"}])  # answered from the cache: still a call
    session.for_run("selfplay:3").chat([{"role": "user", "content": "three"}])
    llm.for_run(session_run_id("S10")).chat([{"role": "user", "content": "other session"}])
    llm.for_run("session:S1x").chat([{"role": "user", "content": "not nested"}])
    llm.chat([{"role": "user", "content": "no session"}])
    log_event(store, "S1", "started")

    assert session_measures(store, "S1").llm_calls == 4
    assert session_measures(store, "S10").llm_calls == 1
    assert len(scripted.requests) == 6  # the cache hit never reached the endpoint
