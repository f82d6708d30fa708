DROP TABLE report_shift_totals;
