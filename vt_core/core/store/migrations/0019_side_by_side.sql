-- Side-by-side preference studies (design = 'side_by_side'): one regular study item (condition '_pair')
-- pairs the two conditions' transcripts of one match_key. Which condition is on the left is drawn per
-- item (seeded, balanced) and recorded here, one row per side. A rater's answers are ratings of that
-- item with values meaning SIDES, not conditions: 1 = Left, 2 = About the same, 3 = Right.
CREATE TABLE study_item_sides (
    item_id       BIGINT NOT NULL,
    side          TEXT NOT NULL CHECK (side IN ('left', 'right')),
    condition     TEXT NOT NULL,            -- never shown to raters
    transcript_id BIGINT,                   -- the source transcript, when it came from self-play
    turns         JSON NOT NULL,            -- [{"role": "user"|"assistant", "content": "..."}]
    PRIMARY KEY (item_id, side)
);

-- The optional reason a rater gives with a rating of an item (stored with the ratings, in one transaction).
CREATE TABLE rating_reasons (
    rater_id    BIGINT NOT NULL,
    item_id     BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (rater_id, item_id)
);
