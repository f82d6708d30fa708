-- Reporting's read model, built only from the other services' events.
CREATE TABLE report_cases (
    case_id      TEXT PRIMARY KEY,
    source       TEXT NOT NULL,
    channel      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    category     TEXT NOT NULL,
    sub_district TEXT NOT NULL,
    received_at  TIMESTAMP NOT NULL
);
CREATE INDEX report_cases_received ON report_cases (source, received_at);

CREATE TABLE report_dispatches (
    dispatch_id   TEXT PRIMARY KEY,
    case_id       TEXT NOT NULL,
    matter_id     TEXT NOT NULL,
    unit          TEXT,
    source        TEXT NOT NULL,
    received_at   TIMESTAMP NOT NULL,
    dispatched_at TIMESTAMP NOT NULL
);
CREATE INDEX report_dispatches_received ON report_dispatches (source, received_at);
