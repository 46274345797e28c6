-- A job's model and cost so far, kept on its row by the runner (every heartbeat and at its end), so
-- that pages and the Jobs list read one row instead of summing llm_calls on every refresh.

ALTER TABLE jobs ADD COLUMN model TEXT;
ALTER TABLE jobs ADD COLUMN calls INTEGER DEFAULT 0;
ALTER TABLE jobs ADD COLUMN cache_hits INTEGER DEFAULT 0;
ALTER TABLE jobs ADD COLUMN errors INTEGER DEFAULT 0;
ALTER TABLE jobs ADD COLUMN tokens_in BIGINT DEFAULT 0;
ALTER TABLE jobs ADD COLUMN tokens_out BIGINT DEFAULT 0;
