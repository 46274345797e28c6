"""The Playground: chats kept in the database with each reply's prompt and settings, replies streamed.

Domain functions on both databases against the scripted server; the page through AppTest (a reload
keeps the chat and its settings); and in a real Chromium, the designer's message shows at once and the
reply grows on screen before it is whole.
"""

import threading
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import llm_calls, wait_for
from tests.scripted_server import Reply, ScriptedServer
from vt_core.core.store import Store
from vt_core.designer import (
    ChatSettings,
    ReplyFailed,
    add_message,
    create_project,
    new_playground_chat,
    playground_chat,
    stream_reply,
)

PROMPT = "You recommend movies. Be brief."


@pytest.fixture
def project(store):
    return create_project(store, "Movie buddy", "Recommend movies.", "Families", PROMPT)


# -- the domain ---------------------------------------------------------------------------------


@pytest.mark.both_backends
def test_a_streamed_reply_is_stored_with_its_prompt_and_settings_and_sent_with_them(project, store, scripted,
                                                                                    make_llm):
    llm = make_llm({"VT_MODEL": "m1"})
    scripted.script(Reply(content="Try Paddington 2."))
    chat = add_message(store, project.id, "Something for tonight?")
    assert [(t.role, t.content) for t in chat.turns] == [("user", "Something for tonight?")]

    pieces = list(stream_reply(store, llm, chat, PROMPT, ChatSettings(temperature=0.2, max_tokens=64)))
    assert pieces == ["Try", " Paddington", " 2."]
    [sent] = scripted.requests
    assert (sent["stream"], sent["temperature"], sent["max_tokens"]) == (True, 0.2, 64)
    assert sent["messages"] == [{"role": "system", "content": PROMPT},
                                {"role": "user", "content": "Something for tonight?"}]

    stored = playground_chat(store, project.id)  # as a reload reads it
    assert stored.id == chat.id
    user, bot = stored.turns
    assert (bot.role, bot.content, bot.prompt, bot.model) == ("assistant", "Try Paddington 2.", PROMPT, "m1")
    assert bot.settings == ChatSettings(0.2, 64)
    assert stored.settings() == ChatSettings(0.2, 64)
    assert llm_calls(store, "status, response") == [("ok", "Try Paddington 2.")]


@pytest.mark.both_backends
def test_another_reply_replaces_the_last_one_with_the_next_sample(project, store, scripted, make_llm):
    llm = make_llm()
    scripted.script(Reply(content="first"), Reply(content="second"))
    chat = add_message(store, project.id, "Hi")
    list(stream_reply(store, llm, chat, PROMPT, ChatSettings()))
    chat = playground_chat(store, project.id)
    list(stream_reply(store, llm, chat, "Be terse.", ChatSettings(temperature=1.2, max_tokens=32)))

    [user, bot] = playground_chat(store, project.id).turns
    assert (bot.content, bot.prompt, bot.sample, bot.settings) == ("second", "Be terse.", 1, ChatSettings(1.2, 32))
    first, second = scripted.requests
    assert first["messages"][1:] == second["messages"][1:] == [{"role": "user", "content": "Hi"}]


@pytest.mark.both_backends
def test_a_failed_reply_takes_the_message_back_and_says_what_it_was(project, store, scripted, make_llm):
    llm = make_llm()
    scripted.script(Reply(content="kept"), Reply(status=400))
    list(stream_reply(store, llm, add_message(store, project.id, "First"), PROMPT, ChatSettings()))
    chat = add_message(store, project.id, "Second")
    with pytest.raises(ReplyFailed, match="HTTP 400") as caught:
        list(stream_reply(store, llm, chat, PROMPT, ChatSettings()))
    assert caught.value.message == "Second"
    assert [t.content for t in playground_chat(store, project.id).turns] == ["First", "kept"]

    scripted.script(Reply(status=400))  # another reply that fails keeps the reply it would replace
    with pytest.raises(ReplyFailed) as caught:
        list(stream_reply(store, llm, playground_chat(store, project.id), PROMPT, ChatSettings()))
    assert caught.value.message is None
    assert [t.content for t in playground_chat(store, project.id).turns] == ["First", "kept"]


@pytest.mark.both_backends
def test_clearing_starts_a_new_chat_and_keeps_the_old_one(project, store):
    old = add_message(store, project.id, "Hello")
    new = new_playground_chat(store, project.id)
    assert playground_chat(store, project.id) == new and new.turns == []
    assert add_message(store, project.id, "Again").id == new.id
    rows = store.cursor().execute("SELECT chat_id, content FROM playground_turns ORDER BY chat_id").fetchall()
    assert rows == [(old.id, "Hello"), (new.id, "Again")]
    other = create_project(store, "Other", "Goal.", "All", "Prompt.")
    assert playground_chat(store, other.id).turns == []  # chats belong to their project


def test_settings_out_of_range_are_refused():
    with pytest.raises(ValueError, match="temperature"):
        ChatSettings(temperature=2.5)
    with pytest.raises(ValueError, match="maximum length"):
        ChatSettings(max_tokens=0)


# -- the page (AppTest) -------------------------------------------------------------------------

PLAYGROUND = "views/designer/playground.py"


@pytest.fixture
def served(app_env):
    with ScriptedServer(Reply(content="Try *Paddington 2*.")) as server:
        app_env(server.url)
        yield server


def playground(project_id: int) -> AppTest:
    """The Playground in a new session (a browser tab opened afresh), on the only project."""
    at = AppTest.from_file("../app.py", default_timeout=30).run()
    at = at.switch_page(PLAYGROUND).run()
    assert at.session_state["vt_project_id"] == project_id
    return at


def test_the_chat_and_its_settings_survive_a_reload(served):
    from tests.conftest import app_store

    AppTest.from_file("../app.py", default_timeout=30).run()  # opens the app's store
    p = create_project(app_store(), "Movie buddy", "Recommend movies.", "Families", PROMPT).id
    at = playground(p)
    assert at.slider(key=f"pg_temperature_{p}").value == 0.7
    at.slider(key=f"pg_temperature_{p}").set_value(0.25)
    at.number_input(key=f"pg_max_tokens_{p}").set_value(96)
    at.chat_input(key=f"pg_input_{p}").set_value("Something for tonight?").run()
    assert not at.exception
    [sent] = served.requests
    assert (sent["temperature"], sent["max_tokens"], sent["stream"]) == (0.25, 96, True)

    again = playground(p)  # a new browser session: nothing in session_state
    assert [(m.name, m.text[0].value) for m in again.chat_message] == [
        ("user", "Something for tonight?"), ("assistant", "Try *Paddington 2*.")]
    assert not again.chat_message[1].markdown  # the reply as text
    assert again.chat_message[1].caption[0].value == "temperature 0.25 · at most 96 tokens"
    assert again.slider(key=f"pg_temperature_{p}").value == 0.25  # the chat goes on with its settings
    assert again.number_input(key=f"pg_max_tokens_{p}").value == 96


# -- a real browser -----------------------------------------------------------------------------

REPLY = "Paddington 2 is warm, funny and short enough for a school night with the whole family."


@pytest.mark.browser
def test_the_message_shows_at_once_and_the_reply_streams(tmp_path: Path):
    from tests.browser import browser_page, chromium, playwright, settle, streamlit_app

    expect = playwright.expect
    release = threading.Event()
    store = Store(tmp_path / "vt.duckdb")  # the project, before the app holds the file
    create_project(store, "Movie buddy", "Recommend movies.", "Families", PROMPT)
    store.close()
    with ScriptedServer(Reply(content=REPLY, chunk_delay_s=0.25, release=release)) as model, \
            streamlit_app(tmp_path, {"OPENAI_BASE_URL": model.url}) as url, chromium() as browser, \
            browser_page(browser, tmp_path, timeout_ms=30_000) as page:
        page.goto(f"{url}/designer_playground")
        expect(page.get_by_role("heading", name="Playground", exact=True)).to_be_visible()
        settle(page)
        box = page.get_by_test_id("stChatInputTextArea")
        box.fill("Something for tonight?")
        box.press("Enter")

        messages = page.get_by_test_id("stChatMessage")
        # The server holds the reply until it is released: the message cannot be waiting for it.
        expect(messages.first).to_contain_text("Something for tonight?")
        expect(messages.nth(1)).to_contain_text("The bot is writing…")
        [asked] = wait_for(lambda: model.chat_requests, what="the request")
        assert asked["messages"][-1] == {"role": "user", "content": "Something for tonight?"}
        release.set()

        # The reply grows: a part of it is on screen before the whole.
        partial = page.wait_for_function(
            """whole => { const reply = document.querySelectorAll('[data-testid="stChatMessage"]')[1];
                 const text = reply?.querySelector('[data-testid="stText"]')?.innerText ?? "";
                 return text.length > 0 && text.length < whole.length && whole.startsWith(text) && text; }""",
            arg=REPLY, polling="raf").json_value()
        assert 0 < len(partial) < len(REPLY)
        expect(messages.nth(1).get_by_test_id("stText")).to_have_text(REPLY)
        settle(page)
        assert page.page_errors == []

        page.reload()  # the chat survives it, with its settings
        expect(page.get_by_role("heading", name="Playground", exact=True)).to_be_visible()
        settle(page)
        expect(messages).to_have_count(2)
        expect(messages.nth(1).get_by_test_id("stText")).to_have_text(REPLY)
        expect(messages.nth(1)).to_contain_text("temperature 0.7 · at most 400 tokens")
