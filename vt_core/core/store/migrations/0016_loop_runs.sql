-- Runs of the loop benchmark (vt_core.benchmark): the designer loop played on a world with planted faults,
-- in a project of its own, and the figures that say whether refinement lowered the held-out fault rate.

CREATE SEQUENCE loop_runs_id_seq;
CREATE TABLE loop_runs (
    id           BIGINT PRIMARY KEY DEFAULT nextval('loop_runs_id_seq'),
    world        TEXT NOT NULL,                 -- the world's name (its file in vt_core/benchmark/worlds)
    seed         BIGINT NOT NULL,
    settings     JSON NOT NULL,                 -- k, rounds, noise, marks, conversations, turns
    project_id   BIGINT,                        -- the project the loop made (set once it exists)
    backend      TEXT NOT NULL,                 -- for people: "endpoint http://..., model m"
    model        TEXT NOT NULL,
    demo         BOOLEAN NOT NULL,              -- the figures come from the small demo model
    status       TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    error        TEXT,
    figures      JSON,                          -- vt_core.benchmark.figures, once done
    job_id       BIGINT,                        -- the job it ran in, if any
    created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
    finished_at  TIMESTAMP
);
CREATE INDEX loop_runs_project ON loop_runs (project_id);
