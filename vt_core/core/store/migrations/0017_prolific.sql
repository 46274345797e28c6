-- Prolific from the platform (vt_core.crowd.prolific, vt_core.crowd.payouts): the Prolific study of a platform
-- study, the researcher's decisions on submissions, and bonuses, kept so that a bonus is paid at most once.

-- Prolific's STUDY_ID from the rater link, so that exports carry it.
ALTER TABLE raters ADD COLUMN platform_study_id TEXT;

CREATE TABLE prolific_studies (
    study_id        BIGINT PRIMARY KEY,        -- the platform's study
    prolific_id     TEXT NOT NULL UNIQUE,      -- Prolific's study id
    places          INTEGER NOT NULL,          -- total_available_places as last set
    paused_by_cap   BOOLEAN NOT NULL DEFAULT FALSE,  -- paused by keep_within_cap (so it may start it again)
    published_at    TIMESTAMP,
    created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Append-only: every decision sent to Prolific, with who confirmed it and what came back.
CREATE SEQUENCE prolific_decisions_id_seq;
CREATE TABLE prolific_decisions (
    id              BIGINT PRIMARY KEY DEFAULT nextval('prolific_decisions_id_seq'),
    study_id        BIGINT NOT NULL,
    rater_id        BIGINT,                    -- NULL for a submission no rater of the platform matches
    submission_id   TEXT NOT NULL,
    participant_id  TEXT NOT NULL,
    action          TEXT NOT NULL CHECK (action IN ('APPROVE', 'REJECT')),
    message         TEXT,                      -- REJECT: sent to the participant (100+ characters)
    category        TEXT,                      -- REJECT: Prolific's rejection_category
    confirmed_by    TEXT NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('done', 'failed')),
    error           TEXT,                      -- Prolific's answer when it failed
    decided_at      TIMESTAMP NOT NULL
);
CREATE INDEX prolific_decisions_study ON prolific_decisions (study_id, rater_id);

-- One bonus per rater and study. state: 'new' (recorded, not yet set up on Prolific), 'created' (set up:
-- bonus_id known, not paid), 'paying' (the pay call is under way), 'paid', 'unclear' (the pay call may or may
-- not have reached Prolific: never paid again until the researcher says what Prolific shows).
CREATE SEQUENCE prolific_bonuses_id_seq;
CREATE TABLE prolific_bonuses (
    id              BIGINT PRIMARY KEY DEFAULT nextval('prolific_bonuses_id_seq'),
    study_id        BIGINT NOT NULL,
    rater_id        BIGINT NOT NULL,
    participant_id  TEXT NOT NULL,
    amount_cents    INTEGER NOT NULL CHECK (amount_cents > 0),
    bonus_id        TEXT,                      -- Prolific's bulk bonus payment id
    state           TEXT NOT NULL CHECK (state IN ('new', 'created', 'paying', 'paid', 'unclear')),
    error           TEXT,
    requested_by    TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    pay_started_at  TIMESTAMP,
    paid_at         TIMESTAMP,
    resolved_by     TEXT,                      -- who settled an unclear payment, having checked Prolific
    UNIQUE (study_id, rater_id)
);
