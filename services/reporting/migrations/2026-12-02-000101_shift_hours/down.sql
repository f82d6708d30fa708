DROP TABLE report_backfills;
DROP TABLE report_shift_hours;
