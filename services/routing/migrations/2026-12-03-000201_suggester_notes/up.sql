-- What the unit suggester said, kept where the dispatcher reads it (suggest/advice.rs), as the
-- JSON of a HistoryNote with the number of the model it came from:
-- - on a dispatch made at receipt to a unit that history says rarely resolves such matters;
-- - on a return request, what history says of the unit it proposes.
ALTER TABLE dispatches ADD COLUMN history_warning TEXT;
ALTER TABLE return_requests ADD COLUMN proposed_history TEXT;
