import streamlit as st

from views.shared.cleanup import archived_rows, keep_controls
from views.shared.designer import choose_project, current_project, save_version
from views.shared.services import flash, services, show_flash
from vt_core.core.llm import estimate_tokens
from vt_core.core.text import escape_markdown, sections
from vt_core.designer import (
    ExchangeError,
    ProjectError,
    create_project,
    export_json,
    export_markdown,
    import_project,
    list_patterns,
    list_projects,
    set_current,
    unified_diff,
    update_project,
    versions,
)

app = services()

settings, store, llm = app.settings, app.store, app.llm

st.title("Projects")
st.caption("A project is one chatbot: what it is for, who it talks to, and the history of its system prompt.")
show_flash()
project = current_project(store, hint=False)

# -- a new project -------------------------------------------------------------------------------

if st.session_state.pop("new_project_clear", False):
    for key in ("new_name", "new_goal", "new_audience", "new_prompt"):
        st.session_state[key] = ""

with st.expander("New project", expanded=project is None):
    with st.form("new_project"):
        name = st.text_input("Name", key="new_name", placeholder="Movie buddy")
        goal = st.text_area("What the chatbot is for", key="new_goal", height=80,
                            placeholder="Recommend movies people will enjoy tonight.")
        audience = st.text_input("Audience", key="new_audience", placeholder="Casual viewers, all ages")
        prompt = st.text_area("Draft system prompt", key="new_prompt", height=200,
                              help="Markdown headings (`# Tone`, `## Safety`) cut the prompt into sections "
                                   "you can lock against refinement.")
        if st.form_submit_button("Create project", type="primary", key="new_submit"):
            try:
                created = create_project(store, name, goal, audience, prompt)
            except ProjectError as exc:
                st.error(f"Cannot create the project: {escape_markdown(exc)}.")
            else:
                choose_project(created.id)
                st.session_state["new_project_clear"] = True
                flash(f"Created project '{escape_markdown(created.name)}'.")
                st.rerun()

with st.expander("Import a project"):
    st.caption("A project file exported from the Projects page (or `python -m vt_core project export`), here or on "
               "another machine. It comes in as a new project; when its name is taken, as \"NAME (imported)\".")
    with st.form("import_project", clear_on_submit=True):
        upload = st.file_uploader("Project file (JSON)", type=["json"], key="import_file")
        if st.form_submit_button("Import project", key="import_submit"):
            if upload is None:
                st.error("Choose a project file first.")
            else:
                try:
                    imported = import_project(store, upload.getvalue())
                except ExchangeError as exc:
                    st.error(f"Cannot import {escape_markdown(upload.name)}: {escape_markdown(exc)}")
                else:
                    choose_project(imported.id)
                    flash(f"Imported project '{escape_markdown(imported.name)}'.")
                    st.rerun()

archived_rows(store, "project", {p.id: p.name for p in list_projects(store, include_archived=True) if p.archived_at},
              "projects", title="Archived projects", goes_with="all of it: versions, personas, scenarios, runs, "
                                                            "transcripts, marks, patterns and refinement runs")

if project is None:
    st.stop()

# -- the chosen project ----------------------------------------------------------------------------

pid = project.id
versions = versions(store, pid)
pattern_numbers = {p.id: f"P{p.number}" for p in list_patterns(store, pid)}
by_id = {v.id: v for v in versions}
current = by_id[project.current_version_id]


def label(version_id: int) -> str:
    version = by_id[version_id]
    mark = " (current)" if version_id == project.current_version_id else ""
    return f"v{version.number} · {version.author} · {version.created_at:%Y-%m-%d %H:%M}{mark}"


st.header(escape_markdown(project.name))

# a keyed tab bar keeps its tab when a message above it appears or goes
settings_tab, history_tab, edit_tab, keep_tab = st.tabs(["Settings", "Versions", "New version", "Export & clean"],
                                                        key=f"project_tab_{pid}", on_change="rerun")

with settings_tab:
    headings = [s.heading for s in sections(current.text) if s.heading]
    options = headings + [h for h in project.locked_sections if h not in headings]
    with st.form(f"settings_{pid}"):
        goal = st.text_area("What the chatbot is for", value=project.goal, key=f"goal_{pid}", height=80)
        audience = st.text_input("Audience", value=project.audience, key=f"audience_{pid}")
        budget = st.number_input("Prompt token budget", min_value=50, max_value=100_000, step=50,
                                 value=project.prompt_token_budget, key=f"budget_{pid}",
                                 help="Refinement may not write a prompt longer than this.")
        locked = st.multiselect("Sections locked against refinement", options, default=project.locked_sections,
                                key=f"locked_{pid}", placeholder="No section is locked",
                                help="The Markdown headings of the current prompt. Refinement leaves a locked "
                                     "section exactly as it is.")
        if not headings:
            st.caption("The current prompt has no Markdown headings, so there is no section to lock.")
        if st.form_submit_button("Save settings", key=f"settings_submit_{pid}"):
            try:
                update_project(store, pid, goal=goal, audience=audience, locked_sections=locked,
                               prompt_token_budget=int(budget))
            except ProjectError as exc:
                st.error(f"Cannot save the settings: {escape_markdown(exc)}.")
            else:
                flash("Settings saved.")
                st.rerun()
    tokens = estimate_tokens(current.text)
    st.caption(f"The current prompt is about {tokens} tokens of a {project.prompt_token_budget}-token budget.")

with history_tab:
    st.dataframe(
        [{"version": f"v{v.number}", "parent": f"v{by_id[v.parent_id].number}" if v.parent_id in by_id else "",
          "author": v.author,
          "rationale": v.rationale, "patterns": ", ".join(pattern_numbers.get(i, "?") for i in v.pattern_ids),
          "created": v.created_at, "current": v.id == project.current_version_id} for v in reversed(versions)],
        hide_index=True,
        column_config={"created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
                       "rationale": st.column_config.TextColumn(width="large")},
    )

    st.subheader("View a version")
    ids = [v.id for v in reversed(versions)]
    if (saved_id := st.session_state.pop(f"show_version_{pid}", None)) in by_id:
        # a version was just saved: show it, and its diff against its parent
        st.session_state[f"view_version_{pid}"] = saved_id
        st.session_state[f"diff_new_{pid}"] = saved_id
        st.session_state[f"diff_old_{pid}"] = by_id[saved_id].parent_id or saved_id
    shown = st.selectbox("Version", ids, format_func=label, key=f"view_version_{pid}")
    version = by_id[shown]
    if version.rationale:
        st.caption(f"Rationale: {escape_markdown(version.rationale)}")
    st.code(version.text, language=None, wrap_lines=True)
    left, right = st.columns(2)
    if left.button("Make this version current", key=f"make_current_{pid}",
                   disabled=shown == project.current_version_id):
        set_current(store, pid, shown)
        st.session_state[f"editor_load_{pid}"] = shown  # new versions now start from it
        flash(f"Version v{version.number} is now the current prompt.")
        st.rerun()
    if right.button("Edit from this version", key=f"load_version_{pid}",
                    help="Put this version's text in the editor of the New version tab."):
        st.session_state[f"editor_load_{pid}"] = shown
        st.rerun()

    st.subheader("Compare two versions")
    if f"diff_new_{pid}" not in st.session_state:  # by default: the current version against its parent
        st.session_state[f"diff_new_{pid}"] = project.current_version_id
        st.session_state[f"diff_old_{pid}"] = current.parent_id or current.id
    left, right = st.columns(2)
    old_id = left.selectbox("From", ids, format_func=label, key=f"diff_old_{pid}")
    new_id = right.selectbox("To", ids, format_func=label, key=f"diff_new_{pid}")
    patch = unified_diff(by_id[old_id].text, by_id[new_id].text, f"v{by_id[old_id].number}",
                         f"v{by_id[new_id].number}")
    if patch:
        st.code(patch, language="diff")
    else:
        st.info("The two versions have the same text.")

with edit_tab:
    editor_key = f"editor_{pid}"
    if (load := st.session_state.pop(f"editor_load_{pid}", None)) is not None:
        st.session_state[editor_key] = by_id[load].text
    if load is not None and load != project.current_version_id:
        st.info(f"The editor holds the text of v{by_id[load].number}. It will be saved with the current version, "
                f"v{current.number}, as its parent.")
    if editor_key not in st.session_state:
        st.session_state[editor_key] = current.text
    if st.session_state.pop(f"rationale_clear_{pid}", False):
        st.session_state[f"rationale_{pid}"] = ""
    with st.form(f"new_version_{pid}"):
        text = st.text_area("System prompt", key=editor_key, height=360)
        rationale = st.text_input("What changed and why", key=f"rationale_{pid}")
        make_current = st.checkbox("Make it the current prompt", value=True, key=f"make_current_new_{pid}")
        if st.form_submit_button("Save version", type="primary", key=f"save_version_{pid}"):
            if saved := save_version(store, pid, text, rationale, make_current, page="projects"):
                st.session_state[f"rationale_clear_{pid}"] = True
                st.session_state[f"show_version_{pid}"] = saved.id
                st.rerun()
    st.caption(f"About {estimate_tokens(text)} tokens; the budget is {project.prompt_token_budget}.")

with keep_tab:
    st.markdown("**Export** the whole project: prompt versions, personas, scenarios, self-play runs and transcripts, "
                "marks, patterns with their verdicts, and refinement runs.")
    slug = "".join(c if c.isalnum() else "-" for c in project.name.lower()).strip("-") or "project"
    left, right, _ = st.columns([1, 1, 2])
    left.download_button("JSON, to import", lambda: export_json(store, pid), file_name=f"{slug}.json",
                         mime="application/json", on_click="ignore", key=f"export_json_{pid}",
                         help="Import it again on the Projects page here or on another machine.")
    right.download_button("Markdown report", lambda: export_markdown(store, pid), file_name=f"{slug}.md",
                          mime="text/markdown", on_click="ignore", key=f"export_markdown_{pid}",
                          help="A readable report of the project for any Markdown reader.")
    st.markdown("**Archive** the project to hide it from the project list (everything is kept), or **delete** it "
                "and all of it. A project that a study uses cannot be deleted.")
    if keep_controls(store, "project", pid, f"project_{pid}", goes_with="all of it: versions, personas, scenarios, "
                     "runs, transcripts, marks, patterns and refinement runs"):
        st.rerun()
