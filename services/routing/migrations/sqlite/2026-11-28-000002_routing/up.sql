-- The unit registry, dispatches (批转件) and the append-only routing log.
CREATE TABLE units (
    code      TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    -- active | merged | abolished
    status    TEXT NOT NULL,
    successor TEXT REFERENCES units (code)
);

CREATE TABLE dispatches (
    id               TEXT PRIMARY KEY,
    case_id          TEXT NOT NULL,
    matter_id        TEXT NOT NULL,
    -- 1 for the first assignment of the matter, then 2, 3 ... after returns and transfers.
    assignment       INTEGER NOT NULL,
    -- NULL while the matter waits in the triage queue.
    unit             TEXT REFERENCES units (code),
    state            TEXT NOT NULL,
    source           TEXT NOT NULL,
    kind             TEXT NOT NULL,
    category         TEXT NOT NULL,
    sub_district     TEXT NOT NULL,
    anonymous        BOOLEAN NOT NULL,
    case_received_at TIMESTAMP NOT NULL,
    dispatched_at    TIMESTAMP NOT NULL,
    version          INTEGER NOT NULL,
    UNIQUE (matter_id, assignment)
);
CREATE INDEX dispatches_case ON dispatches (case_id);
CREATE INDEX dispatches_unit_state ON dispatches (unit, state);

CREATE TABLE routing_log (
    id          TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL,
    matter_id   TEXT NOT NULL,
    dispatch_id TEXT,
    action      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    evidence    TEXT NOT NULL,
    at          TIMESTAMP NOT NULL
);
CREATE INDEX routing_log_case ON routing_log (case_id, at);
