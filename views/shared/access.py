"""Who may see the designer and researcher pages: the staff login (with its back-off after failed
passwords), and the guard that refuses to serve a request from the network without one. The decisions
are vt_core.core.access's; this is the Streamlit glue (the request's headers and address, the secrets,
the process-wide record of failed logins)."""

import logging
import time

import streamlit as st

from vt_core.core.access import (
    FailureLog,
    Failures,
    after_failure,
    behind_proxy,
    client_address,
    login_mode,
    password_matches,
    remote_reason,
    seconds_to_wait,
    wait_text,
)

log = logging.getLogger(__name__)

STAFF = "vt_staff"  # this browser session gave the staff password
_FAILURES = "vt_login_failures"  # this browser session's failed passwords in a row


def secrets() -> dict:
    try:
        return st.secrets.to_dict()
    except FileNotFoundError:  # no secrets.toml: StreamlitSecretNotFoundError is one
        return {}


def _headers() -> dict[str, str]:
    return dict(st.context.headers.to_dict())


def _peer() -> str | None:
    """The address the request came from; None on loopback (and in AppTest, whose runtime has no client)."""
    address = st.context.ip_address
    return address if isinstance(address, str) else None


def request_is_remote() -> str | None:
    """Why this session's request counts as coming from the network (see remote_reason), or None."""
    return remote_reason(server_address=st.get_option("server.address"), headers=_headers(),
                         client_ip=_peer(), proxied=behind_proxy(secrets()))


def refuse_an_open_server_without_login() -> None:
    """With no login configured, serve nobody, raters included, whose request could come from other
    machines (the server listens on the network, or the request came through a reverse proxy): a study
    cannot be opened to the network without a login."""
    if login_mode(secrets()) is not None:
        return
    reason = request_is_remote()
    if reason:
        st.error(f"No login is configured, and {reason}, so anyone who can reach it could open the designer and "
                 "researcher pages. Configure a login in .streamlit/secrets.toml (see README, \"Access\"), or open "
                 "the app on this machine with a server on --server.address 127.0.0.1 and no proxy.")
        st.stop()


@st.cache_resource(show_spinner=False)
def _failure_log() -> FailureLog:
    return FailureLog()  # one per server process: failed logins per client address, across sessions


def _client() -> str:
    return client_address(_peer(), _headers(), proxied=behind_proxy(secrets()))


def password_form(form: str, password_key: str, submit_key: str) -> bool:
    """The staff password form; True once the right password was given in it. After a few wrong ones,
    each further attempt waits longer (twice as long each time), counted both for this browser session and
    for the client's address, so neither a new session nor another address resets the count alone."""
    expected = str(secrets()["staff"]["password"])
    now = time.monotonic()
    address, failures = _client(), _failure_log()
    mine = st.session_state.get(_FAILURES, Failures())
    wait = max(seconds_to_wait(mine, now), seconds_to_wait(failures.get(address), now))
    with st.form(form):
        given = st.text_input("Password", type="password", key=password_key)
        submitted = st.form_submit_button("Log in", type="primary", key=submit_key)
    if submitted and wait:
        log.warning("Staff login attempt from %s refused unheard: back-off, %.0f s left", address, wait)
        st.error(f"Too many wrong passwords: this attempt was not checked. Wait {wait_text(wait)}, then try again.")
    elif submitted and password_matches(expected, given):
        failures.succeeded(address)
        st.session_state.pop(_FAILURES, None)
        return True
    elif submitted:
        mine = after_failure(mine, now)
        st.session_state[_FAILURES] = mine
        theirs = failures.failed(address, now)
        wait = max(seconds_to_wait(mine, now), seconds_to_wait(theirs, now))
        log.warning("Failed staff login from %s (%d in a row from this address, %d in this session)",
                    address, theirs.count, mine.count)  # never the password given
        st.error("Wrong password." + (f" Too many wrong passwords: wait {wait_text(wait)} before the next attempt."
                                      if wait else ""))
    elif wait:
        st.error(f"Too many wrong passwords. Wait {wait_text(wait)}, then try again.")
    return False


def staff_gate() -> None:
    """Stop the script unless this visitor may see the designer and researcher pages."""
    mode = login_mode(secrets())
    if mode == "oidc":
        if not st.user.is_logged_in:
            st.title("Visionary Tuning")
            st.button("Log in", type="primary", on_click=st.login, key="staff_login")
            st.stop()
        st.sidebar.button("Log out", on_click=st.logout, key="staff_logout")
    elif mode == "password":
        if not st.session_state.get(STAFF):
            st.title("Visionary Tuning")
            if password_form("staff_login", "staff_password", "staff_login_submit"):
                st.session_state[STAFF] = True
                st.rerun()
            st.stop()
    else:
        st.sidebar.caption("No login configured: this server listens on this machine only.")
