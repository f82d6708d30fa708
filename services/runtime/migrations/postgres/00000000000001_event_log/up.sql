-- The transactional outbox and consumer checkpoints every service keeps in its own database.
CREATE TABLE outbox_events (
    id            BIGSERIAL PRIMARY KEY,
    -- Stamped by the single publisher in commit order; NULL until published.
    position      BIGINT UNIQUE,
    event_id      TEXT NOT NULL UNIQUE,
    event_type    TEXT NOT NULL,
    aggregate_id  TEXT NOT NULL,
    payload       BYTEA NOT NULL,
    trace_context TEXT NOT NULL,
    recorded_at   TIMESTAMP NOT NULL
);
CREATE INDEX outbox_events_unpublished ON outbox_events (id) WHERE position IS NULL;

CREATE TABLE consumer_checkpoints (
    consumer   TEXT PRIMARY KEY,
    position   BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
