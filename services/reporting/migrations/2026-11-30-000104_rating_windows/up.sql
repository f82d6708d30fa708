-- When a due evaluation's window closes: a report as of a later moment counts it as expired
-- (超期未评) whether or not the expiry job has recorded that yet, so every report as of a
-- moment is the same whenever it is asked. Only due rows carry it; the index finds the few
-- whose window closed and whose expiry is not recorded yet.
ALTER TABLE report_ratings ADD COLUMN window_ends TIMESTAMP;
CREATE INDEX report_ratings_open_windows ON report_ratings (status, window_ends);
