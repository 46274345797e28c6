"""The Rating studies page's launch section: the full rater link, places, minutes and pay, the checklist
before opening, and the status button; and the monitor's replacement places."""

from urllib.parse import urlsplit

import streamlit as st

from views.shared.prolific import prolific_client
from views.shared.services import flash, show_errors
from vt_core.core.text import escape_markdown
from vt_core.core.store import Store
from vt_core.crowd import (
    CURRENCIES,
    FAIR_HOURLY,
    MINIMUM_HOURLY,
    ProlificError,
    SYMBOLS,
    ExclusionRules,
    Study,
    StudyError,
    add_places,
    checklist,
    expected_timing,
    launch_pay,
    launch_settings,
    places_needed,
    prolific_link,
    rater_url,
    replace_excluded,
    save_launch,
    set_study_status,
    shortfall,
)

_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")


def public_base(configured: str | None) -> str:
    """VT_PUBLIC_URL, else the address this browser uses (with a warning when only this machine can open it)."""
    if configured:
        return configured
    parts = urlsplit(st.context.url or "http://localhost:8501")
    base = f"{parts.scheme}://{parts.netloc}"
    st.caption("Built from the address your browser uses; set `VT_PUBLIC_URL` to the address raters open.")
    if parts.hostname in _LOCAL_HOSTS:
        st.warning("This address only works on this machine: raters elsewhere cannot open it. Set "
                   "`VT_PUBLIC_URL` before you launch.")
    return base


def launch_section(store: Store, study: Study, configured_url: str | None) -> str:
    """The launch details and the open/close button; returns the address raters open the app at."""
    definition = study.definition
    st.subheader("Launch")
    base = public_base(configured_url)
    link = rater_url(base, study.token, definition.platform)
    st.caption({"prolific": "Study URL for Prolific (it fills in the placeholders):",
                "mturk": "External question URL for MTurk (it adds workerId, assignmentId, hitId and turkSubmitTo):",
                "anonymous": "Rater link (each visitor gets an anonymous id):"}[definition.platform])
    st.code(link, language=None)

    timing = expected_timing(store, study)
    regular = store.cursor().execute("SELECT count(*) FROM study_items WHERE study_id = ? AND kind = 'regular'",
                                     [study.id]).fetchone()[0]
    needed = places_needed(regular, definition.ratings_per_item, definition.items_per_rater)
    saved = launch_settings(store, study.id)
    st.caption(f"Each rater sees {timing.items} items (regular ones and checks). Expected about "
               f"{timing.minutes:.0f} minutes a rater: "
               + (f"the median of {timing.seconds_per_item:.0f} s an item of the {timing.people} people who "
                  "finished, plus the consent and instructions." if timing.basis == "people" else
                  f"{timing.seconds_per_item:.0f} s an item from the items' length and questions, plus the "
                  "consent and instructions; once a few people have finished (a small first batch as a "
                  "pilot), their median replaces this estimate.")
               + f" {regular} regular items with {definition.ratings_per_item} ratings each need {needed} raters.")
    with st.form(f"launch_{study.id}"):
        cols = st.columns(4)
        places = cols[0].number_input("Places to request", 1, 100_000, saved.places or max(needed, 1),
                                      key=f"launch_places_{study.id}")
        minutes = cols[1].number_input("Minutes per rater", 1.0, 600.0,
                                       float(round(saved.minutes or max(timing.minutes, 1.0), 1)),
                                       step=1.0, key=f"launch_minutes_{study.id}")
        currency = cols[2].selectbox("Currency", CURRENCIES, CURRENCIES.index(saved.currency),
                                     key=f"launch_currency_{study.id}")
        reward = cols[3].number_input("Reward per rater", 0.0, 1000.0,
                                      (saved.reward_cents or 0) / 100, step=0.05, format="%.2f",
                                      key=f"launch_reward_{study.id}")
        if st.form_submit_button("Save the launch details", key=f"launch_save_{study.id}"):
            try:
                save_launch(store, study.id, places=int(places), reward_cents=round(reward * 100) or None,
                            currency=currency, minutes=float(minutes))
            except StudyError as exc:
                show_errors(exc)
            else:
                flash("Saved the launch details.")
                st.rerun()
    pay = launch_pay(store, study, saved)
    if pay is None:
        st.caption("Enter the reward per rater to see the hourly pay.")
    elif pay.level == "below minimum":
        st.error(f"{pay.text()}: below Prolific's minimum of {SYMBOLS[pay.currency]}"
                 f"{MINIMUM_HOURLY[pay.currency]:.2f} an hour. Raise the reward.")
    elif pay.level == "below fair":
        st.warning(f"{pay.text()}: under the {SYMBOLS[pay.currency]}{FAIR_HOURLY[pay.currency]:.2f} an hour "
                   "that Prolific recommends.")
    else:
        st.success(f"{pay.text()}.")

    st.markdown("**Before opening**")
    checks = checklist(store, study)
    for check in checks:
        st.text(f"{'✓' if check.ok else '✗'} {check.name}: {check.detail}")
    _status_button(store, study, [c for c in checks if not c.ok])
    return base


def _status_button(store: Store, study: Study, missing: list) -> None:
    st.write(f"This study is **{study.status}**.")
    target, label = {"draft": ("open", "Open the study to raters"), "open": ("closed", "Close the study"),
                     "closed": ("open", "Reopen the study")}[study.status]
    anyway = True
    if target == "open" and missing:
        anyway = st.checkbox(f"Open although {len(missing)} of the checks above {'is' if len(missing) == 1 else 'are'}"
                             " not done", key=f"launch_anyway_{study.id}")
    if st.button(label, key="rs_status", type="primary" if target == "open" else "secondary", disabled=not anyway):
        try:
            set_study_status(store, study.id, target)
        except StudyError as exc:
            show_errors(exc)
        else:
            flash(f"Study {study.name!r} is now {target}.")
            st.rerun()


def replacement_controls(store: Store, study: Study, rules: ExclusionRules) -> None:
    """How many valid ratings the items lack, and replacing the excluded raters to reopen their places."""
    short = shortfall(store, study.id, rules)
    k = study.definition.ratings_per_item
    if not short.ratings:
        st.caption(f"Every regular item has its {k} valid human ratings.")
        return
    st.caption(f"{short.items} regular items lack {short.ratings} valid human ratings of their {k} (ratings of "
               f"excluded raters are not valid): {short.places} more raters would give them.")
    if short.to_replace:
        n = len(short.to_replace)
        client = prolific_client() if study.definition.platform == "prolific" else None
        on_prolific = client is not None and prolific_link(store, study.id) is not None
        if st.button(f"Replace the {n} excluded rater{'s' * (n != 1)}: reopen their items to new raters"
                     + (" and ask Prolific for the places" if on_prolific else ""), key=f"replace_{study.id}"):
            after = replace_excluded(store, study.id, rules)
            done = f"Replaced {n} excluded rater{'s' * (n != 1)}: their items go to new raters. "
            if not on_prolific:
                flash(done + f"Request {after.places} more place{'s' * (after.places != 1)} on the platform.")
                st.rerun()
            try:
                total = add_places(store, client, study.id, after.places)
            except (ProlificError, ValueError) as exc:
                st.error(escape_markdown(done + f"Asking Prolific for {after.places} more places failed: {exc}"))
            else:
                flash(done + f"Prolific was asked for {after.places} more place{'s' * (after.places != 1)}: the "
                             f"study has {total} now.")
                st.rerun()
