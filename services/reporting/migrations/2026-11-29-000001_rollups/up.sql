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
    -- Never earlier than the latest settles_at of the row's dispatches (it only grows): a report
    -- as of an earlier moment looks at this day's dispatches one by one.
    settles_by       TIMESTAMP,
    PRIMARY KEY (source, day, unit)
);

-- Each unit's petition evaluations (the attachment 1 counts).
CREATE TABLE report_petition_days (
    unit        TEXT NOT NULL,
    day         DATE NOT NULL,
    due         BIGINT NOT NULL,
    expired     BIGINT NOT NULL,
    satisfied   BIGINT NOT NULL,
    basic       BIGINT NOT NULL,
    unsatisfied BIGINT NOT NULL,
    PRIMARY KEY (day, unit)
);

-- Cases per day by one dimension at a time: channel, kind, category (level 1), first, single_visit.
CREATE TABLE report_case_days (
    source    TEXT NOT NULL,
    day       DATE NOT NULL,
    dimension TEXT NOT NULL,
    value     TEXT NOT NULL,
    cases     BIGINT NOT NULL,
    PRIMARY KEY (source, day, dimension, value)
);

-- The read model built before the rollups existed is rebuilt from the streams.
DELETE FROM report_cases;
DELETE FROM report_dispatches;
DELETE FROM report_ratings;
DELETE FROM report_returns;
DELETE FROM report_reception_matters;
DELETE FROM consumer_checkpoints WHERE consumer LIKE 'reporting<-%';
