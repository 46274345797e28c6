"""A real OpenAI-compatible HTTP server on loopback that answers from a script.

Tests and benchmarks use it to drive the real `openai` client over real HTTP while choosing
each reply: content, HTTP status, delay, or a raw (possibly broken) body. A request with
`"stream": true` is answered with server-sent events as OpenAI documents them: `data: {chunk}`
events, each a `chat.completion.chunk` whose `choices[0].delta.content` carries a piece of the
reply, then (if `stream_options.include_usage` asked for it) a chunk with the usage and no
choices, then `data: [DONE]`; with a delay between chunks that a test sets.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MODEL = "scripted-model"


@dataclass
class Reply:
    content: str = "scripted reply"
    status: int = 200
    delay_s: float = 0.0
    body: str | None = None  # sent verbatim instead of a completion, e.g. broken JSON
    headers: dict[str, str] = field(default_factory=dict)
    tokens_in: int = 11
    tokens_out: int = 7
    finish_reason: str = "stop"  # "length": cut at max_tokens
    # Streaming (a request with "stream": true):
    chunk_delay_s: float = 0.0  # before each chunk after the first
    chunks: list[str] | None = None  # the pieces of `content`; None: word by word
    stream_usage: bool = True  # send the usage chunk when the request asks for it
    cut_after: int | None = None  # drop the connection after this many pieces, without [DONE]
    release: threading.Event | None = None  # hold the reply (after `delay_s`) until the test sets this

    def pieces(self) -> list[str]:
        return self.chunks if self.chunks is not None else re.findall(r"\s*\S+", self.content) or [""]


class ScriptedServer:
    """Use as a context manager; `url` is the base URL to give the client.

    Replies come from `script(...)` in order, then from `respond(request)` if set, else
    `default`. Every request body is kept in `requests`.
    """

    def __init__(self, default: Reply | None = None, respond: Callable[[dict], Reply] | None = None):
        self.default = default or Reply()
        self.respond = respond
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._together = threading.Condition(self._lock)
        self._hold_for, self._hold_timeout_s = 0, 0.0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def chat_requests(self) -> list[dict]:
        with self._lock:
            return list(self.requests)

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def hold_until_together(self, n: int, timeout_s: float = 10.0) -> None:
        """Hold the next requests until `n` of them are in flight at once, then stop holding. So a
        test of concurrency proves that the client sends n requests together (with fewer, the wait
        times out and max_in_flight stays below n) instead of hoping that slow replies overlap."""
        with self._lock:
            self._hold_for, self._hold_timeout_s = n, timeout_s

    def __enter__(self) -> ScriptedServer:
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next_reply(self, request: dict) -> Reply:
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.in_flight >= self._hold_for:
                self._hold_for = 0
                self._together.notify_all()
            else:
                self._together.wait_for(lambda: self._hold_for == 0, timeout=self._hold_timeout_s)
            if self._queue:
                return self._queue.popleft()
        return self.respond(request) if self.respond else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs (40 ms)

            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def _stream(self, request: dict, reply: Reply) -> None:
                """The reply as server-sent events, in HTTP/1.1 chunked transfer encoding."""
                def event(data: str) -> None:
                    payload = f"data: {data}\n\n".encode()
                    self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
                    self.wfile.flush()

                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Cache-Control", "no-cache")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i, piece in enumerate(reply.pieces()):
                        if i == reply.cut_after:
                            self.close_connection = True
                            return
                        if i:
                            time.sleep(reply.chunk_delay_s)
                        delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
                        event(json.dumps(_chunk(request, [{"index": 0, "delta": delta, "finish_reason": None}])))
                    event(json.dumps(_chunk(request, [{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}])))
                    if reply.stream_usage and (request.get("stream_options") or {}).get("include_usage"):
                        event(json.dumps(_chunk(request, [], _usage(reply))))
                    event("[DONE]")
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the reader stopped

            def do_GET(self) -> None:
                if self.path == "/scripted/requests":  # for a client in another process
                    self._send(200, json.dumps({"count": len(server.chat_requests)}))
                elif self.path.rstrip("/").endswith("/models"):
                    self._send(200, json.dumps({"object": "list", "data": [
                        {"id": MODEL, "object": "model", "created": 0, "owned_by": "tests"}]}))
                else:
                    self._send(404, json.dumps({"error": {"message": "not found"}}))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                request = json.loads(self.rfile.read(length) or b"{}")
                reply = server._next_reply(request)
                try:
                    time.sleep(reply.delay_s)
                    if reply.release is not None:
                        reply.release.wait()
                    if request.get("stream") and reply.body is None and reply.status == 200:
                        self._stream(request, reply)
                        return
                    if reply.body is not None:
                        body = reply.body
                    elif reply.status != 200:
                        body = json.dumps({"error": {"message": f"scripted HTTP {reply.status}",
                                                     "type": "scripted"}})
                    else:
                        body = json.dumps(_completion(request, reply))
                    self._send(reply.status, body, reply.headers)
                finally:
                    with server._lock:
                        server.in_flight -= 1

        return Handler


def _completion(request: dict, reply: Reply) -> dict:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", MODEL),
        "choices": [{"index": 0, "finish_reason": reply.finish_reason,
                     "message": {"role": "assistant", "content": reply.content}}],
        "usage": _usage(reply),
    }


def _chunk(request: dict, choices: list[dict], usage: dict | None = None) -> dict:
    return {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": request.get("model", MODEL), "choices": choices, "usage": usage}


def _usage(reply: Reply) -> dict:
    return {"prompt_tokens": reply.tokens_in, "completion_tokens": reply.tokens_out,
            "total_tokens": reply.tokens_in + reply.tokens_out}


@contextmanager
def scripted_process(delay_s: float) -> Iterator[str]:
    """A scripted server in a process of its own (so that a benchmark does not share its GIL),
    answering every request after `delay_s`; yields its base URL."""
    process = subprocess.Popen([sys.executable, "-m", "tests.scripted_server", "--delay", str(delay_s)],
                               cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE, text=True)
    try:
        yield process.stdout.readline().strip()
    finally:
        process.kill()
        process.wait()


def request_count(url: str) -> int:
    """How many chat requests the scripted server at `url` has answered (in any process)."""
    with urllib.request.urlopen(url.removesuffix("/v1") + "/scripted/requests") as response:
        return json.load(response)["count"]


def main() -> None:
    """Serve in a process of its own (for benchmarks): prints the base URL, runs until killed."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each reply")
    args = parser.parse_args()
    with ScriptedServer(Reply(delay_s=args.delay)) as server:
        print(server.url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
