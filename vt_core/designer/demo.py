"""A demo project, so a new user sees every designer page populated.

The project's transcripts were written by hand (simulator and bot model "hand-written demo"), so
they read like real conversations whatever model the platform is configured with, and creating the
demo makes no model call. demo_project.json holds the project, its transcripts, the designer's marks
and patterns; demo_refinement.json the judge's verdicts on those transcripts and one finished
refinement run: a baseline and candidates, each with the conversations it played (the same plan of
personas, scenarios and seeds for all) and their verdicts and quality scores. The candidates' pass
rates are computed from those verdicts, as a real run computes them.
"""

from __future__ import annotations

import json
from pathlib import Path

from vt_core.core.store import Store
from vt_core.designer.annotations import annotate
from vt_core.designer.patterns import Judgement, Pattern, store_judgements, add_pattern, list_patterns
from vt_core.designer.personas import Persona, add_persona
from vt_core.designer.projects import (
    Project,
    ProjectError,
    create_project,
    current_version,
    get_project,
    next_numbers,
    update_project,
)
from vt_core.designer.refinement import mean_quality, pass_rate
from vt_core.designer.scenarios import Scenario, add_scenario
from vt_core.designer.selfplay import new_run
from vt_core.designer.transcripts import Turn, list_transcripts, save_transcript

DATA = Path(__file__).parent / "demo_project.json"
REFINEMENT = Path(__file__).parent / "demo_refinement.json"
HAND_WRITTEN = "hand-written demo"
DEMO_PROJECT: str = json.loads(DATA.read_text())["project"]["name"]


def _turns(texts: list[str]) -> list[Turn]:
    """The user speaks first, then the bot, in turn."""
    return [Turn("user" if i % 2 == 0 else "assistant", text) for i, text in enumerate(texts)]


def _judge(store: Store, transcript_id: int, patterns: list[Pattern], verdicts: dict[str, list[str]]) -> None:
    """Store the hand-written verdicts on one transcript, keyed by the pattern's place in the demo."""
    store_judgements(store, [Judgement(patterns[int(i)].id, transcript_id, verdict, reason)
                              for i, (verdict, reason) in verdicts.items()])


def _run(store: Store, project: Project, *, conversations: int, max_turns: int, candidate_id: int | None = None,
         refine_run_id: int | None = None) -> int:
    """A finished self-play run of the current version (or of a candidate) with hand-written turns."""
    return store.transaction(lambda db: new_run(
        db, project.id, conversations=conversations, max_turns=max_turns, seed=0,
        version_id=None if candidate_id else project.current_version_id, candidate_id=candidate_id,
        refine_run_id=refine_run_id, simulator_model=HAND_WRITTEN, bot_model=HAND_WRITTEN, status="done"))[0]


def _seed_refinement(store: Store, project: Project, spec: dict, personas: list[Persona],
                     scenarios: list[Scenario], patterns: list[Pattern]) -> int:
    """One finished refinement run of the current version: the baseline and every candidate play the
    plan's conversations, whose verdicts give their pass rates (`pass_rate`, as in a real run)."""
    accepted = [p for p in patterns if p.status == "accepted"]
    plan = spec["plan"]
    max_turns = max(len(t["turns"]) for c in [spec["baseline"], *spec["candidates"]] for t in c["transcripts"])
    refine_run_id = store.transaction(lambda db: db.execute(
        "INSERT INTO refine_runs (project_id, parent_version_id, rounds, candidates, seed, status, number)"
        " VALUES (?, ?, ?, ?, ?, 'done', ?) RETURNING id",
        [project.id, project.current_version_id, spec["rounds"], len(spec["candidates"]), spec["seed"],
         next_numbers(db, project.id, "refine_run")],
    ).fetchone()[0])
    parent_text = current_version(store, project.id).text
    for round_, candidate in [(0, {**spec["baseline"], "text": parent_text, "changes": []}),
                              *((1, c) for c in spec["candidates"])]:
        changes = [{"after": c["after"], "rationale": c["rationale"],
                    "pattern_ids": [patterns[i].id for i in c["patterns"]]} for c in candidate["changes"]]
        candidate_id = store.cursor().execute(
            "INSERT INTO candidates (refine_run_id, round, parent_text, text, changes, status)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            [refine_run_id, round_, parent_text, candidate["text"], json.dumps(changes),
             "baseline" if round_ == 0 else "evaluated"],
        ).fetchone()[0]
        run_id = _run(store, project, conversations=len(plan), max_turns=max_turns // 2,
                      candidate_id=None if round_ == 0 else candidate_id, refine_run_id=refine_run_id)
        by_split: dict[str, list[int]] = {"train": [], "heldout": []}
        for position, (conversation, played) in enumerate(zip(plan, candidate["transcripts"], strict=True)):
            scenario = scenarios[conversation["scenario"]]
            transcript_id = save_transcript(
                store, run_id=run_id, position=position, project_id=project.id,
                version_id=project.current_version_id if round_ == 0 else None,
                candidate_id=None if round_ == 0 else candidate_id,
                persona_id=personas[conversation["persona"]].id, scenario_id=scenario.id,
                seed=conversation["seed"], simulator_model=HAND_WRITTEN, bot_model=HAND_WRITTEN, ended_by="user",
                turns=_turns(played["turns"]))
            _judge(store, transcript_id, patterns, played["verdicts"])
            score, reason = played["quality"]
            store.cursor().execute("INSERT INTO quality_scores (transcript_id, score, reason) VALUES (?, ?, ?)",
                                   [transcript_id, score, reason])
            by_split[scenario.split].append(transcript_id)
        train, train_by = pass_rate(store, by_split["train"], accepted)
        heldout, heldout_by = pass_rate(store, by_split["heldout"], accepted)
        by_pattern = {str(p.id): {"train": train_by[p.id], "heldout": heldout_by[p.id]} for p in accepted}
        store.cursor().execute(
            "UPDATE candidates SET train_pass = ?, heldout_pass = ?, quality = ?, pass_by_pattern = ? WHERE id = ?",
            [train, heldout, mean_quality(store, [*by_split["train"], *by_split["heldout"]]), json.dumps(by_pattern),
             candidate_id])
    return refine_run_id


def seed_demo(store: Store) -> Project:
    """Create the demo project, all of it or nothing; if it exists already, leave it as it is and return it."""
    try:
        return get_project(store, DEMO_PROJECT)
    except ProjectError:
        pass
    try:
        return store.transaction(lambda db: _seed(store))
    except ProjectError:  # another tab created it first
        return get_project(store, DEMO_PROJECT)


def _seed(store: Store) -> Project:
    demo = json.loads(DATA.read_text())
    spec = demo["project"]
    project = create_project(store, spec["name"], spec["goal"], spec["audience"], spec["prompt"])
    project = update_project(store, project.id, locked_sections=spec["locked_sections"])
    personas = [add_persona(store, project.id, p["name"], p["attributes"], p["weight"], p.get("pinned", False))
                for p in demo["personas"]]
    scenarios = [add_scenario(store, project.id, title=s["title"], description=s["description"],
                              user_goal=s["user_goal"], difficulty=s["difficulty"], rules=s["rules"],
                              covered=s.get("covered", True), split=s["split"])
                 for s in demo["scenarios"]]
    run_id = _run(store, project, conversations=len(demo["transcripts"]),
                  max_turns=max(len(t["turns"]) for t in demo["transcripts"]) // 2)
    for position, spec in enumerate(demo["transcripts"]):
        transcript_id = save_transcript(
            store, run_id=run_id, position=position, project_id=project.id,
            version_id=project.current_version_id, persona_id=personas[spec["persona"]].id,
            scenario_id=scenarios[spec["scenario"]].id, seed=position, simulator_model=HAND_WRITTEN,
            bot_model=HAND_WRITTEN, ended_by="user", turns=_turns(spec["turns"]))
        for turn_idx, (label, critique) in spec.get("labels", {}).items():
            annotate(store, transcript_id, turn_idx=int(turn_idx), label=label, critique=critique)
        if "whole" in spec:
            annotate(store, transcript_id, turn_idx=None, label=spec["whole"][0], critique=spec["whole"][1])
    for pattern in demo["patterns"]:
        add_pattern(store, project.id, pattern["kind"], pattern["statement"], source="designer",
                    status=pattern["status"])
    patterns = list_patterns(store, project.id)  # in the demo's order
    refinement = json.loads(REFINEMENT.read_text())
    for transcript, verdicts in zip(list_transcripts(store, project.id, run_id=run_id), refinement["verdicts"],
                                    strict=True):
        _judge(store, transcript.id, patterns, verdicts)
    _seed_refinement(store, project, refinement["refinement"], personas, scenarios, patterns)
    return project
