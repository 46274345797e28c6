"""Visionary Tuning: one entry point; the menu is built per role with st.navigation."""

import streamlit as st

from pages.common import platform

st.set_page_config(page_title="Visionary Tuning", layout="wide")

overview = st.Page("pages/overview.py", title="Overview", default=True)
projects = st.Page("pages/designer_projects.py", title="Projects")
studies = st.Page("pages/researcher_studies.py", title="Rating studies")
statistics = st.Page("pages/researcher_statistics.py", title="Statistics")
critic = st.Page("pages/researcher_critic.py", title="Critic case study")
settings = st.Page("pages/researcher_settings.py", title="Settings")
rate = st.Page("pages/rater.py", title="Rate transcripts")

page = st.navigation(
    {
        "Designer": [overview, projects],
        "Researcher": [studies, statistics, critic, settings],
        "Rater": [rate],
    }
)
_, _, llm = platform()
st.sidebar.caption(f"Model: {llm.backend.describe()}")
page.run()
