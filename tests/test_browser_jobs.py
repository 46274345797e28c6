"""Self-play as a job in a real browser against the real server: started, left for another page, its
tab closed while it runs; a new tab finds it still running with its progress, and it lands complete
with every transcript, no request sent twice. And a server killed under a job: restarted, it shows the
job interrupted, and Resume completes it with the calls that had finished answered from the cache."""

from __future__ import annotations

import re
import signal
import threading

from tests.browser import browser_page, chromium, playwright, streamlit_app
from tests.conftest import wait_for
from tests.scripted_server import ScriptedServer
from tests.scripted_worlds import PROMPT, EmojiWorld
from tests.test_browser_designer import RERUN_MS, fill, go
from tests.test_selfplay import is_simulator
from vt_core.core.jobs import list_jobs
from vt_core.core.store import Store
from vt_core.designer import add_scenario, create_project, generate_personas, list_selfplay_runs, list_transcripts

expect = playwright.expect
CONVERSATIONS = 8


class Gate:
    """The emoji world, answering the first four conversations (two calls each) at once and holding the
    first call of every later one until `release` is set: the job is certainly under way while the tab
    closes. (Counted by conversation, not by call: two at a time, the ninth call may belong to the fourth.)"""

    def __init__(self):
        self.world, self.release, self.lock = EmojiWorld(), threading.Event(), threading.Lock()
        self.answered = self.started = 0  # calls received; conversations begun
        self.held: list[dict] = []  # the calls held back

    def __call__(self, request):
        with self.lock:
            self.answered += 1
            self.started += is_simulator(request)
            later = is_simulator(request) and self.started > CONVERSATIONS // 2
            if later:
                self.held.append(request)
        if later:
            self.release.wait(120)
        return self.world(request)


def make_project(tmp_path):
    """A project ready for self-play in the database the server will open (and so closed again)."""
    store = Store(tmp_path / "vt.duckdb")
    project = create_project(store, "Movie bot", goal="recommend films", audience="film fans", prompt=PROMPT)
    generate_personas(store, project.id, 2, seed=0)
    add_scenario(store, project.id, title="tonight", description="a film for tonight", user_goal="a film",
                 difficulty=1)
    store.close()
    return project


def start_selfplay(page, url: str):
    """Open the app, start a self-play job of CONVERSATIONS one-exchange conversations; the main area."""
    page.goto(url)
    go(page, "Self-play")
    main = page.get_by_test_id("stMain")
    fill(main.get_by_label("Conversations", exact=True), CONVERSATIONS)
    fill(main.get_by_label("Exchanges at most", exact=True), 1)
    main.get_by_role("button", name="Run self-play").click()
    return main


def test_a_selfplay_job_outlives_its_page_and_its_tab(tmp_path):
    project = make_project(tmp_path)

    gate = Gate()
    with ScriptedServer(respond=gate) as model, \
            streamlit_app(tmp_path, {"OPENAI_BASE_URL": model.url, "VT_CONCURRENCY": "2"}) as url, \
            chromium() as browser:
        with browser_page(browser, tmp_path, timeout_ms=RERUN_MS) as page:
            main = start_selfplay(page, url)
            # The page returns at once and follows the job: four conversations end, the rest wait.
            expect(main.get_by_text(re.compile(r"conversations, 4 of 8$"))).to_be_visible()
            expect(main.get_by_role("button", name="Run self-play")).to_be_disabled()
            go(page, "Review")  # another page ...
            page.close()  # ... then the tab goes

        with browser_page(browser, tmp_path, timeout_ms=RERUN_MS) as page:  # a new tab, later
            page.goto(url)
            expect(page.get_by_text(re.compile(r"^Jobs \(1 running\)"))).to_be_visible()  # the sidebar
            go(page, "Self-play")
            main = page.get_by_test_id("stMain")
            expect(main.get_by_text(re.compile(r"conversations, 4 of 8$"))).to_be_visible()
            expect(main.get_by_role("button", name="Cancel")).to_be_visible()
            gate.release.set()
            expect(main.get_by_text(f"Self-play run 1: {CONVERSATIONS} transcripts, {2 * CONVERSATIONS} calls "
                                    "(0 from the cache).", exact=False)).to_be_visible()
            expect(main.get_by_role("button", name="Run self-play")).to_be_enabled()
            assert page.page_errors == []
        requests = len(model.requests)

    store = Store(tmp_path / "vt.duckdb")
    try:
        [job] = list_jobs(store)
        assert (job.status, job.done, job.total, len(job.result["transcript_ids"])) == ("done", 8, 8, 8)
        assert len(list_transcripts(store, project.id)) == CONVERSATIONS
        assert requests == 2 * CONVERSATIONS  # every call once
    finally:
        store.close()


def test_a_job_cut_off_by_kill_9_is_interrupted_then_resumed_from_the_cache(tmp_path):
    make_project(tmp_path)

    gate, processes = Gate(), []
    env = {"VT_CONCURRENCY": "2"}
    with ScriptedServer(respond=gate) as model, chromium() as browser:
        env["OPENAI_BASE_URL"] = model.url
        with streamlit_app(tmp_path, env, processes) as url, \
                browser_page(browser, tmp_path, timeout_ms=RERUN_MS) as page:
            main = start_selfplay(page, url)
            expect(main.get_by_text(re.compile(r"conversations, 4 of 8$"))).to_be_visible()
            wait_for(lambda: gate.answered == CONVERSATIONS + 2, what="the next two conversations' first calls")
            finished = list(model.requests)  # four whole conversations, and two calls under way
            cut_off = list(gate.held)  # those two
            processes[0].send_signal(signal.SIGKILL)
            processes[0].wait()
        gate.release.set()  # the calls that were under way end, for nobody

        with streamlit_app(tmp_path, env) as url, browser_page(browser, tmp_path, timeout_ms=RERUN_MS) as page:
            page.goto(url)
            go(page, "Self-play")
            main = page.get_by_test_id("stMain")
            expect(main.get_by_text(re.compile(r"interrupted\. the process running it stopped"))).to_be_visible()
            before = len(model.requests)
            main.get_by_role("button", name="Resume").click()
            expect(main.get_by_text(f"Self-play run 2: {CONVERSATIONS} transcripts, {2 * CONVERSATIONS} calls "
                                    "(8 from the cache).", exact=False)).to_be_visible()
            assert page.page_errors == []
        resumed = model.requests[before:]

    # The four conversations that had ended (their eight calls, two at a time) came from the cache: none
    # was sent again. The other four were played: the two first calls cut off by the kill, and the rest.
    ended = [r for r in finished if r not in cut_off]
    assert len(cut_off) == 2 and not [r for r in resumed if r in ended]
    assert len(resumed) == CONVERSATIONS and all(r in resumed for r in cut_off)
    store = Store(tmp_path / "vt.duckdb")
    try:
        [job] = list_jobs(store)
        assert (job.status, len(job.result["transcript_ids"])) == ("done", CONVERSATIONS)
        # The run the kill cut off is not left "running": its job ended without closing it.
        assert [r.status for r in list_selfplay_runs(store, job.project_id)] == ["done", "interrupted"]
    finally:
        store.close()
