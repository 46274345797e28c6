"""Export a project as JSON and Markdown, and import the JSON into another (empty) database: the same project
comes back, compared by content, not ids; a malformed or foreign file is refused with the reason and writes
nothing."""

import json
from contextlib import ExitStack

import pytest

from tests.postgres import postgres_database
from tests.scripted_worlds import PROMPT, EmojiWorld
from vt_core.core.llm.calls import call_log
from vt_core.core.store import Store
from vt_core.designer import (
    ExchangeError,
    archive,
    export_json,
    export_markdown,
    export_project,
    import_project,
    read_project_file,
)
from vt_core.designer.annotations import annotate, current_annotations
from vt_core.designer.patterns import evaluate_patterns, propose_patterns, update_pattern
from vt_core.designer.personas import add_persona, generate_personas
from vt_core.designer.projects import add_version, create_project, get_project, update_project
from vt_core.designer.refinement import approve, leaderboard, refine
from vt_core.designer.scenarios import add_scenario
from vt_core.designer.selfplay import plan_for_project, run_conversations
from vt_core.designer.transcripts import get_transcript

pytestmark = pytest.mark.both_backends

TABLES = ("projects", "prompt_versions", "personas", "scenarios", "patterns", "selfplay_runs", "transcripts", "turns",
          "annotations", "judgements", "quality_scores", "refine_runs", "candidates")


@pytest.fixture
def looped(store, make_llm, scripted):
    """A project through the whole loop: self-play, marks (one cleared and set again), a judged pattern, a
    refinement run, an approved candidate, and an archived persona."""
    scripted.respond = EmojiWorld()
    llm = make_llm()
    project = create_project(store, "Movie bot", goal="recommend films", audience="film fans", prompt=PROMPT)
    update_project(store, project.id, locked_sections=["Persona"])
    generate_personas(store, project.id, 2, seed=0)
    for i, split in enumerate(["train", "train", "heldout"]):
        add_scenario(store, project.id, title=f"s{i}", description=f"situation {i} with `code` and *stars*",
                     user_goal="a film", difficulty=1 + i, split=split, rules=["no emojis"])
    run = run_conversations(store, llm, project.id, plan_for_project(store, project.id, 2, seed=1), max_turns=1,
                            seed=1, version_id=project.current_version_id)
    marked = run.transcript_ids[0]
    annotate(store, marked, turn_idx=1, label="good")
    annotate(store, marked, turn_idx=1, label="bad", critique="No emojis, please.", rewrite="Try Alien.")
    annotate(store, marked, turn_idx=None, label="bad")
    [pattern] = propose_patterns(llm, store, project.id)
    evaluate_patterns(llm, store, project.id)
    update_pattern(store, pattern.id, status="accepted")
    result = refine(store, llm, project.id, rounds=1, k=1, n_train=1, n_heldout=1, max_turns=1, seed=3)
    approve(store, result.best.id)
    spare = add_persona(store, project.id, "Spare | *odd* name", {"mood": "calm"})
    archive(store, "persona", spare.id)
    return get_project(store, project.id)


def content(data: dict) -> dict:
    """The exported file with every key replaced by its place in its list, so that two exports of the same
    project from different databases compare equal."""
    data = json.loads(json.dumps(data))
    data.pop("exported_at")
    places: dict[str, dict[int, int]] = {}

    def number(name: str, rows: list[dict]) -> None:
        places[name] = {row["key"]: i for i, row in enumerate(rows)}

    number("versions", data["versions"])
    number("personas", data["personas"])
    number("scenarios", data["scenarios"])
    number("patterns", data["patterns"])
    number("candidates", [c for r in data["refine_runs"] for c in r["candidates"]])
    number("refine_runs", data["refine_runs"])
    number("runs", data["runs"])
    number("transcripts", [t for r in data["runs"] for t in r["transcripts"]])

    def at(name, key):
        return None if key is None else places[name][key]

    data["project"]["current_version"] = at("versions", data["project"]["current_version"])
    for v in data["versions"]:
        v["key"], v["parent"] = at("versions", v["key"]), at("versions", v["parent"])
        v["patterns"] = [at("patterns", k) for k in v["patterns"]]
    for name in ("personas", "scenarios"):
        for row in data[name]:
            row["key"] = at(name, row["key"])
    for p in data["patterns"]:
        p["key"], p["merged_into"] = at("patterns", p["key"]), at("patterns", p["merged_into"])
    for r in data["refine_runs"]:
        r["key"], r["parent_version"] = at("refine_runs", r["key"]), at("versions", r["parent_version"])
        for c in r["candidates"]:
            c["key"], c["version"] = at("candidates", c["key"]), at("versions", c["version"])
            c["pass_by_pattern"] = {str(at("patterns", int(k))): v for k, v in c["pass_by_pattern"].items()}
            for change in c["changes"]:
                change["pattern_ids"] = [at("patterns", k) for k in change.get("pattern_ids", [])]
    for r in data["runs"]:
        r["key"], r["version"], r["candidate"] = at("runs", r["key"]), at("versions", r["version"]), \
            at("candidates", r["candidate"])
        r["refine_run"] = at("refine_runs", r["refine_run"])
        for t in r["transcripts"]:
            t["key"], t["persona"], t["scenario"] = at("transcripts", t["key"]), at("personas", t["persona"]), \
                at("scenarios", t["scenario"])
            t["version"], t["candidate"] = at("versions", t["version"]), at("candidates", t["candidate"])
            for j in t["judgements"]:
                j["pattern"] = at("patterns", j["pattern"])
            t["judgements"].sort(key=lambda j: j["pattern"])
    return data


def count_rows(store) -> dict[str, int]:
    return {table: store.cursor().execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}


def test_export_then_import_into_an_empty_database_gives_the_same_project(store, looped, store_target, tmp_path):
    exported = export_project(store, looped.id)
    # The loop left something of every kind to carry over.
    transcripts = [t for r in exported.runs for t in r.transcripts]
    assert len(exported.versions) == 2 and len(exported.patterns) == 1 and len(exported.refine_runs) == 1
    assert any(t.annotations for t in transcripts) and any(t.judgements for t in transcripts)
    assert any(t.quality for t in transcripts) and {r.purpose for r in exported.runs} == {"selfplay", "refine"}
    assert any(c.status == "approved" for c in exported.refine_runs[0].candidates)
    text = export_json(store, looped.id)

    # Another machine: an empty database of the same kind, with ids that start elsewhere.
    with ExitStack() as stack:
        target = tmp_path / "other.duckdb" if store_target.endswith(".duckdb") else \
            stack.enter_context(postgres_database())
        other = Store(target)
        stack.callback(other.close)
        stack.callback(lambda: call_log(other).close())
        check_round_trip(other, exported, text)


def check_round_trip(other, exported, text):
    """Import `text` (the export `exported`) into `other`, another database, and compare."""
    other.cursor().execute("SELECT nextval('transcripts_id_seq'), nextval('prompt_versions_id_seq')")
    create_project(other, "Unrelated", goal="g", audience="a", prompt="p")
    imported = import_project(other, text)
    assert imported.name == "Movie bot"
    again = export_project(other, imported.id)
    assert content(again.model_dump(mode="json")) == content(exported.model_dump(mode="json"))
    assert [t.key for r in again.runs for t in r.transcripts] != \
        [t.key for r in exported.runs for t in r.transcripts]  # new ids

    # The marks read as marks in the new database: the current label of the marked turn is 'bad'.
    marked = next(t for r in again.runs for t in r.transcripts if t.annotations)
    labels = {(a.turn_idx, a.label, a.rewrite) for a in current_annotations(other, transcript_id=marked.key)}
    assert labels == {(None, "bad", None), (1, "bad", "Try Alien.")}
    assert get_transcript(other, marked.key).turns[1].content == "Try Alien 🎬🍿"
    # The approved candidate points at the imported project's own version.
    board = leaderboard(other, again.refine_runs[0].key)
    approved = next(c for c in board if c.status == "approved")
    assert approved.version_id == get_project(other, imported.id).current_version_id

    # The numbers a designer reads came along, and new rows number on from them.
    assert [v.number for v in again.versions] == [1, 2]
    assert [t.number for r in again.runs if r.purpose == "selfplay" for t in r.transcripts] == [1, 2]
    assert add_version(other, imported.id, "A third prompt.", author="designer").number == 3

    # Importing it again, the name is taken: it comes in beside, under a new name.
    second = import_project(other, text)
    assert second.name == "Movie bot (imported)"


def test_a_malformed_or_foreign_file_is_refused_and_writes_nothing(store, looped):
    good = json.loads(export_json(store, looped.id))
    before = count_rows(store)
    broken_reference = json.loads(json.dumps(good))
    broken_reference["runs"][0]["transcripts"][0]["persona"] = 987654
    wrong_type = json.loads(json.dumps(good))
    wrong_type["scenarios"][0]["difficulty"] = 9
    cases = [
        (b"{not json", "the file is not JSON"),
        (json.dumps({"format": "something-else"}), "not a Visionary Tuning project file"),
        (json.dumps({**good, "version": 2}), "version 2 of the project format; this platform reads version 1"),
        (json.dumps(broken_reference), "there is no persona with key 987654"),
        (json.dumps(wrong_type), "scenarios.0.difficulty"),
    ]
    for content_, message in cases:
        with pytest.raises(ExchangeError, match=message):
            import_project(store, content_)
    assert count_rows(store) == before


def test_a_failure_midway_through_an_import_rolls_it_all_back(store, looped):
    """The file passes validation, but the database refuses a row near the end: nothing of it is kept."""
    data = json.loads(export_json(store, looped.id))
    data["runs"][-1]["transcripts"][-1]["quality"] = None
    data["runs"][-1]["transcripts"][-1]["judgements"] *= 2  # the same verdict twice: the table's key refuses it
    before = count_rows(store)
    with pytest.raises(Exception):
        import_project(store, json.dumps(data), name="Half")
    assert count_rows(store) == before


def test_the_markdown_report_reads_and_keeps_model_text_inert(store, looped):
    report = export_markdown(store, looped.id)
    assert report.startswith("# Movie bot\n")
    for heading in ("## Prompt versions", "### v1", "### v2 (current)", "## Personas", "## Scenarios", "## Patterns",
                    "### P1 AVOID: The bot uses emojis in its replies", "## Self-play runs", "#### Transcript #1",
                    "## Refinement runs", "Judge verdicts:", "Marks:"):
        assert heading in report
    assert "- turn 1: bad. No emojis, please." in report
    assert "Spare \\| \\*odd\\* name" in report  # escaped: no table cell, no emphasis
    assert "situation 0 with \\`code\\` and \\*stars\\*" in report
    assert "```text\n# Persona\nYou are MovieBot" in report  # a prompt's headings stay inside a fenced block
    assert "\n# Persona" not in report.replace("```text\n# Persona", "")


def test_a_fence_is_longer_than_the_backticks_in_the_text(store, looped):
    from vt_core.designer.exchange import _block
    assert _block("a ```` b") == "`````text\na ```` b\n`````"
    assert _block("plain") == "```text\nplain\n```"


def test_an_archived_persona_travels_archived(store, looped, tmp_path):
    data = read_project_file(export_json(store, looped.id))
    assert [p.archived for p in data.personas] == [False, False, True]
