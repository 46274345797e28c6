"""The Playground: the designer chats with the bot by hand under the prompt they are editing.

A project's chat is kept in the database (`playground_chats`, `playground_turns`), so that it survives a
reload; each bot turn keeps the prompt, model, temperature and maximum length that made it, since the
designer may change them between messages. Clearing the chat starts a new one; the old one stays.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from vt_core.core.llm import LLM, EmbeddedServerError, LLMError
from vt_core.core.store import Store
from vt_core.designer.selfplay import BOT_MAX_TOKENS, BOT_TEMPERATURE, bot_request
from vt_core.designer.transcripts import Turn


@dataclass(frozen=True)
class ChatSettings:
    """How the bot replies: what the designer sets beside the chat."""

    TEMPERATURE_RANGE: ClassVar[tuple[float, float]] = (0.0, 2.0)
    MAX_TOKENS_RANGE: ClassVar[tuple[int, int]] = (16, 4096)

    temperature: float = BOT_TEMPERATURE
    max_tokens: int = BOT_MAX_TOKENS  # the reply's maximum length

    def __post_init__(self):
        (low, high), (shortest, longest) = self.TEMPERATURE_RANGE, self.MAX_TOKENS_RANGE
        if not low <= self.temperature <= high:
            raise ValueError(f"the temperature must be between {low:g} and {high:g}")
        if not shortest <= self.max_tokens <= longest:
            raise ValueError(f"the maximum length must be between {shortest} and {longest} tokens")

    def describe(self) -> str:
        return f"temperature {self.temperature:g} · at most {self.max_tokens} tokens"


@dataclass(frozen=True)
class PlaygroundTurn:
    role: str  # "user" (the designer) or "assistant" (the bot)
    content: str
    # A bot turn's request: the system prompt as it was, the model, the settings, the sample index.
    prompt: str | None = None
    model: str | None = None
    settings: ChatSettings | None = None
    sample: int = 0


@dataclass(frozen=True)
class PlaygroundChat:
    id: int | None  # None: the project has no chat yet
    project_id: int
    turns: list[PlaygroundTurn]

    def settings(self) -> ChatSettings:
        """The settings of the chat's last reply (the defaults before the first one)."""
        return next((t.settings for t in reversed(self.turns) if t.settings), ChatSettings())


class ReplyFailed(RuntimeError):
    """The bot did not answer. The designer's unanswered message (`message`) was taken back out of the
    chat, so that the chat never holds a message without its reply."""

    def __init__(self, cause: Exception, message: str | None):
        super().__init__(str(cause))
        self.message = message


def playground_chat(store: Store, project_id: int) -> PlaygroundChat:
    """The project's current chat: the newest one."""
    row = store.cursor().execute(
        "SELECT id FROM playground_chats WHERE project_id = ? ORDER BY id DESC LIMIT 1", [project_id]).fetchone()
    if row is None:
        return PlaygroundChat(None, project_id, [])
    rows = store.cursor().execute(
        "SELECT role, content, prompt, model, temperature, max_tokens, sample FROM playground_turns"
        " WHERE chat_id = ? ORDER BY idx", [row[0]]).fetchall()
    turns = [PlaygroundTurn(role, content, prompt, model,
                            ChatSettings(temperature, max_tokens) if temperature is not None else None, sample or 0)
             for role, content, prompt, model, temperature, max_tokens, sample in rows]
    return PlaygroundChat(row[0], project_id, turns)


def new_playground_chat(store: Store, project_id: int) -> PlaygroundChat:
    """Start an empty chat for the project (the chats before it stay in the database)."""
    chat_id = store.transaction(lambda db: db.execute(
        "INSERT INTO playground_chats (project_id) VALUES (?) RETURNING id", [project_id]).fetchone()[0])
    return PlaygroundChat(chat_id, project_id, [])


def add_message(store: Store, project_id: int, text: str) -> PlaygroundChat:
    """Append the designer's message to the project's chat (starting one if there is none)."""
    def add(db) -> None:
        row = db.execute("SELECT id FROM playground_chats WHERE project_id = ? ORDER BY id DESC LIMIT 1",
                         [project_id]).fetchone()
        chat_id = row[0] if row else db.execute(
            "INSERT INTO playground_chats (project_id) VALUES (?) RETURNING id", [project_id]).fetchone()[0]
        idx = db.execute("SELECT count(*) FROM playground_turns WHERE chat_id = ?", [chat_id]).fetchone()[0]
        db.execute("INSERT INTO playground_turns (chat_id, idx, role, content) VALUES (?, ?, 'user', ?)",
                   [chat_id, idx, text])

    store.transaction(add)
    return playground_chat(store, project_id)


def stream_reply(store: Store, llm: LLM, chat: PlaygroundChat, prompt: str, settings: ChatSettings) -> Iterator[str]:
    """The bot's reply under `prompt`, in pieces as the model writes them, stored with its settings once
    it is whole. To the designer's last message; or, when the last turn is a reply already, another
    reply in its place (the next sample of the same request), which replaces it once it is whole.
    ReplyFailed if the model fails; an unanswered message is taken back then."""
    if chat.id is None or not chat.turns:
        raise ValueError("the chat has no message to reply to")
    again = chat.turns[-1].role == "assistant"
    asked = chat.turns[:-1] if again else chat.turns
    sample = chat.turns[-1].sample + 1 if again else 0
    request = bot_request(prompt, [Turn(t.role, t.content) for t in asked], sample=sample,
                          temperature=settings.temperature, max_tokens=settings.max_tokens)
    pieces: list[str] = []
    try:
        for piece in llm.stream(request):
            pieces.append(piece)
            yield piece
    except (LLMError, EmbeddedServerError) as exc:
        if again:
            raise ReplyFailed(exc, None) from exc
        store.transaction(lambda db: db.execute("DELETE FROM playground_turns WHERE chat_id = ? AND idx = ?",
                                                [chat.id, len(asked) - 1]))
        raise ReplyFailed(exc, asked[-1].content) from exc

    def save(db) -> None:
        db.execute("DELETE FROM playground_turns WHERE chat_id = ? AND idx >= ?", [chat.id, len(asked)])
        db.execute("INSERT INTO playground_turns (chat_id, idx, role, content, prompt, model, temperature,"
                   " max_tokens, sample) VALUES (?, ?, 'assistant', ?, ?, ?, ?, ?, ?)",
                   [chat.id, len(asked), "".join(pieces).strip(), prompt, llm.model, settings.temperature,
                    settings.max_tokens, sample])

    store.transaction(save)
