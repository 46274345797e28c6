-- Numbers a designer reads: prompt versions, self-play runs, refinement runs and the designer's
-- transcripts are numbered from 1 within their project (v1, v2, ...; run 1; transcript #1), while the
-- global ids stay the keys. A project's counters hand out the numbers; a self-play run reserves one
-- number per planned conversation, and its transcript at plan position p gets the run's first + p.
-- Refinement's own conversations are not numbered.

CREATE TABLE project_counters (
    project_id BIGINT NOT NULL,
    kind       TEXT NOT NULL,              -- version, selfplay_run, refine_run, transcript
    last       BIGINT NOT NULL,            -- the last number handed out
    PRIMARY KEY (project_id, kind)
);

ALTER TABLE prompt_versions ADD COLUMN number BIGINT;
ALTER TABLE selfplay_runs ADD COLUMN number BIGINT;
ALTER TABLE selfplay_runs ADD COLUMN first_transcript BIGINT;
ALTER TABLE refine_runs ADD COLUMN number BIGINT;
ALTER TABLE transcripts ADD COLUMN number BIGINT;

UPDATE prompt_versions SET number = numbered.n
FROM (SELECT id, row_number() OVER (PARTITION BY project_id ORDER BY id) AS n FROM prompt_versions) AS numbered
WHERE prompt_versions.id = numbered.id;

UPDATE refine_runs SET number = numbered.n
FROM (SELECT id, row_number() OVER (PARTITION BY project_id ORDER BY id) AS n FROM refine_runs) AS numbered
WHERE refine_runs.id = numbered.id;

UPDATE selfplay_runs SET number = numbered.n
FROM (SELECT id, row_number() OVER (PARTITION BY project_id ORDER BY id) AS n
      FROM selfplay_runs WHERE purpose = 'selfplay') AS numbered
WHERE selfplay_runs.id = numbered.id;

-- Existing transcripts are numbered in id order; their runs keep no reservation.
UPDATE transcripts SET number = numbered.n
FROM (SELECT t.id, row_number() OVER (PARTITION BY t.project_id ORDER BY t.id) AS n
      FROM transcripts t JOIN selfplay_runs r ON r.id = t.run_id WHERE r.purpose = 'selfplay') AS numbered
WHERE transcripts.id = numbered.id;

INSERT INTO project_counters (project_id, kind, last)
SELECT project_id, 'version', max(number) FROM prompt_versions GROUP BY project_id
UNION ALL SELECT project_id, 'refine_run', max(number) FROM refine_runs GROUP BY project_id
UNION ALL SELECT project_id, 'selfplay_run', max(number) FROM selfplay_runs WHERE number IS NOT NULL
          GROUP BY project_id
UNION ALL SELECT project_id, 'transcript', max(number) FROM transcripts WHERE number IS NOT NULL
          GROUP BY project_id;
