import streamlit as st

from views.common import not_built_yet

st.title("Statistics")
not_built_yet(
    5,
    "Here a researcher will analyse a study: descriptives, Wilcoxon signed-rank on per-rater "
    "means, paired t, a mixed model with crossed random effects, Holm correction, Krippendorff's "
    "alpha, power, charts and an APA-style report.",
)
