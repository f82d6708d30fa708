-- The subjects a case's rating applies to: each dispatch of the case with its unit.
CREATE TABLE evaluation_subjects (
    dispatch_id TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL,
    unit        TEXT,
    source      TEXT NOT NULL
);
CREATE INDEX evaluation_subjects_case ON evaluation_subjects (case_id);
