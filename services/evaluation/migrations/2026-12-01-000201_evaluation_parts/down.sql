-- Back to one evaluation per case: the petition office's part stands for a petition.
CREATE TABLE evaluations (
    case_id     TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    status      TEXT NOT NULL,
    cycle       INTEGER NOT NULL,
    reopened    BOOLEAN NOT NULL,
    rerated     BOOLEAN NOT NULL,
    opened_at   TIMESTAMP NOT NULL,
    window_ends TIMESTAMP NOT NULL,
    token_hash  TEXT,
    version     INTEGER NOT NULL
);
INSERT INTO evaluations
    SELECT case_id, source, status, cycle, reopened, rerated, opened_at, window_ends, NULL, version
    FROM evaluation_parts WHERE part IN ('case', 'agency');
CREATE INDEX evaluations_status ON evaluations (status, window_ends);
CREATE UNIQUE INDEX evaluations_token ON evaluations (token_hash);
CREATE TABLE evaluation_ratings_whole (
    id          TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL REFERENCES evaluations (case_id),
    cycle       INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    subject     TEXT NOT NULL,
    dispatch_id TEXT,
    level       TEXT NOT NULL,
    mapped      TEXT NOT NULL,
    rated_by    TEXT NOT NULL,
    channel     TEXT NOT NULL,
    at          TIMESTAMP NOT NULL,
    superseded  BOOLEAN NOT NULL,
    comment     TEXT
);
INSERT INTO evaluation_ratings_whole
    SELECT id, case_id, cycle, attempt, subject, dispatch_id, level, mapped, rated_by, channel, at, superseded, comment
    FROM evaluation_ratings WHERE case_id IN (SELECT case_id FROM evaluations);
CREATE TABLE follow_ups_whole (
    id      TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES evaluations (case_id),
    outcome TEXT NOT NULL,
    note    TEXT NOT NULL,
    by_whom TEXT NOT NULL,
    at      TIMESTAMP NOT NULL
);
INSERT INTO follow_ups_whole
    SELECT id, case_id, outcome, note, by_whom, at FROM follow_ups WHERE part IN ('case', 'agency');
DROP TABLE follow_ups;
DROP TABLE evaluation_ratings;
DROP TABLE rating_links;
DROP TABLE evaluation_parts;
ALTER TABLE evaluation_ratings_whole RENAME TO evaluation_ratings;
ALTER TABLE follow_ups_whole RENAME TO follow_ups;
CREATE INDEX evaluation_ratings_case ON evaluation_ratings (case_id, cycle, attempt);
