-- Keep and clean (vt_core.designer.cleanup): an archived row is hidden from lists, pickers and new
-- self-play plans, and keeps everything; archived_at NULL is not archived.

ALTER TABLE projects ADD COLUMN archived_at TIMESTAMP;
ALTER TABLE personas ADD COLUMN archived_at TIMESTAMP;
ALTER TABLE scenarios ADD COLUMN archived_at TIMESTAMP;
ALTER TABLE selfplay_runs ADD COLUMN archived_at TIMESTAMP;
ALTER TABLE transcripts ADD COLUMN archived_at TIMESTAMP;
ALTER TABLE refine_runs ADD COLUMN archived_at TIMESTAMP;
