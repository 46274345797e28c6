import streamlit as st

from views.common import not_built_yet

st.title("Critic case study")
not_built_yet(
    6,
    "Here a researcher will learn one movie critic's taste as a prompt from a few rated films "
    "(MovieLens), predict the critic's ratings of held-out films and compare against baselines.",
)
