DROP TABLE consumer_checkpoints;
DROP TABLE outbox_events;
