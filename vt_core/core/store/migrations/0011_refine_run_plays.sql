-- The refinement run a self-play run of purpose 'refine' played for, so that a candidate's
-- conversations are paired with the baseline's of the same run (the baseline plays a prompt version
-- and so carried no candidate id). Earlier runs: a candidate's from its candidate, a baseline's from the
-- newest refinement run of that version started before it.

ALTER TABLE selfplay_runs ADD COLUMN refine_run_id BIGINT;

UPDATE selfplay_runs SET refine_run_id = (SELECT c.refine_run_id FROM candidates c WHERE c.id = selfplay_runs.candidate_id)
WHERE purpose = 'refine' AND candidate_id IS NOT NULL;

UPDATE selfplay_runs SET refine_run_id = (
    SELECT max(r.id) FROM refine_runs r
    WHERE r.project_id = selfplay_runs.project_id AND r.parent_version_id = selfplay_runs.version_id
      AND r.created_at <= selfplay_runs.created_at)
WHERE purpose = 'refine' AND candidate_id IS NULL;
