-- What the citizen's rating page shows of the case: its matters' summaries, with long digit
-- runs (phone and ID numbers) masked. Cases taken in before this have none to show.
ALTER TABLE eval_cases ADD COLUMN summary TEXT NOT NULL DEFAULT '';
-- The citizen's optional comment with a rating (the same on each subject's row of one rating).
ALTER TABLE evaluation_ratings ADD COLUMN comment TEXT;
