import streamlit as st

from pages.common import not_built_yet

st.title("Projects")
not_built_yet(
    3,
    "Here a designer will describe a chatbot and its draft prompt, run self-play with simulated "
    "users, annotate transcripts, turn the marks into patterns and refine the prompt against them.",
)
