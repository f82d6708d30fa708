-- Routing: the unit registry, matters as routing sees them, dispatches (批转件), return
-- requests, extensions, supervision, reminders, and the append-only routing log.
CREATE TABLE units (
    code      TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    -- active | merged | abolished
    status    TEXT NOT NULL,
    successor TEXT REFERENCES units (code)
);

-- One row per matter: its clock (which never resets) and its return history.
CREATE TABLE routing_matters (
    matter_id        TEXT PRIMARY KEY,
    case_id          TEXT NOT NULL,
    source           TEXT NOT NULL,
    kind             TEXT NOT NULL,
    category         TEXT NOT NULL,
    summary          TEXT NOT NULL,
    sub_district     TEXT NOT NULL,
    anonymous        BOOLEAN NOT NULL,
    single_visit     BOOLEAN NOT NULL,
    accused_unit     TEXT,
    case_received_at TIMESTAMP NOT NULL,
    land_deadline    TIMESTAMP NOT NULL,
    resolve_deadline TIMESTAMP NOT NULL,
    extensions       INTEGER NOT NULL,
    approved_returns INTEGER NOT NULL,
    -- triage | open | arbitration | resolved
    state            TEXT NOT NULL,
    designated_unit  TEXT,
    case_analysis    TEXT,
    resolved_at      TIMESTAMP,
    version          INTEGER NOT NULL
);
CREATE INDEX routing_matters_case ON routing_matters (case_id);
CREATE INDEX routing_matters_state ON routing_matters (state);

CREATE TABLE dispatches (
    id                   TEXT PRIMARY KEY,
    case_id              TEXT NOT NULL,
    matter_id            TEXT NOT NULL REFERENCES routing_matters (matter_id),
    assignment           INTEGER NOT NULL,
    unit                 TEXT NOT NULL REFERENCES units (code),
    -- lead | assist
    role                 TEXT NOT NULL,
    -- named | catalog | triage | return | transfer | designation
    via                  TEXT NOT NULL,
    state                TEXT NOT NULL,
    dispatched_at        TIMESTAMP NOT NULL,
    acknowledge_deadline TIMESTAMP NOT NULL,
    return_deadline      TIMESTAMP NOT NULL,
    acknowledged_at      TIMESTAMP,
    landed_at            TIMESTAMP,
    landing_method       TEXT,
    replied_at           TIMESTAMP,
    reply                TEXT,
    reviewed_at          TIMESTAMP,
    resolved_at          TIMESTAMP,
    closed_at            TIMESTAMP,
    version              INTEGER NOT NULL,
    UNIQUE (matter_id, assignment, unit)
);
CREATE INDEX dispatches_case ON dispatches (case_id);
CREATE INDEX dispatches_matter ON dispatches (matter_id);
CREATE INDEX dispatches_unit_state ON dispatches (unit, state);

CREATE TABLE return_requests (
    id              TEXT PRIMARY KEY,
    dispatch_id     TEXT NOT NULL REFERENCES dispatches (id),
    matter_id       TEXT NOT NULL,
    unit            TEXT NOT NULL,
    reason_code     TEXT NOT NULL,
    reason          TEXT NOT NULL,
    proposed_unit   TEXT NOT NULL,
    basis           TEXT NOT NULL,
    contact         TEXT NOT NULL,
    requested_at    TIMESTAMP NOT NULL,
    -- pending | approved | rejected
    status          TEXT NOT NULL,
    decided_by      TEXT,
    decided_at      TIMESTAMP,
    decision_reason TEXT,
    wrongful        BOOLEAN NOT NULL,
    days_cost       DOUBLE PRECISION
);
CREATE INDEX return_requests_matter ON return_requests (matter_id);

CREATE TABLE extensions (
    id              TEXT PRIMARY KEY,
    dispatch_id     TEXT NOT NULL REFERENCES dispatches (id),
    matter_id       TEXT NOT NULL,
    days            INTEGER NOT NULL,
    reason          TEXT NOT NULL,
    progress        TEXT NOT NULL,
    requested_at    TIMESTAMP NOT NULL,
    status          TEXT NOT NULL,
    decided_by      TEXT,
    decided_at      TIMESTAMP,
    decision_reason TEXT
);
CREATE INDEX extensions_matter ON extensions (matter_id);

CREATE TABLE supervisions (
    id           TEXT PRIMARY KEY,
    dispatch_id  TEXT NOT NULL REFERENCES dispatches (id),
    level        INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    opened_at    TIMESTAMP NOT NULL,
    opened_by    TEXT NOT NULL,
    escalated_at TIMESTAMP,
    closed_at    TIMESTAMP
);
CREATE INDEX supervisions_dispatch ON supervisions (dispatch_id);

CREATE TABLE reminders (
    dispatch_id TEXT NOT NULL REFERENCES dispatches (id),
    deadline    TEXT NOT NULL,
    fraction    INTEGER NOT NULL,
    sent_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (dispatch_id, deadline, fraction)
);

CREATE TABLE routing_log (
    id          TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL,
    matter_id   TEXT NOT NULL,
    dispatch_id TEXT,
    unit        TEXT,
    action      TEXT NOT NULL,
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    evidence    TEXT NOT NULL,
    at          TIMESTAMP NOT NULL
);
CREATE INDEX routing_log_case ON routing_log (case_id, at);
