from dataclasses import replace

import streamlit as st

from views.shared.cleanup import archived_rows, keep_controls
from views.shared.designer import current_project, session_llm
from views.shared.services import demo_notice, flash, services, show_flash
from vt_core.core.llm import EmbeddedServerError, LLMError
from vt_core.core.text import escape_markdown
from vt_core.designer import (
    ATTRIBUTES,
    DIFFICULTIES,
    SPLITS,
    add_persona,
    add_scenario,
    coverage,
    current_version,
    list_personas,
    list_scenarios,
    persona_drafts,
    propose_scenarios,
    save_drafts,
    save_personas,
    update_persona,
    update_scenario,
)

app = services()

settings, store, llm = app.settings, app.store, app.llm

st.title("Personas & scenarios")
st.caption("Self-play puts a simulated user, with one of these personas, into one of these scenarios.")
demo_notice(llm)
show_flash()
project = current_project(store)
if project is None:
    st.stop()
pid = project.id
NEW = 0  # the "new ..." entry of the edit pickers


def edit_picker(kind: str, names: dict[int, str], pid: int) -> int:
    """Choose a `kind` (persona or scenario) to edit, or NEW; after an add, the one just added."""
    if (pending := st.session_state.pop(f"{kind}_pick_next_{pid}", None)) in names:
        st.session_state[f"{kind}_pick_{pid}"] = pending
    return st.selectbox(kind.capitalize(), [NEW, *names], key=f"{kind}_pick_{pid}",
                        format_func=lambda i: f"New {kind}" if i == NEW else f"#{i} {names[i]}")

# a keyed tab bar keeps its tab when a message above it appears or goes
personas_tab, scenarios_tab = st.tabs(["Personas", "Scenarios"], key=f"setup_tab_{pid}", on_change="rerun")

# -- personas ----------------------------------------------------------------------------------------

with personas_tab:
    personas = list_personas(store, pid)
    if personas:
        st.dataframe(
            [{"id": p.id, "name": p.name, "description": p.description, **p.attributes, "weight": p.weight,
              "pinned": p.pinned}
             for p in personas],
            hide_index=True,
        )
        st.caption("Self-play draws personas in proportion to their weights; a pinned persona takes part "
                   "in every run.")
        with st.form(f"persona_weights_{pid}"):
            st.markdown("**Weights and pins**")
            choices = {}
            for p in personas:
                # the keys carry the stored values, so that a save in the editor below shows here at once
                suffix = f"{pid}_{p.id}_{p.weight}_{p.pinned}"
                left, middle, right = st.columns([4, 2, 2], vertical_alignment="center")
                left.text(p.name)
                choices[p.id] = (
                    middle.number_input("Weight", min_value=0.1, max_value=100.0, step=0.5, value=max(0.1, p.weight),
                                        key=f"persona_w_{suffix}"),
                    right.checkbox("Pinned", value=p.pinned, key=f"persona_pin_{suffix}"))
            if st.form_submit_button("Save weights and pins", key=f"persona_weights_save_{pid}"):
                changed = [p for p in personas if choices[p.id] != (p.weight, p.pinned)]
                for p in changed:
                    update_persona(store, p.id, name=p.name, attributes=p.attributes, weight=float(choices[p.id][0]),
                                   pinned=choices[p.id][1])
                flash(f"Saved the weights and pins of {len(changed)} persona(s).")
                st.rerun()
    else:
        st.info("No personas yet: let the model propose some for the project's audience, or add one by hand.")

    demo = llm.backend.demo
    with st.form(f"generate_personas_{pid}"):
        st.markdown("**New personas** for the project's audience and goal")
        left, middle, right = st.columns(3, vertical_alignment="bottom")
        n = left.number_input("How many", min_value=1, max_value=20, value=4, key=f"persona_n_{pid}")
        seed = middle.number_input("Seed", min_value=0, value=0, step=1, key=f"persona_seed_{pid}",
                                   help="The same seed proposes (or draws) the same personas again.")
        random_draw = right.checkbox(
            "Draw attributes at random", value=demo, disabled=demo, key=f"persona_random_{pid}",
            help="The demo model cannot write meaningful personas: its personas are drawn at random." if demo else
            "Instead of letting the model propose personas from the project's goal, audience and prompt.")
        if st.form_submit_button("Propose personas", type="primary", key=f"persona_generate_{pid}"):
            with st.spinner("Drawing personas…" if random_draw or demo else f"Asking the model for {int(n)} personas…"):
                try:
                    proposal = persona_drafts(store, session_llm(llm), pid, int(n), seed=int(seed),
                                              random_draw=random_draw)
                except (LLMError, EmbeddedServerError) as exc:
                    st.error(f"The model could not propose personas: {escape_markdown(exc)}")
                else:
                    token = st.session_state.get(f"persona_drafts_{pid}", (0, None))[0] + 1
                    st.session_state[f"persona_drafts_{pid}"] = (token, proposal)
                    st.rerun()

    token, proposal = st.session_state.get(f"persona_drafts_{pid}", (0, None))
    if proposal is not None:
        st.markdown("**Proposed personas**: drafts until you save them")
        how = "Drawn at random from the attribute lists." if proposal.source == "random" else \
            "Proposed by the model from the project's goal, audience and current prompt."
        st.caption(how + " Set each one's weight and pin, and untick those you do not want.")
        if proposal.refused:
            st.caption("Refused as duplicates:")
            st.text("\n".join(proposal.refused))
        spread = coverage(proposal.drafts)
        st.caption("Spread: " + "; ".join(
            f"{attribute} {sum(c > 0 for c in counts.values())} of {len(counts)} values"
            + (f" (none {', '.join(v for v, c in counts.items() if not c)})" if not all(counts.values()) else "")
            for attribute, counts in spread.items()))
        with st.form(f"persona_drafts_form_{pid}_{token}"):
            accepted = []
            for i, draft in enumerate(proposal.drafts):
                suffix = f"{pid}_{token}_{i}"
                with st.container(border=True):
                    accept, name_col, weight_col, pin_col = st.columns([1, 4, 2, 2], vertical_alignment="bottom")
                    keep = accept.checkbox("Accept", value=True, key=f"draft_accept_{suffix}")
                    name = name_col.text_input("Name", value=draft.name, key=f"draft_name_{suffix}")
                    weight = weight_col.number_input("Weight", min_value=0.1, max_value=100.0, step=0.5, value=1.0,
                                                     key=f"draft_weight_{suffix}")
                    pinned = pin_col.checkbox("Pinned", key=f"draft_pinned_{suffix}")
                    st.text("\n".join([*([draft.description] if draft.description else []),
                                       ", ".join(f"{k}: {v}" for k, v in draft.attributes.items())]))
                if keep:
                    accepted.append(replace(draft, name=name, weight=float(weight), pinned=pinned))
            save, discard = st.columns(2)
            if save.form_submit_button("Save the accepted personas", type="primary", key=f"draft_save_{pid}"):
                try:
                    saved = save_personas(store, pid, accepted)
                except ValueError as exc:
                    st.error(f"Cannot save the personas: {escape_markdown(exc)}.")
                else:
                    del st.session_state[f"persona_drafts_{pid}"]
                    flash(f"Saved {len(saved)} personas.")
                    st.rerun()
            if discard.form_submit_button("Discard the proposal", key=f"draft_discard_{pid}"):
                del st.session_state[f"persona_drafts_{pid}"]
                st.rerun()

    st.markdown("**Add or edit a persona**")
    chosen = edit_picker("persona", {p.id: p.name for p in personas}, pid)
    persona = next((p for p in personas if p.id == chosen), None)
    with st.form(f"persona_form_{pid}_{chosen}"):
        suffix = f"{pid}_{chosen}"
        name = st.text_input("Name", value=persona.name if persona else "", key=f"persona_name_{suffix}")
        description = st.text_input("Description", value=persona.description if persona else "",
                                    key=f"persona_description_{suffix}", help="Who this user is, in a sentence or two.")
        attributes = {}
        columns = st.columns(3)
        for i, (attribute, values) in enumerate(ATTRIBUTES.items()):
            value = persona.attributes.get(attribute) if persona else None
            options = values if value is None or value in values else [value, *values]
            attributes[attribute] = columns[i % 3].selectbox(
                attribute.capitalize(), options, index=options.index(value) if value else 0,
                accept_new_options=True, key=f"persona_{attribute}_{suffix}",
                help="Pick a suggestion or type your own.")
        extra = {k: v for k, v in (persona.attributes if persona else {}).items() if k not in ATTRIBUTES}
        left, right = st.columns(2)
        weight = left.number_input("Weight", min_value=0.1, max_value=100.0, step=0.5,
                                   value=float(persona.weight) if persona else 1.0, key=f"persona_weight_{suffix}")
        pinned = right.checkbox("Pinned: in every run", value=persona.pinned if persona else False,
                                key=f"persona_pinned_{suffix}")
        if st.form_submit_button("Save persona" if persona else "Add persona", type="primary",
                                 key=f"persona_save_{suffix}"):
            fields = dict(name=name, attributes={**extra, **{k: (v or "").strip() for k, v in attributes.items()}},
                          weight=float(weight), pinned=pinned, description=description)
            if not name.strip():
                st.error("A persona needs a name.")
            else:
                try:
                    if persona:
                        update_persona(store, persona.id, **fields)
                    else:
                        persona = add_persona(store, pid, **fields)
                except ValueError as exc:
                    st.error(f"Cannot save the persona: {escape_markdown(exc)}.")
                else:
                    st.session_state[f"persona_pick_next_{pid}"] = persona.id
                    flash(f"Saved persona '{escape_markdown(persona.name)}'.")
                    st.rerun()
    if persona and keep_controls(store, "persona", persona.id, f"persona_{persona.id}",
                                 goes_with="its transcripts, with their marks, verdicts and scores"):
        del st.session_state[f"persona_pick_{pid}"]  # it is no longer in the picker
        st.rerun()
    archived_rows(store, "persona", {p.id: f"#{p.id} {p.name}"
                                     for p in list_personas(store, pid, include_archived=True) if p not in personas},
                  f"persona_{pid}", title="Archived personas",
                  goes_with="its transcripts, with their marks, verdicts and scores")

# -- scenarios ---------------------------------------------------------------------------------------

with scenarios_tab:
    scenarios = list_scenarios(store, pid)
    if scenarios:
        st.dataframe(
            [{"id": s.id, "title": s.title, "difficulty": s.difficulty,
              "split": "held-out" if s.split == "heldout" else s.split, "covered": s.covered,
              "rules": "; ".join(s.rules), "source": s.source} for s in scenarios],
            hide_index=True,
        )
        heldout = sum(s.split == "heldout" for s in scenarios)
        st.caption(f"{len(scenarios) - heldout} training and {heldout} held-out scenarios. Refinement tunes on "
                   "the training ones and checks on the held-out ones; 'covered' is off for situations the "
                   "prompt does not address yet.")
    else:
        st.info("No scenarios yet: let the model propose some from the goal and the current prompt, or add "
                "one by hand.")

    with st.form(f"propose_scenarios_{pid}"):
        st.markdown("**Propose scenarios** from the project's goal and current prompt")
        left, middle, right = st.columns(3)
        n = left.number_input("How many", min_value=1, max_value=20, value=6, key=f"scenario_n_{pid}")
        seed = middle.number_input("Seed", min_value=0, value=0, step=1, key=f"scenario_seed_{pid}")
        fraction = right.slider("Held out", min_value=0, max_value=50, value=25, step=5, format="%d%%",
                                key=f"scenario_heldout_{pid}",
                                help="The share of proposed scenarios kept for checking refinement.")
        if st.form_submit_button("Propose scenarios", type="primary", key=f"scenario_propose_{pid}"):
            prompt = current_version(store, pid).text
            with st.spinner(f"Asking the model for {int(n)} scenarios…"):
                try:
                    drafts = propose_scenarios(session_llm(llm), project.goal, prompt, int(n), seed=int(seed))
                except (LLMError, EmbeddedServerError) as exc:
                    st.error(f"The model could not propose scenarios: {escape_markdown(exc)}")
                else:
                    saved = save_drafts(store, pid, drafts, heldout_fraction=fraction / 100, seed=int(seed))
                    held = sum(s.split == "heldout" for s in saved)
                    flash(f"Added {len(saved)} proposed scenarios ({held} held out). Review them below.")
                    st.rerun()

    st.markdown("**Add or edit a scenario**")
    chosen = edit_picker("scenario", {s.id: s.title for s in scenarios}, pid)
    scenario = next((s for s in scenarios if s.id == chosen), None)
    with st.form(f"scenario_form_{pid}_{chosen}"):
        suffix = f"{pid}_{chosen}"
        title = st.text_input("Title", value=scenario.title if scenario else "", key=f"scenario_title_{suffix}")
        description = st.text_area("Situation of the user", value=scenario.description if scenario else "",
                                   height=90, key=f"scenario_description_{suffix}")
        user_goal = st.text_input("The user's goal", value=scenario.user_goal if scenario else "",
                                  key=f"scenario_goal_{suffix}")
        rules = st.text_area("Prompt rules it stresses, one per line",
                             value="\n".join(scenario.rules) if scenario else "", height=80,
                             key=f"scenario_rules_{suffix}")
        left, middle, right = st.columns(3)
        difficulty = left.radio("Difficulty", DIFFICULTIES, horizontal=True,
                                index=DIFFICULTIES.index(scenario.difficulty) if scenario else 0,
                                format_func=lambda d: {1: "1 plain", 2: "2 tricky", 3: "3 hard"}[d],
                                key=f"scenario_difficulty_{suffix}")
        split = middle.radio("Split", SPLITS, horizontal=True,
                             index=SPLITS.index(scenario.split) if scenario else 0,
                             format_func=lambda s: "held-out" if s == "heldout" else s,
                             key=f"scenario_split_{suffix}")
        covered = right.checkbox("Covered by the prompt", value=scenario.covered if scenario else True,
                                 key=f"scenario_covered_{suffix}")
        if st.form_submit_button("Save scenario" if scenario else "Add scenario", type="primary",
                                 key=f"scenario_save_{suffix}"):
            fields = dict(title=title, description=description, user_goal=user_goal, difficulty=difficulty,
                          rules=rules.splitlines(), covered=covered, split=split)
            try:
                if scenario:
                    saved = update_scenario(store, scenario.id, **fields)
                else:
                    saved = add_scenario(store, pid, **fields, source="designer")
            except ValueError as exc:
                st.error(f"Cannot save the scenario: {escape_markdown(exc)}.")
            else:
                st.session_state[f"scenario_pick_next_{pid}"] = saved.id
                flash(f"Saved scenario '{escape_markdown(saved.title)}'.")
                st.rerun()
    if scenario and keep_controls(store, "scenario", scenario.id, f"scenario_{scenario.id}",
                                  goes_with="its transcripts, with their marks, verdicts and scores"):
        del st.session_state[f"scenario_pick_{pid}"]  # it is no longer in the picker
        st.rerun()
    archived_rows(store, "scenario", {s.id: f"#{s.id} {s.title}"
                                      for s in list_scenarios(store, pid, include_archived=True) if s not in scenarios},
                  f"scenario_{pid}", title="Archived scenarios",
                  goes_with="its transcripts, with their marks, verdicts and scores")
