-- Every dispatch's changes summed per hour they happened and month of receipt (issue 15, item
-- 7). A report as of a moment inside a day reads the cells at the nearer midnight
-- (report_shift_totals), then these rows for the hours between that midnight and the hour edge
-- nearest the moment (a row per unit, hour and month received, from the period's first month),
-- and only the dispatches with a moment in the last half hour one by one, instead of every
-- dispatch that changed since midnight. The month of receipt keeps a period that starts on a
-- month's first day apart from the dispatches received before it that are still changing.
CREATE TABLE report_shift_hours (
    source           TEXT NOT NULL,
    unit             TEXT NOT NULL,
    shift_hour       TIMESTAMP NOT NULL,
    received_month   DATE NOT NULL,
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
    first_on_time    BIGINT NOT NULL,
    first_late       BIGINT NOT NULL,
    PRIMARY KEY (source, shift_hour, received_month, unit)
);
-- Work the service does in Rust when it starts, once: here, filling report_shift_hours from
-- the dispatch facts already in the read model (the hour of each change is computed by the same
-- function the projections use, which SQL cannot share). The row goes in the same transaction
-- as the work.
CREATE TABLE report_backfills (
    name TEXT PRIMARY KEY
);
INSERT INTO report_backfills (name) VALUES ('shift_hours');
