"""Who may open the designer and researcher pages.

Raters reach only the rating page, through a study link (see app.py). Staff pages need a login
whenever the server can be reached from other machines: an OpenID Connect provider through
Streamlit's `st.login` (an `[auth]` table in `.streamlit/secrets.toml`), or a shared password
(`[staff] password = "..."` in the same file). With neither, the server must listen on loopback
only, which `.streamlit/config.toml` sets by default.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping


def login_mode(secrets: Mapping) -> str | None:
    """'oidc', 'password', or None when no login is configured."""
    if "auth" in secrets:
        return "oidc"
    staff = secrets.get("staff", {})
    if isinstance(staff, Mapping) and str(staff.get("password", "")).strip():
        return "password"
    return None


def password_matches(expected: str, given: str) -> bool:
    """Constant-time comparison, so response times do not leak how much of a guess was right."""
    return hmac.compare_digest(expected.encode(), given.encode())


def loopback_only(address: str | None) -> bool:
    """Whether a server bound to `address` is unreachable from other machines."""
    if not address:
        return False  # Streamlit's default binds every interface
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a host name: assume it resolves to an address others can reach
