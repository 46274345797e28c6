"""Every prompt the platform sends lives here as a text file; `render` fills it in.

Templates use `$name` placeholders (string.Template), so JSON braces need no escaping.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from string import Template

_DIR = Path(__file__).parent


@cache
def _template(name: str) -> Template:
    return Template((_DIR / f"{name}.txt").read_text())


def render(name: str, **values: object) -> str:
    """The template `name`.txt with every `$placeholder` filled; a missing value raises KeyError."""
    return _template(name).substitute({key: str(value) for key, value in values.items()})
