import streamlit as st

from views.shared.jobs import current_job, ended_once, follow, job_panel
from views.shared.launch import launch_section, replacement_controls
from views.shared.prolific import prolific_section
from views.shared.services import demo_notice, flash, services, show_errors, show_flash
from views.shared.studies import (
    STUDIES_DIR,
    cached_monitor,
    exclusion_controls,
    exclusion_rules,
    export_download,
    study_file_picker,
    study_picker,
)
from vt_core.crowd import (
    CHECKS_CONDITION,
    DEFAULT_DIMENSIONS,
    DEFAULT_LABELS,
    FORMATS,
    MEDIA_TYPES,
    PAIR_CONDITION,
    RATER_KINDS,
    StudyError,
    active_raters,
    add_check_items,
    create_study,
    definition_to_toml,
    import_items_jsonl,
    import_pairs_jsonl,
    list_studies,
    load_study_file,
    parse_study,
    not_ready,
    parse_toml,
    submit_pilot,
    submit_study_items,
    unresolved_prompts,
)
from vt_core.designer import current_version, get_transcript, list_projects, review_entries, versions

app = services()

store, llm = app.store, app.llm
st.title("Rating studies")
demo_notice(llm)  # self-play items are model output
show_flash()


# -- load a study ------------------------------------------------------------------------------

studies = list_studies(store)
with st.expander("Load a study from a TOML file", expanded=not studies):
    chosen_file, upload = study_file_picker("rs", "Study file", sorted(STUDIES_DIR.glob("*.toml")))
    if st.button("Load study", type="primary", key="rs_load", disabled=chosen_file is None and upload is None):
        try:
            definition = load_study_file(chosen_file) if chosen_file else parse_study(parse_toml(upload.getvalue(), upload.name), upload.name)
            study = create_study(store, definition)
        except StudyError as exc:
            show_errors(exc)
        else:
            st.session_state["rs_study"] = study.id
            flash(f"Created draft study {study.id} {study.name!r}.")
            st.rerun()

# -- build a study --------------------------------------------------------------------------------

CONDITION_NAMES = ("baseline", "tuned")
CHECK_DEFAULTS = (("Please answer 2 ('Disagree') for the first question.", "adherence", 2),
                  ("Please answer 6 ('Agree') for the second question.", "quality", 6))
COMPREHENSION_OPTIONS = ("Whether I would like the bot's suggestions",
                         "Whether the bot follows the instructions, and how helpful and well written its replies are",
                         "Whether the user in the conversation is polite")
TASK_TEXT = ("You will see conversations between a user and a chatbot, one at a time, with the instructions "
             "its designer gave it. For each, say whether the chatbot follows the instructions and whether "
             "its replies are helpful and well written. Some screens are checks that tell you how to "
             "answer: follow what they say.")


def bullet_lines(prompt: str) -> list[str]:
    """The prompt's list items ("- x", "* x"): the designer's instructions, as raters see them."""
    return [line.strip()[2:].strip() for line in prompt.splitlines()
            if line.strip()[:2] in ("- ", "* ") and line.strip()[2:].strip()]


def prefill_from_project() -> None:
    """A newly chosen project: its first and current prompt versions, its prompt's list items."""
    project_id = st.session_state["rs_b_project"]
    numbers = [v.number for v in versions(store, project_id)]
    current = current_version(store, project_id)
    st.session_state["rs_b_versions"] = numbers[:1] + [current.number] if current.number != numbers[0] else numbers[:2]
    st.session_state["rs_b_instructions"] = "\n".join(bullet_lines(current.text))


def lines_of(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def scale_inputs() -> list[dict]:
    """The rating scales, as study dimensions (the definition validates them); the defaults to start."""
    st.markdown("**Rating scales** (raters answer each question on its labels, from the lowest to the highest)")
    n = st.number_input("Questions", 1, 6, len(DEFAULT_DIMENSIONS), key="rs_b_scales")
    scales = []
    for i in range(int(n)):
        default = DEFAULT_DIMENSIONS[i] if i < len(DEFAULT_DIMENSIONS) else None
        cols = st.columns([1, 3, 4, 1], vertical_alignment="bottom")
        scales.append({
            "key": cols[0].text_input("Short name", default.key if default else "", key=f"rs_b_scale_{i}_key",
                                      help="How the data names it: lowercase letters, digits and _").strip(),
            "question": cols[1].text_input("Question", default.question if default else "",
                                           key=f"rs_b_scale_{i}_question"),
            "labels": [label.strip() for label in cols[2].text_input(
                "Labels, lowest first, separated by /", " / ".join(default.labels if default else DEFAULT_LABELS),
                key=f"rs_b_scale_{i}_labels").split("/") if label.strip()],
            "show_instructions": cols[3].checkbox("With the instructions", default.show_instructions if default
                                                  else False, key=f"rs_b_scale_{i}_instructions"),
        })
    return scales


def gold_inputs(entries: dict, keys: list[str]) -> list[dict]:
    """Gold items: transcripts of the project whose right answers the researcher knows, with those answers."""
    st.markdown("**Gold items** (optional: conversations whose right answers you know, e.g. one that plainly "
                "breaks the instructions; raters who miss them can be excluded)")
    chosen = st.multiselect("Transcripts of this project", list(entries), key="rs_b_gold",
                            format_func=lambda i: entries[i].title)
    gold = []
    for transcript_id in chosen:
        cols = st.columns(max(len(keys), 1))
        expected = {key: int(col.number_input(f"{entries[transcript_id].title}: {key}", 1, 11, 1,
                                              key=f"rs_b_gold_{transcript_id}_{key}"))
                    for col, key in zip(cols, keys)}
        turns = get_transcript(store, transcript_id).turns
        gold.append({"turns": [{"role": t.role, "content": t.content} for t in turns], "expected": expected})
    return gold


def build_study_form(projects) -> None:
    by_project = {p.id: p for p in projects}
    if st.session_state.get("rs_b_project") not in by_project:
        st.session_state["rs_b_project"] = projects[0].id
        prefill_from_project()
    project = by_project[st.selectbox("Project", list(by_project), key="rs_b_project",
                                      format_func=lambda i: by_project[i].name, on_change=prefill_from_project)]
    project_versions = {v.number: v for v in versions(store, project.id)}
    chosen = st.multiselect("Prompt versions to compare (two or more; the first is the baseline)",
                            list(project_versions), key="rs_b_versions",
                            format_func=lambda n: f"v{n} ({project_versions[n].author}, "
                                                  f"{project_versions[n].created_at:%Y-%m-%d %H:%M})")
    scales = scale_inputs()
    keys = [scale["key"] for scale in scales if scale["key"]]
    gold = gold_inputs(review_entries(store, project.id), keys)
    with st.form("rs_build"):
        name = st.text_input("Study name", key="rs_b_name")
        description = st.text_area("Description (for you; raters do not see it)", key="rs_b_description")
        study_platform = st.selectbox("Platform", ["prolific", "mturk", "anonymous"], key="rs_b_platform")
        st.markdown("**Conditions** (raters never see these names)")
        condition_names = [st.text_input(f"Condition name for v{version_id}", key=f"rs_b_condition_{i}",
                                         value=CONDITION_NAMES[i] if i < len(CONDITION_NAMES) else f"condition_{i + 1}")
                           for i, version_id in enumerate(chosen)]
        if not chosen:
            st.caption("Choose the prompt versions above the form.")
        instructions = st.text_area("The designer's instructions, one per line (raters see them with the "
                                    "adherence question)", key="rs_b_instructions", height=150)
        cols = st.columns(4)
        items_per_rater = cols[0].number_input("Items per rater", 1, 1000, 20, key="rs_b_items")
        ratings_per_item = cols[1].number_input("Ratings per item (k)", 1, 100, 5, key="rs_b_k")
        lease_minutes = cols[2].number_input("Lease minutes", 1, 24 * 60, 30, key="rs_b_lease")
        min_seconds = cols[3].number_input("Min seconds per item", 0.0, 600.0, 4.0, step=1.0, key="rs_b_min_seconds")
        st.markdown("**Attention checks** (shown in place of a transcript)")
        checks = []
        for i, (text, dimension, expected) in enumerate(CHECK_DEFAULTS):
            cols = st.columns([4, 1, 1])
            checks.append({
                "instruction": cols[0].text_input(f"Check {i + 1}", text, key=f"rs_b_check_{i}_instruction"),
                "dimension": cols[1].selectbox("Question", keys, keys.index(dimension) if dimension in keys else (0 if keys else None),
                                               key=f"rs_b_check_{i}_dimension"),
                "expected": cols[2].number_input("Expected answer", 1, 7, expected, key=f"rs_b_check_{i}_expected"),
            })
        st.markdown("**Comprehension check** (two attempts)")
        question = st.text_input("Question", "What do you rate in this study?", key="rs_b_question")
        options = st.text_area("Options, one per line", "\n".join(COMPREHENSION_OPTIONS), key="rs_b_options")
        answer = st.text_input("Correct answer (one of the options, word for word)", COMPREHENSION_OPTIONS[1],
                               key="rs_b_answer")
        consent_text = st.text_area("Consent text", key="rs_b_consent",
                                    placeholder="What the study is, what is recorded, that taking part is voluntary…")
        instruction_text = st.text_area("Task instructions (shown before the comprehension check)", TASK_TEXT,
                                        key="rs_b_task")
        st.markdown("**Completion codes** (from the platform)")
        cols = st.columns(3)
        codes = {key: col.text_input(label, key=f"rs_b_code_{key}") for col, key, label in
                 zip(cols, ("completed", "screened_out", "failed_checks"),
                     ("Completed", "Screened out", "Failed checks"), strict=True)}
        if st.form_submit_button("Create the study", type="primary", key="rs_b_submit"):
            data = {
                "name": name, "description": description, "platform": study_platform,
                "conditions": [{"name": condition, "project": project.name, "version": version_id}
                               for condition, version_id in zip(condition_names, chosen, strict=True)],
                "instructions": lines_of(instructions),
                "items_per_rater": int(items_per_rater), "ratings_per_item": int(ratings_per_item),
                "lease_minutes": int(lease_minutes), "min_seconds_per_item": float(min_seconds),
                "attention_checks": [{**check, "expected": int(check["expected"])} for check in checks],
                "dimensions": scales,
                "gold_items": gold,
                "comprehension": {"question": question, "options": lines_of(options), "answer": answer.strip()},
                "consent_text": consent_text, "instruction_text": instruction_text, "completion_codes": codes,
            }
            try:
                built = create_study(store, parse_study(data, source="the form"))
            except StudyError as exc:
                show_errors(exc)
            else:
                st.session_state["rs_study"] = built.id
                st.session_state["rs_b_toml"] = (built.name, definition_to_toml(built.definition))
                flash(f"Created draft study {built.id} {built.name!r}.")
                st.rerun()


with st.expander("Build a study", expanded=False):
    if projects := list_projects(store):
        build_study_form(projects)
    else:
        st.info("No project yet: a built study compares prompt versions of a project. Create one on the "
                "**Projects** page, or load a study file above.")
if "rs_b_toml" in st.session_state:  # outside the expander, which a rerun closes
    built_name, toml_text = st.session_state["rs_b_toml"]
    slug = "".join(c if c.isalnum() else "_" for c in built_name.lower()).strip("_") or "study"
    st.download_button(f"Download {built_name!r} as a TOML study file, to keep it in `studies/`", toml_text,
                       file_name=f"{slug}.toml", mime="application/toml", key="rs_b_download")

if not studies:
    st.info("No study yet. Load or build one above; `studies/crowd_study.toml` reproduces the method's crowd study.")
    st.stop()

st.dataframe([{"id": s.id, "name": s.name, "status": s.status, "platform": s.definition.platform,
               "conditions": ", ".join(c.name for c in s.definition.conditions),
               "created": f"{s.created_at:%Y-%m-%d %H:%M}"} for s in studies], hide_index=True)
study = study_picker(studies, "rs_study")
definition = study.definition

# -- items (draft only) --------------------------------------------------------------------------

m = cached_monitor(store, study.id, exclusion_rules("rs_ex"))
items_by_condition = {row["condition"]: row["items"] for row in m.per_condition}
st.subheader("Items")
st.caption(f"{definition.items_per_rater} items per rater, {definition.ratings_per_item} ratings per item, "
           f"{len(definition.attention_checks)} attention checks, {len(definition.gold_items)} gold items.")
pair_row = [{"condition": " vs ".join(c.name for c in definition.conditions),
             "source": "side-by-side pairs (both conditions' conversations of one scenario, persona and seed)",
             "items": items_by_condition.get(PAIR_CONDITION, 0)}] if definition.side_by_side else []
st.dataframe((pair_row or [{"condition": c.name,
                            "source": f"project {c.project!r}, prompt version v{c.version}" if c.is_selfplay
                            else "imported", "items": items_by_condition.get(c.name, 0)}
                           for c in definition.conditions])
             + [{"condition": CHECKS_CONDITION, "source": "attention checks and gold items",
                 "items": items_by_condition.get(CHECKS_CONDITION, 0)}], hide_index=True)

if study.status == "draft":
    if all(c.is_selfplay for c in definition.conditions):
        if missing := unresolved_prompts(store, definition):
            show_errors(StudyError("The conditions name prompts that do not exist yet; create them before "
                                   "adding self-play items:\n" + "\n".join(missing)))
        with st.form("rs_selfplay"):
            st.markdown("**Add items from self-play** (the same scenarios, personas and seeds in every condition)")
            cols = st.columns(3)
            n = cols[0].number_input("Conversations per condition", 1, 1000, 10, key="rs_sp_n")
            turns = cols[1].number_input("Exchanges at most", 1, 20, 4, key="rs_sp_turns")
            seed = cols[2].number_input("Seed", 0, 2**31 - 1, 0, key="rs_sp_seed")
            items_job = current_job("study_items", study_id=study.id)
            if st.form_submit_button("Play and add items", key="rs_sp_submit",
                                     disabled=items_job is not None and items_job.active):
                follow(submit_study_items(store, study, n=int(n), max_turns=int(turns), seed=int(seed)))
                st.rerun()
        if items_job is not None:
            if items_job.status == "done" and ended_once(items_job):
                st.success(f"Study now has {items_job.result['items']} self-play items.")
            job_panel(items_job, "rs_sp")
    st.markdown("**Import items from JSONL** (one conversation per line, OpenAI chat format: "
                "`{\"messages\": [...], \"match_key\": \"...\"}`)")
    if definition.side_by_side:
        st.caption("A side-by-side study imports one file per condition at once; lines with the same match_key "
                   "become one pair.")
        cols = st.columns(2)
        files = {c.name: col.file_uploader(f"JSONL file of {c.name}", type=["jsonl", "json", "txt"],
                                           key=f"rs_pair_jsonl_{i}")
                 for i, (col, c) in enumerate(zip(cols, definition.conditions, strict=True))}
        if st.button("Import the pairs", key="rs_import_pairs", disabled=any(f is None for f in files.values())):
            try:
                imported = import_pairs_jsonl(store, study, {c: f.getvalue() for c, f in files.items()})
            except StudyError as exc:
                show_errors(exc)
            else:
                flash(f"Imported {len(imported)} side-by-side pairs.")
                st.rerun()
    else:
        cols = st.columns([1, 2])
        condition = cols[0].selectbox("Condition", [c.name for c in definition.conditions], key="rs_jsonl_condition")
        jsonl = cols[1].file_uploader("JSONL file", type=["jsonl", "json", "txt"], key="rs_jsonl")
        if st.button("Import", key="rs_import", disabled=jsonl is None):
            try:
                imported = import_items_jsonl(store, study, condition, jsonl.getvalue(), jsonl.name)
            except StudyError as exc:
                show_errors(exc)
            else:
                flash(f"Imported {len(imported)} items into condition {condition!r}.")
                st.rerun()
    if not items_by_condition.get(CHECKS_CONDITION) and \
            st.button("Add the attention checks and gold items", key="rs_checks"):
        try:
            added = add_check_items(store, study)
        except StudyError as exc:
            show_errors(exc)
        else:
            flash(f"Added {len(added)} check items.")
            st.rerun()

# -- pilot ---------------------------------------------------------------------------------------

st.subheader("Pilot with simulated raters")
unready = not_ready(store, study)
st.caption("Before paying people: LLM raters with varied personas rate the study through the same "
           "assignment. They are stored as rater kind 'llm', kept apart from people, and use their own "
           "capacity, so they take no items away from human raters.")
with st.form("rs_pilot"):
    pilot_raters = st.number_input("Simulated raters", 1, 200, 4, key="rs_pilot_raters")
    pilot_seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="rs_pilot_seed")
    pilot_job = current_job("pilot", study_id=study.id)
    if st.form_submit_button("Run the pilot", key="rs_pilot_run",
                             disabled=bool(unready) or (pilot_job is not None and pilot_job.active)):
        follow(submit_pilot(store, study, raters=int(pilot_raters), seed=int(pilot_seed)))
        st.rerun()
if pilot_job is not None:
    if pilot_job.status == "done" and ended_once(pilot_job):
        st.success(f"Pilot finished: {len(pilot_job.result['rater_ids'])} simulated raters rated "
                   f"{pilot_job.result['ratings']} items.")
    job_panel(pilot_job, "rs_pilot")
if unready:
    st.caption("Add the items and the attention checks first: the pilot rates them as they will be handed out.")

# -- launch --------------------------------------------------------------------------------------

base_url = launch_section(store, study, app.settings.public_url)

# -- monitor -------------------------------------------------------------------------------------

st.subheader("Monitor")
working = active_raters(store, study.id, lease_minutes=definition.lease_minutes)
cap = definition.max_active_raters
st.caption(f"Working now: {working} rater{'s' if working != 1 else ''}"
           + (f" of at most {cap} at once; newcomers over the cap are asked to come back in a few minutes."
              if cap else " (no cap on raters at once: set max_active_raters in the study file)."))
exclusion_controls("rs_ex")
st.dataframe([{"raters": kind, "started": m.raters[kind].started, "rating": m.raters[kind].rating,
               "completed": m.raters[kind].completed, "failed checks": m.raters[kind].failed_checks,
               "screened out": m.raters[kind].screened_out, "ratings": m.ratings(kind),
               "median seconds per item": "n/a" if m.median_seconds[kind] is None
               else f"{m.median_seconds[kind]:.1f}"} for kind in RATER_KINDS], hide_index=True, key="rs_counts")
st.markdown("**Ratings per condition**")
st.dataframe([{"condition": row["condition"], "items": row["items"], "human ratings": row["human"],
               "LLM ratings": row["llm"]} for row in m.per_condition], hide_index=True, key="rs_per_condition")
replacement_controls(store, study, m.rules)
with st.expander("Ratings per item"):
    st.dataframe([{"item": row["item_id"], "condition": row["condition"], "kind": row["kind"],
                   "match key": row["match_key"], "human ratings": row["human"], "valid human ratings": row["valid"],
                   "lacking of k": row["lacking"], "LLM ratings": row["llm"]}
                  for row in m.per_item], hide_index=True, key="rs_per_item")
st.markdown("**Agreement** (Krippendorff's alpha, ordinal; regular items rated more than once; excluded "
            "raters left out; human-LLM compares the mean human and mean LLM rating of each item)")
st.dataframe([{"dimension": a.dimension, "raters": a.group,
               "alpha": "n/a" if a.alpha is None else f"{a.alpha:.3f}", "items": a.items,
               "raters in matrix": a.raters, "note": a.note} for a in m.agreement], hide_index=True,
             key="rs_agreement")
st.markdown(f"**Excluded raters: {len(m.excluded)}** (flagged in the export, never removed)")
if m.excluded:
    st.dataframe([{"rater": r.rater_id, "kind": r.kind, "platform": r.platform, "external id": r.external_id,
                   "reasons": r.details} for r in m.excluded], hide_index=True, key="rs_excluded")

# -- the platform: per-rater table, and Prolific from the platform ------------------------------------

prolific_section(store, study, base_url, m.rules)

# -- export --------------------------------------------------------------------------------------

st.subheader("Export")
st.caption("One row per rating and dimension, with rater, item, condition, timings, flags and the "
           "exclusion under the rules above. Each file is built when you click its button, from the "
           "ratings at that moment.")
cols = st.columns(len(FORMATS))
for col, fmt in zip(cols, FORMATS, strict=True):
    col.download_button(f"Download {fmt.upper() if fmt != 'parquet' else 'Parquet'}",
                        data=export_download(store, study.id, fmt, m.rules), on_click="ignore",
                        file_name=f"study-{study.id}-ratings.{fmt}", mime=MEDIA_TYPES[fmt], key=f"rs_export_{fmt}")
