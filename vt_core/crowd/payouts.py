"""Running a study on Prolific from the platform: create and publish it, keep it within the study's cap,
propose and apply decisions on submissions, pay bonuses once, and ask for more places.

Decisions, in one place:

- **The link.** A platform study has at most one Prolific study (table prolific_studies, migration 0017). Its
  three completion codes come from the study definition: completed (code type COMPLETED), failed checks
  (FAILED_ATTENTION_CHECK) and screened out (OTHER), each with a manual review, so nothing is approved or
  rejected before the researcher decides.
- **The cap.** `keep_within_cap` pauses the Prolific study while the study's active raters (see
  `active_raters`) reach ``max_active_raters`` and starts it again below; it only starts a study it paused
  itself, never one the researcher paused.
- **Decisions.** `propose_decisions` proposes, per submission awaiting review, APPROVE or REJECT from the
  rater's status and the exclusion rules: failed checks (two or more failed attention checks, Prolific's
  minimum) -> REJECT FAILED_CHECK; excluded for rating too fast -> REJECT TOO_QUICKLY; excluded for missing
  gold items -> REJECT LOW_EFFORT; otherwise a finished rater -> APPROVE. A screened-out rater or a submission
  no rater matches gets no proposal (Prolific does not allow rejecting the screened out; they are asked to
  return). `apply_decisions` sends only the decisions whose submissions the researcher confirmed, and records
  each (who confirmed it, when, and what Prolific answered).
- **Bonuses, paid at most once.** Prolific's pay call is not idempotent, so a bonus row moves through states
  that are written *before* each call: 'new' (recorded) -> 'created' (set up on Prolific, its bonus id kept)
  -> 'paying' (claimed by one payer, in a transaction, just before the pay call) -> 'paid'. Only a 'created'
  bonus can be claimed, so two clicks, two tabs or a retried job cannot send the pay call twice. If Prolific
  refuses the call (an error answer that says it did nothing, e.g. 400 or 429), the bonus goes back to
  'created' and can be paid later. If the outcome is unclear (a timeout, a dropped connection, a 5xx: Prolific
  may have paid) it becomes 'unclear', and a bonus left 'paying' by a process that died counts the same: it is
  never paid again until the researcher has checked on Prolific and said whether it was paid (`settle_bonus`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from vt_core.core.store import KEY_TAKEN, Store, naive_utc
from vt_core.crowd.assignment import FINAL_STATUSES, active_raters
from vt_core.crowd.exclusion import ExclusionRules, Reason, excluded_raters
from vt_core.crowd.launch import rater_url
from vt_core.crowd.prolific import ProlificClient, ProlificError, check_rejection, study_payload
from vt_core.crowd.studies import Study, StudyError

__all__ = ["BONUS_STATES", "CODE_TYPES", "Bonus", "Decision", "DecisionResult", "ProlificLink", "Proposal",
           "add_places", "apply_decisions", "create_on_prolific", "keep_within_cap", "list_bonuses",
           "pay_bonus", "prolific_link", "propose_decisions", "publish_on_prolific", "set_paused_on_prolific",
           "set_up_bonus", "settle_bonus"]

CODE_TYPES = {"completed": "COMPLETED", "failed_checks": "FAILED_ATTENTION_CHECK", "screened_out": "OTHER"}
BONUS_STATES = ("new", "created", "paying", "paid", "unclear")
AWAITING_REVIEW = "AWAITING REVIEW"

# What a participant reads with a rejection (Prolific asks for 100 characters or more).
_MESSAGES = {
    "FAILED_CHECK": "Thank you for taking part. Your submission failed two or more of the instructed-response "
                    "attention checks in this study, which ask for one given answer, so we cannot approve it.",
    "TOO_QUICKLY": "Thank you for taking part. Your ratings were given far faster than the conversations can be "
                   "read, so we cannot use them and cannot approve this submission.",
    "LOW_EFFORT": "Thank you for taking part. Your answers on the conversations whose right answer is known were "
                  "far from it on most of them, so we cannot approve this submission.",
}
_REASON_CATEGORY = {Reason.TOO_FAST: "TOO_QUICKLY", Reason.GOLD_MISSED: "LOW_EFFORT"}


# -- the link ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProlificLink:
    study_id: int            # the platform's study
    prolific_id: str         # Prolific's study id
    places: int
    paused_by_cap: bool
    published_at: datetime | None
    created_at: datetime


def prolific_link(store: Store, study_id: int) -> ProlificLink | None:
    """The Prolific study of a platform study, if one was created."""
    row = store.cursor().execute(
        "SELECT study_id, prolific_id, places, paused_by_cap, published_at, created_at FROM prolific_studies"
        " WHERE study_id = ?", [study_id]).fetchone()
    return ProlificLink(*row) if row else None


def _link(store: Store, study_id: int) -> ProlificLink:
    link = prolific_link(store, study_id)
    if link is None:
        raise StudyError(f"study {study_id} has no Prolific study yet; create it first")
    return link


def create_on_prolific(store: Store, client: ProlificClient, study: Study, *, base_url: str, places: int,
                       minutes: int, reward_cents: int, now: datetime | None = None) -> ProlificLink:
    """Create the study on Prolific as a draft (not published): its name and description, its rater link at
    `base_url` with Prolific's placeholders, its three completion codes, `places`, `minutes` and the reward in
    cents. A study that has its Prolific study already is refused, so a second click creates nothing."""
    if study.definition.platform != "prolific":
        raise StudyError(f"study {study.name!r} runs on {study.definition.platform}, not on Prolific")
    if prolific_link(store, study.id) is not None:
        raise StudyError(f"study {study.name!r} has a Prolific study already")
    codes = study.definition.completion_codes
    payload = study_payload(name=study.name, description=study.definition.description,
                            study_url=rater_url(base_url, study.token, "prolific"),
                            codes=[(getattr(codes, key), code_type) for key, code_type in CODE_TYPES.items()],
                            places=places, minutes=minutes, reward_cents=reward_cents)
    created = client.create_study(payload)
    prolific_id = created.get("id")
    if not prolific_id:
        raise ProlificError("creating a draft study", f"the answer has no study id: {sorted(created)}")
    store.transaction(lambda db: db.execute(
        "INSERT INTO prolific_studies (study_id, prolific_id, places, created_at) VALUES (?, ?, ?, ?)",
        [study.id, prolific_id, places, naive_utc(now)]))
    return _link(store, study.id)


def publish_on_prolific(store: Store, client: ProlificClient, study_id: int, *, now: datetime | None = None) -> str:
    """Publish the Prolific study (Prolific starts recruiting); its status afterwards."""
    link = _link(store, study_id)
    answer = client.transition_study(link.prolific_id, "PUBLISH")
    store.transaction(lambda db: db.execute(
        "UPDATE prolific_studies SET published_at = coalesce(published_at, ?) WHERE study_id = ?",
        [naive_utc(now), study_id]))
    return answer.get("status", "")


def set_paused_on_prolific(store: Store, client: ProlificClient, study_id: int, paused: bool) -> str:
    """Pause or start the Prolific study by the researcher's hand; its status afterwards. A study the
    researcher paused stays paused whatever the cap (see keep_within_cap)."""
    link = _link(store, study_id)
    answer = client.transition_study(link.prolific_id, "PAUSE" if paused else "START")
    _set_paused_by_cap(store, study_id, False)
    return answer.get("status", "")


def _set_paused_by_cap(store: Store, study_id: int, value: bool) -> None:
    store.transaction(lambda db: db.execute(
        "UPDATE prolific_studies SET paused_by_cap = ? WHERE study_id = ?", [value, study_id]))


def keep_within_cap(store: Store, client: ProlificClient, study: Study, *, now: datetime | None = None) -> str | None:
    """Pause the Prolific study while the study's active raters reach its max_active_raters, start it again
    once they are fewer, if it was paused here. Returns 'paused', 'started' or None (nothing to do)."""
    cap = study.definition.max_active_raters
    link = _link(store, study.id)
    if cap is None:
        return None
    active = active_raters(store, study.id, lease_minutes=study.definition.lease_minutes, now=now)
    status = client.get_study(link.prolific_id).get("status")
    if active >= cap and status == "ACTIVE":
        client.transition_study(link.prolific_id, "PAUSE")
        _set_paused_by_cap(store, study.id, True)
        return "paused"
    if active < cap and status == "PAUSED" and link.paused_by_cap:
        client.transition_study(link.prolific_id, "START")
        _set_paused_by_cap(store, study.id, False)
        return "started"
    return None


def add_places(store: Store, client: ProlificClient, study_id: int, more: int) -> int:
    """Ask Prolific for `more` places (replacement places); the new total."""
    if more < 1:
        raise ValueError(f"ask for at least 1 more place, not {more}")
    link = _link(store, study_id)
    current = client.get_study(link.prolific_id).get("total_available_places", link.places)
    total = int(current) + more
    client.set_places(link.prolific_id, total)
    store.transaction(lambda db: db.execute(
        "UPDATE prolific_studies SET places = ? WHERE study_id = ?", [total, study_id]))
    return total


# -- decisions --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """A submission as Prolific lists it, its rater here, and the decision proposed for it (None: nothing to
    decide now, `reason` says why)."""

    submission_id: str
    participant_id: str
    submission_status: str
    entered_code: str | None
    rater_id: int | None
    rater_status: str | None
    action: str | None       # 'APPROVE' | 'REJECT' | None
    category: str | None     # a rejection's category
    message: str | None      # a rejection's message to the participant
    reason: str


@dataclass(frozen=True)
class Decision:
    """What the researcher confirmed for one submission."""

    submission_id: str
    participant_id: str
    action: str              # 'APPROVE' | 'REJECT'
    rater_id: int | None = None
    message: str | None = None
    category: str | None = None

    @classmethod
    def of(cls, proposal: Proposal, *, message: str | None = None, category: str | None = None) -> Decision:
        """The proposal as a decision, with the researcher's own message and category if given."""
        if proposal.action is None:
            raise ValueError(f"submission {proposal.submission_id} has nothing to decide: {proposal.reason}")
        return cls(proposal.submission_id, proposal.participant_id, proposal.action, proposal.rater_id,
                   message if message is not None else proposal.message,
                   category if category is not None else proposal.category)


@dataclass(frozen=True)
class DecisionResult:
    decision: Decision
    done: bool
    error: str | None = None


def _participant(submission: dict) -> str:
    return submission.get("participant_id") or submission.get("participant") or ""


def propose_decisions(store: Store, study: Study, submissions: Iterable[dict],
                      rules: ExclusionRules | None = None) -> list[Proposal]:
    """A proposal for each submission (see the module's notes), matched to its rater by PROLIFIC_PID."""
    raters = {external_id: (rater_id, status) for rater_id, external_id, status in store.cursor().execute(
        "SELECT id, external_id, status FROM raters WHERE study_id = ? AND platform = 'prolific'",
        [study.id]).fetchall()}
    excluded = {r.rater_id: r for r in excluded_raters(store, study.id, rules)}
    decided = dict(store.cursor().execute(
        "SELECT submission_id, action FROM prolific_decisions WHERE study_id = ? AND outcome = 'done'",
        [study.id]).fetchall())
    proposals = []
    for submission in submissions:
        participant = _participant(submission)
        rater_id, rater_status = raters.get(participant, (None, None))
        action, category, reason = _propose(submission.get("status", ""), rater_id, rater_status,
                                            excluded.get(rater_id), decided.get(submission.get("id")))
        proposals.append(Proposal(
            submission_id=submission.get("id", ""), participant_id=participant,
            submission_status=submission.get("status", ""),
            entered_code=submission.get("study_code") or submission.get("entered_code"),
            rater_id=rater_id, rater_status=rater_status, action=action, category=category,
            message=_MESSAGES.get(category) if category else None, reason=reason))
    return proposals


def _propose(status: str, rater_id: int | None, rater_status: str | None, excluded,
             decided: str | None) -> tuple[str | None, str | None, str]:
    if decided:
        return None, None, f"decided here: {decided}"
    if status != AWAITING_REVIEW:
        return None, None, f"Prolific shows it as {status or 'unknown'}"
    if rater_id is None:
        return None, None, "no rater of this study has this PROLIFIC_PID: check it on Prolific"
    if rater_status not in FINAL_STATUSES:
        return None, None, f"the rater has not finished (status {rater_status})"
    if rater_status == "screened_out":
        return None, None, "screened out: ask the participant to return the submission (not a reason to reject)"
    if rater_status == "failed_checks":
        return "REJECT", "FAILED_CHECK", "failed two or more attention checks"
    for reason in excluded.codes if excluded else ():
        if reason in _REASON_CATEGORY:
            return "REJECT", _REASON_CATEGORY[reason], f"excluded: {excluded.details}"
    if excluded:
        return "APPROVE", None, (f"finished; excluded from the analysis ({excluded.details}), but Prolific allows "
                                 "a rejection only after two failed checks")
    return "APPROVE", None, "finished the study"


def apply_decisions(store: Store, client: ProlificClient, study_id: int, decisions: Sequence[Decision],
                    confirmed: Iterable[str], *, confirmed_by: str,
                    now: datetime | None = None) -> list[DecisionResult]:
    """Send the decisions whose submission ids are in `confirmed` (the researcher's explicit confirmation;
    every other decision is left alone), and record each with who confirmed it and Prolific's answer.

    Every rejection is checked (message of 100+ characters, a category) before anything is sent; one that
    fails the check raises ValueError and nothing is sent."""
    if not confirmed_by.strip():
        raise ValueError("say who confirms the decisions")
    confirmed = set(confirmed)
    chosen = [d for d in decisions if d.submission_id in confirmed]
    for decision in chosen:
        if decision.action == "REJECT":
            try:
                check_rejection(decision.message, decision.category)
            except ValueError as exc:
                raise ValueError(f"submission {decision.submission_id}: {exc}") from None
        elif decision.action != "APPROVE":
            raise ValueError(f"submission {decision.submission_id}: unknown action {decision.action!r}")
    results = []
    for decision in chosen:
        try:
            if decision.action == "APPROVE":
                client.approve(decision.submission_id)
            else:
                client.reject(decision.submission_id, decision.message or "", decision.category or "")
            result = DecisionResult(decision, True)
        except ProlificError as exc:
            result = DecisionResult(decision, False, str(exc))
        store.transaction(lambda db, r=result, d=decision: db.execute(
            "INSERT INTO prolific_decisions (study_id, rater_id, submission_id, participant_id, action, message,"
            " category, confirmed_by, outcome, error, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [study_id, d.rater_id, d.submission_id, d.participant_id, d.action,
             d.message.strip() if d.action == "REJECT" and d.message else None,
             d.category if d.action == "REJECT" else None, confirmed_by.strip(),
             "done" if r.done else "failed", r.error, naive_utc(now)]))
        results.append(result)
    return results


# -- bonuses ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bonus:
    id: int
    study_id: int
    rater_id: int
    participant_id: str
    amount_cents: int
    bonus_id: str | None     # Prolific's bulk bonus payment id, once set up
    state: str               # see BONUS_STATES and the module's notes
    error: str | None
    requested_by: str
    created_at: datetime
    pay_started_at: datetime | None
    paid_at: datetime | None
    resolved_by: str | None


_BONUS_COLUMNS = ("id, study_id, rater_id, participant_id, amount_cents, bonus_id, state, error, requested_by,"
                  " created_at, pay_started_at, paid_at, resolved_by")


def _bonus(store: Store, bonus: int) -> Bonus:
    row = store.cursor().execute(f"SELECT {_BONUS_COLUMNS} FROM prolific_bonuses WHERE id = ?", [bonus]).fetchone()
    if row is None:
        raise StudyError(f"no bonus {bonus}")
    return Bonus(*row)


def list_bonuses(store: Store, study_id: int) -> list[Bonus]:
    return [Bonus(*row) for row in store.cursor().execute(
        f"SELECT {_BONUS_COLUMNS} FROM prolific_bonuses WHERE study_id = ? ORDER BY id", [study_id]).fetchall()]


def set_up_bonus(store: Store, client: ProlificClient, study_id: int, rater_id: int, amount_cents: int, *,
                 requested_by: str, now: datetime | None = None) -> Bonus:
    """Record a bonus for a Prolific rater and set it up on Prolific (not paid yet: see pay_bonus). One bonus
    per rater and study; asking again returns the one recorded (set up on Prolific if it was not yet). A set-up
    that failed or got no answer stays 'new' and is set up again next time: an unpaid set-up costs nothing."""
    if amount_cents < 1:
        raise ValueError(f"a bonus must be at least 1 cent, not {amount_cents}")
    if not requested_by.strip():
        raise ValueError("say who asks for the bonus")
    link = _link(store, study_id)
    row = store.cursor().execute(
        "SELECT external_id FROM raters WHERE id = ? AND study_id = ? AND platform = 'prolific'",
        [rater_id, study_id]).fetchone()
    if row is None:
        raise StudyError(f"rater {rater_id} is not a Prolific participant of study {study_id}")
    try:
        store.transaction(lambda db: db.execute(
            "INSERT INTO prolific_bonuses (study_id, rater_id, participant_id, amount_cents, state, requested_by,"
            " created_at) VALUES (?, ?, ?, ?, 'new', ?, ?)",
            [study_id, rater_id, row[0], amount_cents, requested_by.strip(), naive_utc(now)]))
    except KEY_TAKEN:
        pass  # recorded before: carry on with that one
    bonus = next(b for b in list_bonuses(store, study_id) if b.rater_id == rater_id)
    if bonus.state != "new":
        return bonus
    try:
        answer = client.create_bonuses(link.prolific_id, [(bonus.participant_id, bonus.amount_cents)])
    except ProlificError as exc:
        _update_bonus(store, bonus.id, "new", "new", error=str(exc))
        raise
    _update_bonus(store, bonus.id, "new", "created", bonus_id=answer.get("id"), error=None)
    return _bonus(store, bonus.id)


def _update_bonus(store: Store, bonus: int, from_state: str, to_state: str, **columns) -> bool:
    """Move a bonus from one state to another (and set `columns`); False if it was not in `from_state`."""
    names = "".join(f", {name} = ?" for name in columns)
    return bool(store.transaction(lambda db: db.execute(
        f"UPDATE prolific_bonuses SET state = ?{names} WHERE id = ? AND state = ? RETURNING id",
        [to_state, *columns.values(), bonus, from_state]).fetchall()))


def pay_bonus(store: Store, client: ProlificClient, bonus: int, *, now: datetime | None = None) -> Bonus:
    """Pay a bonus that is set up, once (see the module's notes). A bonus in any other state is refused with
    StudyError, before any call. Prolific's refusal puts it back to 'created' and raises the ProlificError; an
    unclear outcome marks it 'unclear' and raises."""
    current = _bonus(store, bonus)
    if current.state != "created" or not current.bonus_id:
        raise StudyError(_not_payable(current))
    if not _update_bonus(store, bonus, "created", "paying", pay_started_at=naive_utc(now), error=None):
        raise StudyError(_not_payable(_bonus(store, bonus)))  # another payer claimed it first
    try:
        client.pay_bonuses(current.bonus_id)
    except ProlificError as exc:
        _update_bonus(store, bonus, "paying", "unclear" if exc.unclear else "created", error=str(exc))
        raise
    _update_bonus(store, bonus, "paying", "paid", paid_at=naive_utc(now))
    return _bonus(store, bonus)


def _not_payable(bonus: Bonus) -> str:
    if bonus.state == "paid":
        return f"bonus {bonus.id} is paid already"
    if bonus.state in ("paying", "unclear"):
        return (f"bonus {bonus.id} may have been paid (the pay call got no clear answer): check the participant's "
                "bonus on Prolific, then say whether it was paid; it is not paid again before that")
    return f"bonus {bonus.id} is not set up on Prolific yet"


def settle_bonus(store: Store, bonus: int, *, paid: bool, resolved_by: str, now: datetime | None = None) -> Bonus:
    """The researcher's finding on Prolific for a bonus whose payment was unclear: paid (it stays paid) or not
    paid (it can be paid again)."""
    if not resolved_by.strip():
        raise ValueError("say who checked the bonus on Prolific")
    current = _bonus(store, bonus)
    if current.state not in ("paying", "unclear"):
        raise StudyError(f"bonus {bonus} is {current.state}, not unclear: nothing to settle")
    changes = {"paid_at": naive_utc(now)} if paid else {}
    if not _update_bonus(store, bonus, current.state, "paid" if paid else "created", resolved_by=resolved_by.strip(),
                         **changes):
        raise StudyError(f"bonus {bonus} changed meanwhile; look again")
    return _bonus(store, bonus)
