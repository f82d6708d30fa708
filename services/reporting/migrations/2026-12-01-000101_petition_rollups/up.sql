-- The petition summary's figures from rollups, not from every petition of the period.

-- A dispatch of a first case (初信初访件), copied from its case by whichever of the two reaches
-- the read model second: the first petitions' on-time completion is a pair of dispatch cells.
ALTER TABLE report_dispatches ADD COLUMN first_case BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE report_dispatch_days ADD COLUMN first_on_time BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_dispatch_days ADD COLUMN first_late BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_dispatch_shifts ADD COLUMN first_on_time BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_dispatch_shifts ADD COLUMN first_late BIGINT NOT NULL DEFAULT 0;

-- Single-visit (最多投一次) cases per day of receipt: those resolved (every matter's lead
-- dispatch resolved), those of them no repeat case followed (一次性办结), and the seconds from
-- receipt to the last resolution.
CREATE TABLE report_single_visit_days (
    source          TEXT NOT NULL,
    day             DATE NOT NULL,
    resolved        BIGINT NOT NULL,
    once            BIGINT NOT NULL,
    resolution_secs BIGINT NOT NULL,
    PRIMARY KEY (source, day)
);

-- For a petition with a known petitioner: when the same person's petition just before it was
-- received (petitions ordered by receipt, then case id). Within a period, a person's petitions
-- are the first of them and those whose previous_at falls in the period: the repeat
-- petitioners are counted from those few rows alone, read whole from this index.
ALTER TABLE report_cases ADD COLUMN previous_at TIMESTAMP;
CREATE INDEX report_cases_person ON report_cases (person_key, source, received_at);
CREATE INDEX report_cases_previous
    ON report_cases (source, previous_at, received_at, person_key, citizen_masked, case_id);

-- The bounce page's flows between units: each dispatch past a matter's first assignment keeps
-- the unit of the one before it, and the period's moves are counted from one partial index
-- that holds all they need (a query saying `assignment > 1 AND role = 'lead'` in so many words
-- reads only those rows, on both backends).
ALTER TABLE report_dispatches ADD COLUMN previous_unit TEXT;
DROP INDEX report_dispatches_moved;
CREATE INDEX report_dispatches_moves
    ON report_dispatches (source, received_at, previous_unit, unit, matter_id, assignment)
    WHERE assignment > 1 AND role = 'lead';

-- The drill-down into a unit's unsatisfied dispatches: only rated evaluations have a level.
CREATE INDEX report_ratings_unsatisfied ON report_ratings (dispatch_id) WHERE mapped = 'unsatisfied';

-- The new columns are filled by replaying the streams.
DELETE FROM report_cases;
DELETE FROM report_dispatches;
DELETE FROM report_ratings;
DELETE FROM report_returns;
DELETE FROM report_reception_matters;
DELETE FROM report_dispatch_days;
DELETE FROM report_dispatch_shifts;
DELETE FROM report_rating_days;
DELETE FROM report_term_days;
DELETE FROM report_case_days;
DELETE FROM consumer_checkpoints WHERE consumer LIKE 'reporting<-%';
