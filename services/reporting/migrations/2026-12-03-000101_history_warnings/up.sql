-- Dispatches made at receipt to a unit that the unit suggester's history said rarely resolves
-- such matters (routing's DispatchChanged carries the warning): the bounce report counts them
-- per unit for the matters received in a period, and how many the unit then handed on.
CREATE TABLE report_history_warnings (
    dispatch_id    TEXT PRIMARY KEY NOT NULL,
    case_id        TEXT NOT NULL,
    matter_id      TEXT NOT NULL,
    unit           TEXT NOT NULL,
    received_at    TIMESTAMP NOT NULL,
    model_version  INTEGER NOT NULL
);
CREATE INDEX report_history_warnings_received ON report_history_warnings (received_at);
