-- Reporting's read model, built only from the other services' events.
CREATE TABLE report_cases (
    case_id      TEXT PRIMARY KEY,
    source       TEXT NOT NULL,
    channel      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    category     TEXT NOT NULL,
    sub_district TEXT NOT NULL,
    received_at  TIMESTAMP NOT NULL,
    is_first     BOOLEAN NOT NULL,
    single_visit BOOLEAN NOT NULL,
    -- For a repeat (重复件): the first case of its chain.
    repeat_of    TEXT
);
CREATE INDEX report_cases_received ON report_cases (source, received_at);

-- One row per dispatch (批转件), kept current as routing's events arrive. Triage waits as a
-- unit-less row keyed "triage:<matter>".
CREATE TABLE report_dispatches (
    dispatch_id          TEXT PRIMARY KEY,
    case_id              TEXT NOT NULL,
    matter_id            TEXT NOT NULL,
    unit                 TEXT,
    role                 TEXT NOT NULL,
    -- 1 for a matter's first assignment; higher after returns, transfers, designation.
    assignment           INTEGER NOT NULL,
    source               TEXT NOT NULL,
    received_at          TIMESTAMP NOT NULL,
    dispatched_at        TIMESTAMP NOT NULL,
    acknowledge_deadline TIMESTAMP,
    acknowledged_at      TIMESTAMP,
    resolve_deadline     TIMESTAMP,
    resolved_at          TIMESTAMP,
    -- open | resolved | returned | transferred | superseded
    status               TEXT NOT NULL,
    closed_at            TIMESTAMP,
    -- Times the dispatch was sent back for re-handling (重办).
    rehandled            INTEGER NOT NULL
);
CREATE INDEX report_dispatches_received ON report_dispatches (source, received_at);

-- The final rating of each subject of each case (petition agency, unit dispatches, the hotline
-- case itself), or its expiry.
CREATE TABLE report_ratings (
    case_id     TEXT NOT NULL,
    subject     TEXT NOT NULL,
    dispatch_id TEXT,
    source      TEXT NOT NULL,
    -- due | rated | expired
    status      TEXT NOT NULL,
    mapped      TEXT,
    PRIMARY KEY (case_id, subject)
);

CREATE TABLE report_returns (
    return_id TEXT PRIMARY KEY,
    unit      TEXT NOT NULL,
    matter_id TEXT NOT NULL,
    -- pending | approved | rejected
    status    TEXT NOT NULL,
    wrongful  BOOLEAN NOT NULL,
    days_cost DOUBLE PRECISION
);

-- Leader receptions (领导接访): one row per matter received, with its current outcome.
CREATE TABLE report_reception_matters (
    reception_id TEXT NOT NULL,
    ordinal      INTEGER NOT NULL,
    received_at  TIMESTAMP NOT NULL,
    persons      INTEGER NOT NULL,
    outcome      TEXT NOT NULL,
    PRIMARY KEY (reception_id, ordinal)
);
