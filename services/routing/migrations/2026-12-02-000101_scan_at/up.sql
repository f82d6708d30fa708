-- When the scanner must next look at a dispatch (issue 15: nothing to do costs nothing): its
-- next reminder, its deadline (supervision) or its supervision's escalation, as the scanner
-- worked it out the last time it looked; a dispatch that changed since is due at once (the
-- moment it was dispatched), and one with nothing left to wait for is NULL. A scan reads the due
-- ones through this index instead of every open dispatch, and the scanner sleeps until the
-- earliest.
ALTER TABLE dispatches ADD COLUMN scan_at TIMESTAMP;
UPDATE dispatches SET scan_at = dispatched_at
    WHERE closed_at IS NULL
    AND state IN ('dispatched', 'acknowledged', 'landed', 'replied', 'reviewed', 'rehandling');
CREATE INDEX dispatches_scan ON dispatches (scan_at);
