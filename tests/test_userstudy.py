"""Designer user studies on a real DuckDB file: the definition and its errors, counterbalancing, a
participant's progress and time limit, measures from session events, the table of measures (CSV
export and import, good and malformed), prompt quality (expert and crowd), and the analysis and
order check against scipy computed directly."""

from __future__ import annotations

import math
import tomllib
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from tests.test_monitor import add_rater, jsonl, rate
from tests.test_monitor import definition as crowd_definition
from vt_core.core.store import Store
from vt_core.crowd.items import import_items_jsonl
from vt_core.crowd.studies import StudyFileError, create_study, parse_study
from vt_core.designer import projects as pj
from vt_core.designer.sessions import log_event
from vt_core.userstudy.analysis import analyse_measures, order_check, quality_from_crowd, report_markdown
from vt_core.userstudy.definition import UserStudyError, load_user_study_file, parse_user_study, sequence
from vt_core.userstudy.flow import (
    Answers,
    add_participants,
    answer,
    create_user_study,
    finish_task,
    list_user_studies,
    participants,
    resume,
    start_task,
    task_records,
)
from vt_core.userstudy.measures import (
    conditions_toml,
    copy_final_prompts,
    import_measures,
    import_prompt_quality,
    measures_csv,
    measures_frame,
    set_prompt_quality,
)

pytestmark = pytest.mark.both_backends  # each test that has a store runs on DuckDB and on PostgreSQL

STUDY_FILE = Path(__file__).resolve().parent.parent / "studies" / "designer_study.toml"
T0 = datetime(2026, 11, 24, 9, 0, 0)
TLX = {"tlx_mental": 60, "tlx_physical": 10, "tlx_temporal": 45, "tlx_performance": 30, "tlx_effort": 55,
       "tlx_frustration": 20}


def data(**changes) -> dict:
    """The shipped study file as data, with changes."""
    loaded = tomllib.loads(STUDY_FILE.read_text(encoding="utf-8"))
    loaded.update(changes)
    return loaded


def make_study(store, **changes):
    return create_user_study(store, parse_user_study(data(**changes)))


# -- the definition -----------------------------------------------------------------------------


def test_the_shipped_study_reproduces_the_method():
    definition = load_user_study_file(STUDY_FILE)
    assert definition.participants == 12
    assert definition.time_limit_minutes == 30
    assert {c.name: c.interface for c in definition.conditions} == {"tool": "tool", "control": "control"}
    assert len(definition.tasks) == 2
    assert definition.analysed_conditions == ("control", "tool")
    assert len(definition.questionnaire.success_labels) == 7


def problems(exc: pytest.ExceptionInfo) -> list[str]:
    return str(exc.value).splitlines()[1:]


def test_an_invalid_definition_names_every_field():
    bad = data(participants=1, time_limit=30, task_order="random")
    bad["conditions"][1]["interface"] = "chat"
    bad["tasks"][0]["key"] = "Movies!"
    del bad["time_limit_minutes"]
    with pytest.raises(StudyFileError) as exc:
        parse_user_study(bad, "my.toml")
    lines = problems(exc)
    assert str(exc.value).startswith(f"my.toml: {len(lines)} problem(s)")
    assert "my.toml: participants: must be at least 2, found 1" in lines
    assert "my.toml: time_limit_minutes: required field is missing" in lines
    assert any(line.startswith("my.toml: time_limit: unknown field (allowed: name, description, participants,")
               for line in lines)
    assert "my.toml: task_order: must be one of 'crossed' or 'fixed', found 'random'" in lines
    assert "my.toml: conditions[1].interface: must be one of 'tool' or 'control', found 'chat'" in lines
    assert any(line.startswith("my.toml: tasks[0].key: ") for line in lines)
    assert len(lines) == 6


def test_conditions_and_tasks_must_pair_up():
    three = data()
    three["conditions"].append({**three["conditions"][0], "name": "third"})
    with pytest.raises(StudyFileError) as exc:
        parse_user_study(three)
    assert problems(exc) == ["user study definition: conditions: a user study compares exactly 2 conditions "
                             "(the order check needs two), found 3"]
    one_task = data()
    one_task["tasks"] = one_task["tasks"][:1]
    with pytest.raises(StudyFileError) as exc:
        parse_user_study(one_task)
    assert problems(exc) == ["user study definition: tasks: one task per condition is needed, so 2; found 1"]
    same = data()
    same["tasks"][1]["key"] = same["tasks"][0]["key"]
    with pytest.raises(StudyFileError, match="task keys must be unique; repeated: movies"):
        parse_user_study(same)


def test_a_bad_file_changes_nothing(store, tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x"\nparticipants = [', encoding="utf-8")
    with pytest.raises(StudyFileError, match="broken.toml: TOML syntax error"):
        load_user_study_file(broken)
    with pytest.raises(StudyFileError, match="cannot read the file"):
        load_user_study_file(tmp_path / "missing.toml")
    make_study(store)
    with pytest.raises(UserStudyError, match="already exists"):
        make_study(store)
    assert len(list_user_studies(store)) == 1
    assert len(participants(store, list_user_studies(store)[0].id)) == 12


# -- counterbalancing ----------------------------------------------------------------------------


def test_twelve_participants_are_balanced_on_order_task_and_pairing():
    definition = load_user_study_file(STUDY_FILE)
    sequences = [sequence(definition, i) for i in range(12)]
    assert sequences[:4] == [[("tool", "movies"), ("control", "recipes")],
                             [("control", "movies"), ("tool", "recipes")],
                             [("tool", "recipes"), ("control", "movies")],
                             [("control", "recipes"), ("tool", "movies")]]
    assert all(sequences[i] == sequences[i % 4] for i in range(12))
    assert Counter(s[0][0] for s in sequences) == {"tool": 6, "control": 6}       # condition first
    assert Counter(s[0][1] for s in sequences) == {"movies": 6, "recipes": 6}     # task first
    assert Counter(pair for s in sequences for pair in s) == {                   # condition x task
        ("tool", "movies"): 6, ("tool", "recipes"): 6, ("control", "movies"): 6, ("control", "recipes"): 6}


def test_fixed_task_order_keeps_tasks_in_place_and_alternates_conditions():
    definition = parse_user_study(data(task_order="fixed"))
    assert [sequence(definition, i) for i in range(3)] == [
        [("tool", "movies"), ("control", "recipes")], [("control", "movies"), ("tool", "recipes")],
        [("tool", "movies"), ("control", "recipes")]]


def test_participants_get_codes_links_and_continue_the_square(store):
    study = make_study(store)
    found = participants(store, study.id)
    assert [p.code for p in found] == [f"P{i:02d}" for i in range(1, 13)]
    assert len({p.token for p in found}) == 12
    assert found[0].link == f"/?participant={found[0].token}"
    added = add_participants(store, study.id, 2)
    assert [p.code for p in added] == ["P13", "P14"]
    assert [p.sequence for p in added] == [found[0].sequence, found[1].sequence]
    with pytest.raises(UserStudyError):
        add_participants(store, study.id, 0)


# -- a participant's progress ---------------------------------------------------------------------


def test_the_whole_flow_with_finish_and_time_limit(store):
    study = make_study(store)
    p = participants(store, study.id)[0]   # tool (movies), then control (recipes)
    step = resume(store, p, T0)
    assert (step.kind, step.position, step.of, step.condition.name, step.task.key) == ("brief", 1, 2, "tool", "movies")
    with pytest.raises(UserStudyError, match="task 2 cannot start now"):
        start_task(store, p, 2, T0)
    with pytest.raises(UserStudyError, match="task 1 has not started yet"):
        finish_task(store, p, 1, T0)

    step = start_task(store, p, 1, T0)
    assert step.kind == "task" and step.deadline == T0 + timedelta(minutes=30)
    assert step.seconds_left(T0 + timedelta(minutes=10)) == 20 * 60
    assert start_task(store, p, 1, T0 + timedelta(minutes=1)).record == step.record   # a double click
    project = pj.get_project(store, step.record.project_id)
    assert project.goal == step.task.goal and pj.current_version(store, project.id).text == step.task.starting_prompt
    with pytest.raises(UserStudyError, match="no questionnaire to answer yet"):
        answer(store, p, 1, Answers(4, TLX), T0)

    step = finish_task(store, p, 1, T0 + timedelta(minutes=12))
    assert step.kind == "questionnaire" and step.record.end_reason == "finished"
    assert step.record.measures["minutes"] == pytest.approx(12)
    assert finish_task(store, p, 1, T0 + timedelta(minutes=20)).record.measures["minutes"] == pytest.approx(12)

    with pytest.raises(UserStudyError) as exc:
        answer(store, p, 1, Answers(None, {**TLX, "tlx_effort": 52, "tlx_mental": 105}), T0)
    assert str(exc.value).splitlines() == ["Perceived success: choose one of the answers.",
                                           "Mental demand: must be 0 to 100 in steps of 5, not 105.",
                                           "Effort: must be 0 to 100 in steps of 5, not 52."]
    assert task_records(store, study.id)[0].answered_at is None   # nothing saved

    step = answer(store, p, 1, Answers(5, TLX, "  Fun.  "), T0 + timedelta(minutes=14))
    assert (step.kind, step.position, step.condition.name, step.task.key) == ("brief", 2, "control", "recipes")
    answer(store, p, 1, Answers(1, TLX), T0)   # a second submit of the same questionnaire is ignored
    first = task_records(store, study.id)[0].measures
    assert (first["success"], first["workload"], first["free_text"]) == (5, sum(TLX.values()) / 6, "Fun.")

    start_task(store, p, 2, T0 + timedelta(minutes=15))
    step = resume(store, p, T0 + timedelta(minutes=44, seconds=59))
    assert step.kind == "task"
    step = resume(store, p, T0 + timedelta(minutes=46))   # past the limit: the task ends at the limit
    assert step.kind == "questionnaire" and step.record.end_reason == "time_limit"
    assert step.record.finished_at == T0 + timedelta(minutes=45)
    assert step.record.measures["minutes"] == pytest.approx(30)
    assert answer(store, p, 2, Answers(3, TLX), T0 + timedelta(minutes=50)).kind == "done"
    assert [(r.condition, r.position, r.source, r.session_id) for r in task_records(store, study.id)] == [
        ("tool", 1, "platform", f"U{study.id}-P01-tool"), ("control", 2, "platform", f"U{study.id}-P01-control")]


def test_measures_come_from_the_session_events(store):
    study = make_study(store)
    p = participants(store, study.id)[1]   # control first
    record = start_task(store, p, 1, T0).record
    session = record.session_id
    log_event(store, session, "pattern_noted", project_id=record.project_id, pattern_id=11)
    log_event(store, session, "pattern_accepted", project_id=record.project_id, pattern_id=11)  # the same pattern
    log_event(store, session, "pattern_noted", project_id=record.project_id, pattern_id=12)
    log_event(store, session, "version_saved", project_id=record.project_id, version_id=1)
    log_event(store, session, "version_saved", project_id=record.project_id, version_id=2)
    log_event(store, "U99-P01-control", "pattern_noted", pattern_id=13)   # another session
    final = pj.add_version(store, record.project_id, "You suggest recipes. Ask about allergies first.",
                           author="designer", make_current=True)
    pj.add_version(store, record.project_id, "An unsaved idea.", author="designer")   # not current

    measures = finish_task(store, p, 1, T0 + timedelta(minutes=20)).record.measures
    assert (measures["patterns"], measures["versions_saved"], measures["llm_calls"]) == (2, 2, 0)
    assert measures["prompt_version_id"] == final.id
    kinds = [k for (k,) in store.cursor().execute(
        "SELECT kind FROM session_events WHERE session_id = ? ORDER BY id", [session]).fetchall()]
    assert kinds[0] == "started" and kinds[-1] == "finished"


# -- the table of measures -------------------------------------------------------------------------

HEADER = "participant,condition,position,patterns,success," + ",".join(TLX) + ",minutes,prompt_quality,free_text"


def good_rows() -> list[str]:
    return [HEADER,
            'E1,tool,1,7,5,60,10,45,30,55,20,25.5,4.5,"liked it, mostly"',
            "E1,control,2,3,6,40,10,40,20,30,10,30,3.5,",
            'E2,control,1,4,4,50,5,50,40,40,30,29,,"two\nlines"',
            "E2,tool,2,9,5,55,5,35,25,45,15,28,,"]


def test_import_saves_every_row_and_exports_them_back(store):
    study = make_study(store, participants=2)
    assert import_measures(store, study.id, good_rows()) == 4
    frame = measures_frame(store, study.id)
    assert list(frame["participant"]) == ["E1", "E1", "E2", "E2"]
    assert set(frame["source"]) == {"import"}
    e1_tool = frame[(frame.participant == "E1") & (frame.condition == "tool")].iloc[0]
    assert e1_tool["workload"] == pytest.approx((60 + 10 + 45 + 30 + 55 + 20) / 6)
    assert (e1_tool["patterns"], e1_tool["success"], e1_tool["quality_source"]) == (7, 5, "import")
    assert frame.loc[frame.participant == "E2", "free_text"].iloc[0] == "two\nlines"
    assert pd.isna(frame.loc[frame.participant == "E2", "prompt_quality"]).all()

    other = make_study(store, name="the same study, run elsewhere", participants=2)
    assert import_measures(store, other.id, measures_csv(store, study.id).splitlines()) == 4
    pd.testing.assert_frame_equal(measures_frame(store, other.id), frame)


def test_malformed_rows_are_reported_by_line_and_nothing_is_saved(store):
    study = make_study(store, participants=2)
    rows = good_rows()
    rows[2] = "E1,tool,2,x,9,60,10,45,30,55,101,20,,"          # line 3: the same condition again, bad cells
    rows.insert(3, "P01,control,1,3,4,40,10,40,20,30,10,30,,")  # line 4: a code with a link in this study
    rows.append("E3,chat,1,3,4,40,10,40,20,30,10,30,,")        # line 8 (E2's free text spans lines 5 and 6)
    rows.append("E4,tool,,3,4,40,10,40,20,30,10,30,,")          # line 9
    with pytest.raises(UserStudyError) as exc:
        import_measures(store, study.id, rows)
    assert str(exc.value).splitlines() == [
        "nothing was imported from CSV input:",
        "line 3: patterns must be a number, found 'x'; success must be 1 to 7, found '9'; "
        "tlx_frustration must be 0 to 100, found '101'",
        "line 8: condition must be one of tool, control, found 'chat'",
        "line 9: position is empty",
        "line 4: participant P01 has a link in this study; imported participants need other codes",
    ]
    assert measures_frame(store, study.id).empty


def test_duplicates_columns_workload_and_reimport(store, tmp_path):
    study = make_study(store, participants=2)
    with pytest.raises(UserStudyError) as exc:
        import_measures(store, study.id, ["participant,condition,score", "E1,tool,3"])
    assert str(exc.value).splitlines()[1:] == [
        "line 1: missing column(s) position",
        "line 1: unknown column(s) score (allowed: participant, condition, position, task, patterns, versions_saved, "
        "llm_calls, minutes, prompt_version_id, prompt_quality, quality_source, success, tlx_mental, tlx_physical, "
        "tlx_temporal, tlx_performance, tlx_effort, tlx_frustration, workload, free_text, source, end_reason)"]
    with pytest.raises(UserStudyError) as exc:
        import_measures(store, study.id, ["participant,condition,position,workload," + ",".join(TLX),
                                          "E1,tool,1,50,60,10,45,30,55,20", "E1,control,1,,1,1,1,1,1,1",
                                          "E1,tool,2,,1,1,1,1,1,1"])
    assert str(exc.value).splitlines()[1:] == [
        "line 2: workload 50 is not the mean of the six TLX subscales (36.6667)",
        "line 3: participant E1 has position 1 already on line 2",
        "line 4: participant E1 has condition tool already on line 2"]
    path = tmp_path / "measures.csv"
    path.write_text("\n".join(good_rows()), encoding="utf-8")
    import_measures(store, study.id, path)
    with pytest.raises(UserStudyError, match="line 2: participant E1 in condition tool was imported before"):
        import_measures(store, study.id, path)
    changed = good_rows()[:2]
    changed[1] = changed[1].replace(",7,5,", ",8,5,")
    assert import_measures(store, study.id, changed, replace_imported=True) == 1
    assert measures_frame(store, study.id)[["participant", "patterns"]].values.tolist() == [["E1", 8]]


def run_both_tasks(store, participant, patterns=(0, 0)):
    for position in (1, 2):
        record = start_task(store, participant, position, T0).record
        for i in range(patterns[position - 1]):
            log_event(store, record.session_id, "pattern_noted", pattern_id=i)
        finish_task(store, participant, position, T0 + timedelta(minutes=10))
        answer(store, participant, position, Answers(4, TLX), T0 + timedelta(minutes=11))


def test_prompt_quality_from_experts(store):
    study = make_study(store, participants=2)
    p1 = participants(store, study.id)[0]
    run_both_tasks(store, p1)
    set_prompt_quality(store, study.id, "P01", "tool", 6.5)
    with pytest.raises(UserStudyError, match="participant P02 has no row in condition 'tool'"):
        set_prompt_quality(store, study.id, "P02", "tool", 3.0)
    with pytest.raises(UserStudyError) as exc:
        import_prompt_quality(store, study.id, ["participant,condition,prompt_quality", "P01,control,5",
                                                "P02,control,4", "P01,tool,good"])
    assert str(exc.value).splitlines()[1:] == ["line 4: prompt_quality must be a number, found 'good'",
                                               "line 3: participant P02 has no row in condition control"]
    assert import_prompt_quality(store, study.id, ["participant,condition,prompt_quality", "P01,control,5"]) == 1
    frame = measures_frame(store, study.id).set_index("condition")
    assert frame.loc["tool", ["prompt_quality", "quality_source"]].tolist() == [6.5, "expert"]
    assert frame.loc["control", ["prompt_quality", "quality_source"]].tolist() == [5.0, "expert"]


def test_prompt_quality_from_a_crowd_study_over_the_final_prompts(store):
    study = make_study(store, participants=2)
    p1 = participants(store, study.id)[0]
    run_both_tasks(store, p1)
    evaluation = pj.create_project(store, "Evaluation", "Evaluate final prompts.", "", "placeholder")
    conditions = copy_final_prompts(store, study.id, evaluation.id)
    assert [c.name for c in conditions] == ["P01-tool", "P01-control"]
    copies = {c.name: pj.get_version(store, c.version) for c in conditions}
    originals = {r.condition: pj.get_version(store, r.measures["prompt_version_id"]) for r in task_records(store, study.id)}
    assert copies["P01-tool"].text == originals["tool"].text and copies["P01-tool"].project_id == evaluation.id
    assert copy_final_prompts(store, study.id, evaluation.id) == conditions   # not copied twice
    assert 'name = "P01-tool"' in conditions_toml(conditions)

    crowd = create_study(store, parse_study(crowd_definition(conditions=[{"name": "P01-tool"},
                                                                         {"name": "P01-control"}])))
    for condition in ("P01-tool", "P01-control"):
        import_items_jsonl(store, crowd, condition, jsonl(condition, 2))
    items = {condition: [i for (i,) in store.cursor().execute(
        "SELECT id FROM study_items WHERE study_id = ? AND condition = ? ORDER BY id", [crowd.id, condition]).fetchall()]
        for condition in ("P01-tool", "P01-control")}
    r1, r2 = (add_rater(store, crowd.id, name).id for name in ("r1", "r2"))
    rate(store, crowd.id, r1, items["P01-tool"][0], 7, 6)
    rate(store, crowd.id, r1, items["P01-tool"][1], 5, 2)    # r1's mean quality for P01-tool: 4
    rate(store, crowd.id, r2, items["P01-tool"][0], 6, 7)    # r2's: 7
    rate(store, crowd.id, r2, items["P01-control"][0], 3, 3)
    with pytest.raises(UserStudyError, match="has no dimension 'tone'"):
        quality_from_crowd(store, study.id, crowd.id, "tone")
    assert quality_from_crowd(store, study.id, crowd.id, "quality") == 2
    frame = measures_frame(store, study.id).set_index("condition")
    assert frame.loc["tool", "prompt_quality"] == pytest.approx((4 + 7) / 2)   # the mean of per-rater means
    assert frame.loc["control", "prompt_quality"] == pytest.approx(3)
    assert frame.loc["tool", "quality_source"] == f"crowd:{crowd.id}:quality"


# -- the analysis ------------------------------------------------------------------------------------

# A fixed study of 12 participants: odd ones did control first, even ones tool first; P12 has no
# perceived success in the tool condition. Patterns tie and have zero differences; minutes do not tie.
PATTERNS = {"control": [3, 4, 2, 5, 3, 4, 6, 2, 3, 5, 4, 3], "tool": [6, 7, 2, 9, 5, 8, 9, 4, 6, 5, 7, 8]}
SUCCESS = {"control": [5, 4, 6, 5, 4, 5, 6, 3, 5, 4, 5, 6], "tool": [4, 5, 5, 6, 4, 4, 5, 4, 6, 3, 4, None]}
MINUTES = {"control": [21.3, 25.9, 18.2, 29.4, 27.7, 22.1, 24.8, 19.6, 26.5, 23.0, 28.6, 20.4],
           "tool": [28.1, 29.7, 24.3, 30.0, 26.9, 29.2, 27.4, 25.6, 29.9, 21.8, 30.0, 27.7]}


def fixed_frame() -> pd.DataFrame:
    rows = []
    for i in range(12):
        first = "control" if i % 2 == 0 else "tool"
        for condition in ("control", "tool"):
            rows.append({"participant": f"P{i + 1:02d}", "condition": condition,
                         "position": 1 if condition == first else 2, "patterns": PATTERNS[condition][i],
                         "success": SUCCESS[condition][i], "minutes": MINUTES[condition][i]})
    frame = pd.DataFrame(rows)
    for column in ("prompt_quality", "workload", *TLX):
        frame[column] = np.nan
    return frame


@pytest.fixture(scope="module")
def fixed_analysis():
    return analyse_measures(fixed_frame(), ("control", "tool"), study_id=7, study_name="fixed")


def scipy_wilcoxon_p(a, b) -> float:
    d = np.round(np.asarray(b, float) - np.asarray(a, float), 9)
    nonzero = d[d != 0]
    ties = len(np.unique(np.abs(nonzero))) < len(nonzero)
    method = sps.PermutationMethod() if ties else "exact"
    return sps.wilcoxon(nonzero, method=method).pvalue


def test_analysis_matches_scipy_computed_directly(fixed_analysis):
    results = {r.measure.key: r for r in fixed_analysis.results}
    assert list(results) == ["patterns", "success", "minutes"]   # measures without values are left out
    assert fixed_analysis.participants == 12 and fixed_analysis.conditions == ("control", "tool")
    complete = {"patterns": range(12), "success": range(11), "minutes": range(12)}
    columns = {"patterns": PATTERNS, "success": SUCCESS, "minutes": MINUTES}
    raw = []
    for key, rows in complete.items():
        a = np.array([columns[key]["control"][i] for i in rows], float)
        b = np.array([columns[key]["tool"][i] for i in rows], float)
        result = results[key]
        assert (result.n, result.missing) == (len(a), 12 - len(a))
        control, tool = result.descriptives
        assert control.median == np.median(a) and tool.median == np.median(b)
        assert (tool.q1, tool.q3) == tuple(np.percentile(b, [25, 75]))
        assert tool.sd == pytest.approx(np.std(b, ddof=1))
        w = result.comparison.wilcoxon
        raw.append(scipy_wilcoxon_p(a, b))
        assert w.p == pytest.approx(raw[-1])
        assert w.n_zero == int(np.sum(a == b))
        t = sps.ttest_rel(b, a)
        assert result.comparison.t.t == pytest.approx(t.statistic)
        assert result.comparison.t.d_z == pytest.approx((b - a).mean() / (b - a).std(ddof=1))
    # Holm across the three primary measures, by hand: sorted p times (m - rank), then the running max
    order = np.argsort(raw)
    adjusted, running = [0.0] * 3, 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, raw[index] * (3 - rank)))
        adjusted[index] = running
    assert [results[k].comparison.p_holm for k in complete] == pytest.approx(adjusted)


def test_order_check_matches_scipy_on_the_fixed_study(fixed_analysis):
    check = next(r for r in fixed_analysis.results if r.measure.key == "minutes").order
    d = np.array(MINUTES["tool"]) - np.array(MINUTES["control"])
    control_first, tool_first = d[0::2], d[1::2]
    expected = sps.mannwhitneyu(control_first, tool_first, alternative="two-sided", method="exact")
    assert check.groups == ("control first", "tool first") and check.n == (6, 6)
    assert check.method == "exact"
    assert (check.u, check.p) == (pytest.approx(expected.statistic), pytest.approx(expected.pvalue))
    assert check.r == pytest.approx(2 * expected.statistic / 36 - 1)
    assert check.period == pytest.approx((control_first.mean() - tool_first.mean()) / 2)
    assert check.adjusted == pytest.approx((control_first.mean() + tool_first.mean()) / 2)
    cell = next(c for c in check.cells if c.group == "tool first" and c.condition == "control")
    assert (cell.n, cell.median) == (6, np.median(np.array(MINUTES["control"])[1::2]))
    patterns = next(r for r in fixed_analysis.results if r.measure.key == "patterns").order
    assert patterns.method == "permutation"   # tied differences
    d = np.array(PATTERNS["tool"]) - np.array(PATTERNS["control"])
    assert patterns.p == pytest.approx(sps.mannwhitneyu(d[0::2], d[1::2], method=sps.PermutationMethod()).pvalue)
    text = report_markdown(fixed_analysis, {})
    assert "Order check: the difference in time on task (tool − control)" in text
    assert "Holm-adjusted" in text


def test_order_check_finds_a_planted_practice_effect():
    """The second task takes 6 minutes less whatever the condition; the tool itself adds 2."""
    rng = np.random.default_rng(5)
    participants_ = [f"P{i:02d}" for i in range(12)]
    control_first = pd.Series(["control" if i % 2 == 0 else "tool" for i in range(12)], index=participants_)
    base = rng.normal(25, 1, 12)
    second = np.where(control_first == "control", 1, 0)   # 1: tool came second
    wide = pd.DataFrame({"control": base - 6 * (1 - second), "tool": base + 2 - 6 * second}, index=participants_)
    check = order_check(wide, control_first)
    assert check.p < 0.01
    assert check.period == pytest.approx(-6) and check.adjusted == pytest.approx(2)
    no_order = pd.DataFrame({"control": base, "tool": base + 2 + rng.normal(0, 1, 12)}, index=participants_)
    assert order_check(no_order, control_first).p > 0.05


def test_too_few_participants_give_descriptives_and_a_note():
    frame = fixed_frame()
    frame = frame[frame["participant"].isin(["P01", "P02"])]
    result = analyse_measures(frame, ("control", "tool")).results[0]
    assert result.comparison is None and result.order is None
    assert result.note == "2 participant(s) with both conditions; a comparison needs at least 3"
    assert [d.median for d in result.descriptives] == [3.5, 6.5]
    assert not math.isnan(result.descriptives[0].mean)


# -- the command line ---------------------------------------------------------------------------------


def test_the_command_line_loads_imports_exports_and_analyses(tmp_path):
    from tests.test_cli import cli

    def run(*args):
        return cli(["userstudy", *args], {}, tmp_path)

    loaded = run("load", str(STUDY_FILE))
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.startswith("user study 1 'Designer study: Visionary Tuning vs playground' created with 12")
    measures = tmp_path / "measures.csv"
    measures.write_text("\n".join(good_rows()[:2] + ["E1,control,2,3,six,40,10,40,20,30,10,30,3.5,"]), encoding="utf-8")
    failed = run("import", "1", str(measures))
    assert failed.returncode == 1
    assert failed.stderr.splitlines() == [f"userstudy import: FAILED: nothing was imported from {measures}:",
                                          "line 3: success must be a number, found 'six'"]
    store = Store(tmp_path / "vt.duckdb")   # the good import in this process, to spare a subprocess
    try:
        assert measures_frame(store, 1).empty   # the failed import saved nothing
        import_measures(store, 1, good_rows())
    finally:
        store.close()
    report = run("analyse", "1", "--out", str(tmp_path / "report"), "--format", "svg")
    assert report.returncode == 0, report.stderr
    written = {p.relative_to(tmp_path / "report").as_posix() for p in (tmp_path / "report").rglob("*") if p.is_file()}
    assert {"report.md", "measures.csv", "tables/descriptives.csv", "charts/likert_success.svg"} <= written
    text = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "## Patterns identified" in text and "2 participant(s) with both conditions" in text
    exported = pd.read_csv(tmp_path / "report" / "measures.csv")
    assert exported[["participant", "condition", "patterns"]].values.tolist() == [
        ["E1", "tool", 7], ["E1", "control", 3], ["E2", "control", 4], ["E2", "tool", 9]]
