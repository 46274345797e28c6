-- The critic case study: runs of Visionary Tuning for taste and the taste patterns they found.
-- A critic's patterns are statements about a person's taste with rated films as evidence, not
-- behaviours of a chatbot judged on transcripts, so they get a table of their own (see
-- vt_core/critic/tuning.py) instead of rows in `patterns` under a stand-in project.

CREATE SEQUENCE taste_runs_id_seq;
CREATE TABLE taste_runs (
    id          BIGINT PRIMARY KEY DEFAULT nextval('taste_runs_id_seq'),
    parent_id   BIGINT,                 -- refined again from this run's patterns the designer kept
    critic      TEXT NOT NULL,          -- e.g. movielens:15 or csv:my_ratings
    k           INTEGER NOT NULL,       -- training films per class
    seed        BIGINT NOT NULL,
    rounds      INTEGER NOT NULL,
    candidates  INTEGER NOT NULL,       -- per round
    backend     TEXT NOT NULL,          -- what produced it: the backend's description
    model       TEXT NOT NULL,
    split       JSON NOT NULL,          -- the critic and every film of the split, with its rating and class
    spec        TEXT NOT NULL,          -- the learned specification
    result      JSON NOT NULL,          -- rounds, candidates with validation scores, test predictions, usage
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE SEQUENCE taste_patterns_id_seq;
CREATE TABLE taste_patterns (
    id               BIGINT PRIMARY KEY DEFAULT nextval('taste_patterns_id_seq'),
    taste_run_id     BIGINT NOT NULL,
    number           INTEGER NOT NULL,  -- its number within the run, as the writer's changes cite it
    round            INTEGER NOT NULL,  -- the round that proposed it; 0: kept from the parent run or hand-written
    statement        TEXT NOT NULL,
    evidence_for     JSON NOT NULL DEFAULT '[]',  -- movie ids of training films whose ratings support it
    evidence_against JSON NOT NULL DEFAULT '[]',  -- and of those whose ratings contradict it
    status           TEXT NOT NULL CHECK (status IN ('candidate', 'accepted', 'rejected')),
    source           TEXT NOT NULL CHECK (source IN ('proposed', 'designer')),
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
