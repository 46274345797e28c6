import streamlit as st

from views.shared.links import participant_step
from views.shared.services import flash, services, show_flash
from vt_core.core.text import escape_markdown
from vt_core.designer import get_version
from vt_core.userstudy import (
    TLX_SCALES,
    TLX_STEP,
    Answers,
    UserStudyError,
    answer,
    finish_task,
    get_user_study,
    start_task,
)

store = services().store
found = participant_step()
if found is None:
    st.title("User study")
    st.error("This participant link names nobody. Check that it was copied whole, or ask the researcher for "
             "your link.")
    st.stop()
participant, step = found
definition = get_user_study(store, participant.study_id).definition
limit = definition.time_limit_minutes

if step.kind == "done":
    st.title("Thank you")
    show_flash()
    st.text(definition.end_text)
    st.stop()

st.title(escape_markdown(f"Task {step.position} of {step.of}: {step.task.title}"))
st.caption(escape_markdown(f"Participant {participant.code} · interface: {step.condition.label}"))
show_flash()


def brief() -> None:
    st.subheader("The chatbot to specify")
    st.text(step.task.brief)
    st.subheader(escape_markdown(f"How you work: {step.condition.label}"))
    st.text(step.condition.instructions)


if step.kind == "brief":
    if step.position == 1:
        st.text(definition.welcome_text)
    brief()
    st.info(f"You have {limit} minutes. The clock starts when you press **Start the task**; when the time is "
            f"up, the task ends by itself and the questionnaire follows.")
    if st.button("Start the task", type="primary", key="pt_start"):
        start_task(store, participant, step.position)
        st.rerun()

elif step.kind == "task":
    left = step.seconds_left()
    st.info(f"Time left: about {int(left // 60)} min {int(left % 60):02d} s of {limit} minutes (the sidebar keeps "
            f"counting). The pages of this interface are in the menu on the left.")
    brief()
    st.warning("Your final prompt is the project's **current version** when you finish: save your last changes "
               "as the current version first.")
    with st.form(f"pt_finish_{step.position}"):
        done = st.checkbox("I am done with this task, and my final prompt is the current version.",
                           key=f"pt_done_{step.position}")
        if st.form_submit_button("Finish task", type="primary", key=f"pt_finish_button_{step.position}"):
            if not done:
                st.error("Tick the box to confirm that you are done; the task cannot be resumed afterwards.")
            else:
                finish_task(store, participant, step.position)
                st.rerun()

else:  # the questionnaire
    record = step.record
    if record.end_reason == "time_limit":
        st.info("Time is up: this task has ended.")
    with st.expander("Your final prompt"):
        st.text(get_version(store, record.measures["prompt_version_id"]).text)
    st.subheader("Questionnaire")
    questions = definition.questionnaire
    labels = questions.success_labels
    with st.form(f"pt_questionnaire_{step.position}"):
        success = st.radio(escape_markdown(questions.success_question), range(1, len(labels) + 1), index=None,
                           horizontal=True, format_func=lambda v: escape_markdown(f"{v} {labels[v - 1]}"),
                           key=f"pt_success_{step.position}")
        st.markdown("**Workload.** For each question, move the slider to where this task puts you "
                    f"(0 to 100, in steps of {TLX_STEP}).")
        tlx = {}
        for key, (label, question, low, high) in TLX_SCALES.items():
            tlx[key] = st.slider(f"{label}: {question}", 0, 100, 50, step=TLX_STEP, key=f"pt_{key}_{step.position}")
            st.caption(f"0 = {low} · 100 = {high}")
        free_text = st.text_area(escape_markdown(questions.free_text_question), key=f"pt_free_{step.position}")
        if st.form_submit_button("Submit answers", type="primary", key=f"pt_submit_{step.position}"):
            try:
                answer(store, participant, step.position, Answers(success, tlx, free_text))
            except UserStudyError as exc:
                for line in str(exc).splitlines():
                    st.error(line)
            else:
                flash("Thank you, your answers are saved." + (" The next task follows." if step.position < step.of
                                                              else ""))
                st.rerun()
