"""In CI (the CI variable set) the browser tests fail, never skip, when Playwright cannot be imported."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_in_ci_a_missing_playwright_fails_the_browser_tests(tmp_path):
    hollow = tmp_path / "playwright"  # found first on the path, and without the sync_api module
    hollow.mkdir()
    (hollow / "__init__.py").write_text("")
    env = {**os.environ, "CI": "true", "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_browser.py"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    assert "No module named 'playwright.sync_api'" in run.stdout and "skipped" not in run.stdout, run.stdout
