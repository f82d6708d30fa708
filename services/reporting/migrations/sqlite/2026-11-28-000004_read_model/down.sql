DROP TABLE report_dispatches;
DROP TABLE report_cases;
