DROP TABLE evaluation_subjects;
