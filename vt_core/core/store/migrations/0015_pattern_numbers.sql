-- Patterns are numbered within their project too (P1, P2, ...), as versions, runs and transcripts are
-- (0009); the existing ones in id order.

ALTER TABLE patterns ADD COLUMN number BIGINT;

UPDATE patterns SET number = numbered.n
FROM (SELECT id, row_number() OVER (PARTITION BY project_id ORDER BY id) AS n FROM patterns) AS numbered
WHERE patterns.id = numbered.id;

INSERT INTO project_counters (project_id, kind, last)
SELECT project_id, 'pattern', max(number) FROM patterns GROUP BY project_id;
