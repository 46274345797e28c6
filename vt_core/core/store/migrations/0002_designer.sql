-- The designer workflow: projects and prompt versions, personas and scenarios, self-play runs and
-- transcripts, annotations, patterns and their judgements, refinement runs and candidates, and the
-- event log of user-study sessions.

CREATE SEQUENCE projects_id_seq;
CREATE TABLE projects (
    id                  BIGINT PRIMARY KEY DEFAULT nextval('projects_id_seq'),
    name                TEXT NOT NULL UNIQUE,
    goal                TEXT NOT NULL,      -- what the chatbot is for
    audience            TEXT NOT NULL,
    current_version_id  BIGINT,             -- prompt_versions.id
    locked_sections     JSON NOT NULL DEFAULT '[]',   -- headings refinement must leave as they are
    prompt_token_budget INTEGER NOT NULL DEFAULT 1200,
    created_at          TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE SEQUENCE prompt_versions_id_seq;
CREATE TABLE prompt_versions (
    id          BIGINT PRIMARY KEY DEFAULT nextval('prompt_versions_id_seq'),
    project_id  BIGINT NOT NULL,
    parent_id   BIGINT,
    text        TEXT NOT NULL,
    author      TEXT NOT NULL CHECK (author IN ('designer', 'refinement')),
    rationale   TEXT NOT NULL DEFAULT '',
    pattern_ids JSON NOT NULL DEFAULT '[]',  -- patterns that motivated this version
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE SEQUENCE personas_id_seq;
CREATE TABLE personas (
    id          BIGINT PRIMARY KEY DEFAULT nextval('personas_id_seq'),
    project_id  BIGINT NOT NULL,
    name        TEXT NOT NULL,
    attributes  JSON NOT NULL,              -- goal, expertise, verbosity, patience, mood, style, ...
    weight      DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    pinned      BOOLEAN NOT NULL DEFAULT false,
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE SEQUENCE scenarios_id_seq;
CREATE TABLE scenarios (
    id          BIGINT PRIMARY KEY DEFAULT nextval('scenarios_id_seq'),
    project_id  BIGINT NOT NULL,
    title       TEXT NOT NULL,
    description TEXT NOT NULL,              -- the situation the simulated user is in
    user_goal   TEXT NOT NULL,
    difficulty  INTEGER NOT NULL CHECK (difficulty BETWEEN 1 AND 3),
    rules       JSON NOT NULL DEFAULT '[]', -- the prompt rules it stresses
    covered     BOOLEAN NOT NULL DEFAULT true,  -- false: a situation the prompt does not cover yet
    split       TEXT NOT NULL CHECK (split IN ('train', 'heldout')),
    source      TEXT NOT NULL CHECK (source IN ('generated', 'designer')),
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE SEQUENCE runs_id_seq;
CREATE TABLE selfplay_runs (
    id              BIGINT PRIMARY KEY DEFAULT nextval('runs_id_seq'),
    project_id      BIGINT NOT NULL,
    version_id      BIGINT,                 -- the prompt played: a version, or else
    candidate_id    BIGINT,                 -- a refinement candidate not yet approved
    purpose         TEXT NOT NULL CHECK (purpose IN ('selfplay', 'refine')),
    conversations   INTEGER NOT NULL,
    max_turns       INTEGER NOT NULL,
    seed            BIGINT NOT NULL,
    simulator_model TEXT NOT NULL,
    bot_model       TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    error           TEXT,
    created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp,
    finished_at     TIMESTAMP
);

CREATE SEQUENCE transcripts_id_seq;
CREATE TABLE transcripts (
    id              BIGINT PRIMARY KEY DEFAULT nextval('transcripts_id_seq'),
    run_id          BIGINT NOT NULL,
    position        INTEGER NOT NULL,       -- the conversation's place in its run's plan
    project_id      BIGINT NOT NULL,
    version_id      BIGINT,                 -- as in selfplay_runs: a version or a candidate
    candidate_id    BIGINT,
    persona_id      BIGINT NOT NULL,
    scenario_id     BIGINT NOT NULL,
    seed            BIGINT NOT NULL,
    simulator_model TEXT NOT NULL,
    bot_model       TEXT NOT NULL,
    ended_by        TEXT NOT NULL CHECK (ended_by IN ('user', 'max_turns')),
    created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE turns (
    transcript_id BIGINT NOT NULL,
    idx           INTEGER NOT NULL,         -- 0, 1, 2, ... in order
    role          TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content       TEXT NOT NULL,
    PRIMARY KEY (transcript_id, idx)
);

-- Append-only: the newest row for a (transcript, turn) is the current label.
CREATE SEQUENCE annotations_id_seq;
CREATE TABLE annotations (
    id            BIGINT PRIMARY KEY DEFAULT nextval('annotations_id_seq'),
    transcript_id BIGINT NOT NULL,
    turn_idx      INTEGER,                  -- NULL: the whole transcript
    label         TEXT CHECK (label IN ('good', 'bad', 'unrealistic_user')),  -- NULL: cleared
    critique      TEXT NOT NULL DEFAULT '',
    rewrite       TEXT,                     -- the designer's better bot turn
    created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE SEQUENCE patterns_id_seq;
CREATE TABLE patterns (
    id            BIGINT PRIMARY KEY DEFAULT nextval('patterns_id_seq'),
    project_id    BIGINT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('keep', 'avoid')),
    statement     TEXT NOT NULL,            -- one checkable statement of the bot's behaviour
    status        TEXT NOT NULL CHECK (status IN ('candidate', 'accepted', 'rejected', 'merged')),
    source        TEXT NOT NULL CHECK (source IN ('proposed', 'designer')),
    judge_prompt  TEXT NOT NULL DEFAULT '',
    merged_into   BIGINT,
    created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- A judge's verdict on one transcript for one pattern: does the bot show the behaviour?
CREATE TABLE judgements (
    pattern_id    BIGINT NOT NULL,
    transcript_id BIGINT NOT NULL,
    verdict       TEXT NOT NULL CHECK (verdict IN ('exhibited', 'not_exhibited', 'not_applicable')),
    reason        TEXT NOT NULL DEFAULT '',
    judged_at     TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (pattern_id, transcript_id)
);

CREATE TABLE quality_scores (
    transcript_id BIGINT PRIMARY KEY,
    score         INTEGER NOT NULL CHECK (score BETWEEN 1 AND 7),
    reason        TEXT NOT NULL DEFAULT ''
);

CREATE SEQUENCE refine_runs_id_seq;
CREATE TABLE refine_runs (
    id                BIGINT PRIMARY KEY DEFAULT nextval('refine_runs_id_seq'),
    project_id        BIGINT NOT NULL,
    parent_version_id BIGINT NOT NULL,
    rounds            INTEGER NOT NULL,
    candidates        INTEGER NOT NULL,     -- per round
    seed              BIGINT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    error             TEXT,
    created_at        TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE SEQUENCE candidates_id_seq;
CREATE TABLE candidates (
    id               BIGINT PRIMARY KEY DEFAULT nextval('candidates_id_seq'),
    refine_run_id    BIGINT NOT NULL,
    round            INTEGER NOT NULL,
    parent_text      TEXT NOT NULL,
    text             TEXT NOT NULL,
    changes          JSON NOT NULL,         -- [{summary, rationale, pattern_ids}]
    guard_notes      JSON NOT NULL DEFAULT '[]',
    train_pass       DOUBLE PRECISION,      -- share of (transcript, pattern) checks passed
    heldout_pass     DOUBLE PRECISION,
    quality          DOUBLE PRECISION,      -- mean 1-7 quality score
    pass_by_pattern  JSON NOT NULL DEFAULT '{}',
    status           TEXT NOT NULL CHECK (status IN ('baseline', 'evaluated', 'rejected', 'approved')),
    version_id       BIGINT,                -- set when approved
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- What a designer does inside a user-study session, for per-participant measures.
CREATE SEQUENCE session_events_id_seq;
CREATE TABLE session_events (
    id          BIGINT PRIMARY KEY DEFAULT nextval('session_events_id_seq'),
    session_id  TEXT NOT NULL,
    project_id  BIGINT,
    kind        TEXT NOT NULL,              -- started, pattern_noted, pattern_accepted, version_saved, ...
    detail      JSON NOT NULL DEFAULT '{}',
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);
