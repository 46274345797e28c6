"""Who reaches the staff pages: a login when one is configured; else only requests made on this machine to a
loopback server (not through a proxy). Wrong passwords back off, per session and per address."""

import logging
import threading
import time

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from tests.scripted_server import Reply, ScriptedServer
from vt_core.core.access import (
    FailureLog,
    Failures,
    after_failure,
    behind_proxy,
    client_address,
    delay_after,
    login_mode,
    loopback_host,
    loopback_only,
    password_matches,
    remote_reason,
    seconds_to_wait,
    wait_text,
)


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


# -- requests through a reverse proxy count as the network ---------------------------------------

LOCAL = {"host": "127.0.0.1:8501", "origin": "http://127.0.0.1:8501", "user-agent": "x"}


@pytest.mark.parametrize("host, expected", [
    ("localhost:8501", True), ("LOCALHOST", True), ("app.localhost:8501", True), ("127.0.0.1:8501", True),
    ("127.1.2.3", True), ("[::1]:8501", True), ("::1", True), ("vt.example.org", False),
    ("vt.example.org:443", False), ("192.168.1.5:8501", False), ("[2001:db8::1]:8501", False), ("", False),
    ("localhost.evil.example", False), ("127.0.0.1.nip.io", False)])
def test_loopback_host(host, expected):
    assert loopback_host(host) is expected


def test_a_request_made_on_this_machine_is_local():
    assert remote_reason(server_address="127.0.0.1", headers=LOCAL, client_ip=None, proxied=False) is None
    assert remote_reason(server_address="localhost", headers={}, client_ip=None, proxied=False) is None
    assert remote_reason(server_address="127.0.0.1", headers={"Host": "localhost:8501"}, client_ip="127.0.0.1",
                         proxied=False) is None


@pytest.mark.parametrize("header", ["Forwarded", "X-Forwarded-For", "x-forwarded-for", "X-Forwarded-Host",
                                    "X-Forwarded-Proto", "X-Real-IP", "Via"])
def test_forwarding_headers_mark_a_proxied_request(header):
    reason = remote_reason(server_address="127.0.0.1", headers={**LOCAL, header: "203.0.113.9"}, client_ip=None,
                           proxied=False)
    assert reason and "proxy" in reason and header.lower() in reason.lower()
    assert "203.0.113.9" not in reason  # the visitor's values are never echoed


@pytest.mark.parametrize("headers, client_ip, says", [
    ({**LOCAL, "host": "vt.example.org"}, None, "Host header"),  # a proxy that passes the Host on
    ({**LOCAL, "origin": "https://vt.example.org"}, None, "Origin header"),  # one that rewrites the Host
    (LOCAL, "203.0.113.9", "another machine"),  # uvicorn took the client's address from X-Forwarded-For
    (LOCAL, "not an address", "another machine"),
])
def test_a_request_from_elsewhere_is_remote(headers, client_ip, says):
    assert says in remote_reason(server_address="127.0.0.1", headers=headers, client_ip=client_ip, proxied=False)


def test_the_proxy_setting_and_the_address_make_every_request_remote():
    assert "behind_proxy" in remote_reason(server_address="127.0.0.1", headers=LOCAL, client_ip=None, proxied=True)
    assert "0.0.0.0" in remote_reason(server_address="0.0.0.0", headers=LOCAL, client_ip=None, proxied=False)


@pytest.mark.parametrize("staff, expected", [
    ({}, False), ({"behind_proxy": True}, True), ({"behind_proxy": "true"}, True), ({"behind_proxy": 1}, True),
    ({"behind_proxy": False}, False), ({"behind_proxy": "no"}, False), ({"behind_proxy": 2}, False)])
def test_behind_proxy_setting(staff, expected):
    assert behind_proxy({"staff": staff}) is expected
    assert behind_proxy({}) is False and behind_proxy({"staff": "x"}) is False


@pytest.mark.parametrize("peer, headers, proxied, expected", [
    (None, {}, False, "local"),
    ("203.0.113.9", {}, False, "203.0.113.9"),
    (None, {"X-Real-IP": "198.51.100.7"}, False, "local"),  # without the setting, headers are not believed
    (None, {"X-Forwarded-For": "10.9.9.9, 198.51.100.7"}, True, "198.51.100.7"),  # the entry the proxy added
    (None, {"x-real-ip": "198.51.100.7"}, True, "198.51.100.7"),
    (None, {"Forwarded": 'for=10.1.1.1, for="[2001:db8:1:2::7]:4711";proto=https'}, True, "2001:db8:1:2::/64"),
    (None, {"Forwarded": "for=198.51.100.8:1234"}, True, "198.51.100.8"),
    (None, {"X-Real-IP": "evil\nlog line"}, True, "local"),  # never text that is not an address
    ("198.51.100.7", {"X-Real-IP": "10.0.0.1"}, True, "198.51.100.7"),  # uvicorn already took it from the proxy
    ("2001:db8::5", {}, False, "2001:db8::/64"),
])
def test_client_address(peer, headers, proxied, expected):
    assert client_address(peer, headers, proxied=proxied) == expected


@pytest.fixture
def behind_a_proxy(app):
    def make():
        at = app()
        at.secrets["staff"] = {"behind_proxy": True}
        return at
    return make


@pytest.mark.parametrize("query", [{}, {"study": "any-token", "PROLIFIC_PID": "5f0c4b7e2a1d3c0012345678"}])
def test_behind_a_proxy_without_a_login_nobody_is_served(behind_a_proxy, query):
    at = behind_a_proxy()
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception
    assert "No login is configured" in at.error[0].value and "behind_proxy" in at.error[0].value
    assert not at.sidebar.caption and not at.title  # no navigation, no page


def test_behind_a_proxy_the_password_still_opens_the_staff_pages(behind_a_proxy):
    at = behind_a_proxy()
    at.secrets["staff"] = {"behind_proxy": True, "password": "s3cret"}
    at.run()
    assert not at.error
    at.text_input(key="staff_password").input("s3cret")
    at.button(key="staff_login_submit").click().run()
    assert not at.exception and not at.text_input
    at.switch_page("views/researcher/settings.py").run()
    assert at.title[0].value == "Settings"


# -- backing off after wrong passwords ------------------------------------------------------------


def test_the_delay_doubles_after_the_free_failures_up_to_a_cap():
    assert [delay_after(n) for n in range(7)] == [0, 0, 0, 5, 10, 20, 40]
    assert delay_after(100) == delay_after(10_000) == 15 * 60


def test_waiting_and_forgetting():
    failures = Failures()
    assert seconds_to_wait(failures, 100.0) == 0
    for t in (100.0, 101.0, 102.0):
        failures = after_failure(failures, t)
    assert failures == Failures(3, 102.0)
    assert seconds_to_wait(failures, 103.0) == pytest.approx(4.0)
    assert seconds_to_wait(failures, 107.0) == 0
    assert after_failure(failures, 102.0 + 24 * 3600) == Failures(1, 102.0 + 24 * 3600)  # a day later: afresh


@pytest.mark.parametrize("seconds, text", [(0.2, "1 second"), (5, "5 seconds"), (4.01, "5 seconds"),
                                           (60, "1 minute"), (61, "1 minute 1 second"), (900, "15 minutes")])
def test_wait_text(seconds, text):
    assert wait_text(seconds) == text


def test_the_failure_log_counts_per_address_and_forgets_the_oldest():
    failures = FailureLog(capacity=2)
    failures.failed("198.51.100.1", 1.0)
    failures.failed("198.51.100.1", 2.0)
    failures.failed("198.51.100.2", 3.0)
    assert failures.get("198.51.100.1") == Failures(2, 2.0)
    failures.failed("198.51.100.3", 4.0)  # over capacity: the address whose last failure is oldest goes
    assert failures.get("198.51.100.1") == Failures() and len(failures) == 2
    failures.succeeded("198.51.100.2")
    assert failures.get("198.51.100.2") == Failures()


def test_the_failure_log_is_safe_across_threads():
    failures = FailureLog()
    threads = [threading.Thread(target=lambda: [failures.failed("198.51.100.1", 1.0) for _ in range(200)])
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures.get("198.51.100.1").count == 1600


def login(at: AppTest, password: str) -> AppTest:
    at.text_input(key="staff_password").input(password)
    at.button(key="staff_login_submit").click().run()
    assert not at.exception, at.exception
    return at


def test_wrong_passwords_back_off_per_session_and_per_address(app, caplog):
    caplog.set_level(logging.INFO)
    at = app()
    at.secrets["staff"] = {"password": "s3cret"}
    at.run()
    for attempt in ("guess-one", "guess-two"):
        assert login(at, attempt).error[0].value == "Wrong password."
    started = time.monotonic()
    login(at, "guess-three")
    assert at.error[0].value == "Wrong password. Too many wrong passwords: wait 5 seconds before the next attempt."
    login(at, "s3cret")  # the right one, too early: not even checked
    assert "this attempt was not checked" in at.error[0].value and "Wait" in at.error[0].value
    assert [t.label for t in at.text_input] == ["Password"]

    # Another browser session from the same address (AppTest has none: "local") waits as well.
    other = app()
    other.secrets["staff"] = {"password": "s3cret"}
    other.run()
    assert other.error[0].value.startswith("Too many wrong passwords. Wait ")
    login(other, "s3cret")
    assert "not checked" in other.error[0].value and [t.label for t in other.text_input] == ["Password"]

    time.sleep(max(0.0, started + 5.2 - time.monotonic()))
    login(other, "s3cret")
    assert not other.error and not other.text_input  # in, once the delay has passed
    failed = [r for r in caplog.records if r.name == "views.shared.access"]
    assert [r.getMessage() for r in failed if r.getMessage().startswith("Failed")] == [
        f"Failed staff login from local ({n} in a row from this address, {n} in this session)" for n in (1, 2, 3)]
    everything = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert "guess-" not in everything and "s3cret" not in everything  # never a password, right or wrong
