-- Every day of receipt's shifts summed per day they happened (issue 15, item 7). A shift never
-- falls before its day of receipt, so the cells as of a day D of the days received from F to D
-- are the shifts up to D of every day of receipt, less those of the days before F: a report as
-- of a moment inside its period reads a row per unit and day here, instead of the shifts after
-- D of every day of the period not settled by then.
CREATE TABLE report_shift_totals (
    source           TEXT NOT NULL,
    unit             TEXT NOT NULL,
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
    first_on_time    BIGINT NOT NULL,
    first_late       BIGINT NOT NULL,
    PRIMARY KEY (source, shift_day, unit)
);
INSERT INTO report_shift_totals
    SELECT source, unit, shift_day, SUM(received), SUM(in_progress), SUM(completed), SUM(overdue_view),
        SUM(overdue_handling), SUM(unsatisfied), SUM(on_time), SUM(late), SUM(first_resolved),
        SUM(elsewhere_secs), SUM(rehandled), SUM(first_on_time), SUM(first_late)
    FROM report_dispatch_shifts GROUP BY source, unit, shift_day;
