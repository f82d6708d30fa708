ALTER TABLE return_requests DROP COLUMN proposed_history;
ALTER TABLE dispatches DROP COLUMN history_warning;
