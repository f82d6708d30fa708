-- When the publisher gave each event its position (wall clock): a consumer's lag in seconds.
ALTER TABLE outbox_events ADD COLUMN published_at TIMESTAMP;
