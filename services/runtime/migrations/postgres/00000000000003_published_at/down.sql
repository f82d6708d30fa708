ALTER TABLE outbox_events DROP COLUMN published_at;
