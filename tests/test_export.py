"""Export of a study's ratings: each format read back (duckdb, pandas, json) and compared row by row,
with the flags and excluded columns."""

from __future__ import annotations

import csv
import json

import duckdb
import pandas as pd
import pytest

from tests.test_monitor import add_rater, build_study, flag, item_ids, rate
from vt_core.crowd.exclusion import NO_EXCLUSION, ExclusionRules
from vt_core.crowd.export import (
    COLUMNS,
    export_bytes,
    export_ratings,
    ratings_frame,
    ratings_rows,
)
from vt_core.crowd.studies import StudyError

pytestmark = pytest.mark.both_backends  # each test that has a store runs on DuckDB and on PostgreSQL


@pytest.fixture
def study(store):
    study = build_study(store, n_items=2)
    regular, attention = item_ids(store, study.id), item_ids(store, study.id, "attention")
    good, careless = add_rater(store, study.id, "good"), add_rater(store, study.id, "careless")
    sim = add_rater(store, study.id, "sim", kind="llm")
    rate(store, study.id, good.id, regular[0], 5, 6, seconds=12.5)
    rate(store, study.id, careless.id, regular[0], 1, 1, seconds=1.0)
    rate(store, study.id, careless.id, attention[0], 7, 7, seconds=2.0)
    rate(store, study.id, sim.id, regular[1], 3, 4, seconds=None)
    flag(store, careless.id, "too_fast", regular[0])
    flag(store, careless.id, "too_fast", attention[0])
    flag(store, careless.id, "attention_failed", attention[0])
    return study


def normal(rows: list[dict]) -> list[tuple]:
    """Rows reduced to comparable values (timestamps as seconds-precision strings)."""
    out = []
    for row in rows:
        values = []
        for column in COLUMNS:
            value = row[column]
            if column == "created_at":
                value = str(pd.Timestamp(value).floor("s"))
            elif column == "excluded" and isinstance(value, str):
                value = value == "true"
            elif column in ("rater_id", "item_id", "value") and value is not None:
                value = int(value)
            elif (column == "seconds" and (value in ("", None) or pd.isna(value))) or \
                    (column == "match_key" and value == ""):
                value = None
            values.append(value)
        out.append(tuple(values))
    return out


def test_rows_flags_and_excluded(store, study):
    rows = ratings_rows(store, study.id)
    assert len(rows) == 8 and list(rows[0]) == list(COLUMNS)
    by = {(r["external_id"], r["item_kind"], r["dimension"]): r for r in rows}
    careless_regular = by[("careless", "regular", "adherence")]
    assert careless_regular["flags"] == "too_fast" and careless_regular["excluded"] is True
    assert "attention" in careless_regular["exclusion_reasons"]
    careless_check = by[("careless", "attention", "quality")]
    assert careless_check["flags"] == "attention_failed,too_fast" and careless_check["condition"] == "_checks"
    good = by[("good", "regular", "quality")]
    assert (good["flags"], good["excluded"], good["value"], good["seconds"]) == ("", False, 6, 12.5)
    assert (good["rater_kind"], good["platform"], good["condition"], good["match_key"]) == \
        ("human", "prolific", "a", "m0")
    sim = by[("sim", "regular", "adherence")]
    assert (sim["rater_kind"], sim["platform"], sim["seconds"], sim["condition"]) == ("llm", "llm", None, "a")
    # rules decide "excluded", never which rows there are
    assert not any(r["excluded"] for r in ratings_rows(store, study.id, NO_EXCLUSION))
    assert len(ratings_rows(store, study.id, ExclusionRules(False, 0.1))) == 8
    assert ratings_frame(store, study.id).shape == (8, len(COLUMNS))


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_each_format_round_trips(store, study, tmp_path, fmt):
    path = tmp_path / f"out.{fmt}"
    assert export_ratings(store, study.id, path, fmt) == 8
    expected = normal(ratings_rows(store, study.id))
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as f:
            read = list(csv.DictReader(f))
        assert list(read[0]) == list(COLUMNS)
        assert normal([{c: _typed(c, r[c]) for c in COLUMNS} for r in read]) == expected
    elif fmt == "parquet":
        frame = duckdb.sql(f"SELECT * FROM read_parquet('{path}')").df()  # test-only literal path
        assert list(frame.columns) == list(COLUMNS)
        assert normal(frame.to_dict("records")) == expected
        assert frame["excluded"].dtype == bool
    else:
        read = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert normal(read) == expected
        assert isinstance(read[0]["excluded"], bool)
    downloaded = export_bytes(store, study.id, fmt)
    if fmt == "parquet":  # a Parquet file's bytes differ from write to write: compare what it holds
        copy = tmp_path / "downloaded.parquet"
        copy.write_bytes(downloaded)
        assert normal(duckdb.sql(f"SELECT * FROM read_parquet('{copy}')").df().to_dict("records")) == expected
    else:
        assert downloaded == path.read_bytes()


def _typed(column: str, value: str):
    if value == "":
        return None if column in ("seconds", "match_key") else ""
    if column in ("rater_id", "item_id", "value"):
        return int(value)
    if column == "seconds":
        return float(value)
    return value


def test_csv_read_back_with_pandas(store, study, tmp_path):
    path = tmp_path / "out.csv"
    export_ratings(store, study.id, path, "csv")
    frame = pd.read_csv(path, keep_default_na=False)
    assert list(frame.columns) == list(COLUMNS)
    assert frame["excluded"].tolist() == [r["excluded"] for r in ratings_rows(store, study.id)]
    assert sorted(set(frame["flags"])) == ["", "attention_failed,too_fast", "too_fast"]


def test_unknown_format_and_study(store, study, tmp_path):
    with pytest.raises(StudyError, match="format"):
        export_ratings(store, study.id, tmp_path / "x.xlsx", "xlsx")
    with pytest.raises(StudyError, match="no study"):
        export_ratings(store, 999, tmp_path / "x.csv", "csv")


def test_the_transcript_is_exported_as_the_rater_read_it(store, study):
    rows = ratings_rows(store, study.id)
    good = next(r for r in rows if r["external_id"] == "good" and r["item_kind"] == "regular")
    assert good["transcript"] == "User: a question 0\nChatbot: a answer 0"
    check = next(r for r in rows if r["item_kind"] == "attention")
    assert check["transcript"] == "Chatbot: Answer 2 for adherence."
    with_csv = list(csv.DictReader(export_bytes(store, study.id, "csv").decode().splitlines(keepends=True)))
    assert {r["transcript"] for r in with_csv} == {r["transcript"] for r in rows}
