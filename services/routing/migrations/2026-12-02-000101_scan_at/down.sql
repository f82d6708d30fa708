DROP INDEX dispatches_scan;
ALTER TABLE dispatches DROP COLUMN scan_at;
