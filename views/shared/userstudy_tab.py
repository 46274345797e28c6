"""The "User studies" tab of the Statistics page: set up a designer user study, follow its
participants, bring in measures, and read its analysis. views/researcher/statistics.py calls render()."""

import pandas as pd
import streamlit as st

from views.shared.services import flash, services, show_errors, show_flash
from views.shared.studies import STUDIES_DIR, exclusion_controls, study_file_picker
from vt_core.crowd import StudyError, list_studies, parse_toml
from vt_core.designer import list_projects
from vt_core.userstudy import (
    MEASURE_COLUMNS,
    Step,
    UserStudy,
    add_participants,
    conditions_toml,
    copy_final_prompts,
    create_user_study,
    get_user_study,
    import_measures,
    list_user_studies,
    load_user_study_file,
    measures_csv,
    measures_frame,
    parse_user_study,
    participants,
    resume,
    set_prompt_quality,
)
from vt_core.userstudy import analysis as uss


def _load(store) -> None:
    files = sorted(STUDIES_DIR.glob("*.toml"), key=lambda p: (p.name != "designer_study.toml", p.name))
    chosen, upload = study_file_picker("us", "User study file", files)
    if st.button("Load user study", type="primary", key="us_load", disabled=chosen is None and upload is None):
        try:
            definition = load_user_study_file(chosen) if chosen else \
                parse_user_study(parse_toml(upload.getvalue(), upload.name), upload.name)
            study = create_user_study(store, definition)
        except StudyError as exc:
            show_errors(exc)
        else:
            st.session_state["us_study"] = study.id
            flash(f"Created user study {study.id} {study.name!r} with {definition.participants} participants.")
            st.rerun()


def _step_text(step: Step) -> str:
    return "done" if step.kind == "done" else f"task {step.position} of {step.of}: {step.kind}"


def _participants(store, study: UserStudy) -> None:
    st.caption("Open a participant's link on the lab machine, in a private window or a browser profile of its "
               "own: the link then confines every tab of that window or profile to the participant's pages, "
               "reloads and typed addresses included, until a staff login at /?staff releases it.")
    rows = []
    for participant in participants(store, study.id):
        rows.append({"participant": participant.code,
                     "order": " → ".join(f"{c} ({t})" for c, t in participant.sequence),
                     "progress": _step_text(resume(store, participant)), "link": participant.link})
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="us_participants",
                 column_config={"link": st.column_config.LinkColumn("link", display_text="open link")})
    left, right = st.columns([1, 3], vertical_alignment="bottom")
    n = left.number_input("More participants", 1, 100, 4, key="us_more")
    if right.button("Add participants", key="us_add"):
        added = add_participants(store, study.id, int(n))
        flash(f"Added {len(added)} participants: {', '.join(p.code for p in added)}.")
        st.rerun()


def _quality(store, study: UserStudy, frame: pd.DataFrame) -> None:
    st.markdown("**Quality of the final prompts.** Enter expert ratings here, or take them from a crowd study "
                "over the final prompts.")
    rows = frame[frame["source"] == "platform"][["participant", "condition", "prompt_version_id", "prompt_quality",
                                                 "quality_source"]]
    if not rows.empty:
        edited = st.data_editor(rows, hide_index=True, key="us_quality_editor", disabled=["participant", "condition",
                                                                                        "prompt_version_id",
                                                                                        "quality_source"])
        if st.button("Save quality ratings", key="us_quality_save"):
            saved = 0
            for old, new in zip(rows.itertuples(), edited.itertuples(), strict=True):
                before, after = (None if pd.isna(v) else float(v) for v in (old.prompt_quality, new.prompt_quality))
                if before != after:
                    set_prompt_quality(store, study.id, new.participant, new.condition, after)
                    saved += 1
            flash(f"Saved {saved} quality rating(s).")
            st.rerun()
    with st.expander("From a crowd study"):
        projects = {p.id: p.name for p in list_projects(store)}
        st.caption("1. Copy the final prompts into one evaluation project (its personas and scenarios are the ones "
                   "self-play uses), 2. build a crowd study with the conditions below, run it, 3. link it here: each "
                   "crowd condition named like P01-tool gives that final prompt its mean rating.")
        if projects:
            target = st.selectbox("Evaluation project", list(projects), format_func=projects.get, key="us_eval")
            if st.button("Copy the final prompts", key="us_copy"):
                st.session_state["us_conditions"] = conditions_toml(copy_final_prompts(store, study.id, target))
            if st.session_state.get("us_conditions"):
                st.code(st.session_state["us_conditions"], language="toml")
        crowd = {s.id: s for s in list_studies(store)}
        if crowd:
            chosen = st.selectbox("Crowd study", list(crowd), format_func=lambda i: f"#{i} {crowd[i].name}",
                                  key="us_crowd")
            dimension = st.selectbox("Dimension", [d.key for d in crowd[chosen].definition.dimensions],
                                     key="us_crowd_dimension")
            rules = exclusion_controls("us_ex")
            if st.button("Take the quality from this crowd study", key="us_crowd_link"):
                linked = uss.quality_from_crowd(store, study.id, chosen, dimension, rules)
                flash(f"Linked {linked} final prompt(s) to crowd study #{chosen}.")
                st.rerun()


def _measures(store, study: UserStudy) -> None:
    frame = measures_frame(store, study.id)
    st.dataframe(frame, hide_index=True, key="us_measures")
    st.download_button("Measures (CSV)", data=frame.to_csv(index=False), file_name=f"userstudy-{study.id}-measures.csv",
                       mime="text/csv", on_click="ignore", key="us_measures_csv")
    _quality(store, study, frame)
    with st.expander("Import measures of a study run elsewhere (CSV)"):
        st.caption("Columns: participant, condition, position (1 = done first), and any of "
                   f"{', '.join(MEASURE_COLUMNS)} (as the CSV above). Any bad row stops the import; nothing "
                   "is saved until every row is right.")
        upload = st.file_uploader("Measures (CSV)", type=["csv"], key="us_import_file")
        replace = st.checkbox("Replace the rows imported before", key="us_import_replace")
        if st.button("Import", key="us_import", disabled=upload is None):
            try:
                text = upload.getvalue().decode("utf-8-sig")
                rows = import_measures(store, study.id, text.splitlines(), replace_imported=replace)
            except (StudyError, UnicodeDecodeError) as exc:
                show_errors(exc)
            else:
                flash(f"Imported {rows} rows.")
                st.rerun()


@st.cache_data(max_entries=16, show_spinner="Analysing the measures…")
def _analysed(study_id: int, measures: str) -> tuple[uss.UserStudyAnalysis, dict[str, dict]]:
    """The analysis and its charts (Vega-Lite specs); `measures` (the CSV) keys the cache."""
    store = services().store
    study = get_user_study(store, study_id)
    frame = measures_frame(store, study_id)
    analysis = uss.analyse_measures(frame, study.definition.analysed_conditions, study_id=study.id,
                                    study_name=study.name)
    drawn = uss.charts(analysis, frame, study.definition.questionnaire.success_labels)
    return analysis, {name: chart.to_dict() for name, chart in drawn.items()}


def _chart(specs: dict, name: str, where=st) -> None:
    if name in specs:
        where.vega_lite_chart(spec=specs[name], theme=None, key=f"us_chart_{name}")


def _analysis(store, study: UserStudy) -> None:
    analysis, specs = _analysed(study.id, measures_csv(store, study.id))
    if not analysis.results:
        st.info("No measures yet: they appear as participants finish their tasks, or after an import.")
        return
    with st.expander("Method"):
        st.markdown(uss.methods_paragraph(analysis))
    for result in analysis.results:
        st.markdown(f"**{result.measure.label}**")
        st.dataframe(uss.descriptives_table(result.descriptives), hide_index=True, key=f"us_desc_{result.measure.key}")
        for paragraph in uss.result_paragraphs(result, analysis.conditions):
            st.markdown(paragraph)
        left, right = st.columns(2)
        _chart(specs, f"slopes_{result.measure.key}", left)
        if result.measure.key == "success":
            _chart(specs, "likert_success", right)
    _chart(specs, "effects_dz")
    fmt = st.radio("Chart format in the report", ["png", "svg"], horizontal=True, key="us_format",
                   format_func=str.upper)
    st.download_button(f"Report (Markdown, {fmt.upper()} charts, CSV tables) as a zip", type="primary",
                       data=lambda: uss.report_zip(store, study.id, fmt), file_name=f"userstudy-{study.id}-report.zip",
                       mime="application/zip", on_click="ignore", key="us_zip")


def render() -> None:
    store = services().store
    show_flash()
    studies = {s.id: s for s in list_user_studies(store)}
    with st.expander("Load a user study from a TOML file", expanded=not studies):
        _load(store)
    if not studies:
        st.info("No user study yet. Load one above, e.g. studies/designer_study.toml (the method's N = 12 study).")
        return
    if st.session_state.get("us_study") not in studies:
        st.session_state["us_study"] = max(studies)
    study = studies[st.selectbox("User study", list(studies), key="us_study",
                                 format_func=lambda i: f"#{i} {studies[i].name}")]
    a, b = study.definition.analysed_conditions
    st.caption(f"{len(study.definition.conditions)} conditions ({b} is compared with {a}), "
               f"{study.definition.time_limit_minutes}-minute tasks, task order: {study.definition.task_order}.")
    st.subheader("Participants")
    _participants(store, study)
    st.subheader("Measures")
    _measures(store, study)
    st.subheader("Analysis")
    _analysis(store, study)
