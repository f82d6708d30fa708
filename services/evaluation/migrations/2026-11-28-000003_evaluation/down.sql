DROP TABLE follow_ups;
DROP TABLE evaluation_ratings;
DROP TABLE evaluations;
DROP TABLE eval_matters;
DROP TABLE eval_cases;
DROP TABLE evaluation_subjects;
