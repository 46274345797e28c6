"""Who reaches the staff pages: a login when one is configured; else only a loopback server."""

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from tests.scripted_server import Reply, ScriptedServer
from vt_core.core.access import login_mode, loopback_only, password_matches


def test_login_modes_from_secrets():
    assert login_mode({}) is None
    assert login_mode({"staff": {"password": "  "}}) is None
    assert login_mode({"staff": {"password": "s3cret"}}) == "password"
    assert login_mode({"auth": {"client_id": "x"}, "staff": {"password": "s3cret"}}) == "oidc"


@pytest.mark.parametrize("address, expected", [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True),
    ("0.0.0.0", False), ("192.168.1.5", False), ("", False), (None, False), ("myhost.example", False)])
def test_loopback_only(address, expected):
    assert loopback_only(address) is expected


def test_password_matches():
    assert password_matches("s3cret", "s3cret")
    assert not password_matches("s3cret", "s3cre")
    assert not password_matches("s3cret", "")


@pytest.fixture
def app(app_env):
    with ScriptedServer(Reply(content="ready")) as server:
        app_env(server.url)
        yield lambda: AppTest.from_file("../app.py", default_timeout=30)


def test_the_default_serves_staff_pages_on_this_machine_only(app):
    at = app().run()
    assert not at.exception
    assert at.title[0].value == "Visionary Tuning" and not at.text_input
    assert "listens on this machine only" in " ".join(c.value for c in at.sidebar.caption)


@pytest.fixture
def open_to_the_network():
    config.set_option("server.address", "0.0.0.0")
    yield
    config.set_option("server.address", "127.0.0.1")  # as .streamlit/config.toml has it


@pytest.mark.parametrize("query", [{}, {"study": "any-token", "PROLIFIC_PID": "5f0c4b7e2a1d3c0012345678"}])
def test_without_a_login_a_server_open_to_the_network_serves_nobody(app, open_to_the_network, query):
    at = app()
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    assert "No login is configured" in at.error[0].value
    assert not at.sidebar.caption  # no navigation, no page


def test_a_password_guards_the_staff_pages(app):
    at = app()
    at.secrets["staff"] = {"password": "s3cret"}
    at.run()
    assert [t.label for t in at.text_input] == ["Password"]
    assert at.title[0].value == "Visionary Tuning" and len(at.title) == 1
    at.text_input(key="staff_password").input("wrong")
    at.button(key="staff_login_submit").click().run()
    assert at.error[0].value == "Wrong password."
    at.text_input(key="staff_password").input("s3cret")
    at.button(key="staff_login_submit").click().run()
    assert not at.exception and not at.text_input
    at.switch_page("views/researcher/settings.py").run()
    assert at.title[0].value == "Settings"
