-- The job a self-play or refinement run was made in (vt_core.core.jobs.current_job_id), so that a run
-- its job left unfinished (the server stopped under it) reads as interrupted instead of running for ever.

ALTER TABLE selfplay_runs ADD COLUMN job_id BIGINT;
ALTER TABLE refine_runs ADD COLUMN job_id BIGINT;
