-- The Playground's chats, kept so that a chat survives a reload and each reply keeps what made it.
-- Not transcripts: those are self-play conversations of a run, with a persona, a scenario and a seed.
-- The prompt and the settings belong to each bot turn, since the designer may change them between
-- messages of one chat. "Clear the chat" starts a new chat; the old one stays.

CREATE SEQUENCE playground_chats_id_seq;
CREATE TABLE playground_chats (
    id          BIGINT PRIMARY KEY DEFAULT nextval('playground_chats_id_seq'),
    project_id  BIGINT NOT NULL,
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX playground_chats_project ON playground_chats (project_id);

CREATE TABLE playground_turns (
    chat_id     BIGINT NOT NULL,
    idx         INTEGER NOT NULL,           -- 0, 1, 2, ... in order
    role        TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content     TEXT NOT NULL,
    -- a bot turn's request: the system prompt as it was, the model, the settings and the sample index
    prompt      TEXT,
    model       TEXT,
    temperature DOUBLE PRECISION,
    max_tokens  INTEGER,
    sample      INTEGER,
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (chat_id, idx)
);
