from pathlib import Path

import pandas as pd
import streamlit as st

from views.shared.designer import status_buttons
from views.shared.jobs import current_job, ended_once, follow, job_panel
from views.shared.services import demo_notice, flash, services, show_flash
from vt_core.core.llm import LLMError
from vt_core.core.text import escape_markdown
from vt_core.critic import (
    DEFAULT_VALIDATION_PER_CLASS,
    Thresholds,
    add_taste_pattern,
    class_counts,
    confusion,
    confusion_chart,
    eligible_critics,
    estimate,
    list_taste_runs,
    load_critic_csv,
    load_run,
    methods_chart,
    movielens_critic,
    recall_chart,
    recall_rows,
    split,
    submit_baselines,
    submit_retuning,
    submit_tuning,
    update_taste_pattern,
    validation_chart,
)
from vt_core.designer import unified_diff

_RUN = "ct_run_id"  # the run shown; a plain key, so that it outlives widget changes and page switches
_COMPARED = "ct_compared"  # run id -> the table of every method on that run's split

app = services()

store, llm = app.store, app.llm
st.title("Critic case study")
demo_notice(llm)
show_flash()
st.caption("Visionary Tuning learns one film critic's taste as a written specification from K rated films per "
           "class (low, mid, high). The model predicts the critic's training films under the specification; its "
           "errors become taste patterns; candidate specifications written from them are kept when they score "
           "higher (macro-F1) on validation films that neither the pattern finder nor the writer sees. The final "
           "specification predicts the held-out test films, beside the baselines.")


@st.cache_data(show_spinner=False)
def _eligible(min_per_class: int) -> list[int]:
    return eligible_critics(min_per_class)


# -- 1. the critic and the split ---------------------------------------------------------------

st.subheader("1. The critic")
source = st.radio("Critic", ["MovieLens user", "My own CSV"], horizontal=True, key="ct_source")
cols = st.columns(4)
k = cols[0].selectbox("K: training films per class", (5, 10, 20), index=1, key="ct_k")
test_per_class = cols[1].number_input("Test films per class", 1, 500, 10, key="ct_test")
validation_per_class = cols[2].number_input("Validation films per class", 1, 50, DEFAULT_VALIDATION_PER_CLASS,
                                            key="ct_validation")
seed = cols[3].number_input("Seed", 0, 2**31 - 1, 0, key="ct_seed")
needed = k + validation_per_class + test_per_class

critic = None
if source == "MovieLens user":
    users = _eligible(needed)
    if not users:
        st.warning(f"No MovieLens user has {needed} or more rated films in every class; lower K or the test size.")
    else:
        user = st.selectbox(f"MovieLens user ({len(users)} have {needed} or more films in every class: low ≤ 2.5, "
                            f"mid 3–3.5, high ≥ 4)", users, key="ct_user")
        critic = movielens_critic(user)
else:
    upload = st.file_uploader("A CSV with columns title, year, rating and optionally genres (separated by |)",
                              type=["csv"], key="ct_file")
    cols = st.columns(4)
    low_max = cols[0].number_input("low: a rating at most", value=2.5, step=0.5, key="ct_low_max")
    high_min = cols[1].number_input("high: a rating at least", value=4.0, step=0.5, key="ct_high_min")
    fixed = cols[2].checkbox("Fixed scale", key="ct_fixed_scale",
                             help="Without one, the lowest and highest ratings given make the scale. With one, "
                                  "ratings outside it are reported and skipped.")
    scale = (cols[2].number_input("lowest", value=0.5, step=0.5, key="ct_scale_low"),
             cols[3].number_input("highest", value=5.0, step=0.5, key="ct_scale_high")) if fixed else None
    if upload is not None:
        try:
            critic, problems = load_critic_csv(upload.getvalue().decode("utf-8-sig"), Thresholds(low_max, high_min),
                                               scale, name=Path(upload.name).stem)
        except (ValueError, UnicodeDecodeError) as exc:
            st.error(escape_markdown(f"Cannot use {upload.name}: {exc}"))
        else:
            if problems:
                st.warning(f"{len(problems)} row(s) skipped, none guessed:")
                st.dataframe(pd.DataFrame({"problem": problems}), hide_index=True, key="ct_problems")

one = None
if critic is not None:
    counts = class_counts(critic.films)
    st.caption(f"{escape_markdown(critic.id)}: {len(critic.films)} rated films, on a {critic.scale[0]:g}–"
               f"{critic.scale[1]:g} scale: low {counts['low']}, mid {counts['mid']}, high {counts['high']}.")
    try:
        one = split(critic, k, seed, test_per_class, validation_per_class)
    except ValueError as exc:
        st.error(escape_markdown(str(exc)))

# -- 2. tuning ---------------------------------------------------------------------------------

if one is not None:
    st.subheader("2. Tune")
    cols = st.columns(2)
    rounds = cols[0].number_input("Rounds", 1, 10, 2, key="ct_rounds")
    candidates = cols[1].number_input("Candidate specifications per round", 1, 10, 3, key="ct_candidates")
    try:
        cost = estimate(llm, one, rounds=rounds, candidates=candidates, seed=seed)
    except LLMError as exc:
        st.error(escape_markdown(str(exc)))
    else:
        st.caption(f"About {cost.calls:,} model calls at most ({cost.cached} of the first round's already in the "
                   f"cache), about {cost.tokens_in:,} tokens in and at most {cost.tokens_out:,} out, on "
                   f"{llm.backend.describe()}. A repeated run with the same seed is answered from the cache, and so are the "
                   f"calls of a run stopped by a change of settings while it ran.")
    tuning = current_job("critic_tune")
    if st.button("Run Visionary Tuning", type="primary", key="ct_tune", disabled=tuning is not None and tuning.active):
        follow(submit_tuning(store, one, rounds=rounds, candidates=candidates, seed=seed))
        st.rerun()
    if tuning is not None:
        if tuning.status == "done" and ended_once(tuning):
            tuned = load_run(store, tuning.result["run_id"])
            st.session_state[_RUN] = tuned.id
            st.success(f"Run #{tuned.id} finished: validation macro-F1 {tuned.validation[0]:.2f} → "
                       f"{tuned.validation[-1]:.2f}.")
        job_panel(tuning, "ct_tune")

# -- 3. results --------------------------------------------------------------------------------

st.subheader("3. Results")
runs = list_taste_runs(store)
if not runs:
    st.info("No run yet: choose a critic and run Visionary Tuning.")
    st.stop()
labels = {r.id: f"#{r.id} · {r.critic} · K={r.k} · seed {r.seed} · {r.model} · validation macro-F1 "
                f"{r.validation_f1:.2f}" + (f" · refined from #{r.parent_id}" if r.parent_id else "") for r in runs}
if st.session_state.get(_RUN) not in labels:
    st.session_state[_RUN] = runs[0].id
st.session_state["ct_shown"] = st.session_state[_RUN]
run = load_run(store, st.selectbox("Run", list(labels), format_func=labels.get, key="ct_shown",
                                   on_change=lambda: st.session_state.update({_RUN: st.session_state.ct_shown})))
scores = run.scores
model = "" if run.model in run.backend else f" (model {run.model})"
st.info(f"Produced by {run.backend}{model}: {run.usage.calls} calls, {run.usage.cache_hits} from the "
        f"cache, {run.usage.tokens_in + run.usage.tokens_out:,} tokens. Critic {escape_markdown(run.split.critic.id)}, "
        f"K={run.split.k}, seed {run.seed}, {run.rounds} round(s) of {run.candidates} candidate(s).", icon="🤖")

spec_tab, patterns_tab, predictions_tab, methods_tab = st.tabs(
    ["Specification", "Taste patterns", "Predictions", "All methods"])

with spec_tab:
    st.code(run.spec, language=None, wrap_lines=True)
    st.altair_chart(validation_chart(run.validation))
    st.dataframe(pd.DataFrame([{"round": c.round, "status": c.status, "validation macro-F1": c.validation_f1,
                                "guards": "; ".join(c.guard_notes), "specification": c.text}
                               for c in run.leaderboard()]), hide_index=True, key="ct_leaderboard")
    for r in run.history:
        for note in r.notes:
            st.caption(escape_markdown(f"Round {r.number}: {note}"))
    with st.expander("Changes from the neutral specification"):
        st.code(unified_diff(run.baseline.text, run.spec, "neutral", "learned"), language="diff")

with patterns_tab:
    st.caption("Accept, edit or reject the taste patterns, then refine again: the new run starts from the neutral "
               "specification and uses only the patterns you kept (all but the rejected ones).")
    films = {f.movie_id: f for f in run.split.train}

    def evidence(ids) -> str:
        return "\n".join(f"{films[i].title} ({films[i].year or 'no year'}) · {', '.join(films[i].genres) or 'no genres'}"
                         f" · the critic: {films[i].rating:g}, {films[i].label}" for i in ids if i in films) or "none"

    for pattern in run.patterns:
        with st.expander(f"#{pattern.number} · {pattern.status} · {escape_markdown(pattern.statement)}"):
            st.caption(f"{'Proposed in round ' + str(pattern.round) if pattern.round else 'Kept or written by hand'}"
                       f" · films for: {len(pattern.evidence_for)} · against: {len(pattern.evidence_against)}")
            for_col, against_col = st.columns(2)
            for_col.text("Films whose ratings support it:\n" + evidence(pattern.evidence_for))
            against_col.text("Films whose ratings contradict it:\n" + evidence(pattern.evidence_against))
            with st.form(f"ct_pattern_{pattern.id}"):
                statement = st.text_input("Statement", pattern.statement, key=f"ct_statement_{pattern.id}")
                status = status_buttons("ct", pattern.id, pattern.status)
            if status:
                try:
                    update_taste_pattern(store, pattern.id, statement=statement, status=status)
                except ValueError as exc:
                    st.error(escape_markdown(str(exc)))
                else:
                    st.rerun()
    with st.form("ct_add", clear_on_submit=True):
        written = st.text_input("Write a pattern by hand", placeholder="The critic rates slow science fiction highly",
                                key="ct_add_statement")
        if st.form_submit_button("Add as accepted", key="ct_add_submit"):
            try:
                add_taste_pattern(store, run.id, written)
            except ValueError as exc:
                st.error(escape_markdown(str(exc)))
            else:
                st.rerun()
    retuning = current_job("critic_retune")
    if st.button("Refine again with the kept patterns", type="primary", key="ct_retune",
                 disabled=retuning is not None and retuning.active):
        follow(submit_retuning(store, run.id))
        st.rerun()
    if retuning is not None:
        if retuning.status == "done" and ended_once(retuning):
            again, parent = load_run(store, retuning.result["run_id"]), load_run(store, retuning.params["run_id"])
            st.session_state[_RUN] = again.id
            flash(f"Run #{again.id} refined with {len(again.patterns)} kept pattern(s): validation macro-F1 "
                  f"{again.validation[-1]:.2f} (run #{parent.id}: {parent.validation[-1]:.2f}).")
            st.rerun()  # to show the new run
        job_panel(retuning, "ct_retune")

with predictions_tab:
    cols = st.columns(4)
    cols[0].metric("Accuracy", f"{scores.accuracy:.2f}")
    cols[1].metric("Macro-F1", f"{scores.macro_f1:.2f}")
    cols[2].metric("Mean absolute error", "n/a" if scores.mae is None else f"{scores.mae:.2f}")
    cols[3].metric("Recall spread", f"{scores.recall_spread:.2f}", help="max − min of the per-class recalls")
    predicted = {p.movie_id: p.label for p in run.predictions}
    st.dataframe(pd.DataFrame([{"film": f.title, "year": f.year, "genres": ", ".join(f.genres),
                                "the critic's rating": f.rating, "the critic's class": f.label,
                                "predicted": predicted[f.movie_id], "right": predicted[f.movie_id] == f.label}
                               for f in run.split.test]), hide_index=True, key="ct_predictions")
    charts = st.columns(2)
    charts[0].altair_chart(confusion_chart(confusion([f.label for f in run.split.test],
                                                     [predicted[f.movie_id] for f in run.split.test]),
                                           subtitle=run.model))
    charts[1].altair_chart(recall_chart(pd.DataFrame([{"method": "tuning", "class": c, "recall": r}
                                                      for c, r in scores.recall.items()]), subtitle=run.model))

with methods_tab:
    compared = st.session_state.setdefault(_COMPARED, {})
    st.caption("The baselines predict the same test films: the critic's mean, per-genre means, item-based nearest "
               "neighbours over the other MovieLens users, and the model zero-shot and few-shot. Tuning's row is "
               "this run's, as stored.")
    comparing = current_job("critic_baselines")
    if st.button("Run every baseline on this split", key="ct_compare", disabled=comparing is not None and comparing.active):
        follow(submit_baselines(store, run.id))
        st.rerun()
    if comparing is not None and comparing.params["run_id"] == run.id:
        if comparing.status == "done":
            compared[run.id] = pd.DataFrame(comparing.result["rows"])
        job_panel(comparing, "ct_compare")
    table = compared.get(run.id)
    if table is not None:
        st.dataframe(table, hide_index=True, key="ct_methods")
        cols = st.columns(2)
        cols[0].altair_chart(methods_chart(table))
        cols[1].altair_chart(recall_chart(recall_rows(table.dropna(subset=["macro_f1"]))))
        for row in table[table["error"].fillna("") != ""].to_dict("records"):
            st.error(escape_markdown(f"{row['method']} failed: {row['error']}"))
