"""A demo project, so a new user sees every designer page populated.

The project's transcripts were written by hand (simulator and bot model "hand-written demo"), so
they read like real conversations whatever model the platform is configured with, and creating the
demo makes no model call. Its patterns come with judge prompts; judging them is left to the user.
"""

from __future__ import annotations

import json
from pathlib import Path

from vt_core.core.store import Store
from vt_core.designer.annotations import annotate
from vt_core.designer.patterns import add_pattern
from vt_core.designer.personas import add_persona
from vt_core.designer.projects import Project, ProjectError, create_project, get_project, update_project
from vt_core.designer.scenarios import add_scenario
from vt_core.designer.selfplay import new_run
from vt_core.designer.transcripts import Turn, save_transcript

DATA = Path(__file__).parent / "demo_project.json"
HAND_WRITTEN = "hand-written demo"


def seed_demo(store: Store) -> Project:
    """Create the demo project; if it exists already, leave it as it is and return it."""
    demo = json.loads(DATA.read_text())
    spec = demo["project"]
    try:
        return get_project(store, spec["name"])
    except ProjectError:
        pass
    project = create_project(store, spec["name"], spec["goal"], spec["audience"], spec["prompt"])
    project = update_project(store, project.id, locked_sections=spec["locked_sections"])
    personas = [add_persona(store, project.id, p["name"], p["attributes"], p["weight"], p.get("pinned", False))
                for p in demo["personas"]]
    scenarios = [add_scenario(store, project.id, title=s["title"], description=s["description"],
                              user_goal=s["user_goal"], difficulty=s["difficulty"], rules=s["rules"],
                              covered=s.get("covered", True), split=s["split"])
                 for s in demo["scenarios"]]
    run_id = store.transaction(lambda db: new_run(
        db, project.id, conversations=len(demo["transcripts"]),
        version_id=project.current_version_id, max_turns=max(len(t["turns"]) for t in demo["transcripts"]) // 2,
        seed=0, simulator_model=HAND_WRITTEN, bot_model=HAND_WRITTEN, status="done"))
    for position, spec in enumerate(demo["transcripts"]):
        turns = [Turn("user" if i % 2 == 0 else "assistant", text) for i, text in enumerate(spec["turns"])]
        transcript_id = save_transcript(
            store, run_id=run_id, position=position, project_id=project.id,
            version_id=project.current_version_id, persona_id=personas[spec["persona"]].id,
            scenario_id=scenarios[spec["scenario"]].id, seed=position, simulator_model=HAND_WRITTEN,
            bot_model=HAND_WRITTEN, ended_by="user", turns=turns)
        for turn_idx, (label, critique) in spec.get("labels", {}).items():
            annotate(store, transcript_id, turn_idx=int(turn_idx), label=label, critique=critique)
        if "whole" in spec:
            annotate(store, transcript_id, turn_idx=None, label=spec["whole"][0], critique=spec["whole"][1])
    for pattern in demo["patterns"]:
        add_pattern(store, project.id, pattern["kind"], pattern["statement"], source="designer",
                    status=pattern["status"])
    return project
