"""Transcripts of self-play conversations and the turns in them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vt_core.core.store import Store, insert_rows


@dataclass(frozen=True)
class Turn:
    role: str  # "user" (the simulated user) or "assistant" (the bot)
    content: str
    cut_off: bool = False  # the model's reply was cut at the maximum length


@dataclass(frozen=True)
class Transcript:
    id: int
    run_id: int
    position: int  # the conversation's place in its run's plan
    project_id: int
    version_id: int | None  # the prompt version played, or else
    candidate_id: int | None  # the refinement candidate played
    persona_id: int
    scenario_id: int
    seed: int
    simulator_model: str
    bot_model: str
    ended_by: str  # "user" (explicit end signal) or "max_turns"
    created_at: datetime
    number: int | None  # within the project, for the designer's own transcripts
    turns: list[Turn]

    def text(self) -> str:
        """The conversation as plain text, for prompts that read it."""
        return "\n".join(f"{'USER' if t.role == 'user' else 'BOT'} [{i}]: {t.content}"
                         for i, t in enumerate(self.turns))


# Transcripts not archived, themselves or through their run.
_SHOWN = "archived_at IS NULL AND run_id NOT IN (SELECT id FROM selfplay_runs WHERE archived_at IS NOT NULL)"
# The designer's own transcripts: everything but the conversations refinement plays to score its
# candidates, and what the designer archived. Review, annotation and pattern evidence work on these only.
DESIGNER_TRANSCRIPT_IDS = (
    "SELECT id FROM transcripts WHERE run_id NOT IN (SELECT id FROM selfplay_runs WHERE purpose = 'refine')"
    f" AND {_SHOWN}"
)

_COLUMNS = ("id, run_id, position, project_id, version_id, candidate_id, persona_id, scenario_id, seed, simulator_model,"
            " bot_model, ended_by, created_at, number")


def save_transcript(store: Store, *, run_id: int, project_id: int, version_id: int | None,
                    persona_id: int, scenario_id: int, seed: int, simulator_model: str, bot_model: str,
                    ended_by: str, turns: list[Turn], candidate_id: int | None = None,
                    position: int = 0) -> int:
    """Store a finished conversation with its turns, in one transaction; returns its id."""
    def save(db) -> int:
        transcript_id = db.execute(
            "INSERT INTO transcripts (run_id, position, project_id, version_id, candidate_id, persona_id,"
            " scenario_id, seed, simulator_model, bot_model, ended_by, number)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT first_transcript + ? FROM selfplay_runs WHERE id = ?))"
            " RETURNING id",
            [run_id, position, project_id, version_id, candidate_id, persona_id, scenario_id, seed, simulator_model,
             bot_model, ended_by, position, run_id],
        ).fetchone()[0]
        if turns:
            insert_rows(
                db, "INSERT INTO turns (transcript_id, idx, role, content, cut_off) VALUES (?, ?, ?, ?, ?)",
                [[transcript_id, i, t.role, t.content, t.cut_off] for i, t in enumerate(turns)],
            )
        return transcript_id

    return store.transaction(save)


def _with_turns(store: Store, rows: list) -> list[Transcript]:
    if not rows:
        return []
    ids = [row[0] for row in rows]
    by_id: dict[int, list[Turn]] = {i: [] for i in ids}
    for transcript_id, role, content, cut_off in store.cursor().execute(
        "SELECT transcript_id, role, content, cut_off FROM turns WHERE transcript_id = ANY(CAST(? AS BIGINT[]))"
        " ORDER BY transcript_id, idx",
        [ids],
    ).fetchall():
        by_id[transcript_id].append(Turn(role, content, bool(cut_off)))
    return [Transcript(*row, by_id[row[0]]) for row in rows]


def get_transcript(store: Store, transcript_id: int) -> Transcript:
    rows = store.cursor().execute(f"SELECT {_COLUMNS} FROM transcripts WHERE id = ?", [transcript_id]).fetchall()
    if not rows:
        raise ValueError(f"no transcript {transcript_id}")
    return _with_turns(store, rows)[0]


def list_transcripts(store: Store, project_id: int, *, run_id: int | None = None,
                     include_archived: bool = False) -> list[Transcript]:
    """The project's transcripts (of one run, if given) in run and plan order, with their turns; those
    archived, or in an archived run, only with `include_archived`."""
    rows = store.cursor().execute(
        f"SELECT {_COLUMNS} FROM transcripts WHERE project_id = ? AND (CAST(? AS BIGINT) IS NULL OR run_id = ?)"
        f" AND (? OR ({_SHOWN})) ORDER BY run_id, position",
        [project_id, run_id, run_id, include_archived],
    ).fetchall()
    return _with_turns(store, rows)
