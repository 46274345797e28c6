"""What the Refine and Compare pages share about one refinement candidate: its prompt changes, linked
to the patterns behind them, and its approval with the warnings that come before it."""

import streamlit as st

from views.shared.designer import log_session_event
from views.shared.services import flash
from vt_core.core.store import Store
from vt_core.core.text import escape_markdown
from vt_core.designer import (
    Project,
    RefineError,
    approve,
    current_version,
    get_version,
    linked_diff,
    list_patterns,
    removal,
    unified_diff,
)


def pattern_names(store: Store, project_id: int) -> dict[int, str]:
    return {p.id: p.name for p in list_patterns(store, project_id)}


def run_name(run) -> str:
    """A refinement run as the designer reads it: its number in the project, the version it refined."""
    return f"Run {run.number} · refines v{run.parent_version_number} · {run.status} · {run.created_at:%Y-%m-%d %H:%M}"


def share(value: float | None) -> str:
    """A pass rate as a percentage, or n/a when nothing was judged."""
    return "n/a" if value is None else f"{value:.0%}"


def prompt_changes(candidate, names: dict[int, str]) -> None:
    """The diff against its parent, each hunk with the stated changes and patterns behind it; the
    whole text and the unified diff on demand."""
    for linked in linked_diff(candidate):
        if linked.hunk.tag == "equal":
            continue
        lines = [f"-{line}" for line in linked.hunk.old] + [f"+{line}" for line in linked.hunk.new]
        st.code("\n".join(lines), language="diff")
        if linked.changes:
            for change in linked.changes:
                patterns = ", ".join(names.get(i, "a pattern since deleted") for i in change.get("pattern_ids", []))
                st.caption(escape_markdown(
                    f"Why: {change.get('rationale', '')} — patterns: {patterns or 'none named'}"))
        else:
            st.caption("No stated change covers this hunk.")
    with st.expander("Whole candidate prompt (copy it as plain text)"):
        st.code(candidate.text, language=None, wrap_lines=True)
    with st.expander("Unified diff against its parent"):
        st.code(unified_diff(candidate.parent_text, candidate.text, "parent", candidate.name),
                language="diff")


def approval(store: Store, project: Project, run, candidate, key: str) -> None:
    """Approve (button `key`) an evaluated candidate of a finished run, after warning when the current
    prompt is no longer the one the run refined and when the candidate guts its parent."""
    current = current_version(store, project.id)
    if candidate.status == "evaluated" and run.status == "done" and current.id != run.parent_version_id:
        refined = f"v{run.parent_version_number}"
        st.warning(f"The current prompt is v{current.number}, not {refined} that this run refined: approving would "
                   f"replace it. Compare them, then refine v{current.number}, or make {refined} current on the "
                   f"Projects page first.")
        with st.expander(f"Unified diff: the current v{current.number} against {candidate.name}", expanded=True):
            st.code(unified_diff(current.text, candidate.text, f"v{current.number}", candidate.name), language="diff")
    if candidate.status == "evaluated" and run.status == "done":
        removed = removal(candidate.parent_text, candidate.text)
        if removed.gutted:
            dropped = ", ".join(f"'{heading}'" for heading in removed.dropped_sections)
            st.warning(escape_markdown(
                f"This candidate takes out {removed.removed_share:.0%} of its parent's text"
                + (f" and drops the section(s) {dropped}" if dropped else "")
                + ". Read what it removes before you approve it:"))
            st.code("\n".join(removed.removed_lines), language=None, wrap_lines=True)
        if st.button("Approve: make this the current prompt", type="primary", key=key):
            try:
                version = approve(store, candidate.id)
            except RefineError as exc:
                st.error(escape_markdown(exc))
            else:
                log_session_event("version_saved", project_id=project.id, version_id=version.id, author="refinement")
                flash(f"{candidate.name.capitalize()} is now prompt version v{version.number}, the current prompt.")
                st.rerun()
    elif candidate.status == "approved":
        st.success(f"Approved as prompt version v{get_version(store, candidate.version_id).number}.")
