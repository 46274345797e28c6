"""The study monitor's Prolific section: the per-rater table for those who decide by hand, and, with
PROLIFIC_TOKEN, the study on Prolific (create as a draft, publish, pause and start, places), its submissions
with a proposed decision each (a rejection is sent only once its box is ticked, with its message and category)
and bonuses. Widgets and layout only: the work is vt_core.crowd's."""

import math
from functools import partial

import streamlit as st

from views.shared.services import flash, services, show_errors, show_flash
from vt_core.core.store import Store
from vt_core.core.text import escape_markdown
from vt_core.crowd import (
    MIN_REJECTION_MESSAGE,
    REJECTION_CATEGORIES,
    Decision,
    ExclusionRules,
    ProlificClient,
    ProlificError,
    Study,
    StudyError,
    add_places,
    apply_decisions,
    create_on_prolific,
    keep_within_cap,
    launch_pay,
    launch_settings,
    list_bonuses,
    pay_bonus,
    prolific_link,
    propose_decisions,
    publish_on_prolific,
    rater_url,
    raters_csv,
    set_paused_on_prolific,
    set_up_bonus,
    settle_bonus,
    shortfall,
)

_SUBMISSIONS = "pl_submissions"  # session key: {study id: submissions as Prolific last listed them}
FAILURES = (ProlificError, StudyError, ValueError)


@st.cache_resource(show_spinner=False)
def _client(base_url: str | None, _token: str) -> ProlificClient:
    # One client per process; the token (underscored) is not part of the cache key.
    return ProlificClient(_token, base_url)


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _act(work, done: str) -> None:
    """Run one call to Prolific; say what came of it (errors escaped: they quote Prolific)."""
    try:
        result = work()
    except FAILURES as exc:
        show_errors(exc)
        return
    flash(done.format(result=result))
    st.rerun()


def prolific_client() -> ProlificClient | None:
    """The process's Prolific client; None without PROLIFIC_TOKEN."""
    settings = services().settings
    return _client(settings.prolific_api_url, settings.prolific_token) if settings.prolific_token else None


def prolific_section(store: Store, study: Study, base_url: str, rules: ExclusionRules | None = None) -> None:
    """The section for `study`; `base_url` is the address raters open the app at, `rules` the monitor's
    exclusion rules."""
    settings = services().settings
    st.subheader("Prolific")
    show_flash()
    submissions = st.session_state.get(_SUBMISSIONS, {}).get(study.id)
    st.download_button("Download the per-rater table (CSV)", on_click="ignore",
                       data=partial(raters_csv, store, study.id, rules, submissions),
                       file_name=f"study-{study.id}-raters.csv", mime="text/csv", key="pl_raters_csv")
    st.caption("One row per rater: status, start and finish times, the completion code shown, exclusion reasons, "
               "and the platform's ids (PROLIFIC_PID, STUDY_ID, SESSION_ID, which is the submission id; MTurk's "
               "workerId, assignmentId, hitId), with the submission's status once read below.")
    if not settings.prolific_token:
        st.info("To create, publish, pause and pay this study on Prolific from here, set `PROLIFIC_TOKEN` to an API "
                "token (Prolific: Settings, API tokens) in the environment of the app and restart it. Until then, "
                "use the table above to approve, reject and pay on Prolific by hand.")
        return
    if study.definition.platform != "prolific":
        st.caption(f"This study runs on {study.definition.platform}, not on Prolific.")
        return
    client = prolific_client()
    link = prolific_link(store, study.id)
    if link is None:
        _create_form(store, client, study, base_url)
        return
    _study_controls(store, client, study, link, rules)
    who = st.text_input("Your name (recorded with each decision and bonus)", key="pl_who")
    _submissions(store, client, study, rules, who)
    _bonuses(store, client, study, who)


def _create_form(store: Store, client: ProlificClient, study: Study, base_url: str) -> None:
    """Create from the launch details (places, reward, minutes) saved under Launch."""
    saved = launch_settings(store, study.id)
    pay = launch_pay(store, study, saved)
    if saved.places is None or pay is None:
        st.info("Save the places and the reward per rater under **Launch** above: the study is created on "
                "Prolific with them, its rater link and its three completion codes.")
        return
    minutes = math.ceil(pay.minutes)
    st.text(f"Prolific gets: {saved.places} places, {minutes} minutes, {pay.text()}; the link "
            f"{rater_url(base_url, study.token, 'prolific')}; the codes {study.definition.completion_codes.completed}, "
            f"{study.definition.completion_codes.screened_out} and {study.definition.completion_codes.failed_checks}.")
    if st.button("Create the study on Prolific as a draft", key="pl_create_go", disabled=pay.level == "below minimum",
                 help="Raise the reward to Prolific's minimum first" if pay.level == "below minimum" else None):
        _act(lambda: create_on_prolific(store, client, study, base_url=base_url, places=saved.places,
                                        minutes=minutes, reward_cents=saved.reward_cents),
             "Created on Prolific as a draft ({result.prolific_id}); publish it when ready.")


def _study_controls(store: Store, client: ProlificClient, study: Study, link, rules: ExclusionRules | None) -> None:
    st.caption(f"Prolific study {link.prolific_id}, {link.places} places"
               + (", published." if link.published_at else ", a draft: not published yet."))
    if link.published_at is None:
        if st.button("Publish on Prolific", type="primary", key="pl_publish"):
            _act(lambda: publish_on_prolific(store, client, study.id), "Published: Prolific shows it as {result}.")
        return
    pause, start, cap = st.columns(3)
    if pause.button("Pause on Prolific", key="pl_pause"):
        _act(lambda: set_paused_on_prolific(store, client, study.id, True), "Prolific shows the study as {result}.")
    if start.button("Start again on Prolific", key="pl_start"):
        _act(lambda: set_paused_on_prolific(store, client, study.id, False), "Prolific shows the study as {result}.")
    if study.definition.max_active_raters and cap.button("Apply the cap on raters at once", key="pl_cap"):
        _act(lambda: keep_within_cap(store, client, study) or "nothing to change",
             "Cap of raters at once: {result}.")
    with st.form("pl_places_form"):
        more = st.number_input("More places (e.g. to replace excluded raters)", 1, 10_000,
                               max(shortfall(store, study.id, rules).places, 1), key="pl_more")
        if st.form_submit_button("Ask Prolific for more places", key="pl_places_go"):
            _act(lambda: add_places(store, client, study.id, int(more)), "The study has {result} places now.")


def _submissions(store: Store, client: ProlificClient, study: Study, rules: ExclusionRules | None,
                 who: str) -> None:
    st.markdown("**Submissions**")
    link = prolific_link(store, study.id)
    if st.button("Read the submissions from Prolific", key="pl_read"):
        try:
            listed = client.submissions(link.prolific_id)
        except ProlificError as exc:
            show_errors(exc)
        else:
            st.session_state.setdefault(_SUBMISSIONS, {})[study.id] = listed
    listed = st.session_state.get(_SUBMISSIONS, {}).get(study.id)
    if listed is None:
        st.caption("Read them to see a proposed decision for each, from the exclusion rules and the rater's status.")
        return
    proposals = propose_decisions(store, study, listed, rules)
    st.dataframe([{"participant": p.participant_id, "submission": p.submission_id, "on Prolific": p.submission_status,
                   "rater status": p.rater_status or "", "code entered": p.entered_code or "",
                   "proposed": p.action or "", "category": p.category or "", "why": p.reason} for p in proposals],
                 hide_index=True, key="pl_proposals")
    open_ = [p for p in proposals if p.action]
    if not open_:
        st.caption("Nothing to decide now.")
        return
    with st.form("pl_decide"):
        approvals = [p for p in open_ if p.action == "APPROVE"]
        approve = st.multiselect("Approve these submissions", [p.submission_id for p in approvals],
                                 default=[p.submission_id for p in approvals], key="pl_approve",
                                 format_func=lambda sid: next(p.participant_id for p in approvals
                                                              if p.submission_id == sid))
        rejections = []
        for p in (p for p in open_ if p.action == "REJECT"):
            st.markdown("---")
            st.text(f"Proposed rejection of {p.participant_id}: {p.reason}")
            confirm = st.checkbox("Reject this submission (I checked it)", value=False, key=f"pl_rej_{p.submission_id}")
            message = st.text_area(f"Message to the participant (at least {MIN_REJECTION_MESSAGE} characters)",
                                   p.message or "", key=f"pl_msg_{p.submission_id}")
            category = st.selectbox("Rejection category", REJECTION_CATEGORIES,
                                    index=REJECTION_CATEGORIES.index(p.category) if p.category else None,
                                    key=f"pl_cat_{p.submission_id}")
            rejections.append((p, confirm, message, category))
        if st.form_submit_button("Send the confirmed decisions to Prolific", key="pl_decide_go"):
            decisions = [Decision.of(p) for p in approvals if p.submission_id in approve]
            decisions += [Decision.of(p, message=message, category=category)
                          for p, confirm, message, category in rejections if confirm]
            try:
                results = apply_decisions(store, client, study.id, decisions,
                                          confirmed={d.submission_id for d in decisions}, confirmed_by=who)
            except FAILURES as exc:
                show_errors(exc)
                return
            failed = [r for r in results if not r.done]
            for result in failed:
                show_errors(ProlificError(f"deciding on {result.decision.participant_id}", result.error or ""))
            st.session_state[_SUBMISSIONS].pop(study.id, None)  # read again: their status changed
            if not failed:
                flash(f"Sent {len(results)} decision(s) to Prolific.")
                st.rerun()


def _bonuses(store: Store, client: ProlificClient, study: Study, who: str) -> None:
    st.markdown("**Bonuses** (each paid once: an unclear payment is not paid again until you say what Prolific shows)")
    raters = {rater_id: pid for rater_id, pid in store.cursor().execute(
        "SELECT id, external_id FROM raters WHERE study_id = ? AND platform = 'prolific' ORDER BY id",
        [study.id]).fetchall()}
    with st.form("pl_bonus"):
        rater = st.selectbox("Rater", list(raters), format_func=lambda r: f"{raters[r]} (rater {r})", index=None,
                             key="pl_bonus_rater")
        amount = st.number_input("Bonus (in your Prolific currency)", 0.01, 1000.0, 0.50, step=0.25, format="%.2f",
                                 key="pl_bonus_amount")
        if st.form_submit_button("Set up the bonus on Prolific", key="pl_bonus_go") and rater is not None:
            _act(lambda: set_up_bonus(store, client, study.id, rater, round(amount * 100), requested_by=who),
                 "Bonus set up on Prolific; pay it below.")
    bonuses = list_bonuses(store, study.id)
    if not bonuses:
        return
    st.dataframe([{"bonus": b.id, "participant": b.participant_id, "amount": _money(b.amount_cents),
                   "state": b.state, "Prolific bonus id": b.bonus_id or "", "error": b.error or ""} for b in bonuses],
                 hide_index=True, key="pl_bonuses")
    for b in bonuses:
        if b.state == "created" and st.button(f"Pay bonus {b.id} ({_money(b.amount_cents)} to "
                                              f"{escape_markdown(b.participant_id)})",
                                              key=f"pl_pay_{b.id}"):
            _act(lambda b=b: pay_bonus(store, client, b.id), "Bonus paid.")
        if b.state in ("paying", "unclear"):
            st.warning(f"Bonus {b.id}: the pay call got no clear answer. Check the participant's bonuses on Prolific.")
            paid, unpaid = st.columns(2)
            if paid.button("Prolific shows it paid", key=f"pl_paid_{b.id}"):
                _act(lambda b=b: settle_bonus(store, b.id, paid=True, resolved_by=who), "Marked as paid.")
            if unpaid.button("Prolific shows it not paid", key=f"pl_unpaid_{b.id}"):
                _act(lambda b=b: settle_bonus(store, b.id, paid=False, resolved_by=who),
                     "Marked as not paid: it can be paid again.")
