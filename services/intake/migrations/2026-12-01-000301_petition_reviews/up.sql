-- 复查 and 复核 of a petition's handling opinion (信访工作条例 第三十五条, 第三十六条): asked
-- within 30 days of the written answer, decided within 30 days of the request, by the body
-- above the one whose answer is contested. After a decided 复核 the same facts are not
-- accepted again.
CREATE TABLE petition_reviews (
    case_id            TEXT NOT NULL,
    -- review (复查) | re_review (复核)
    level              TEXT NOT NULL,
    reviewing_body     TEXT NOT NULL,
    answer_received_at TIMESTAMP NOT NULL,
    requested_at       TIMESTAMP NOT NULL,
    -- The end of the 30th natural day after the request was received.
    due_at             TIMESTAMP NOT NULL,
    decided_at         TIMESTAMP,
    -- upheld | changed | revoked, once decided
    outcome            TEXT,
    opinion            TEXT,
    requested_by       TEXT NOT NULL,
    decided_by         TEXT,
    PRIMARY KEY (case_id, level)
);
-- Facts concluded by a decided 复核, by the first case of their repeat chain: a petition that
-- repeats them is not accepted again (第三十六条).
CREATE TABLE concluded_facts (
    chain_head   TEXT PRIMARY KEY NOT NULL,
    case_id      TEXT NOT NULL,
    concluded_at TIMESTAMP NOT NULL
);
