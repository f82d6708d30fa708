-- The idempotency keys of applied gRPC writes, each with its answer (see runtime::idempotency).
CREATE TABLE idempotency_keys (
    -- The caller's key name and the key it sent, so two callers never share a key.
    key             TEXT PRIMARY KEY,
    -- The method, act-as role, event time and message the key was first used with.
    fingerprint     TEXT NOT NULL,
    -- The answer: the encoded response, or the gRPC status of a call that wrote and then
    -- refused (an evaluation found expired records that, then refuses the rating). All NULL in
    -- the moment between the write's commit and its answer's.
    response        BYTEA,
    status_code     INTEGER,
    status_message  TEXT,
    status_details  BYTEA,
    recorded_at     TIMESTAMP NOT NULL
);
CREATE INDEX idempotency_keys_recorded_at ON idempotency_keys (recorded_at);
