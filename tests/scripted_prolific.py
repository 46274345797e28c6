"""A real HTTP server on loopback that follows Prolific's documented API (https://docs.prolific.com/api-reference)
for the calls the platform makes, keeping state, so that tests drive vt_core.crowd.prolific over real HTTP.

What it follows: the token header (``Authorization: Token ...``, else 401); ``POST /api/v1/studies/`` creates a
draft (UNPUBLISHED) study and answers 400 naming each missing or invalid field; ``GET``/``PATCH
/api/v1/studies/{id}/`` read it and set ``total_available_places`` (a published study's places may only grow);
``POST /api/v1/studies/{id}/transition/`` with PUBLISH (UNPUBLISHED -> ACTIVE), PAUSE (ACTIVE -> PAUSED), START
(PAUSED -> ACTIVE); ``GET /api/v1/submissions/?study=&page=&page_size=`` lists submissions in pages with
``_links.next.href`` (null on the last page) and ``meta.count``; ``POST /api/v1/submissions/{id}/transition/``
approves or rejects a submission awaiting review (a rejection needs a message of 100+ characters and a
category; the same transition again is ignored, as Prolific documents); ``POST
/api/v1/submissions/bonus-payments/`` sets up bonuses from ``csv_bonuses`` (participants must have taken part)
and ``POST /api/v1/bulk-bonus-payments/{id}/pay/`` pays them (202), paying again on every call, as Prolific does.
Errors come in Prolific's shape: ``{"error": {"status", "error_code", "title", "detail"}}``.

What a test can script (`fail`): the next matching request answered with a given status (400, 401, 404, 429
with Retry-After, 500) instead of being processed, or processed and then the connection dropped without an
answer (``drop=True``), as when the network fails after Prolific acted.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TOKEN = "scripted-prolific-token-5d1e"
REJECTION_CATEGORIES = ("TOO_QUICKLY", "TOO_SLOWLY", "FAILED_INSTRUCTIONS", "INCOMP_LONGITUDINAL", "FAILED_CHECK",
                        "LOW_EFFORT", "MALINGERING", "NO_CODE", "BAD_CODE", "NO_DATA", "UNSUPP_DEVICE", "OTHER")
_TRANSITIONS = {"PUBLISH": ("UNPUBLISHED", "ACTIVE"), "PAUSE": ("ACTIVE", "PAUSED"), "START": ("PAUSED", "ACTIVE")}
_SUBMISSION_ACTIONS = {"APPROVE": "APPROVED", "REJECT": "REJECTED"}
_TITLES = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests",
           500: "Internal Server Error"}


@dataclass
class Fault:
    method: str
    path: str            # a regular expression searched in the request path
    status: int = 500
    detail: object = "scripted failure"
    retry_after: float | None = None
    drop: bool = False   # process the request, then close the connection without an answer
    times: int = 1


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _error(status: int, detail: object) -> dict:
    return {"error": {"status": status, "error_code": status * 1000 + 1, "title": _TITLES.get(status, "Error"),
                      "detail": detail, "additional_information": f"/api/v1/errors/{status * 1000 + 1}"}}


class ScriptedProlific:
    """Use as a context manager; `url` is the base URL for the client (PROLIFIC_API_URL)."""

    def __init__(self, token: str = TOKEN):
        self.token = token
        self.studies: dict[str, dict] = {}
        self.submissions: dict[str, dict] = {}
        self.bonuses: dict[str, dict] = {}
        self.pay_calls: dict[str, int] = {}   # bulk bonus id -> pay calls processed
        self.requests: list[tuple[str, str, dict | None, dict[str, str]]] = []  # method, path, body, headers
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> ScriptedProlific:
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- what tests set up and read -------------------------------------------------------------

    def fail(self, method: str, path: str, status: int = 500, **options) -> None:
        with self._lock:
            self._faults.append(Fault(method, path, status, **options))

    def add_submission(self, study_id: str, participant_id: str, *, status: str = "AWAITING REVIEW",
                       study_code: str | None = None, submission_id: str | None = None) -> dict:
        submission = {"id": submission_id or secrets.token_hex(12), "participant_id": participant_id,
                      "status": status, "started_at": _now(), "completed_at": _now() if status != "ACTIVE" else None,
                      "study_code": study_code, "has_siblings": False, "return_requested": None,
                      "study_id": study_id}
        with self._lock:
            self.submissions[submission["id"]] = submission
        return submission

    def calls(self, method: str, path: str) -> int:
        """Requests received that match (processed or not)."""
        with self._lock:
            return sum(m == method and re.search(path, p) is not None for m, p, _, _ in self.requests)

    # -- the API ------------------------------------------------------------------------------------

    def _fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.method == method and re.search(fault.path, path):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _answer(self, method: str, path: str, query: dict, body: dict | None) -> tuple[int, dict | None]:
        if m := re.fullmatch(r"/api/v1/studies/", path):
            return self._create_study(body or {}) if method == "POST" else (405, _error(405, "method not allowed"))
        if m := re.fullmatch(r"/api/v1/studies/([^/]+)/", path):
            study = self.studies.get(m[1])
            if study is None:
                return 404, _error(404, "Not found.")
            if method == "GET":
                return 200, study
            if method == "PATCH":
                return self._update_study(study, body or {})
        if m := re.fullmatch(r"/api/v1/studies/([^/]+)/transition/", path):
            study = self.studies.get(m[1])
            if study is None:
                return 404, _error(404, "Not found.")
            action = (body or {}).get("action")
            if action not in _TRANSITIONS:
                return 400, _error(400, {"action": [f'"{action}" is not a valid choice.']})
            before, after = _TRANSITIONS[action]
            if study["status"] != before:
                return 400, _error(400, f"A study with status {study['status']} cannot be moved by {action}.")
            study["status"] = after
            if action == "PUBLISH":
                study["published_at"] = _now()
            return 200, study
        if path == "/api/v1/submissions/" and method == "GET":
            return self._list_submissions(query)
        if m := re.fullmatch(r"/api/v1/submissions/([^/]+)/transition/", path):
            return self._transition_submission(m[1], body or {})
        if path == "/api/v1/submissions/bonus-payments/" and method == "POST":
            return self._create_bonuses(body or {})
        if m := re.fullmatch(r"/api/v1/bulk-bonus-payments/([^/]+)/pay/", path):
            if m[1] not in self.bonuses:
                return 404, _error(404, "Not found.")
            self.pay_calls[m[1]] = self.pay_calls.get(m[1], 0) + 1
            return 202, None
        return 404, _error(404, "Not found.")

    def _create_study(self, body: dict) -> tuple[int, dict]:
        problems: dict[str, list[str]] = {}
        for field in ("name", "description", "external_study_url"):
            if not isinstance(body.get(field), str) or not body[field].strip():
                problems[field] = ["This field is required."]
        for field in ("total_available_places", "estimated_completion_time", "reward"):
            if not isinstance(body.get(field), int) or body[field] < 1:
                problems[field] = ["A valid integer of at least 1 is required."]
        codes = body.get("completion_codes")
        if not isinstance(codes, list) or not codes:
            problems["completion_codes"] = ["Specify at least one completion code."]
        elif len({c.get("code") for c in codes}) != len(codes) or not all(
                c.get("code") and c.get("code_type") and c.get("actions") for c in codes):
            problems["completion_codes"] = ["Each code needs a unique code, a code_type and actions."]
        if problems:
            return 400, _error(400, problems)
        study = {**body, "id": secrets.token_hex(12), "status": "UNPUBLISHED", "published_at": None,
                 "date_created": _now()}
        self.studies[study["id"]] = study
        return 201, study

    def _update_study(self, study: dict, body: dict) -> tuple[int, dict]:
        places = body.get("total_available_places")
        if places is not None:
            if not isinstance(places, int) or places < 1:
                return 400, _error(400, {"total_available_places": ["A valid integer is required."]})
            if study["status"] != "UNPUBLISHED" and places < study["total_available_places"]:
                return 400, _error(400, {"total_available_places": [
                    "The number of places of a published study can only be increased."]})
            study["total_available_places"] = places
        return 200, study

    def _list_submissions(self, query: dict) -> tuple[int, dict]:
        study_id = (query.get("study") or [None])[0]
        page = int((query.get("page") or ["1"])[0])
        size = int((query.get("page_size") or ["20"])[0])
        found = [s for s in self.submissions.values() if study_id is None or s["study_id"] == study_id]
        chunk = found[(page - 1) * size: page * size]
        more = page * size < len(found)
        link = f"{self.url}/api/v1/submissions/?study={study_id}&page={page + 1}&page_size={size}" if more else None
        return 200, {"results": [dict(s) for s in chunk],
                     "_links": {"self": {"href": None, "title": "Current"}, "next": {"href": link, "title": "Next"}},
                     "meta": {"count": len(found)}}

    def _transition_submission(self, submission_id: str, body: dict) -> tuple[int, dict]:
        submission = self.submissions.get(submission_id)
        if submission is None:
            return 404, _error(404, "Not found.")
        action = body.get("action")
        if action not in _SUBMISSION_ACTIONS:
            return 400, _error(400, {"action": [f'"{action}" is not a valid choice.']})
        if action == "REJECT":
            problems = {}
            if len(body.get("message") or "") < 100:
                problems["message"] = ["It must be at least 100 chars long."]
            if body.get("rejection_category") not in REJECTION_CATEGORIES:
                problems["rejection_category"] = ["A valid rejection category is required."]
            if problems:
                return 400, _error(400, problems)
        target = _SUBMISSION_ACTIONS[action]
        if submission["status"] == target:  # idempotent: the same request again is ignored
            return 200, dict(submission)
        if submission["status"] != "AWAITING REVIEW":
            return 400, _error(400, f"A submission with status {submission['status']} cannot be moved by {action}.")
        submission["status"] = target
        if action == "REJECT":
            submission["rejection"] = {"message": body["message"], "category": body["rejection_category"]}
        return 200, dict(submission)

    def _create_bonuses(self, body: dict) -> tuple[int, dict]:
        study_id = body.get("study_id")
        if study_id not in self.studies:
            return 400, _error(400, {"study_id": ["Study not found."]})
        taking_part = {s["participant_id"] for s in self.submissions.values() if s["study_id"] == study_id}
        lines, unknown, total = [], [], 0.0
        for line in (body.get("csv_bonuses") or "").splitlines():
            participant, amount = line.split(",")
            if participant not in taking_part:
                unknown.append(participant)
            lines.append((participant, float(amount)))
            total += float(amount) * 100
        if not lines or unknown:
            return 400, _error(400, {"csv_bonuses": [f"Participants not in the study: {', '.join(unknown)}"
                                                     if unknown else "No bonuses given."]})
        bonus_id = secrets.token_hex(12)
        self.bonuses[bonus_id] = {"study": study_id, "lines": lines}
        fees = round(total * 0.333, 2)
        return 201, {"id": bonus_id, "study": study_id, "amount": total, "fees": fees, "vat": 0.0,
                     "total_amount": total + fees}

    # -- HTTP -----------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:
                pass

            def _reply(self, status: int, payload: dict | None, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                with server._lock:
                    server.requests.append((method, parts.path, body, dict(self.headers)))
                    if self.headers.get("Authorization") != f"Token {server.token}":
                        self._reply(401, _error(401, "Invalid token."))
                        return
                    fault = server._fault(method, parts.path)
                    if fault is not None and not fault.drop:
                        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
                        self._reply(fault.status, _error(fault.status, fault.detail), headers)
                        return
                    status, payload = server._answer(method, parts.path, parse_qs(parts.query), body)
                if fault is not None:  # processed; now the connection drops before any answer
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._reply(status, payload)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

        return Handler
