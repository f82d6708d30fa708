ALTER TABLE evaluation_ratings DROP COLUMN comment;
ALTER TABLE eval_cases DROP COLUMN summary;
