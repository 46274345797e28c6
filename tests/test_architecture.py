"""The architecture as checked contracts: import-linter's contracts (.importlinter) hold, and they
fail when a forbidden import is added; pages live in views/, never in a `pages/` folder."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / ".importlinter"), "--no-cache"], cwd=root,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=120)


def test_the_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and "Contracts: " in result.stdout


@pytest.mark.parametrize("module, line, broken", [
    ("vt_core/designer/projects.py", "import streamlit", "vt_core never imports Streamlit or the pages"),
    ("vt_core/crowd/studies.py", "import views.shared.services", "vt_core never imports Streamlit or the pages"),
    ("vt_core/core/store/__init__.py", "from vt_core.designer import get_project",
     "Workflow layers, from the core up to the CLI"),
    ("vt_core/critic/tuning.py", "from vt_core.designer import get_project",
     "The critic shares the optimizer, not the designer's modules"),
    ("views/designer/review.py", "from vt_core.designer.patterns import list_patterns",
     "vt_core.designer is used through its public API"),
    ("vt_core/designer/transcripts.py", "from vt_core.designer.selfplay import list_selfplay_runs",
     "No import cycles between sibling modules"),
])
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, line, broken):
    for part in ("vt_core", "views"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}  # added by the test\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert f"{broken} BROKEN" in result.stdout, result.stdout


def test_no_pages_folder_beside_app():
    # Streamlit 1.67 runs the scripts of a `pages/` folder beside the entry script directly when a
    # fresh server's first request is a page URL, past app.py's router and its access rules.
    assert not (ROOT / "pages").exists()


def test_every_page_of_the_menu_exists():
    paths = re.findall(r'st\.Page\("([^"]+)"', (ROOT / "app.py").read_text())
    assert len(paths) >= 14
    assert [p for p in paths if not (ROOT / p).is_file()] == []
