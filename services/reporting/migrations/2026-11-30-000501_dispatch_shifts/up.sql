-- How each day's lead dispatches change over time: a report as of a moment inside the period
-- reads these instead of every dispatch that had not settled by then.
--
-- A row holds, for the dispatches of (source, unit) received on `day`, how their cells changed
-- over the district day `shift_day`: the cells as of the end of `shift_day` minus those as of
-- the end of the day before (the day of receipt itself counts the dispatch coming in). Summed
-- over every shift_day they equal the dispatch's row in report_dispatch_days; summed up to a
-- day, they are the cells as of that day's end.
CREATE TABLE report_dispatch_shifts (
    source           TEXT NOT NULL,
    unit             TEXT NOT NULL,
    day              DATE NOT NULL,
    shift_day        DATE NOT NULL,
    received         BIGINT NOT NULL,
    in_progress      BIGINT NOT NULL,
    completed        BIGINT NOT NULL,
    overdue_view     BIGINT NOT NULL,
    overdue_handling BIGINT NOT NULL,
    unsatisfied      BIGINT NOT NULL,
    on_time          BIGINT NOT NULL,
    late             BIGINT NOT NULL,
    first_resolved   BIGINT NOT NULL,
    elsewhere_secs   BIGINT NOT NULL,
    rehandled        BIGINT NOT NULL,
    PRIMARY KEY (source, day, shift_day, unit)
);

-- Within the day of the moment asked, the dispatches whose cells change between that moment
-- and the day's edge are read one by one, found by the moment of each change.
CREATE INDEX report_dispatches_acknowledge_deadline ON report_dispatches (source, acknowledge_deadline);
CREATE INDEX report_dispatches_acknowledged ON report_dispatches (source, acknowledged_at);
CREATE INDEX report_dispatches_resolve_deadline ON report_dispatches (source, resolve_deadline);
CREATE INDEX report_dispatches_resolved ON report_dispatches (source, resolved_at);

-- The shifts of the dispatches already in the read model come from replaying the streams.
DELETE FROM report_cases;
DELETE FROM report_dispatches;
DELETE FROM report_ratings;
DELETE FROM report_returns;
DELETE FROM report_reception_matters;
DELETE FROM report_dispatch_days;
DELETE FROM report_rating_days;
DELETE FROM report_term_days;
DELETE FROM report_case_days;
DELETE FROM consumer_checkpoints WHERE consumer LIKE 'reporting<-%';
