import streamlit as st

from views.shared.services import services
from views.shared.studies import exclusion_controls, study_picker
from views.shared.userstudy_tab import render as user_studies
from vt_core.analysis import (
    KIND_NAMES,
    MIXED_MAX_RATINGS,
    PreferenceData,
    StudyData,
    comparisons_frame,
    counts_sentence,
    crowd_charts,
    data_fingerprint,
    descriptives_frame,
    human_llm_sentences,
    measure_name,
    methods_paragraph,
    mixed_frame,
    preference_charts,
    preference_data,
    preference_methods,
    preference_paragraphs,
    preference_report_zip,
    preference_tables,
    report_zip,
    result_paragraphs,
    rules_sentence,
    study_data,
    tables,
)
from vt_core.crowd import ExclusionRules, is_demo_study, list_studies, seed_demo_study

MIXED_CHOICES = {"automatic": None, "fit": True, "skip": False}


@st.cache_data(max_entries=16, show_spinner="Analysing the ratings…")
def analysed(study_id: int, rules: ExclusionRules, mixed: bool | None,
             fingerprint: tuple) -> tuple[StudyData, dict[str, dict]]:
    """The analysis and its charts (Vega-Lite specs); `fingerprint` changes with the data, so a
    rerun on unchanged data costs a cache lookup."""
    data = study_data(services().store, study_id, rules, mixed=mixed)
    return data, {name: chart.to_dict() for name, chart in crowd_charts(data.analysis, data.frame, data.labels).items()}


@st.cache_data(max_entries=16, show_spinner="Analysing the choices…")
def preferences(study_id: int, rules: ExclusionRules, mixed: bool,
                fingerprint: tuple) -> tuple[PreferenceData, dict[str, dict]]:
    """A side-by-side study's analysis and charts, cached like `analysed`."""
    data = preference_data(services().store, study_id, rules, mixed=mixed)
    return data, {name: chart.to_dict() for name, chart in preference_charts(data.analysis).items()}


def chart(specs: dict[str, dict], name: str, where=st) -> None:
    if name in specs:
        where.vega_lite_chart(spec=specs[name], theme=None, alt=specs[name]["title"]["text"], key=f"sx_chart_{name}")


def add_demo_study() -> None:
    """Seed the demo study and choose it (a callback: it runs before the study picker is drawn)."""
    with st.spinner("Simulating the raters…"):
        st.session_state["sx_study"] = seed_demo_study(services().store).id


def crowd_studies() -> None:
    store = services().store
    studies = list_studies(store)
    if not studies:
        st.info("No rating study yet. Build one on **Rating studies**; its analysis shows here once raters "
                "have rated.")
    if not any(is_demo_study(s) for s in studies):
        st.button("Add the demo study (simulated ratings)", type="secondary" if studies else "primary", key="sx_demo",
                  on_click=add_demo_study,
                  help="A closed study of matched baseline and tuned transcripts, rated by simulated raters "
                       "with a planted effect on adherence: it shows every result this page gives.")
    if not studies:
        return
    study = study_picker(studies, "sx_study")
    if is_demo_study(study):
        st.warning("**Simulated data.** This demo study's ratings were simulated by the platform (seeded random "
                   "numbers with a planted effect on adherence), not collected from people. Do not cite its figures.",
                   icon="⚠️")
    with st.expander("Exclusion rules (the same as the monitor's) and the mixed model"):
        rules = exclusion_controls("sx_ex")
        mixed = st.radio(f"Mixed model (automatic: fitted while no rater kind has more than {MIXED_MAX_RATINGS:,} "
                         "ratings of one dimension; larger fits take minutes)", list(MIXED_CHOICES),
                         horizontal=True, key="sx_mixed")
    st.caption(rules_sentence(rules))
    if study.definition.side_by_side:
        side_by_side(study.id, rules, MIXED_CHOICES[mixed] is not False)
        return
    try:
        data, specs = analysed(study.id, rules, MIXED_CHOICES[mixed], data_fingerprint(store, study.id))
    except ValueError as exc:  # no ratings yet
        st.info(f"Nothing to analyse yet: {exc}. Ratings appear here as raters submit them.")
        return
    analysis = data.analysis

    with st.expander("Method"):
        st.markdown(methods_paragraph(analysis))
    st.subheader("Raters")
    for kind, counts in analysis.counts.items():
        st.markdown(counts_sentence(counts, KIND_NAMES.get(kind, kind)))
    found = tables(analysis)
    st.dataframe(found["counts"], hide_index=True, key="sx_counts")

    kinds = list(analysis.results)
    tabs = st.tabs([KIND_NAMES.get(kind, kind)[:1].upper() + KIND_NAMES.get(kind, kind)[1:] for kind in kinds]
                   + (["Human vs LLM"] if analysis.human_llm_alpha else []))
    for kind, tab in zip(kinds, tabs, strict=False):
        with tab:
            for result in analysis.results[kind]:
                key = f"{kind}_{result.dimension}"
                st.subheader(measure_name(result.dimension).capitalize())
                st.dataframe(descriptives_frame(result.descriptives), hide_index=True, key=f"sx_desc_{key}")
                for paragraph in result_paragraphs(result, len(analysis.conditions)):
                    st.markdown(paragraph)
                with st.expander("Every figure, unrounded"):
                    st.dataframe(comparisons_frame(result.comparisons), hide_index=True, key=f"sx_comp_{key}")
                    if result.mixed:
                        st.dataframe(mixed_frame(result.mixed), hide_index=True, key=f"sx_mixed_{key}")
                left, right = st.columns(2)
                chart(specs, f"slopes_{key}", left)
                chart(specs, f"likert_{key}", right)
    if analysis.human_llm_alpha:
        with tabs[-1]:
            for sentence in human_llm_sentences(analysis):
                st.markdown(sentence)

    st.subheader("Effect sizes and agreement")
    for name in ("effects_dz", "effects_mixed", "agreement"):
        chart(specs, name)

    st.subheader("Download")
    fmt = st.radio("Chart format in the report", ["png", "svg"], horizontal=True, key="sx_format",
                   format_func=str.upper)
    st.download_button(f"Report (Markdown, {fmt.upper()} charts, CSV tables) as a zip",
                       data=lambda: report_zip(analysis, data.frame, fmt, data.labels),
                       file_name=f"study-{study.id}-report.zip", mime="application/zip", on_click="ignore",
                       type="primary", key="sx_zip")
    for col, (name, table) in zip(st.columns(len(found)), found.items(), strict=True):
        col.download_button(f"{name}.csv", data=lambda table=table: table.to_csv(index=False),
                            file_name=f"study-{study.id}-{name}.csv", mime="text/csv", on_click="ignore",
                            key=f"sx_csv_{name}")


def side_by_side(study_id: int, rules: ExclusionRules, mixed: bool) -> None:
    """A side-by-side study: which condition raters preferred, the models, the position check, agreement."""
    store = services().store
    try:
        data, specs = preferences(study_id, rules, mixed, data_fingerprint(store, study_id))
    except ValueError as exc:  # no choices yet
        st.info(f"Nothing to analyse yet: {exc}. Choices appear here as raters submit them.")
        return
    analysis = data.analysis
    with st.expander("Method"):
        st.markdown(preference_methods(analysis))
    st.subheader("Raters")
    for kind, counts in analysis.counts.items():
        st.markdown(counts_sentence(counts, KIND_NAMES.get(kind, kind)))
    kinds = list(analysis.results)
    tabs = st.tabs([KIND_NAMES.get(kind, kind)[:1].upper() + KIND_NAMES.get(kind, kind)[1:] for kind in kinds])
    for kind, tab in zip(kinds, tabs, strict=True):
        with tab:
            for result in analysis.results[kind]:
                st.subheader(measure_name(result.dimension).capitalize())
                for paragraph in preference_paragraphs(result):
                    st.markdown(paragraph)
    st.subheader("Preference and position")
    chart(specs, "preference")
    chart(specs, "position")
    found = preference_tables(analysis)
    with st.expander("Every figure, unrounded"):
        st.dataframe(found["preference"], hide_index=True, key="sx_pref_table")
    st.subheader("Download")
    fmt = st.radio("Chart format in the report", ["png", "svg"], horizontal=True, key="sx_format",
                   format_func=str.upper)
    st.download_button(f"Report (Markdown, {fmt.upper()} charts, CSV tables) as a zip",
                       data=lambda: preference_report_zip(data, fmt), file_name=f"study-{study_id}-report.zip",
                       mime="application/zip", on_click="ignore", type="primary", key="sx_zip")


st.title("Statistics")
crowd_tab, user_tab = st.tabs(["Crowd studies", "User studies"])
with crowd_tab:
    crowd_studies()
with user_tab:
    user_studies()
