"""Who may see the designer and researcher pages: the staff login, and the guard that refuses to
serve an open server without one."""

import streamlit as st

from vt_core.core.access import login_mode, loopback_only, password_matches


def _secrets() -> dict:
    try:
        return st.secrets.to_dict()
    except FileNotFoundError:  # no secrets.toml: StreamlitSecretNotFoundError is one
        return {}


def refuse_an_open_server_without_login() -> None:
    """With no login configured, serve nobody, raters included, if other machines can reach
    this server: a study cannot be opened to the network without a login."""
    address = st.get_option("server.address")
    if login_mode(_secrets()) is None and not loopback_only(address):
        st.error(f"No login is configured, and this server listens on {address or 'every interface'}, so anyone "
                 "who can reach it could open the designer and researcher pages. Configure a login in "
                 ".streamlit/secrets.toml (see README, \"Access\"), or run with --server.address 127.0.0.1.")
        st.stop()


def staff_gate() -> None:
    """Stop the script unless this visitor may see the designer and researcher pages."""
    secrets = _secrets()
    mode = login_mode(secrets)
    if mode == "oidc":
        if not st.user.is_logged_in:
            st.title("Visionary Tuning")
            st.button("Log in", type="primary", on_click=st.login, key="staff_login")
            st.stop()
        st.sidebar.button("Log out", on_click=st.logout, key="staff_logout")
    elif mode == "password":
        if not st.session_state.get("vt_staff"):
            st.title("Visionary Tuning")
            with st.form("staff_login"):
                given = st.text_input("Password", type="password", key="staff_password")
                if st.form_submit_button("Log in", type="primary", key="staff_login_submit"):
                    if password_matches(str(secrets["staff"]["password"]), given):
                        st.session_state["vt_staff"] = True
                        st.rerun()
                    st.error("Wrong password.")
            st.stop()
    else:
        st.sidebar.caption("No login configured: this server listens on this machine only.")

