-- What a researcher settles before a study goes out (vt_core.crowd.launch): the places to request, the
-- reward per rater and its currency, the minutes a rater is expected to take (the estimate, or the
-- researcher's own figure), and when the rater flow was last walked through as a preview.

CREATE TABLE study_launch (
    study_id      BIGINT PRIMARY KEY,
    places        INTEGER,
    reward_cents  INTEGER,                 -- per rater, in the currency's smallest unit
    currency      TEXT NOT NULL DEFAULT 'GBP' CHECK (currency IN ('GBP', 'USD')),
    minutes       DOUBLE PRECISION,        -- NULL: use the estimate
    previewed_at  TIMESTAMP,
    updated_at    TIMESTAMP NOT NULL DEFAULT current_timestamp
);
