"""What every chart shares: titles in one style."""

from __future__ import annotations

import altair as alt


def chart_title(text: str, subtitle: str | None = None) -> alt.TitleParams:
    return alt.TitleParams(text, subtitle=subtitle or alt.Undefined, anchor="start")


def title_text(chart: alt.TopLevelMixin) -> str:
    """The title a chart was given, as plain text."""
    return str(getattr(chart.title, "text", chart.title))
