"""Charts of the critic case study (Altair), each with a title that says what it shows: the
confusion matrix, recall per class (one method or several side by side), validation macro-F1
round by round, and macro-F1 per method."""

from __future__ import annotations

import math

import altair as alt
import pandas as pd

from vt_core.core.charts import chart_title
from vt_core.critic.data import CLASSES


def confusion_chart(table: pd.DataFrame, *, subtitle: str | None = None) -> alt.LayerChart:
    """A heat map of `metrics.confusion` (true class rows, predicted class columns), with counts."""
    long = table.rename_axis(index="truth", columns="predicted").stack().rename("films").reset_index()
    base = alt.Chart(long).encode(
        x=alt.X("predicted:N", sort=list(CLASSES), title="predicted class", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("truth:N", sort=list(CLASSES), title="the critic's class"))
    cells = base.mark_rect().encode(color=alt.Color("films:Q", title="films", scale=alt.Scale(scheme="blues")),
                                    tooltip=["truth", "predicted", "films"])
    counts = base.mark_text(fontSize=14).encode(
        text="films:Q",
        color=alt.condition(alt.datum.films > long["films"].max() / 2, alt.value("white"), alt.value("black")))
    title = chart_title("Test films: the critic's class against the prediction", subtitle)
    return (cells + counts).properties(width=260, height=220, title=title)


def recall_chart(rows: pd.DataFrame, *, subtitle: str | None = None) -> alt.Chart:
    """Recall per class, bars grouped by method; `rows` has columns method, class, recall (a NaN
    recall, for a class the test films lack, is left out)."""
    shown = rows[rows["recall"].map(lambda r: r is not None and not math.isnan(r))]
    return alt.Chart(shown).mark_bar().encode(
        y=alt.Y("class:N", sort=list(CLASSES), title="the critic's class"),
        yOffset=alt.YOffset("method:N", sort=list(dict.fromkeys(shown["method"]))),
        x=alt.X("recall:Q", scale=alt.Scale(domain=[0, 1]), title="recall (share of the class predicted right)"),
        color=alt.Color("method:N", title="method", sort=list(dict.fromkeys(shown["method"]))),
        tooltip=["method", "class", alt.Tooltip("recall:Q", format=".2f")],
    ).properties(width=360, title=chart_title("Recall per class on the test films", subtitle))


def validation_chart(values: list[float]) -> alt.Chart:
    """Validation macro-F1 of the best specification: round 0 is the neutral one."""
    frame = pd.DataFrame({"round": range(len(values)), "macro_f1": values})
    return alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("round:O", title="round (0: the neutral specification)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("macro_f1:Q", scale=alt.Scale(domain=[0, 1]), title="validation macro-F1"),
        tooltip=["round", alt.Tooltip("macro_f1:Q", format=".3f")],
    ).properties(width=360, height=220, title=chart_title("Validation macro-F1 of the best specification so far"))


def methods_chart(table: pd.DataFrame) -> alt.Chart:
    """Macro-F1 per method on the test films, from a results table (columns method, macro_f1)."""
    shown = table.dropna(subset=["macro_f1"])
    return alt.Chart(shown).mark_bar().encode(
        x=alt.X("macro_f1:Q", scale=alt.Scale(domain=[0, 1]), title="macro-F1 on the test films"),
        y=alt.Y("method:N", sort=list(shown["method"]), title=None),
        tooltip=["method", alt.Tooltip("macro_f1:Q", format=".3f"), "model"],
    ).properties(width=360, title=chart_title("Every method on the same test films"))


def recall_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The per-class recall columns of a results table (recall_low, ...) as rows for `recall_chart`."""
    return pd.DataFrame([{"method": row["method"], "class": c, "recall": row[f"recall_{c}"]}
                         for row in table.to_dict("records") for c in CLASSES])
