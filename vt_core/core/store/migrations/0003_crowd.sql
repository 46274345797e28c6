-- Crowd-rating studies: a study's conditions and items, the raters who arrive through its link,
-- the leases that hand items out, and the ratings (append-only) and flags they leave.

CREATE SEQUENCE studies_id_seq;
CREATE TABLE studies (
    id          BIGINT PRIMARY KEY DEFAULT nextval('studies_id_seq'),
    name        TEXT NOT NULL UNIQUE,
    token       TEXT NOT NULL UNIQUE,       -- the secret part of the study link
    definition  JSON NOT NULL,              -- the validated study definition (vt_core.studies.StudyDefinition)
    status      TEXT NOT NULL CHECK (status IN ('draft', 'open', 'closed')),
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- What a rater rates: one transcript, frozen as shown, in one condition. Items of different
-- conditions made from the same scenario and seed share a match_key.
CREATE SEQUENCE study_items_id_seq;
CREATE TABLE study_items (
    id            BIGINT PRIMARY KEY DEFAULT nextval('study_items_id_seq'),
    study_id      BIGINT NOT NULL,
    condition     TEXT NOT NULL,            -- a condition name; never shown to raters
    kind          TEXT NOT NULL CHECK (kind IN ('regular', 'gold', 'attention')),
    match_key     TEXT,
    transcript_id BIGINT,                   -- the source transcript, when it came from self-play
    turns         JSON NOT NULL,            -- [{"role": "user"|"assistant", "content": "..."}]
    expected      JSON,                     -- gold and attention items: {dimension: value}
    created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE SEQUENCE raters_id_seq;
CREATE TABLE raters (
    id             BIGINT PRIMARY KEY DEFAULT nextval('raters_id_seq'),
    study_id       BIGINT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('human', 'llm')),
    platform       TEXT NOT NULL CHECK (platform IN ('prolific', 'mturk', 'anonymous', 'llm')),
    external_id    TEXT NOT NULL,           -- PROLIFIC_PID, workerId, or a generated id
    session_id     TEXT,                    -- Prolific SESSION_ID
    assignment_id  TEXT,                    -- MTurk assignmentId
    hit_id         TEXT,                    -- MTurk hitId
    submit_to      TEXT,                    -- MTurk turkSubmitTo
    persona        JSON,                    -- simulated raters: who the LLM plays
    seed           BIGINT NOT NULL,         -- fixes this rater's item order
    condition_order JSON NOT NULL,          -- this rater's row of the balanced Latin square
    status         TEXT NOT NULL CHECK (status IN ('consent', 'comprehension', 'rating', 'completed',
                                                    'screened_out', 'failed_checks')),
    comprehension_attempts INTEGER NOT NULL DEFAULT 0,
    started_at     TIMESTAMP NOT NULL DEFAULT current_timestamp,
    finished_at    TIMESTAMP,
    UNIQUE (study_id, platform, external_id)
);

-- An item handed to a rater until expires_at; a rater who leaves does not block it for long.
CREATE TABLE leases (
    item_id     BIGINT NOT NULL,
    rater_id    BIGINT NOT NULL,
    position    INTEGER NOT NULL,           -- the item's place in this rater's sequence
    shown_at    TIMESTAMP,                  -- set by the server when the item is rendered
    expires_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (item_id, rater_id)
);

-- Append-only. One rating per rater, item and dimension: a second submit is refused by the key.
CREATE SEQUENCE ratings_id_seq;
CREATE TABLE ratings (
    id           BIGINT PRIMARY KEY DEFAULT nextval('ratings_id_seq'),
    study_id     BIGINT NOT NULL,
    rater_id     BIGINT NOT NULL,
    item_id      BIGINT NOT NULL,
    dimension    TEXT NOT NULL,
    value        INTEGER NOT NULL,
    seconds      DOUBLE PRECISION,          -- server-side time from render to submit
    created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
    UNIQUE (rater_id, item_id, dimension)
);

-- Quality-control events on a rater: failed attention check, implausibly fast rating, exclusion.
CREATE TABLE rater_flags (
    rater_id    BIGINT NOT NULL,
    flag        TEXT NOT NULL,
    detail      JSON NOT NULL DEFAULT '{}',
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);
