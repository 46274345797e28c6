import streamlit as st

from views.shared.designer import choose_project
from views.shared.services import services
from vt_core.designer import list_projects, seed_demo

st.title("Visionary Tuning")
st.markdown(
    """
Specify how a chatbot should behave by watching it work, not by guessing from a blank page.

1. **Self-play.** Simulated users, each with a persona and a goal, talk to your chatbot under the
   draft system prompt.
2. **Mark.** You read the transcripts and mark what is good, what is bad, and where the simulated
   user was unrealistic.
3. **Patterns.** Your marks become patterns: behaviours to keep and anti-behaviours to avoid, each
   tested against your own labels.
4. **Refine.** The system writes candidate prompts from the patterns, re-runs self-play, judges
   every transcript against every pattern, and proposes the prompt that holds them best. You
   approve each change.

**Designers** work under *Designer*. **Researchers** run crowd-rating studies, analyse them and
reproduce the movie-critic case study under *Researcher*; *Settings* shows which model and database
the platform uses. **Crowdworkers** reach the rating page only through a study link.
"""
)

store = services().store
if not list_projects(store):
    st.info("The database is empty. Create the demo project to see every designer page with data: a movie "
            "recommendation bot with hand-written transcripts, the designer's marks and patterns.", icon="🎬")
    if st.button("Create the demo project", type="primary", key="ov_demo"):
        choose_project(seed_demo(store).id)
        st.switch_page("views/designer/projects.py")
