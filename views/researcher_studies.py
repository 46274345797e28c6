import streamlit as st

from views.common import not_built_yet

st.title("Rating studies")
not_built_yet(
    4,
    "Here a researcher will build a crowd-rating study (conditions, transcripts, rating scales, "
    "attention checks, completion codes), hand out Prolific or MTurk links, monitor raters and "
    "export the ratings.",
)
