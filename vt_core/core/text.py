"""Markdown text: escaping what someone else wrote (a model, a rater, a study file) where Markdown
renders, and cutting a prompt into sections at its headings."""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$")
# What starts formatting anywhere in a line (: for Streamlit's emoji and colour directives, $ for its
# LaTeX, & for an entity such as &lt; that would show as "<"); "(" and "!" need no escape once "[" has one.
_INLINE_SPECIALS = set("\\`*_[]<>|$~:#&")
# What starts a block only at the start of a line: a list item, an ordered list, a setext underline.
# A line starts after "\n" and also after a bare "\r", a line ending in Markdown too.
_LINE_START = re.compile(r"(?:^|(?<=[\r\n]))([ \t]*)([-+=]|\d+[.)])")


def escape_markdown(text: object) -> str:
    """`text` with every Markdown character escaped, so that it shows exactly as written, inside a
    line (a sentence, a table cell, a heading) or as lines of their own (a widget's label)."""
    inline = "".join("\\" + c if c in _INLINE_SPECIALS else c for c in str(text))
    return _LINE_START.sub(lambda m: m[1] + m[2][:-1] + "\\" + m[2][-1], inline)


@dataclass(frozen=True)
class Section:
    heading: str  # "" for the text before the first heading
    text: str  # the heading line included


def sections(prompt: str) -> list[Section]:
    """The prompt cut at its Markdown headings; a designer can lock sections by heading."""
    found: list[Section] = []
    heading, lines = "", []
    for line in prompt.splitlines(keepends=True):
        match = _HEADING.match(line)
        if match:
            if lines:
                found.append(Section(heading, "".join(lines)))
            heading, lines = match.group(1), []
        lines.append(line)
    if lines:
        found.append(Section(heading, "".join(lines)))
    return found
