-- Evaluation: what each case's rating applies to, the evaluations (one per case cycle), their
-- ratings (history kept, superseded ones marked) and follow-ups.
CREATE TABLE evaluation_subjects (
    dispatch_id TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL,
    unit        TEXT,
    source      TEXT NOT NULL
);
CREATE INDEX evaluation_subjects_case ON evaluation_subjects (case_id);

CREATE TABLE eval_cases (
    case_id     TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    matters     INTEGER NOT NULL,
    received_at TIMESTAMP NOT NULL
);

CREATE TABLE eval_matters (
    matter_id     TEXT PRIMARY KEY,
    case_id       TEXT NOT NULL,
    lead_dispatch TEXT,
    lead_unit     TEXT,
    resolved      BOOLEAN NOT NULL,
    resolved_at   TIMESTAMP
);
CREATE INDEX eval_matters_case ON eval_matters (case_id);

CREATE TABLE evaluations (
    case_id     TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    -- due | rated | expired | re_rating_invited | awaiting_rehandling
    status      TEXT NOT NULL,
    cycle       INTEGER NOT NULL,
    reopened    BOOLEAN NOT NULL,
    rerated     BOOLEAN NOT NULL,
    opened_at   TIMESTAMP NOT NULL,
    window_ends TIMESTAMP NOT NULL,
    token_hash  TEXT,
    version     INTEGER NOT NULL
);
CREATE INDEX evaluations_status ON evaluations (status, window_ends);
CREATE UNIQUE INDEX evaluations_token ON evaluations (token_hash);

CREATE TABLE evaluation_ratings (
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
    superseded  BOOLEAN NOT NULL
);
CREATE INDEX evaluation_ratings_case ON evaluation_ratings (case_id, cycle, attempt);

CREATE TABLE follow_ups (
    id      TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES evaluations (case_id),
    outcome TEXT NOT NULL,
    note    TEXT NOT NULL,
    by_whom TEXT NOT NULL,
    at      TIMESTAMP NOT NULL
);
