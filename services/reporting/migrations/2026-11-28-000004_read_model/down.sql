DROP TABLE report_reception_matters;
DROP TABLE report_returns;
DROP TABLE report_ratings;
DROP TABLE report_dispatches;
DROP TABLE report_cases;
