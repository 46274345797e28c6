"""Visionary Tuning: one entry point; the menu is built per role with st.navigation."""

import streamlit as st

from views.common import (participant_step, platform, refuse_an_open_server_without_login, remember_participant_link,
                          remember_rater_link, staff_gate, study_session, task_sidebar)

st.set_page_config(page_title="Visionary Tuning", layout="wide")
refuse_an_open_server_without_login()

if remember_rater_link():
    # A study link (`?study=TOKEN`), now or earlier in this browser session: the rater page is the
    # only page, whatever the URL says, so editing the URL cannot reach designer or researcher pages.
    st.navigation([st.Page("views/rater.py", title="Rate transcripts", default=True)],
                  position="hidden").run()
    st.stop()

staff_gate()  # designer and researcher pages: a login when one is configured

overview = st.Page("views/overview.py", title="Overview", default=True)
projects = st.Page("views/designer_projects.py", title="Projects")
setup = st.Page("views/designer_setup.py", title="Personas & scenarios")
selfplay = st.Page("views/designer_selfplay.py", title="Self-play")
review = st.Page("views/designer_review.py", title="Review")
patterns = st.Page("views/designer_patterns.py", title="Patterns")
refine = st.Page("views/designer_refine.py", title="Refine")
playground = st.Page("views/designer_playground.py", title="Playground")
studies = st.Page("views/researcher_studies.py", title="Rating studies")
statistics = st.Page("views/researcher_statistics.py", title="Statistics")
critic = st.Page("views/researcher_critic.py", title="Critic case study")
settings = st.Page("views/researcher_settings.py", title="Settings")
rate = st.Page("views/rater.py", title="Rate transcripts")

if remember_participant_link():
    # A user-study participant (`?participant=TOKEN`, now or earlier in this browser session), in the
    # lab on the researcher's machine, so after the staff gate: their own page, and while a task
    # runs only the pages of its condition, whatever the URL says.
    found = participant_step()
    step = found[1] if found else None
    running = step is not None and step.kind == "task"
    tools = {"tool": [projects, setup, selfplay, review, patterns, refine], "control": [playground]}
    task = st.Page("views/participant.py", title="Your task", default=True)
    page = st.navigation([task, *(tools[step.condition.interface] if running else [])])
    if running:
        task_sidebar(step)
    page.run()
    st.stop()

page = st.navigation(
    {
        "Designer": [overview, projects, setup, selfplay, review, patterns, refine, playground],
        "Researcher": [studies, statistics, critic, settings],
        "Rater": [rate],
    },
    expanded=True,  # the menu is short enough to show whole; collapsed, it hid whole sections
)
_, _, llm = platform()
st.sidebar.caption(f"Model: {llm.backend.describe()}")
if session_id := study_session():  # read on whichever page a study link opens
    st.sidebar.caption(f"Study session: {session_id}")
page.run()
