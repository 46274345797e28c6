"""The archive and delete controls the designer pages share. A delete takes a second, explicit step (a
checkbox, then "Delete for good" in a popover), and a row a study uses shows why it cannot go instead."""

import streamlit as st

from views.shared.services import flash
from vt_core.core.store import Store
from vt_core.core.text import escape_markdown
from vt_core.designer import CleanupError, archive, blockers, delete, describe

ARCHIVE_HELP = "Hidden from lists, pickers and new self-play plans; everything is kept, and it can be shown again."


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def archive_button(store: Store, kind: str, row_id: int, key: str, *, archived: bool = False) -> bool:
    """A button that archives the row, or shows an archived one again. True once done (the caller reruns
    the page)."""
    if not st.button("Show again" if archived else "Archive", key=f"archive_{key}", help=ARCHIVE_HELP):
        return False
    archive(store, kind, row_id, archived=not archived)
    what = escape_markdown(_sentence(describe(store, kind, row_id)))
    flash(f"{what} is shown again." if archived else f"{what} is archived: hidden, and kept whole.")
    return True


def keep_controls(store: Store, kind: str, row_id: int, key: str, *, goes_with: str) -> bool:
    """Archive and Delete… side by side for a row that is not archived. True once either was done."""
    left, right, _ = st.columns([1, 1, 3])
    with left:
        archived = archive_button(store, kind, row_id, key)
    with right:
        return delete_popover(store, kind, row_id, key, goes_with=goes_with) or archived


def delete_popover(store: Store, kind: str, row_id: int, key: str, *, goes_with: str) -> bool:
    """A "Delete…" popover: the reasons it cannot be deleted, or a confirmation checkbox and "Delete for good".
    `goes_with` says what is deleted with it. True once deleted (the caller reruns the page)."""
    what = describe(store, kind, row_id)
    with st.popover("Delete…", key=f"delete_menu_{key}"):
        if reasons := blockers(store, kind, row_id):
            st.error(f"{escape_markdown(_sentence(what))} cannot be deleted:\n\n"
                     + "\n".join(f"- {escape_markdown(reason)}" for reason in reasons))
            st.caption("Archive it to hide it instead: nothing is removed, so the study keeps working.")
            return False
        st.markdown(f"Delete {escape_markdown(what)} and {escape_markdown(goes_with)}. This cannot be undone.")
        sure = st.checkbox("Yes, delete it for good", key=f"delete_sure_{key}")
        if st.button("Delete for good", type="primary", disabled=not sure, key=f"delete_{key}"):
            try:
                deleted = delete(store, kind, row_id)
            except CleanupError as exc:  # a study took it up since the popover opened
                st.error(escape_markdown(exc))
                return False
            more = f" and {deleted.transcripts} transcripts" if deleted.transcripts else ""
            flash(f"Deleted {escape_markdown(deleted.label)}{more}.")
            return True
    return False


def archived_rows(store: Store, kind: str, rows: dict[int, str], key: str, *, title: str, goes_with: str) -> None:
    """An expander listing the archived rows (id: label) of one kind, to show one again or delete it."""
    if not rows:
        return
    with st.expander(f"{title} ({len(rows)})"):
        chosen = st.selectbox(title, list(rows), format_func=lambda i: rows[i], key=f"archived_pick_{key}",
                              label_visibility="collapsed")
        left, right, _ = st.columns([1, 1, 3])
        with left:
            shown = archive_button(store, kind, chosen, f"{key}_{chosen}", archived=True)
        with right:
            deleted = delete_popover(store, kind, chosen, f"{key}_{chosen}", goes_with=goes_with)
        if shown or deleted:
            st.rerun()
