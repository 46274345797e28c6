"""What the researcher's study pages share: study files (from studies/ or uploaded), the
exclusion rules of the monitor and the statistics, the monitor cached on the study's data, and
export downloads built only when clicked."""

import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path

import streamlit as st

from vt_core.core.store import Store
from vt_core.crowd import ExclusionRules, Study, export_bytes, fingerprint, monitor

STUDIES_DIR = Path(__file__).resolve().parents[2] / "studies"


def study_picker(studies: list[Study], key: str) -> Study:
    """The study picker, whose labels carry each study's status; the choice is kept in st.session_state[key]
    (the newest study until one is chosen). Streamlit's frontend keeps showing a keyed selectbox's old label
    when only the labels change, so the widget's own key carries the labels too: opening or closing a study
    draws a new picker on the same choice."""
    by_id = {s.id: s for s in studies}
    if st.session_state.get(key) not in by_id:
        st.session_state[key] = studies[-1].id
    labels = {i: f"#{i} {s.name} ({s.status})" for i, s in by_id.items()}
    widget = f"{key}_{zlib.crc32(repr(labels).encode()):08x}"
    chosen = st.selectbox("Study", list(by_id), index=list(by_id).index(st.session_state[key]), key=widget,
                          format_func=labels.__getitem__)
    st.session_state[key] = chosen
    return by_id[chosen]


def study_file_picker(prefix: str, label: str, files: list) -> tuple:
    """(a file of the studies/ folder, or an uploaded TOML file): one of the two is None."""
    source = st.radio("Source", ["studies/ folder", "upload"], horizontal=True, key=f"{prefix}_source")
    if source == "studies/ folder":
        return st.selectbox(label, files, format_func=lambda p: p.name, key=f"{prefix}_file"), None
    return None, st.file_uploader(f"{label} (TOML)", type=["toml"], key=f"{prefix}_upload")


def exclusion_rules(prefix: str) -> ExclusionRules:
    """The rules chosen with exclusion_controls(prefix); the defaults before those render."""
    get = st.session_state.get
    return ExclusionRules(
        exclude_failed_attention=get(f"{prefix}_attention", True),
        max_too_fast_share=get(f"{prefix}_fast_share", 0.25) if get(f"{prefix}_fast") else None,
        max_gold_miss_share=get(f"{prefix}_gold_share", 0.5) if get(f"{prefix}_gold") else None,
    )


def exclusion_controls(prefix: str) -> ExclusionRules:
    """The researcher's exclusion rules, as widgets keyed by `prefix`; excluded raters stay in the data."""
    get = st.session_state.get
    attention, fast, gold = st.columns(3)
    attention.checkbox("Exclude raters who failed an attention check", value=True, key=f"{prefix}_attention")
    fast.checkbox("Exclude raters with too many too-fast ratings", value=False, key=f"{prefix}_fast")
    fast.number_input("Largest share of too-fast ratings", 0.0, 1.0, 0.25, step=0.05, key=f"{prefix}_fast_share",
                      disabled=not get(f"{prefix}_fast"))
    gold.checkbox("Exclude raters who missed too many gold items", value=False, key=f"{prefix}_gold")
    gold.number_input("Largest share of gold items missed (more than one point off)", 0.0, 1.0, 0.5, step=0.05,
                      key=f"{prefix}_gold_share", disabled=not get(f"{prefix}_gold"))
    return exclusion_rules(prefix)



@st.cache_resource(max_entries=32, show_spinner=False)
def _monitor(_store: Store, where: str, study_id: int, rules: ExclusionRules, data: tuple):
    # cache_resource, not cache_data: the Monitor is shared (read-only) rather than pickled, which
    # its RaterCounts class (made by make_dataclass) does not allow. `data` is only part of the key.
    return monitor(_store, study_id, exclusion=rules)


def cached_monitor(store: Store, study_id: int, rules: ExclusionRules):
    """The study's monitor under the rules, computed again only when its data changed: a rerun on
    unchanged data costs crowd.fingerprint's one small query. The fingerprint is read before the
    monitor, so a cached monitor is never older than its key; the database path is in the key, as
    study ids repeat from one database to the next."""
    return _monitor(store, store.where, study_id, rules, fingerprint(store, study_id))


def export_download(store: Store, study_id: int, fmt: str, rules: ExclusionRules) -> Callable[[], bytes]:
    """The export as st.download_button's `data=` callable: Streamlit builds the file when the
    button is clicked (in a worker thread, on that thread's own cursor), never on a rerun."""
    return partial(export_bytes, store, study_id, fmt, rules)
