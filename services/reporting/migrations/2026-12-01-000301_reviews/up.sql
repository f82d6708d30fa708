-- 复查 and 复核 of petitions (信访工作条例 第三十五条, 第三十六条), counted by when they were
-- requested. Nothing to replay: intake emits them from now on.
CREATE TABLE report_reviews (
    case_id      TEXT NOT NULL,
    -- review | re_review
    level        TEXT NOT NULL,
    requested_at TIMESTAMP NOT NULL,
    due_at       TIMESTAMP NOT NULL,
    decided_at   TIMESTAMP,
    -- upheld | changed | revoked
    outcome      TEXT,
    PRIMARY KEY (case_id, level)
);
CREATE INDEX report_reviews_requested ON report_reviews (requested_at);
