"""Visionary Tuning: one entry point; the menu is built per role with st.navigation."""

import streamlit as st

from views.shared.access import refuse_an_open_server_without_login, staff_gate
from views.shared.designer import study_session
from views.shared.jobs import jobs_sidebar
from views.shared.links import (
    participant_step,
    remember_participant_link,
    remember_rater_link,
    staff_way_out,
    task_sidebar,
)
from views.shared.services import services

st.set_page_config(page_title="Visionary Tuning", layout="wide")
refuse_an_open_server_without_login()  # a request from the network, with no login configured: nobody
staff_way_out()  # `?staff` in a browser a link confines: the staff log in to leave the link

if remember_rater_link():
    # A study link (`?study=TOKEN`), now or earlier in this browser (a signed cookie keeps it across
    # reloads and typed URLs): the rater page is the only page, whatever the URL says, so editing the
    # URL cannot reach designer or researcher pages.
    st.navigation([st.Page("views/rater/rate.py", title="Rate transcripts", url_path="rater", default=True)],
                  position="hidden").run()
    st.stop()

staff_gate()  # designer and researcher pages: a login when one is configured

# Pages keep the URLs they had before views/ was grouped by role (designer_projects, researcher_studies, ...).
overview = st.Page("views/designer/overview.py", title="Overview", url_path="overview", default=True)
projects = st.Page("views/designer/projects.py", title="Projects", url_path="designer_projects")
setup = st.Page("views/designer/setup.py", title="Personas & scenarios", url_path="designer_setup")
selfplay = st.Page("views/designer/selfplay.py", title="Self-play", url_path="designer_selfplay")
review = st.Page("views/designer/review.py", title="Review", url_path="designer_review")
patterns = st.Page("views/designer/patterns.py", title="Patterns", url_path="designer_patterns")
refine = st.Page("views/designer/refine.py", title="Refine", url_path="designer_refine")
compare = st.Page("views/designer/compare.py", title="Compare & approve", url_path="designer_compare")
playground = st.Page("views/designer/playground.py", title="Playground", url_path="designer_playground")
calls = st.Page("views/designer/calls.py", title="Model calls", url_path="designer_calls")
studies = st.Page("views/researcher/studies.py", title="Rating studies", url_path="researcher_studies")
statistics = st.Page("views/researcher/statistics.py", title="Statistics", url_path="researcher_statistics")
critic = st.Page("views/researcher/critic.py", title="Critic case study", url_path="researcher_critic")
settings = st.Page("views/researcher/settings.py", title="Settings", url_path="researcher_settings")
rate = st.Page("views/rater/rate.py", title="Rate transcripts", url_path="rater")

if remember_participant_link():
    # A user-study participant (`?participant=TOKEN`, now or earlier in this browser), in the
    # lab on the researcher's machine, so after the staff gate: their own page, and while a task
    # runs only the pages of its condition, whatever the URL says.
    found = participant_step()
    step = found[1] if found else None
    running = step is not None and step.kind == "task"
    tools = {"tool": [projects, setup, selfplay, review, patterns, refine, compare], "control": [playground]}
    task = st.Page("views/participant/task.py", title="Your task", url_path="participant", default=True)
    page = st.navigation([task, *(tools[step.condition.interface] if running else [])])
    if running:
        task_sidebar(step)
    page.run()
    st.stop()

page = st.navigation(
    {
        "Designer": [overview, projects, setup, selfplay, review, patterns, refine, compare, playground, calls],
        "Researcher": [studies, statistics, critic, settings],
        "Rater": [rate],
    },
    expanded=True,  # the menu is short enough to show whole; collapsed, it hid whole sections
)
llm = services().llm
st.sidebar.caption(f"Model: {llm.backend.describe()}")
jobs_sidebar()
if session_id := study_session():  # read on whichever page a study link opens
    st.sidebar.caption(f"Study session: {session_id}")
page.run()
