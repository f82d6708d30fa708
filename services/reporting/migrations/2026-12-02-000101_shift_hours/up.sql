-- Every dispatch's changes summed per hour they happened, over all days of receipt (issue 15,
-- item 7). A report as of a moment inside a day reads the cells at the nearer midnight
-- (report_shift_totals), then these rows for the hours between that midnight and the hour edge
-- nearest the moment (a row per unit and hour), and only the dispatches with a moment in the
-- last half hour one by one, instead of every dispatch that changed since midnight.
CREATE TABLE report_shift_hours (
    source           TEXT NOT NULL,
    unit             TEXT NOT NULL,
    shift_hour       TIMESTAMP NOT NULL,
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
    PRIMARY KEY (source, shift_hour, unit)
);
-- Whether any day received before a period was still changing at a moment: through the days
-- that settle late, not every day before the period.
CREATE INDEX report_dispatch_days_settling ON report_dispatch_days (source, settles_by);
-- Work the service does in Rust when it starts, once: here, filling report_shift_hours from
-- the dispatch facts already in the read model (the hour of each change is computed by the same
-- function the projections use, which SQL cannot share). The row goes in the same transaction
-- as the work.
CREATE TABLE report_backfills (
    name TEXT PRIMARY KEY
);
INSERT INTO report_backfills (name) VALUES ('shift_hours');
