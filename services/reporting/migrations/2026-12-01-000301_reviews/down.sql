DROP TABLE report_reviews;
