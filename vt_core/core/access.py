"""Who may open the designer and researcher pages: the decisions, without Streamlit.

Raters reach only the rating page, through a study link (see app.py). Staff pages need a login
whenever a request can come from other machines: an OpenID Connect provider through Streamlit's
`st.login` (an `[auth]` table in `.streamlit/secrets.toml`), or a shared password (`[staff] password =
"..."` in the same file). With neither, the server must listen on loopback only (`.streamlit/config.toml`
sets it) and serve only requests made on this machine: a request that came through a reverse proxy
(forwarding headers, a Host or Origin other than loopback, or `[staff] behind_proxy = true`) counts as
coming from the network (`remote_reason`).

The staff password form backs off after repeated failures, per browser session and per client
address (`Failures`, `FailureLog`). A study or participant link confines the browser that opened it to
that link's pages, across reloads and typed URLs, through a cookie signed with a server key
(`sign_link`, `read_link`, `link_key`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import math
import os
import secrets
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


def login_mode(secrets: Mapping) -> str | None:
    """'oidc', 'password', or None when no login is configured."""
    if "auth" in secrets:
        return "oidc"
    staff = secrets.get("staff", {})
    if isinstance(staff, Mapping) and str(staff.get("password", "")).strip():
        return "password"
    return None


def behind_proxy(secrets: Mapping) -> bool:
    """Whether `[staff] behind_proxy = true` says that every request comes through a reverse proxy, so
    from the network, whatever the request looks like."""
    staff = secrets.get("staff", {})
    value = staff.get("behind_proxy", False) if isinstance(staff, Mapping) else False
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return value is True or value == 1


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


# -- requests from the network ------------------------------------------------------------------

# Headers a reverse proxy adds to what it forwards (nginx, Apache, Caddy, Traefik, HAProxy set one or
# more of them); a browser that talks to the server directly sends none.
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
                      "X-Forwarded-Server", "X-Real-IP", "Via")


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


def loopback_host(host: str) -> bool:
    """Whether a Host header's value (a name or address, with or without a port) names this machine's
    loopback: localhost, a name under .localhost, 127.0.0.0/8 or ::1. Any other name may be how the
    network reaches the server (through a proxy that passes the Host on), so it is not."""
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8501
        end = host.find("]")
        name = host[1:end] if end > 0 else ""
    elif host.count(":") == 1:  # name:port or v4:port; more colons make a bare IPv6 address
        name = host.split(":", 1)[0]
    else:
        name = host
    name = name.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = _ip(name)
    return address is not None and address.is_loopback


def remote_reason(*, server_address: str | None, headers: Mapping[str, str], client_ip: str | None,
                  proxied: bool) -> str | None:
    """Why a request must be treated as coming from the network, in a phrase for the staff, or None
    when it was made on this machine.

    `headers` are the request's (the websocket request's, in Streamlit), `client_ip` the address it
    came from (None for loopback), `proxied` the `[staff] behind_proxy` setting. A proxy on this
    machine connects from loopback, so the address alone cannot tell: forwarding headers, a Host or
    an Origin that is not loopback each mark a request that came from elsewhere. The phrase names
    headers, never their values (which the visitor chose)."""
    if proxied:
        return "the secrets say this server runs behind a reverse proxy ([staff] behind_proxy)"
    if not loopback_only(server_address):
        return f"this server listens on {server_address or 'every interface'}"
    present = {name.lower() for name in headers}
    for name in FORWARDING_HEADERS:
        if name.lower() in present:
            return f"this request came through a proxy (it carries a {name} header)"
    lowered = {name.lower(): value for name, value in headers.items()}
    if "host" in lowered and not loopback_host(lowered["host"]):
        return "this request was addressed to another host than localhost (its Host header)"
    if "origin" in lowered and not loopback_host(urlsplit(lowered["origin"]).netloc):
        return "this page was opened from another address than localhost (the request's Origin header)"
    address = _ip(client_ip) if client_ip else None
    if client_ip and (address is None or not address.is_loopback):
        return "this request came from another machine"
    return None


def _forwarded_for(value: str) -> str | None:
    """The client address in the last element of an RFC 7239 Forwarded header (the one the proxy
    nearest to this server added)."""
    last = value.split(",")[-1]
    for pair in last.split(";"):
        name, _, text = pair.strip().partition("=")
        if name.lower() == "for":
            text = text.strip().strip('"')
            if text.startswith("["):
                return text[1:text.find("]")] if "]" in text else None
            return text.split(":", 1)[0] if text.count(":") == 1 else text
    return None


def client_address(peer: str | None, headers: Mapping[str, str], *, proxied: bool) -> str:
    """The address to count a visitor's failed logins against: the connection's address (None on
    loopback); behind a proxy on this machine, the address the proxy forwards, from X-Forwarded-For
    (its last entry: the proxy appends the address it saw), X-Real-IP or Forwarded. "local" when there
    is none. Only well-formed IP addresses are returned, so a header cannot smuggle text into a log;
    IPv6 addresses count per /64, the block one machine usually holds."""
    lowered = {name.lower(): value for name, value in headers.items()}
    candidates = [peer]
    if proxied and (peer is None or (_ip(peer) is not None and _ip(peer).is_loopback)):
        candidates = [lowered.get("x-forwarded-for", "").split(",")[-1], lowered.get("x-real-ip"),
                      _forwarded_for(lowered.get("forwarded", "")), peer]
    for candidate in candidates:
        address = _ip(candidate)
        if address is not None and not address.is_loopback:
            if address.version == 6:
                return str(ipaddress.ip_network(f"{address}/64", strict=False))
            return str(address)
    return "local"


# -- backing off after failed logins -----------------------------------------------------------

FREE_FAILURES = 3  # this many wrong passwords in a row cost nothing (typos)
FIRST_DELAY_S = 5.0  # then 5 s, 10 s, 20 s, ... before the next attempt is heard
MAX_DELAY_S = 15 * 60.0
FORGET_AFTER_S = 24 * 3600.0  # failures this long ago start the count again


@dataclass(frozen=True)
class Failures:
    """Failed logins in a row, and when the last one was (a monotonic clock's seconds)."""

    count: int = 0
    last: float = 0.0


def delay_after(count: int) -> float:
    """Seconds to wait after `count` failures in a row before the next attempt is heard."""
    if count < FREE_FAILURES:
        return 0.0
    return min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** min(count - FREE_FAILURES, 32))


def seconds_to_wait(failures: Failures, now: float) -> float:
    if not failures.count:
        return 0.0
    return max(0.0, failures.last + delay_after(failures.count) - now)


def after_failure(failures: Failures, now: float) -> Failures:
    fresh = failures.count and now - failures.last < FORGET_AFTER_S
    return Failures((failures.count if fresh else 0) + 1, now)


def wait_text(seconds: float) -> str:
    """'5 seconds', '1 minute 20 seconds': how long to wait, rounded up to the second."""
    whole = max(1, math.ceil(seconds))
    minutes, rest = divmod(whole, 60)
    parts = [f"{minutes} minute{'s' if minutes != 1 else ''}"] if minutes else []
    if rest or not minutes:
        parts.append(f"{rest} second{'s' if rest != 1 else ''}")
    return " ".join(parts)


class FailureLog:
    """Failed logins per client address, shared by every session of a server process. Thread-safe; it
    keeps at most `capacity` addresses, forgetting the one whose last failure is oldest."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._by_address: OrderedDict[str, Failures] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_address)

    def get(self, address: str) -> Failures:
        with self._lock:
            return self._by_address.get(address, Failures())

    def failed(self, address: str, now: float) -> Failures:
        with self._lock:
            failures = after_failure(self._by_address.pop(address, Failures()), now)
            self._by_address[address] = failures
            while len(self._by_address) > self._capacity:
                self._by_address.popitem(last=False)
            return failures

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._by_address.pop(address, None)


# -- the link that confines a browser -----------------------------------------------------------

LINK_COOKIE = "vt_link"
LINK_MAX_AGE_S = 24 * 3600  # a study or a lab session fits in a day; the confinement ends after it
RATER_PARAMS = ("study", "PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "workerId", "assignmentId", "hitId",
                "turkSubmitTo", "rater")
PARTICIPANT_PARAMS = ("participant",)
_LINK_KINDS = {"rater": RATER_PARAMS, "participant": PARTICIPANT_PARAMS}
_MAX_VALUE = 160  # longer than any valid value: an id is at most 64 characters, turkSubmitTo a short URL


@dataclass(frozen=True)
class Link:
    """A study link (kind "rater") or a participant link, as the browser opened it: its parameters,
    and when (seconds since the epoch)."""

    kind: str
    params: dict[str, str]
    issued: int


def link_params(kind: str, params: Mapping[str, object]) -> dict[str, str]:
    """The parameters of a link of `kind` that matter, as strings. A value too long to be valid is cut
    and marked with '…', which no valid value holds, so it stays invalid (and the cookie stays small)."""
    kept = {}
    for name in _LINK_KINDS[kind]:
        value = params.get(name)
        if value is None or value == "":
            continue
        text = str(value)
        kept[name] = text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE] + "…"
    return kept


def rater_link_choice(url: Mapping[str, str], remembered: Mapping[str, str] | None, *,
                      remembered_is_someone: bool) -> tuple[dict[str, str], bool]:
    """Which study link a confined browser goes on with, and whether the address bar's was set aside.

    A link without a study token (the parameters removed, a page's URL typed) resumes the remembered
    one. A link to another study replaces it (a rater may take part in several studies). The same
    study with other parameters (another PROLIFIC_PID or workerId, a changed STUDY_ID or SESSION_ID,
    a removed id) is the remembered link again once that named someone (`remembered_is_someone`: its
    identity was valid), so that editing the URL never switches to another rater's items; a
    remembered link that named nobody (a malformed id, an MTurk preview) gives way to the new one."""
    url = dict(url)
    if not url.get("study"):
        return dict(remembered or {}), False
    if not remembered or remembered.get("study") != url["study"] or not remembered_is_someone:
        return url, False
    changed = any(url.get(name) != remembered.get(name) for name in RATER_PARAMS
                  if name != "rater" or url.get("rater"))  # the page adds `rater` itself
    return dict(remembered), changed


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: str) -> bytes:
    return hmac.new(key, b"vt-link\x00" + body.encode("ascii"), hashlib.sha256).digest()


def sign_link(key: bytes, link: Link) -> str:
    """The cookie value for `link`: its JSON, base64url, a dot, and an HMAC-SHA256 of it under `key`.
    Only characters a cookie value may hold."""
    payload = json.dumps({"k": link.kind, "p": link.params, "t": int(link.issued)},
                         separators=(",", ":"), sort_keys=True, ensure_ascii=True)
    body = _b64(payload.encode("ascii"))
    return f"{body}.{_b64(_mac(key, body))}"


def read_link(key: bytes, value: str | None, now: float, max_age: float = LINK_MAX_AGE_S) -> Link | None:
    """The link in a cookie value, or None if it is not one this server signed with `key`, or it is
    older than `max_age` seconds (or from the future)."""
    if not value or value.count(".") != 1 or len(value) > 4096:
        return None
    body, mac = value.split(".")
    try:
        if not hmac.compare_digest(_unb64(mac), _mac(key, body)):
            return None
        data = json.loads(_unb64(body))
        kind, params, issued = data["k"], data["p"], data["t"]
    except (ValueError, KeyError, TypeError, UnicodeError):
        return None
    if kind not in _LINK_KINDS or not isinstance(params, dict) or not isinstance(issued, int):
        return None
    if not -60 <= now - issued <= max_age:
        return None
    return Link(kind, link_params(kind, params), issued)


@dataclass(frozen=True)
class LinkKey:
    """The key that signs link cookies; its repr hides it."""

    secret: bytes = field(repr=False)


def link_key(path: Path, shared_secret: str | None = None) -> LinkKey:
    """The key for link cookies: derived from `shared_secret` (Streamlit's server.cookieSecret, when the
    staff set one, so that several server processes agree), else kept in the file `path`, created with
    a random key on first use (readable by its owner only), so a restart keeps every cookie valid."""
    if shared_secret:
        return LinkKey(hashlib.sha256(b"vt-link-key\x00" + shared_secret.encode()).digest())
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, draft = tempfile.mkstemp(dir=path.parent, prefix=".link-key-")  # mode 0600
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(secrets.token_hex(32).encode("ascii"))
            os.link(draft, path)  # whole or not at all; if another process made it first, theirs is the key
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    data = path.read_bytes()
    data = data.strip()
    if len(data) < 32:
        raise ValueError(f"{path} holds no usable key (expected 64 hex digits); delete it to make a new one")
    return LinkKey(hashlib.sha256(b"vt-link-key\x00" + data).digest())
