"""What the real-server tests share: `streamlit run app.py` on a free port, scripts/serve.sh's app processes
behind HAProxy, and Debian's Chromium through Playwright (which cannot download
its own browser on these machines)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

if os.environ.get("CI"):
    import playwright.sync_api as playwright  # in CI a missing Playwright fails the run, never skips it
else:
    playwright = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _free_ports(count: int) -> int:
    """The first of `count` consecutive free ports."""
    while True:
        first = _free_port()
        try:
            for port in range(first + 1, first + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue


def _wait_until_healthy(url: str, process: subprocess.Popen, log_path: Path, what: str,
                        headers: dict[str, str] | None = None, answered_by: str | None = None) -> None:
    """Until `url` answers its health check (from the process `answered_by` names, through serve.sh's proxy)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            request = urllib.request.Request(f"{url}/_stcore/health", headers=headers or {})
            with urllib.request.urlopen(request, timeout=1) as response:
                if answered_by is None or response.headers.get("X-VT-Server") == answered_by:
                    return
                raise OSError(f"answered by {response.headers.get('X-VT-Server')}")
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{what} did not start:\n{log_path.read_text()}")
            time.sleep(0.2)


@dataclass
class Served:
    url: str  # the proxy's
    apps: list[int]  # the app processes' pids, app1 first (HAProxy's cookie VT_SERVER=app1 sticks to it)
    folder: Path  # serve.sh's logs, pids and HAProxy configuration


@contextmanager
def served(folder: Path, env: dict[str, str], replicas: int = 2, workers: int = 1) -> Iterator[Served]:
    """scripts/serve.sh: `replicas` app processes and `workers` worker processes behind HAProxy, on the
    database env's VT_DATABASE_URL names, with no model settings but `env`; yields once every app answers,
    and stops them all afterwards."""
    port = _free_ports(replicas + 1)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "VT_"))}
    environment.update({"VT_SERVE_DIR": str(folder), **env})
    log_path = folder / "serve.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            ["bash", "scripts/serve.sh", "--replicas", str(replicas), "--workers", str(workers),
             "--port", str(port), "--address", "127.0.0.1"],
            cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            for i in range(1, replicas + 1):
                _wait_until_healthy(f"http://127.0.0.1:{port + i}", server, log_path, f"app process {i}")
            url = f"http://127.0.0.1:{port}"
            for i in range(1, replicas + 1):  # until the proxy, too, sends each process its browsers
                _wait_until_healthy(url, server, log_path, f"HAProxy to app{i}", {"Cookie": f"VT_SERVER=app{i}"},
                                    answered_by=f"app{i}")
            yield Served(url, [int((folder / f"app-{i}.pid").read_text()) for i in range(1, replicas + 1)], folder)
        finally:
            server.terminate()  # serve.sh stops its children
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


@contextmanager
def streamlit_app(folder: Path, env: dict[str, str], processes: list | None = None) -> Iterator[str]:
    """`streamlit run app.py` with a database in `folder`, no model settings but `env`; yields
    its URL once it answers, and stops it afterwards. Its log is `folder/streamlit.log`; its
    process is appended to `processes` when given (a test that kills it)."""
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "VT_"))}
    environment.update({"VT_DB_PATH": str(folder / "vt.duckdb"), **env})
    log_path = folder / "streamlit.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             # No file watcher: an edit to the source tree during a run (others work in it too) would
             # put "File change. Rerun" in the status widget, which `settle` takes for a run under way.
             "--server.fileWatcherType", "none"],
            cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
        )
        if processes is not None:
            processes.append(server)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_healthy(url, server, log_path, "streamlit")
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@contextmanager
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run scripts/setup-tests.sh")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def browser_page(browser, folder: Path, *, timeout_ms: int, width: int = 1200, height: int = 1000, **options):
    """A page of `browser`, watched (see `watched`)."""
    with watched(browser.new_page(viewport={"width": width, "height": height}, **options), folder,
                 timeout_ms=timeout_ms) as page:
        yield page


@contextmanager
def watched(page, folder: Path, *, timeout_ms: int):
    """`page`, whose waits last up to timeout_ms, which collects its JavaScript errors in
    `page.page_errors`, and which leaves `folder/last.png` behind (where it stopped, if a test failed)."""
    expect = playwright.expect
    page.set_default_timeout(timeout_ms)
    expect.set_options(timeout=timeout_ms)
    page.page_errors = []
    page.on("pageerror", lambda error: page.page_errors.append(str(error)))
    try:
        yield page
    finally:
        if not page.is_closed():  # a test may close the tab itself
            page.screenshot(path=str(folder / "last.png"), full_page=True)
        expect.set_options(timeout=5_000)  # Playwright's default, for the tests that follow


def settle(page) -> None:
    """Wait until the script run has finished and the page has drawn all of it: no running
    indicator, no element left over from the run before, no widget still loading its code."""
    expect = playwright.expect
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    expect(page.locator('[data-stale="true"]')).to_have_count(0)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0)
