-- Designer user studies: the study, its participants (each with a link and a counterbalanced order
-- of condition and task), and one row per participant and condition holding the task's progress
-- and its measures. Rows imported from a study run elsewhere have measures but no progress.

CREATE SEQUENCE user_studies_id_seq;
CREATE TABLE user_studies (
    id          BIGINT PRIMARY KEY DEFAULT nextval('user_studies_id_seq'),
    name        TEXT NOT NULL UNIQUE,
    definition  JSON NOT NULL,              -- the validated definition (vt_core.userstudy.UserStudyDefinition)
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE SEQUENCE user_study_participants_id_seq;
CREATE TABLE user_study_participants (
    id          BIGINT PRIMARY KEY DEFAULT nextval('user_study_participants_id_seq'),
    study_id    BIGINT NOT NULL,
    code        TEXT NOT NULL,              -- P01, P02, ...: the name in every table and report
    token       TEXT NOT NULL UNIQUE,       -- the secret part of the participant link
    sequence    JSON NOT NULL,              -- [{"condition": ..., "task": ...}, ...] in the order done
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    UNIQUE (study_id, code)
);

CREATE TABLE user_study_tasks (
    study_id          BIGINT NOT NULL,
    participant       TEXT NOT NULL,        -- the participant's code
    condition         TEXT NOT NULL,
    position          INTEGER NOT NULL,     -- 1 = done first
    task              TEXT,                 -- the task's key
    source            TEXT NOT NULL CHECK (source IN ('platform', 'import')),
    -- progress (platform only)
    session_id        TEXT,                 -- the study session the designer pages log under
    project_id        BIGINT,               -- the project the participant worked in
    started_at        TIMESTAMP,
    finished_at       TIMESTAMP,
    end_reason        TEXT CHECK (end_reason IN ('finished', 'time_limit')),
    answered_at       TIMESTAMP,            -- when the questionnaire was submitted
    -- measures
    patterns          INTEGER,              -- distinct patterns noted or accepted
    versions_saved    INTEGER,
    llm_calls         INTEGER,
    minutes           DOUBLE PRECISION,     -- time on task
    prompt_version_id BIGINT,               -- the final prompt: the project's current version at finish
    prompt_quality    DOUBLE PRECISION,
    quality_source    TEXT,                 -- 'expert', 'import' or 'crowd:<study id>:<dimension>'
    success           INTEGER,              -- perceived success, 1-7
    tlx_mental        INTEGER,              -- raw NASA-TLX subscales, 0-100
    tlx_physical      INTEGER,
    tlx_temporal      INTEGER,
    tlx_performance   INTEGER,
    tlx_effort        INTEGER,
    tlx_frustration   INTEGER,
    workload          DOUBLE PRECISION,     -- raw TLX: the mean of the six subscales
    free_text         TEXT,
    PRIMARY KEY (study_id, participant, condition),
    UNIQUE (study_id, participant, position)
);
