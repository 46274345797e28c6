"""A small client for Prolific's REST API (https://api.prolific.com/api/v1, header ``Authorization: Token ...``).

Only the calls the platform makes: create a draft study, move it between states (PUBLISH, PAUSE, START), set
its places, list its submissions, approve or reject one, set up a bonus payment and pay it. The shapes follow
Prolific's API reference (docs.prolific.com/api-reference): a study's ``completion_codes`` is a list of
``{"code", "code_type", "actions": [{"action": ...}]}``; rewards are in cents; submissions list in pages
(``page``, ``page_size``) whose ``_links.next.href`` is null on the last; a rejection needs a ``message`` of at
least 100 characters and a ``rejection_category``; ``csv_bonuses`` is ``participant_id,amount`` lines with
the amount in the study's currency; the pay call is not idempotent (a second one pays again).

Retries: calls that are safe to repeat (reads, transitions, setting places) are retried on a timeout, a
dropped connection, 429 (after its Retry-After) and 5xx; calls that create something (a study, a bonus) or pay
are sent once, and a failure says whether Prolific may have acted on them (`ProlificError.unclear`).
The token is kept out of every repr, log line and error message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import httpx2
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from vt_core.core.config import Settings

__all__ = ["DEFAULT_API_URL", "MIN_REJECTION_MESSAGE", "REJECTION_CATEGORIES", "ProlificClient", "ProlificError",
           "check_rejection", "study_payload"]

DEFAULT_API_URL = "https://api.prolific.com"
MIN_REJECTION_MESSAGE = 100  # characters Prolific requires in a rejection's message
REJECTION_CATEGORIES = ("TOO_QUICKLY", "TOO_SLOWLY", "FAILED_INSTRUCTIONS", "INCOMP_LONGITUDINAL", "FAILED_CHECK",
                        "LOW_EFFORT", "MALINGERING", "NO_CODE", "BAD_CODE", "NO_DATA", "UNSUPP_DEVICE", "OTHER")
STUDY_ACTIONS = {"PUBLISH": "publishing", "PAUSE": "pausing", "START": "starting", "STOP": "stopping"}
MAX_RETRY_AFTER_S = 60.0
_DETAIL_CHARS = 500
T = TypeVar("T")


class ProlificError(RuntimeError):
    """A Prolific call that failed: what was asked, and Prolific's own error text (never the token).

    `status` is the HTTP status when Prolific answered; `unclear` is True when the request may have reached
    Prolific and been acted on although no answer came back (a timeout or a dropped connection after sending,
    or a 5xx), which matters for calls that must not be repeated."""

    def __init__(self, what: str, detail: str, *, status: int | None = None, unclear: bool = False):
        self.what, self.detail, self.status, self.unclear = what, detail, status, unclear
        super().__init__(f"Prolific: {what} failed" + (f" (HTTP {status})" if status else "") + f": {detail}")


def check_rejection(message: str | None, category: str | None) -> tuple[str, str]:
    """The message and category of a rejection as Prolific requires them, or ValueError saying what is wrong
    (before anything is sent)."""
    message = (message or "").strip()
    if category not in REJECTION_CATEGORIES:
        raise ValueError(f"a rejection needs one of Prolific's categories ({', '.join(REJECTION_CATEGORIES)}), "
                         f"not {category!r}")
    if len(message) < MIN_REJECTION_MESSAGE:
        raise ValueError(f"a rejection needs a message of at least {MIN_REJECTION_MESSAGE} characters for the "
                         f"participant; this one has {len(message)}")
    return message, category


class _Failed(Exception):
    """One attempt's failure, with whether another attempt may help."""

    def __init__(self, error: ProlificError, transient: bool, retry_after: float = 0.0):
        super().__init__(str(error))
        self.error, self.transient, self.retry_after = error, transient, retry_after


def _error_text(response: httpx2.Response) -> str:
    """Prolific's error text: ``{"error": {"title", "detail"}}`` (detail a string, a list or {field: [msgs]}),
    or ``{"detail": ...}``, else the body, shortened."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:_DETAIL_CHARS] or response.reason_phrase
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        detail = error.get("detail", error.get("message", error))
        title = error.get("title")
    else:
        detail, title = error, None

    def flat(value: Any) -> str:
        if isinstance(value, dict):
            return "; ".join(f"{key}: {flat(item)}" for key, item in value.items())
        if isinstance(value, list):
            return " ".join(flat(item) for item in value)
        return str(value)

    text = flat(detail)
    if title and title not in text:
        text = f"{title}: {text}"
    return text[:_DETAIL_CHARS]


def _retry_after(response: httpx2.Response) -> float:
    try:
        return min(max(float(response.headers.get("retry-after", 0)), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        return 0.0


class ProlificClient:
    """Prolific's API over HTTP. One per process is enough (it is thread-safe, like httpx's client)."""

    def __init__(self, token: str, base_url: str | None = None, *, timeout_s: float = 30.0, attempts: int = 4,
                 backoff_s: float = 0.5):
        if not token:
            raise ValueError("a Prolific API token is needed (PROLIFIC_TOKEN)")
        self.base_url = (base_url or DEFAULT_API_URL).rstrip("/")
        if self.base_url.endswith("/api/v1"):
            self.base_url = self.base_url[:-len("/api/v1")]
        self.attempts, self.backoff_s = attempts, backoff_s
        self._token = token
        self._http = httpx2.Client(base_url=self.base_url, timeout=timeout_s)

    @classmethod
    def from_settings(cls, settings: Settings) -> ProlificClient | None:
        """The client for PROLIFIC_TOKEN (at PROLIFIC_API_URL if set); None without a token."""
        if not settings.prolific_token:
            return None
        return cls(settings.prolific_token, settings.prolific_api_url)

    def __repr__(self) -> str:
        return f"ProlificClient(base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ProlificClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the calls ---------------------------------------------------------------------------------

    def create_study(self, study: dict) -> dict:
        """A draft study (status UNPUBLISHED); sent once."""
        return self._call("creating a draft study", "POST", "/api/v1/studies/", body=study, repeatable=False)

    def get_study(self, study_id: str) -> dict:
        return self._call(f"reading study {study_id}", "GET", f"/api/v1/studies/{study_id}/")

    def transition_study(self, study_id: str, action: str) -> dict:
        """PUBLISH, PAUSE, START or STOP the study."""
        if action not in STUDY_ACTIONS:
            raise ValueError(f"unknown study transition {action!r}; expected one of {', '.join(STUDY_ACTIONS)}")
        return self._call(f"{STUDY_ACTIONS[action]} study {study_id}", "POST",
                          f"/api/v1/studies/{study_id}/transition/",
                          body={"action": action})

    def set_places(self, study_id: str, total: int) -> dict:
        """Set total_available_places (Prolific lets a published study's places grow, never shrink)."""
        return self._call(f"setting the places of study {study_id} to {total}", "PATCH",
                          f"/api/v1/studies/{study_id}/", body={"total_available_places": total})

    def submissions(self, study_id: str, *, page_size: int = 100) -> list[dict]:
        """Every submission of the study, page after page."""
        found: list[dict] = []
        page = 1
        while True:
            answer = self._call(f"listing the submissions of study {study_id}", "GET", "/api/v1/submissions/",
                                params={"study": study_id, "page": page, "page_size": page_size})
            found.extend(answer.get("results") or [])
            if not ((answer.get("_links") or {}).get("next") or {}).get("href"):
                return found
            page += 1

    def approve(self, submission_id: str) -> dict:
        return self._call(f"approving submission {submission_id}", "POST",
                          f"/api/v1/submissions/{submission_id}/transition/", body={"action": "APPROVE"})

    def reject(self, submission_id: str, message: str, category: str) -> dict:
        """Reject with the participant's message (100+ characters) and a category, checked before sending."""
        message, category = check_rejection(message, category)
        return self._call(f"rejecting submission {submission_id}", "POST",
                          f"/api/v1/submissions/{submission_id}/transition/",
                          body={"action": "REJECT", "message": message, "rejection_category": category})

    def create_bonuses(self, study_id: str, bonuses: Iterable[tuple[str, int]]) -> dict:
        """Set up (not pay) a bulk bonus payment: (participant id, amount in cents) pairs; the answer's ``id``
        is what `pay_bonuses` takes. Sent once."""
        lines = [f"{participant},{cents // 100}.{cents % 100:02d}" for participant, cents in bonuses]
        return self._call(f"setting up bonuses in study {study_id}", "POST", "/api/v1/submissions/bonus-payments/",
                          body={"study_id": study_id, "csv_bonuses": "\n".join(lines)}, repeatable=False)

    def pay_bonuses(self, bonus_id: str) -> None:
        """Pay a bulk bonus payment. Not idempotent on Prolific's side: sent exactly once, never retried; see
        vt_core.crowd.payouts for how the platform makes sure it is called once per bonus."""
        self._call(f"paying bonus {bonus_id}", "POST", f"/api/v1/bulk-bonus-payments/{bonus_id}/pay/",
                   repeatable=False)

    # -- sending ---------------------------------------------------------------------------------

    def _call(self, what: str, method: str, path: str, *, body: dict | None = None, params: dict | None = None,
              repeatable: bool = True) -> Any:
        def once() -> Any:
            return self._send(what, method, path, body, params)

        if not repeatable:
            try:
                return once()
            except _Failed as failed:
                raise failed.error from None
        return self._retried(once)

    def _retried(self, send: Callable[[], T]) -> T:
        retrying = Retrying(retry=retry_if_exception(lambda exc: isinstance(exc, _Failed) and exc.transient),
                            stop=stop_after_attempt(self.attempts), wait=self._wait, reraise=True)
        try:
            for attempt in retrying:
                with attempt:
                    return send()
        except _Failed as failed:
            raise failed.error from None
        raise AssertionError("unreachable")

    def _wait(self, state: RetryCallState) -> float:
        exponential = wait_exponential_jitter(multiplier=self.backoff_s, max=30, jitter=self.backoff_s)(state)
        exc = state.outcome.exception() if state.outcome else None
        return max(exponential, exc.retry_after if isinstance(exc, _Failed) else 0.0)

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***")

    def _send(self, what: str, method: str, path: str, body: dict | None, params: dict | None) -> Any:
        headers = {"Authorization": f"Token {self._token}", "Accept": "application/json"}
        try:
            response = self._http.request(method, path, json=body, params=params, headers=headers)
        except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:  # nothing reached Prolific
            raise _Failed(ProlificError(what, self._scrub(f"cannot connect to {self.base_url}: {exc}")),
                          transient=True) from None
        except httpx2.TimeoutException:
            raise _Failed(ProlificError(what, f"no answer from {self.base_url} in time", unclear=True),
                          transient=True) from None
        except httpx2.TransportError as exc:  # the connection dropped after the request went out
            raise _Failed(ProlificError(what, self._scrub(f"the connection to {self.base_url} broke: "
                                                          f"{exc or type(exc).__name__}"), unclear=True),
                          transient=True) from None
        status = response.status_code
        if status == 429:
            wait = _retry_after(response)
            raise _Failed(ProlificError(what, self._scrub(f"too many requests; Prolific asks to wait "
                                                          f"{math.ceil(wait)} s ({_error_text(response)})"),
                                        status=status), transient=True, retry_after=wait)
        if status >= 400:
            raise _Failed(ProlificError(what, self._scrub(_error_text(response)), status=status, unclear=status >= 500),
                          transient=status >= 500)
        if not response.content:
            return {}
        try:
            return response.json()
        except json.JSONDecodeError:
            raise _Failed(ProlificError(what, f"the answer is not JSON: {response.text[:200]!r}", status=status),
                          transient=False) from None


def study_payload(*, name: str, description: str, study_url: str, codes: Sequence[tuple[str, str]], places: int,
                  minutes: int, reward_cents: int) -> dict:
    """The body of a create-study call: the rater link with Prolific's placeholders (launch.rater_url), the codes as
    (code, code_type) with a manual review each, places, minutes and the reward in cents."""
    if places < 1 or minutes < 1 or reward_cents < 1:
        raise ValueError("places, minutes and the reward must each be at least 1")
    return {
        "name": name,
        "internal_name": name,
        "description": description or name,
        "external_study_url": study_url,
        "prolific_id_option": "url_parameters",
        "completion_codes": [{"code": code, "code_type": code_type, "actions": [{"action": "MANUALLY_REVIEW"}]}
                             for code, code_type in codes],
        "total_available_places": places,
        "estimated_completion_time": minutes,
        "reward": reward_cents,
    }
