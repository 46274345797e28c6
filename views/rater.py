import streamlit as st

from views.common import not_built_yet

st.title("Rate transcripts")
not_built_yet(
    4,
    "Crowdworkers will arrive here through a study link, give consent, read chatbot transcripts "
    "and rate each for adherence and quality.",
)
