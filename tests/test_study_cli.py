"""`python -m vt_core study load|export|monitor`, run as a user would, in a subprocess."""

import csv
import json
from pathlib import Path

import duckdb
import pytest

from tests.test_cli import cli
from tests.test_monitor import add_rater, definition, flag, item_ids, jsonl, rate
from vt_core.core.store import Store
from vt_core.crowd.items import add_check_items, import_items_jsonl
from vt_core.crowd.studies import get_study

SHIPPED = Path(__file__).resolve().parent.parent / "studies" / "crowd_study.toml"


def toml_of(data: dict) -> str:
    """A flat-enough TOML writer for the test definitions."""
    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append(f"[{key}]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in value.items()))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for entry in value:
                tables.append(f"[[{key}]]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in entry.items()))
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n\n" + "\n\n".join(tables) + "\n"


def run(tmp_path, *args):
    return cli(["study", *args], {}, tmp_path)


def test_load_prints_the_id_and_the_link(tmp_path):
    result = run(tmp_path, "load", str(SHIPPED))
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[0] == "study 1 'Crowd study: baseline vs tuned prompt' created as a draft"
    store = Store(tmp_path / "vt.duckdb")
    try:
        assert out[1] == f"rater link: /?study={get_study(store, 1).token}"
        # The shipped file names the demo project, which this empty database does not hold yet.
        assert out[2].startswith("note: the conditions name prompts that do not exist yet")
        assert out[3] == "  conditions[0].project: there is no project named 'Movie night (demo)'"
    finally:
        store.close()
    again = run(tmp_path, "load", str(SHIPPED))
    assert again.returncode == 1 and "study load: FAILED:" in again.stderr and "already exists" in again.stderr


def test_a_bad_file_names_the_field_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(toml_of(definition(items_per_rater=0)), encoding="utf-8")
    result = run(tmp_path, "load", str(bad))
    assert result.returncode == 1
    assert "study load: FAILED:" in result.stderr and "items_per_rater: must be at least 1" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "vt.duckdb").exists()  # the database was not even opened


@pytest.fixture
def rated(tmp_path) -> int:
    path = tmp_path / "study.toml"
    path.write_text(toml_of(definition(name="cli study")), encoding="utf-8")
    assert run(tmp_path, "load", str(path)).returncode == 0
    store = Store(tmp_path / "vt.duckdb")
    try:
        study = get_study(store, "cli study")
        for condition in ("a", "b"):
            import_items_jsonl(store, study, condition, jsonl(condition, 2))
        add_check_items(store, study)
        regular = item_ids(store, study.id)
        h1, h2 = add_rater(store, study.id, "h1"), add_rater(store, study.id, "h2", status="completed")
        for item in regular:
            rate(store, study.id, h1.id, item, 5, 6)
            rate(store, study.id, h2.id, item, 4, 6)
        flag(store, h2.id, "attention_failed", regular[0])
        return study.id
    finally:
        store.close()


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_export(tmp_path, rated, fmt):
    out = tmp_path / f"ratings.{fmt}"
    result = run(tmp_path, "export", "cli study", "--format", fmt, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"wrote 16 rating rows of study {rated} 'cli study' to {out}" in result.stdout
    if fmt == "csv":
        rows = list(csv.DictReader(out.open(encoding="utf-8")))
        assert {r["excluded"] for r in rows if r["external_id"] == "h2"} == {"true"}
    elif fmt == "parquet":
        assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}')").fetchall()[0][0] == 16
    else:
        assert len(out.read_text(encoding="utf-8").splitlines()) == 16


def test_export_default_path_and_rules(tmp_path, rated):
    result = run(tmp_path, "export", str(rated), "--keep-failed-attention", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    path = Path(__file__).resolve().parent.parent / f"study-{rated}-ratings.jsonl"  # cwd of the subprocess
    try:
        assert not any(json.loads(line)["excluded"] for line in path.read_text(encoding="utf-8").splitlines())
    finally:
        path.unlink()


def test_monitor(tmp_path, rated):
    result = run(tmp_path, "monitor", str(rated))
    assert result.returncode == 0, result.stderr
    assert f"study {rated} 'cli study' (draft)" in result.stdout
    assert "human raters: 2 started, 1 rating, 1 completed, 0 failed checks, 0 screened out; 8 ratings" in result.stdout
    assert "condition a: 2 items, 4 human ratings" in result.stdout
    assert "alpha quality [human]: n/a" in result.stdout  # everyone gave 6
    assert "excluded raters: 1" in result.stdout


def test_errors_are_one_clear_message(tmp_path, rated):
    result = run(tmp_path, "monitor", "no such study")
    assert result.returncode == 1 and result.stderr.strip() == "study monitor: FAILED: no study 'no such study'"
    result = run(tmp_path, "export", str(rated), "--max-too-fast-share", "2")
    assert result.returncode == 1 and "study export: FAILED: max_too_fast_share" in result.stderr
