-- Long work as jobs that outlive the page that started them (vt_core.core.jobs).

CREATE SEQUENCE jobs_id_seq;
CREATE TABLE jobs (
    id            BIGINT PRIMARY KEY DEFAULT nextval('jobs_id_seq'),
    kind          TEXT NOT NULL,                 -- e.g. 'selfplay'; the handler that runs it
    params        JSON NOT NULL,                 -- what the handler needs to run it again
    project_id    BIGINT,                        -- the project or study it belongs to, if any
    study_id      BIGINT,
    title         TEXT NOT NULL,                 -- for people: "Self-play: 8 conversations of v3"
    status        TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled',
                                                  'interrupted')),
    stage         TEXT NOT NULL DEFAULT '',
    done          INTEGER NOT NULL DEFAULT 0,
    total         INTEGER NOT NULL DEFAULT 0,
    result        JSON,                          -- ids of what it made: {"run_id": 7, "transcript_ids": [...]}
    error         TEXT,
    cancel_requested BOOLEAN NOT NULL DEFAULT false,
    worker        TEXT,                          -- the process that runs it: host:pid
    llm_run       TEXT,                          -- an LLM run its calls also count towards (a study session)
    created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp,
    started_at    TIMESTAMP,
    finished_at   TIMESTAMP,
    heartbeat_at  TIMESTAMP
);
CREATE INDEX jobs_status ON jobs (status);
