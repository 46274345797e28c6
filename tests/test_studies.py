"""Study definitions, study files and their errors, the study row, and items (imported, self-played
against the scripted server, and check items), on the real DuckDB store."""

import json
import re
from pathlib import Path

import pytest

from tests.scripted_server import Reply
from vt_core.crowd.items import (
    add_check_items,
    add_items_from_selfplay,
    import_items_jsonl,
    list_items,
    unresolved_prompts,
)
from vt_core.crowd.studies import (
    CHECKS_CONDITION,
    MAX_STUDY_FILE_BYTES,
    StudyDefinition,
    StudyError,
    StudyFileError,
    create_study,
    create_study_from_file,
    get_study,
    get_study_by_token,
    list_studies,
    load_study_file,
    parse_study,
    parse_toml,
    repeated,
    set_study_status,
)
from vt_core.designer.personas import generate_personas
from vt_core.designer.projects import add_version, create_project, versions
from vt_core.designer.scenarios import add_scenario
from vt_core.designer.selfplay import plan_for_project
from vt_core.designer.transcripts import get_transcript

pytestmark = pytest.mark.both_backends  # each test that has a store runs on DuckDB and on PostgreSQL

SHIPPED = Path(__file__).parent.parent / "studies" / "crowd_study.toml"


def counts(store) -> tuple[int, int]:
    db = store.cursor()
    return (db.execute("SELECT count(*) FROM studies").fetchone()[0],
            db.execute("SELECT count(*) FROM study_items").fetchone()[0])


def minimal(**changes) -> dict:
    """A small valid definition as plain data; `changes` replace top-level fields."""
    data = {
        "name": "tiny study",
        "conditions": [{"name": "a"}, {"name": "b"}],
        "instructions": ["Be brief."],
        "items_per_rater": 4,
        "ratings_per_item": 2,
        "attention_checks": [
            {"instruction": "Answer 2 for adherence.", "dimension": "adherence", "expected": 2},
            {"instruction": "Answer 6 for quality.", "dimension": "quality", "expected": 6},
        ],
        "comprehension": {"question": "What do you rate?", "options": ["the bot", "the user"], "answer": "the bot"},
        "consent_text": "I agree.",
        "instruction_text": "Rate each conversation.",
        "completion_codes": {"completed": "DONE", "screened_out": "OUT", "failed_checks": "FAIL"},
    }
    data.update(changes)
    return data


# -- the shipped file and the definition ----------------------------------------------------------


def test_the_shipped_crowd_study_loads():
    study = load_study_file(SHIPPED)
    assert [(c.name, c.project, c.version) for c in study.conditions] == [
        ("baseline", "Movie night (demo)", 1), ("tuned", "Movie night (demo)", 2)]
    assert (study.items_per_rater, study.lease_minutes, study.min_seconds_per_item) == (20, 30, 4)
    # 60 raters x 20 items must be able to cover the items with k ratings each (see the file's comment)
    assert 60 * study.items_per_rater % study.ratings_per_item == 0
    assert study.platform == "prolific" and len(study.attention_checks) == 2
    assert [d.key for d in study.dimensions] == ["adherence", "quality"]
    assert all(d.points == 7 for d in study.dimensions) and study.comprehension.attempts == 2
    assert study.instructions and study.consent_text and study.instruction_text
    assert study.comprehension.answer in study.comprehension.options


def test_defaults_give_two_seven_point_dimensions():
    definition = parse_study(minimal())
    adherence, quality = definition.dimensions
    assert (adherence.key, quality.key) == ("adherence", "quality")
    assert adherence.show_instructions and not quality.show_instructions
    assert adherence.labels[0] == "Strongly disagree" and adherence.labels[-1] == "Strongly agree"
    assert (adherence.points, definition.lease_minutes, definition.comprehension.attempts) == (7, 30, 2)
    # the definition survives the round trip through the database's JSON column
    assert StudyDefinition.model_validate_json(definition.model_dump_json()) == definition


# -- one test per kind of error in a study file -------------------------------------------------------


def write_variant(tmp_path, old: str, new: str, name: str = "study.toml") -> Path:
    text = SHIPPED.read_text()
    assert text.count("\n" + old) == 1, old  # a whole line's start, not words in a comment
    path = tmp_path / name
    path.write_text(text.replace("\n" + old, "\n" + new))
    return path


def rejected(store, path: Path) -> str:
    """The message a bad file gets when a study is created from it; the database must not change."""
    before = counts(store)
    with pytest.raises(StudyFileError) as caught:
        create_study_from_file(store, path)
    assert counts(store) == before
    message = str(caught.value)
    del caught  # the traceback would hold this frame (and the store's cursors) in a reference cycle
    assert str(path) in message
    assert "pydantic" not in message and "errors.pydantic.dev" not in message
    return message


def test_a_toml_syntax_error_names_its_line(store, tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\nitems_per_rater = 20\nratings_per_item = = 5\n')
    message = rejected(store, path)
    assert "TOML syntax error" in message and "line 3" in message


def test_an_unknown_key_is_named_with_its_path(store, tmp_path):
    path = write_variant(tmp_path, 'version = 2', 'version = 2\nprompt = "typo"')
    message = rejected(store, path)
    assert "conditions[1].prompt: unknown field (allowed: name, project, version)" in message


def test_a_missing_field_is_named(store, tmp_path):
    path = write_variant(tmp_path, 'failed_checks = "C3VTFAIL"', '')
    assert "completion_codes.failed_checks: required field is missing" in rejected(store, path)


def test_a_wrong_type_is_named_with_the_value(store, tmp_path):
    path = write_variant(tmp_path, 'items_per_rater = 20', 'items_per_rater = "twenty"')
    message = rejected(store, path)
    assert "items_per_rater: input should be a valid integer, found 'twenty'" in message


def test_fewer_than_two_attention_checks(store, tmp_path):
    text = SHIPPED.read_text()
    second = text.index("[[attention_checks]]", text.index("[[attention_checks]]") + 1)
    path = tmp_path / "one_check.toml"
    path.write_text(text[:second] + text[text.index("[comprehension]"):])
    message = rejected(store, path)
    assert ("attention_checks: at least 2 instructed-response checks are needed (Prolific rejects "
            "submissions only with two), found 1") in message


def test_an_expected_value_off_the_scale(store, tmp_path):
    path = write_variant(tmp_path, "expected = 5", "expected = 9")
    message = rejected(store, path)
    assert "attention_checks[1].expected: 9 is off the scale of 'quality', which runs from 1 to 7" in message


def test_duplicate_condition_names(store, tmp_path):
    path = write_variant(tmp_path, 'name = "tuned"', 'name = "baseline"')
    assert "conditions: condition names must be unique; repeated: baseline" in rejected(store, path)


def test_k_zero(store, tmp_path):
    path = write_variant(tmp_path, "ratings_per_item = 5", "ratings_per_item = 0")
    assert "ratings_per_item: must be at least 1, found 0" in rejected(store, path)


def test_every_problem_gets_its_own_line(store, tmp_path):
    path = tmp_path / "many.toml"
    path.write_text(SHIPPED.read_text().replace("\nratings_per_item = 5", "\nratings_per_item = 0")
                    .replace('\ncompleted = "C1VTDONE"', '\ncompleted = ""'))
    lines = rejected(store, path).splitlines()
    assert lines[0] == f"{path}: 2 problem(s)"
    assert sorted(lines[1:]) == [f"{path}: completion_codes.completed: must not be empty",
                                 f"{path}: ratings_per_item: must be at least 1, found 0"]


def test_a_missing_file(store, tmp_path):
    assert "cannot read the file" in rejected(store, tmp_path / "nowhere.toml")


@pytest.mark.parametrize("changes, expected", [
    ({"conditions": [{"name": "a"}]}, "conditions: at least 2 conditions are needed to compare, found 1"),
    ({"conditions": [{"name": "a"}, {"name": "_checks"}]}, "conditions[1].name: condition names may not start"),
    ({"conditions": [{"name": "a"}, {"name": "b", "project": "p"}]}, "conditions[1]: give both project and version"),
    ({"items_per_rater": 0}, "items_per_rater: must be at least 1, found 0"),
    ({"platform": "mechanical turk"}, "platform: must be one of 'prolific', 'mturk' or 'anonymous'"),
    ({"instructions": []}, "instructions: dimension 'adherence' shows the designer's instructions"),
    ({"completion_codes": {"completed": "X", "screened_out": "X", "failed_checks": "Y"}},
     "completion_codes: the three completion codes must differ"),
    ({"comprehension": {"question": "q", "options": ["a", "b"], "answer": "c"}},
     "comprehension: the answer 'c' is not one of the options"),
    ({"gold_items": [{"turns": [{"role": "assistant", "content": "hi"}], "expected": {"tone": 3}}]},
     "gold_items[0].expected: unknown dimension 'tone' (the study rates adherence, quality)"),
    ({"dimensions": [{"key": "clarity", "question": "Clear?", "labels": ["no", "yes"]}],
      "attention_checks": [{"instruction": "x", "dimension": "clarity", "expected": 3},
                           {"instruction": "y", "dimension": "adherence", "expected": 1}]},
     "attention_checks[0].expected: 3 is off the scale of 'clarity', which runs from 1 to 2"),
])
def test_definition_checks(changes, expected):
    with pytest.raises(StudyFileError) as caught:
        parse_study(minimal(**changes), "form")
    message = str(caught.value)
    del caught
    assert f"form: {expected}" in message


# -- the study row ------------------------------------------------------------------------------------


def test_create_get_list_and_a_duplicate_name(store):
    study = create_study(store, parse_study(minimal()))
    assert study.status == "draft" and len(study.token) >= 20
    assert get_study(store, study.id) == get_study(store, "tiny study") == get_study_by_token(store, study.token)
    assert study.definition == parse_study(minimal())

    before = counts(store)
    with pytest.raises(StudyError, match="a study named 'tiny study' already exists"):
        create_study(store, parse_study(minimal()))
    assert counts(store) == before
    other = create_study(store, parse_study(minimal(name="second")))
    assert other.token != study.token
    assert [s.name for s in list_studies(store)] == ["tiny study", "second"]
    with pytest.raises(StudyError, match="no study has this link"):
        get_study_by_token(store, "nope")


def test_opening_needs_items_and_checks(store):
    study = create_study(store, parse_study(minimal()))
    with pytest.raises(StudyError, match="no items yet for condition"):
        set_study_status(store, study.id, "open")
    import_items_jsonl(store, study, "a", [chat("hi", "hello")])
    import_items_jsonl(store, study, "b", [chat("hi", "hey")])
    with pytest.raises(StudyError, match="attention checks are not added"):
        set_study_status(store, study.id, "open")
    add_check_items(store, study)
    assert set_study_status(store, study.id, "open").status == "open"
    with pytest.raises(StudyError, match="only while it is a draft"):
        import_items_jsonl(store, get_study(store, study.id), "a", [chat("x", "y")])
    assert set_study_status(store, study.id, "closed").status == "closed"
    with pytest.raises(StudyError, match="cannot be set to"):
        set_study_status(store, study.id, "closed")
    with pytest.raises(StudyError, match="'open' or 'closed'"):
        set_study_status(store, study.id, "draft")


# -- items --------------------------------------------------------------------------------------------


def chat(user: str, bot: str, match_key: str | None = None) -> str:
    record = {"messages": [{"role": "system", "content": "SECRET PROMPT"},
                           {"role": "user", "content": user}, {"role": "assistant", "content": bot}]}
    if match_key:
        record["match_key"] = match_key
    return json.dumps(record)


def test_import_jsonl_drops_system_messages(store, tmp_path):
    study = create_study(store, parse_study(minimal()))
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join([chat("hi", "hello", "s1"), "", chat("films?", "Alien", "s2")]) + "\n")
    items = import_items_jsonl(store, study, "a", path)
    assert [(i.condition, i.kind, i.match_key, i.transcript_id, i.expected) for i in items] == [
        ("a", "regular", "s1", None, None), ("a", "regular", "s2", None, None)]
    assert [(t.role, t.content) for t in items[1].turns] == [("user", "films?"), ("assistant", "Alien")]
    assert "SECRET PROMPT" not in json.dumps(store.cursor().execute("SELECT turns FROM study_items").fetchall())
    assert list_items(store, study.id) == items


def test_import_jsonl_with_a_bad_line_stores_nothing(store, tmp_path):
    study = create_study(store, parse_study(minimal()))
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([chat("hi", "hello"), chat("a", "b"), '{"messages": [{"role": "user", "content": "x"}',
                               chat("c", "d"), json.dumps({"messages": [{"role": "tool", "content": "x"}]})]))
    before = counts(store)
    with pytest.raises(StudyError) as caught:
        import_items_jsonl(store, study, "a", path)
    message = str(caught.value)
    del caught  # the traceback would hold this frame (and the store's cursors) in a reference cycle
    assert f"{path} line 3: not valid JSON" in message
    assert f"{path} line 5: messages[0].role must be 'system', 'user' or 'assistant', found 'tool'" in message
    assert "line 1" not in message and "line 4" not in message
    assert counts(store) == before


def test_import_checks_the_condition_and_the_content(store):
    study = create_study(store, parse_study(minimal()))
    with pytest.raises(StudyError, match="no condition 'c'"):
        import_items_jsonl(store, study, "c", [chat("a", "b")])
    only_user = json.dumps({"messages": [{"role": "system", "content": "p"}, {"role": "user", "content": "x"}]})
    with pytest.raises(StudyError, match="line 1: no assistant message to rate"):
        import_items_jsonl(store, study, "a", [only_user])
    assert counts(store) == (1, 0)


def test_check_items(store):
    gold = {"turns": [{"role": "user", "content": "tell me the ending"},
                      {"role": "assistant", "content": "The butler did it."}], "expected": {"adherence": 1}}
    study = create_study(store, parse_study(minimal(gold_items=[gold])))
    items = add_check_items(store, study)
    assert [(i.kind, i.condition, i.expected) for i in items] == [
        ("attention", CHECKS_CONDITION, {"adherence": 2}), ("attention", CHECKS_CONDITION, {"quality": 6}),
        ("gold", CHECKS_CONDITION, {"adherence": 1})]
    assert [(t.role, t.content) for t in items[0].turns] == [("assistant", "Answer 2 for adherence.")]
    assert items[2].turns[1].content == "The butler did it."
    assert [i.id for i in list_items(store, study.id, kind="attention")] == [items[0].id, items[1].id]
    with pytest.raises(StudyError, match="already has its check items"):
        add_check_items(store, study)
    assert counts(store) == (1, 3)


# -- items from self-play ------------------------------------------------------------------------------


def is_simulator(request: dict) -> bool:
    return "role-playing a USER" in request["messages"][0]["content"]


def scripted_conversation(request: dict) -> Reply:
    if is_simulator(request):
        return Reply(content=f"user says {sum(m['role'] == 'assistant' for m in request['messages'])}")
    return Reply(content=f"bot under [{request['messages'][0]['content']}]")


@pytest.fixture
def project(store):
    project = create_project(store, "Movie bot", goal="recommend movies", audience="film fans",
                             prompt="You recommend movies.")
    add_version(store, project.id, "You recommend at most three movies.", author="refinement")
    generate_personas(store, project.id, 3, seed=1)
    for i in range(3):
        add_scenario(store, project.id, title=f"scenario {i}", description=f"situation {i}",
                     user_goal=f"goal {i}", difficulty=1 + i % 3)
    return project


def selfplay_study(project, versions, name="self-play study", other_project=None):
    conditions = [{"name": "baseline", "project": project.name, "version": versions[0]},
                  {"name": "tuned", "project": other_project or project.name, "version": versions[1]}]
    return parse_study(minimal(name=name, conditions=conditions))


def test_items_from_selfplay_are_matched_across_conditions(store, make_llm, scripted, project):
    scripted.respond = scripted_conversation
    other = create_project(store, "Other bot", goal="g", audience="a", prompt="p")  # the numbers are the project's
    add_version(store, other.id, "q", author="designer")
    baseline, tuned = [v.id for v in versions(store, project.id)]
    study = create_study(store, selfplay_study(project, (1, 2)))
    seen = []
    items = add_items_from_selfplay(store, make_llm(), study, n=4, max_turns=2, seed=7,
                                    progress=lambda done, total: seen.append((done, total)))

    assert seen[-1] == (8, 8) and all(total == 8 for _, total in seen)
    by_condition = {c: [i for i in items if i.condition == c] for c in ("baseline", "tuned")}
    assert [len(v) for v in by_condition.values()] == [4, 4]
    plan = plan_for_project(store, project.id, 4, seed=7)
    expected_keys = [f"{c.scenario.id}:{c.seed}" for c in plan]
    assert [i.match_key for i in by_condition["baseline"]] == expected_keys
    assert [i.match_key for i in by_condition["tuned"]] == expected_keys
    assert len(set(expected_keys)) == 4
    for condition, version, prompt in (("baseline", baseline, "You recommend movies."),
                                       ("tuned", tuned, "You recommend at most three movies.")):
        for item in by_condition[condition]:
            transcript = get_transcript(store, item.transcript_id)
            assert transcript.version_id == version
            assert item.turns == transcript.turns and [t.role for t in item.turns] == ["user", "assistant"] * 2
            assert item.turns[1].content == f"bot under [{prompt}]"
            assert (item.kind, item.expected) == ("regular", None)
    assert list_items(store, study.id, kind="regular") == items


def test_selfplay_needs_one_project(store, make_llm, project):
    other = create_project(store, "Other bot", goal="g", audience="a", prompt="p")
    before = counts(store)
    study = create_study(store, selfplay_study(project, (1, 1), other_project="Other bot"))
    with pytest.raises(StudyError, match="need one project for all conditions"):
        add_items_from_selfplay(store, make_llm(), study, n=2, max_turns=1, seed=0)
    imported = create_study(store, parse_study(minimal()))
    with pytest.raises(StudyError, match="name no project and version"):
        add_items_from_selfplay(store, make_llm(), imported, n=2, max_turns=1, seed=0)
    assert counts(store) == (before[0] + 2, before[1])


def test_prompts_that_do_not_exist_yet_are_named_by_field_and_checked_again_at_add_items(store, make_llm, project):
    study = create_study(store, selfplay_study(project, (1, 999), name="early"))
    problem = f"conditions[1].version: project {project.name!r} has no prompt version 999"
    assert unresolved_prompts(store, study.definition) == [problem]
    with pytest.raises(StudyError, match=re.escape(problem)):
        add_items_from_selfplay(store, make_llm(), study, n=2, max_turns=1, seed=0)
    assert list_items(store, study.id) == []
    nowhere = create_study(store, selfplay_study(project, (1, 2), name="nowhere",
                                                 other_project="Gone bot"))
    assert unresolved_prompts(store, nowhere.definition) == ["conditions[1].project: there is no project named 'Gone bot'"]


def test_a_jsonl_file_that_is_not_utf8_is_refused_alike_from_a_path_and_an_upload(store, tmp_path):
    study = create_study(store, parse_study(minimal()))
    latin = '{"messages": [{"role": "user", "content": "un café ?"}, {"role": "assistant", "content": "voilà"}]}\n' \
        .encode("latin-1")
    path = tmp_path / "latin.jsonl"
    path.write_bytes(latin)
    with pytest.raises(StudyError) as by_path:
        import_items_jsonl(store, study, "a", path)
    with pytest.raises(StudyError) as by_upload:
        import_items_jsonl(store, study, "a", latin, "latin.jsonl")
    byte = latin.index("é".encode("latin-1"))
    assert str(by_path.value) == \
        f"{path}: not UTF-8 text (byte {byte} cannot be read); save it as UTF-8 and import it again"
    assert str(by_upload.value) == str(by_path.value).replace(str(path), "latin.jsonl")
    assert list_items(store, study.id) == []
    assert len(import_items_jsonl(store, study, "a", latin.decode("latin-1").encode(), "utf8.jsonl")) == 1


def test_a_study_file_over_the_size_cap_is_refused_before_it_is_read(store, tmp_path):
    path = tmp_path / "huge.toml"
    path.write_bytes(SHIPPED.read_bytes() + b"\n# padding\n" + b"#" * MAX_STUDY_FILE_BYTES)
    with pytest.raises(StudyFileError, match=r"huge.toml: 1,0\d\d,\d\d\d bytes is more than a study file may hold"):
        load_study_file(path)
    with pytest.raises(StudyFileError, match="upload.toml: .* bytes is more than a study file may hold"):
        parse_toml(path.read_bytes(), "upload.toml")
    assert list_studies(store) == []


def test_repeated_names_are_found_among_many(store):
    names = [f"c{i}" for i in range(40_000)] + ["c7", "c39999", "c7"]
    assert repeated(names) == ["c39999", "c7"]
    with pytest.raises(StudyFileError, match="condition names must be unique; repeated: c39999, c7"):
        parse_study(minimal(conditions=[{"name": n} for n in names]))
