-- One row for every LLM request the platform makes, including answers served from the cache.
-- Rows with status 'ok' and cache_hit = false are the cache; 'error' and 'invalid' rows are kept
-- for accounting but never served.
CREATE SEQUENCE llm_calls_id_seq;

CREATE TABLE llm_calls (
    id            BIGINT PRIMARY KEY DEFAULT nextval('llm_calls_id_seq'),
    created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp,
    run_id        TEXT,
    request_hash  TEXT NOT NULL,
    backend       TEXT NOT NULL,       -- 'embedded' or 'endpoint'
    endpoint      TEXT NOT NULL,       -- base URL, or embedded:<model file> (its port changes)
    model         TEXT NOT NULL,
    request       JSON NOT NULL,       -- messages and parameters as sent
    response      TEXT,                -- assistant message content
    status        TEXT NOT NULL CHECK (status IN ('ok', 'error', 'invalid')),
    error         TEXT,
    cache_hit     BOOLEAN NOT NULL,
    tokens_in     INTEGER NOT NULL DEFAULT 0,
    tokens_out    INTEGER NOT NULL DEFAULT 0,
    latency_ms    DOUBLE PRECISION NOT NULL DEFAULT 0,
    attempts      INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX llm_calls_request_hash ON llm_calls (request_hash);
CREATE INDEX llm_calls_run_id ON llm_calls (run_id);
