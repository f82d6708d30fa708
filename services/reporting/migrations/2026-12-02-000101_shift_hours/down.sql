DROP TABLE report_backfills;
DROP INDEX report_dispatch_days_settling;
DROP TABLE report_shift_hours;
