DROP INDEX report_ratings_open_windows;
ALTER TABLE report_ratings DROP COLUMN window_ends;
