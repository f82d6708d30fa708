DROP TABLE report_history_warnings;
