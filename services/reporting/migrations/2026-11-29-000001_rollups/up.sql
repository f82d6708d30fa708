-- Rollups kept as events arrive, so a half-year report reads a few thousand rows and not every
-- dispatch. Days are the district's calendar days (UTC+8) of the case's receipt.

-- When a dispatch's figures stop depending on the moment a report is taken "as of": the latest
-- of its deadlines, acknowledgement and resolution. Reports as of an earlier moment correct
-- the rollups with the dispatches that had not settled by then.
ALTER TABLE report_dispatches ADD COLUMN settles_at TIMESTAMP;
CREATE INDEX report_dispatches_matter ON report_dispatches (matter_id);
CREATE INDEX report_ratings_dispatch ON report_ratings (dispatch_id);
CREATE INDEX report_dispatches_case ON report_dispatches (case_id);
CREATE INDEX report_cases_repeat_of ON report_cases (repeat_of);
-- Returns counted by the receipt of their case, like everything else in a period.
ALTER TABLE report_returns ADD COLUMN received_at TIMESTAMP;
CREATE INDEX report_returns_received ON report_returns (received_at);
CREATE INDEX report_cases_single_visit ON report_cases (source, single_visit, received_at);

-- Lead dispatches held by a unit (open or resolved), as they stand once every deadline passed.
CREATE TABLE report_dispatch_days (
    source           TEXT NOT NULL,
    unit             TEXT NOT NULL,
    day              DATE NOT NULL,
    received         BIGINT NOT NULL,
    in_progress      BIGINT NOT NULL,
    completed        BIGINT NOT NULL,
    overdue_view     BIGINT NOT NULL,
    overdue_handling BIGINT NOT NULL,
    unsatisfied      BIGINT NOT NULL,
    on_time          BIGINT NOT NULL,
    late             BIGINT NOT NULL,
    -- Bounce figures of the resolved ones: got on the first assignment, and the seconds the
    -- matter spent elsewhere before reaching the unit; re-handlings of all of them.
    first_resolved   BIGINT NOT NULL,
    elsewhere_secs   BIGINT NOT NULL,
    rehandled        BIGINT NOT NULL,
    -- Never earlier than the latest settles_at of the row's dispatches (it only grows): a report
    -- as of an earlier moment looks at this day's dispatches one by one.
    settles_by       TIMESTAMP,
    PRIMARY KEY (source, day, unit)
);

-- Evaluations per subject: a unit's part of a petition (attachment 1), the petition agency's
-- ("agency"), a hotline unit's dispatch, and the hotline case's own rating ("case").
CREATE TABLE report_rating_days (
    source      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    day         DATE NOT NULL,
    due         BIGINT NOT NULL,
    expired     BIGINT NOT NULL,
    satisfied   BIGINT NOT NULL,
    basic       BIGINT NOT NULL,
    unsatisfied BIGINT NOT NULL,
    PRIMARY KEY (source, day, subject)
);

-- Cases per day by one dimension at a time: total, channel, kind, category (level 1),
-- subcategory (level 2), first, single_visit, collective.
CREATE TABLE report_case_days (
    source    TEXT NOT NULL,
    day       DATE NOT NULL,
    dimension TEXT NOT NULL,
    value     TEXT NOT NULL,
    cases     BIGINT NOT NULL,
    PRIMARY KEY (source, day, dimension, value)
);

-- Words of the matters' summaries (jieba segmentation), counted once per case: hot topics.
CREATE TABLE report_term_days (
    source TEXT NOT NULL,
    day    DATE NOT NULL,
    term   TEXT NOT NULL,
    cases  BIGINT NOT NULL,
    PRIMARY KEY (source, day, term)
);

-- What the summary says of petitioners: repeat petitioners by their masked name, collective visits.
ALTER TABLE report_cases ADD COLUMN person_key TEXT NOT NULL DEFAULT '';
ALTER TABLE report_cases ADD COLUMN citizen_masked TEXT NOT NULL DEFAULT '';
ALTER TABLE report_cases ADD COLUMN visit_persons INTEGER NOT NULL DEFAULT 0;
ALTER TABLE report_cases ADD COLUMN collective BOOLEAN NOT NULL DEFAULT FALSE;
-- The case's words, space-separated, for periods that start or end inside a day.
ALTER TABLE report_cases ADD COLUMN terms TEXT NOT NULL DEFAULT '';

-- The read model built before the rollups existed is rebuilt from the streams.
DELETE FROM report_cases;
DELETE FROM report_dispatches;
DELETE FROM report_ratings;
DELETE FROM report_returns;
DELETE FROM report_reception_matters;
DELETE FROM consumer_checkpoints WHERE consumer LIKE 'reporting<-%';
