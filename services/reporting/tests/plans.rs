//! Reporting's hot queries (the projections of the three streams into the read model and its
//! rollups) read through an index on a database that was never analyzed, on both backends:
//! none of them reads a growing table whole.

use caseflow_runtime::db::Db;
use caseflow_runtime::event_log;
use caseflow_runtime::testing::{Checked, TestDatabase, assert_no_full_scans};

const CASES: usize = 3_000;
const UNITS: [&str; 4] = ["chengguan", "zhujian", "shichang", "kaiyuan"];

/// What a projection's batch reads ahead on PostgreSQL for all its cases or dispatches
/// (`known.rs`), bound as arrays and planned with them on every run.
const POSTGRES_REPLANNED: &[Checked] = &[
    (
        "a batch's cases with ratings",
        "SELECT DISTINCT case_id AS id FROM report_ratings WHERE case_id = ANY($1::text[])",
        &["{case-1500,case-7,case-2999}"],
    ),
    (
        "a batch's cases with unmarked dispatches",
        "SELECT DISTINCT case_id AS id FROM report_dispatches WHERE case_id = ANY($1::text[]) AND NOT first_case",
        &["{case-1500,case-7,case-2999}"],
    ),
    (
        "a batch's cases, first or not",
        "SELECT case_id, is_first FROM report_cases WHERE case_id = ANY($1::text[])",
        &["{case-1500,case-7,case-2999}"],
    ),
    (
        "a batch's dispatches with ratings",
        "SELECT DISTINCT dispatch_id AS id FROM report_ratings WHERE dispatch_id = ANY($1::text[])",
        &["{m-1500-d1,m-7-d1,m-2999-d1}"],
    ),
];

/// (what, SQL with `$n` binds, the values).
const HOT: &[Checked] = &[
    (
        "a reception matter",
        "SELECT outcome FROM report_reception_matters WHERE reception_id = $1 AND ordinal = $2",
        &["lr-1500", "1"],
    ),
    ("a case by id", "SELECT received_at FROM report_cases WHERE case_id = $1", &["case-1500"]),
    (
        "a case-day count",
        "SELECT cases FROM report_case_days WHERE source = $1 AND day = $2 AND dimension = $3 AND value = $4",
        &["hotline", "2020-03-01", "channel", "phone"],
    ),
    (
        "a term-day count",
        "SELECT cases FROM report_term_days WHERE source = $1 AND day = $2 AND term = $3",
        &["hotline", "2020-03-01", "油烟"],
    ),
    ("a case's ratings that arrived first", "SELECT subject FROM report_ratings WHERE case_id = $1", &["case-1500"]),
    ("a dispatch by id", "SELECT status FROM report_dispatches WHERE dispatch_id = $1", &["m-1500-d1"]),
    (
        "a dispatch rated unsatisfied",
        "SELECT status, mapped FROM report_ratings WHERE dispatch_id = $1",
        &["m-1500-d1"],
    ),
    (
        "a dispatch-day row",
        "SELECT received FROM report_dispatch_days WHERE source = $1 AND day = $2 AND unit = $3",
        &["hotline", "2020-03-01", "chengguan"],
    ),
    (
        "a dispatch-shift row",
        "SELECT received FROM report_dispatch_shifts WHERE source = $1 AND day = $2 AND shift_day = $3 AND unit = $4",
        &["hotline", "2020-03-01", "2020-03-02", "chengguan"],
    ),
    (
        "the shifts after a day of the days received before it",
        "SELECT unit, received FROM report_dispatch_shifts WHERE source = $1 AND day >= $2 AND day < $3 \
         AND shift_day > $4",
        &["hotline", "2020-03-01", "2020-03-03", "2020-03-02"],
    ),
    (
        "a period's day rows summed per unit",
        "SELECT unit, CAST(SUM(received) AS BIGINT) AS received FROM report_dispatch_days \
         WHERE source = $1 AND day >= $2 AND day < $3 GROUP BY unit",
        &["hotline", "2020-03-01", "2020-03-20"],
    ),
    (
        "the shifts after a day summed per unit",
        "SELECT unit, CAST(SUM(received) AS BIGINT) AS received FROM report_dispatch_shifts \
         WHERE source = $1 AND day >= $2 AND day < $3 AND shift_day > $4 GROUP BY unit",
        &["hotline", "2020-03-01", "2020-03-03", "2020-03-02"],
    ),
    (
        "the days not settled by a moment",
        "SELECT DISTINCT day FROM report_dispatch_days WHERE source = $1 AND day >= $2 AND day < $3 \
         AND settles_by >= $4",
        &["hotline", "2020-03-01", "2020-03-03", "2020-03-02 00:00:00"],
    ),
    (
        "a day of a period's first month before it still changing at a moment",
        "SELECT day FROM report_dispatch_days WHERE source = $1 AND day >= $2 AND day < $3 AND settles_by >= $4 \
         LIMIT 1",
        &["hotline", "2020-03-01", "2020-03-10", "2020-03-12 00:00:00"],
    ),
    (
        "a few hours' changes summed per unit",
        "SELECT unit, CAST(SUM(received) AS BIGINT) AS received FROM report_shift_hours \
         WHERE source = $1 AND shift_hour >= $2 AND shift_hour < $3 AND received_month >= $4 GROUP BY unit",
        &["hotline", "2020-03-01 00:00:00", "2020-03-01 12:00:00", "2020-02-01"],
    ),
    (
        "a subject's rating",
        "SELECT status FROM report_ratings WHERE case_id = $1 AND subject = $2",
        &["case-1500", "chengguan"],
    ),
    (
        "a rating-day row",
        "SELECT due FROM report_rating_days WHERE source = $1 AND day = $2 AND subject = $3",
        &["hotline", "2020-03-01", "chengguan"],
    ),
    ("a return by id", "SELECT status FROM report_returns WHERE return_id = $1", &["rr-1500"]),
    (
        "a matter's pending returns by a unit",
        "SELECT return_id FROM report_returns WHERE matter_id = $1 AND unit = $2 AND status = $3",
        &["m-1500", "chengguan", "pending"],
    ),
    (
        "a period edge's ratings",
        "SELECT subject FROM report_ratings WHERE source = $1 AND case_id IN (SELECT case_id FROM report_cases \
         WHERE source = $1 AND received_at >= $2 AND received_at < $3)",
        &["hotline", "2020-03-01 00:00:00", "2020-03-01 12:00:00"],
    ),
    (
        "a first case's dispatches that came before it",
        "SELECT dispatch_id FROM report_dispatches WHERE case_id = $1 AND first_case = FALSE",
        &["case-1500"],
    ),
    (
        "a case's lead dispatches (its single-visit figures)",
        "SELECT status, resolved_at FROM report_dispatches WHERE case_id = $1 AND role = $2 AND status IN ($3, $4, $5)",
        &["case-1500", "lead", "open", "resolved", "triage"],
    ),
    ("a case's repeat", "SELECT case_id FROM report_cases WHERE repeat_of = $1 LIMIT 1", &["case-1500"]),
    (
        "a single-visit day row",
        "SELECT resolved FROM report_single_visit_days WHERE source = $1 AND day = $2",
        &["petition", "2020-03-01"],
    ),
    (
        "a period's single-visit day rows",
        "SELECT resolved, once, resolution_secs FROM report_single_visit_days WHERE source = $1 AND day >= $2 \
         AND day < $3",
        &["petition", "2020-03-01", "2020-03-20"],
    ),
    (
        "a period edge's single-visit cases",
        "SELECT case_id FROM report_cases WHERE source = $1 AND single_visit = TRUE AND received_at >= $2 \
         AND received_at < $3",
        &["petition", "2020-03-01 00:00:00", "2020-03-01 12:00:00"],
    ),
    (
        "a petitioner's petition just before another",
        "SELECT MAX(received_at) FROM report_cases WHERE person_key = $1 AND source = $2 \
         AND (received_at < $3 OR (received_at = $3 AND case_id < $4))",
        &["p-100", "petition", "2020-03-01 09:00:00", "case-100"],
    ),
    (
        "a petitioner's petition just after another",
        "SELECT case_id FROM report_cases WHERE person_key = $1 AND source = $2 \
         AND (received_at > $3 OR (received_at = $3 AND case_id > $4)) ORDER BY received_at, case_id LIMIT 1",
        &["p-100", "petition", "2020-03-01 09:00:00", "case-100"],
    ),
    (
        "a period's repeat petitions",
        "SELECT received_at, person_key, citizen_masked, case_id FROM report_cases WHERE source = $1 \
         AND previous_at >= $2 AND previous_at < $3 AND received_at < $3",
        &["petition", "2020-03-01 00:00:00", "2020-03-20 00:00:00"],
    ),
    (
        "a unit's open dispatches past their deadline (its console page)",
        "SELECT dispatch_id FROM report_dispatches WHERE unit = $1 AND status = $2 AND resolve_deadline < $3 \
         ORDER BY resolve_deadline, dispatch_id LIMIT 200",
        &["chengguan", "open", "2020-03-20 00:00:00"],
    ),
    (
        "a unit's petition ratings of a period (the drill-down)",
        "SELECT case_id FROM report_ratings WHERE source = $1 AND subject = $2 AND case_id IN (SELECT case_id \
         FROM report_cases WHERE source = $1 AND received_at >= $3 AND received_at < $4)",
        &["petition", "chengguan", "2020-03-01 00:00:00", "2020-03-20 00:00:00"],
    ),
    (
        "the moves of a period (the bounce page)",
        "SELECT previous_unit, unit, matter_id, assignment FROM report_dispatches WHERE source IN ($1, $2) \
         AND received_at >= $3 AND received_at < $4 AND assignment > 1 AND role = 'lead'",
        &["hotline", "petition", "2020-03-01 00:00:00", "2020-03-20 00:00:00"],
    ),
    (
        "a matter's lead dispatch at an assignment",
        "SELECT unit FROM report_dispatches WHERE matter_id = $1 AND role = $2 AND assignment = $3",
        &["m-1500", "lead", "1"],
    ),
    (
        "a consumer's checkpoint",
        "SELECT position FROM consumer_checkpoints WHERE consumer = $1",
        &["reporting<-routing"],
    ),
    (
        "the period's reviews",
        "SELECT level, requested_at, due_at, decided_at, outcome FROM report_reviews WHERE requested_at >= $1 AND requested_at < $2",
        &["2020-03-01 00:00:00", "2020-03-02 00:00:00"],
    ),
    (
        "a review by case and level",
        "SELECT outcome FROM report_reviews WHERE case_id = $1 AND level = $2",
        &["case-1", "review"],
    ),
    (
        "the shift totals up to a day",
        "SELECT unit, SUM(received) FROM report_shift_totals WHERE source = $1 AND shift_day <= $2 GROUP BY unit",
        &["hotline", "2020-03-10"],
    ),
    (
        "the days received before a period",
        "SELECT unit, SUM(received) FROM report_dispatch_days WHERE source = $1 AND day < $2 GROUP BY unit",
        &["hotline", "2020-03-10"],
    ),
];

/// Queries run rarely and planned anew on every run (`Replanned`): checked as planned on the full
/// load.
const REPLANNED: &[Checked] = &[
    // cells.rs: a page of a cell's dispatches
    (
        "a unit's dispatches of a period (the drill-down)",
        "SELECT dispatch_id FROM report_dispatches WHERE source = $1 AND received_at >= $2 AND received_at < $3 \
         AND unit = $4",
        &["hotline", "2020-03-01 00:00:00", "2020-03-20 00:00:00", "chengguan"],
    ),
    // read.rs: a report as of a moment (the moments inside its last hour), a page's ratings
    (
        "the ratings of a page of dispatches",
        "SELECT dispatch_id, status, mapped FROM report_ratings WHERE dispatch_id IN ($1, $2, $3)",
        &["m-1500-d1", "m-1501-d1", "m-1502-d1"],
    ),
    (
        "dispatches received in an hour",
        "SELECT dispatch_id FROM report_dispatches WHERE source = $1 AND received_at BETWEEN $2 AND $3",
        &["hotline", "2020-03-01 08:00:00", "2020-03-01 09:00:00"],
    ),
    (
        "dispatches whose acknowledgement fell due in an hour",
        "SELECT dispatch_id FROM report_dispatches WHERE source = $1 AND acknowledge_deadline BETWEEN $2 AND $3",
        &["hotline", "2020-03-01 08:00:00", "2020-03-01 09:00:00"],
    ),
    (
        "dispatches acknowledged in an hour",
        "SELECT dispatch_id FROM report_dispatches WHERE source = $1 AND acknowledged_at BETWEEN $2 AND $3",
        &["hotline", "2020-03-01 08:00:00", "2020-03-01 09:00:00"],
    ),
    (
        "dispatches falling due in an hour",
        "SELECT dispatch_id FROM report_dispatches WHERE source = $1 AND resolve_deadline BETWEEN $2 AND $3",
        &["hotline", "2020-03-01 08:00:00", "2020-03-01 09:00:00"],
    ),
    (
        "dispatches resolved in an hour",
        "SELECT dispatch_id FROM report_dispatches WHERE source = $1 AND resolved_at BETWEEN $2 AND $3",
        &["hotline", "2020-03-01 08:00:00", "2020-03-01 09:00:00"],
    ),
    // views.rs moves: a period's wrongful returns
    (
        "a period's wrongful returns",
        "SELECT unit FROM report_returns WHERE received_at >= $1 AND received_at < $2 AND wrongful",
        &["2020-03-01 00:00:00", "2020-03-20 00:00:00"],
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reportings_hot_queries_read_through_an_index_without_statistics() {
    let test_db = TestDatabase::new("reporting_plans");
    let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS, &caseflow_reporting::MIGRATIONS])
        .await
        .expect("database");
    let mut rows = Vec::new();
    for i in 0..CASES {
        let unit = UNITS[i % UNITS.len()];
        let day = format!("2020-03-{:02}", 1 + i % 28);
        rows.push(format!(
            "INSERT INTO report_cases (case_id, source, channel, kind, category, sub_district, received_at, is_first, \
             single_visit, person_key, citizen_masked, visit_persons, collective, terms) VALUES ('case-{i}', \
             'hotline', 'phone', 'complaint', 'urban_management.cooking_fume', 'kaiyuan', '{day} 09:00:00', TRUE, \
             FALSE, 'p-{p}', '陈**', 1, FALSE, '油烟');\n\
             INSERT INTO report_dispatches (dispatch_id, case_id, matter_id, unit, role, assignment, source, \
             received_at, dispatched_at, acknowledge_deadline, acknowledged_at, resolve_deadline, resolved_at, status, \
             rehandled, settles_at) VALUES ('m-{i}-d1', 'case-{i}', 'm-{i}', '{unit}', 'lead', 1, 'hotline', \
             '{day} 09:00:00', '{day} 09:05:00', '{day} 11:00:00', '{day} 10:00:00', '2020-04-15 09:00:00', \
             '{day} 16:00:00', 'resolved', 0, '2020-04-15 09:00:00');\n\
             INSERT INTO report_ratings (case_id, subject, dispatch_id, source, status, mapped) VALUES ('case-{i}', \
             '{unit}', 'm-{i}-d1', 'hotline', 'rated', 'satisfied');\n\
             INSERT INTO report_returns (return_id, unit, matter_id, status, wrongful, received_at) VALUES ('rr-{i}', \
             '{unit}', 'm-{i}', 'rejected', FALSE, '{day} 09:00:00');\n\
             INSERT INTO report_reception_matters (reception_id, ordinal, received_at, persons, outcome) VALUES \
             ('lr-{i}', 1, '{day} 09:00:00', 2, 'in_progress');\n\
             INSERT INTO report_shift_totals (source, unit, shift_day, received, in_progress, completed, \
             overdue_view, overdue_handling, unsatisfied, on_time, late, first_resolved, elsewhere_secs, rehandled, \
             first_on_time, first_late) VALUES ('hotline', 'u{i}', '{day}', 1, 0, 1, 0, 0, 0, 1, 0, 1, 300, 0, 0, 0);\n\
             INSERT INTO report_shift_hours (source, unit, shift_hour, received_month, received, in_progress, \
             completed, overdue_view, overdue_handling, unsatisfied, on_time, late, first_resolved, elsewhere_secs, \
             rehandled, first_on_time, first_late) VALUES ('hotline', 'u{i}', '{day} {hour:02}:00:00', '2020-03-01', \
             1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);\n\
             INSERT INTO report_reviews (case_id, level, requested_at, due_at) VALUES ('case-{i}', 'review', \
             '{day} 09:00:00', '2020-04-30 16:00:00');\n\
             INSERT INTO report_dispatch_days (source, unit, day, received, in_progress, completed, overdue_view, \
             overdue_handling, unsatisfied, on_time, late, first_resolved, elsewhere_secs, rehandled, settles_by) \
             VALUES ('hotline', 'u{i}', '{day}', 1, 0, 1, 0, 0, 0, 1, 0, 1, 300, 0, '2020-04-15 09:00:00');\n\
             INSERT INTO report_dispatch_shifts (source, unit, day, shift_day, received, in_progress, completed, \
             overdue_view, overdue_handling, unsatisfied, on_time, late, first_resolved, elsewhere_secs, rehandled) \
             VALUES ('hotline', 'u{i}', '{day}', '2020-04-15', 0, -1, 1, 0, 0, 0, 0, 0, 0, 0, 0);\n\
             INSERT INTO report_rating_days (source, subject, day, due, expired, satisfied, basic, unsatisfied) VALUES \
             ('hotline', 's{i}', '{day}', 1, 0, 1, 0, 0);\n\
             INSERT INTO report_case_days (source, day, dimension, value, cases) VALUES ('hotline', '{day}', \
             'subcategory', 'c{i}', 1);\n\
             INSERT INTO report_term_days (source, day, term, cases) VALUES ('hotline', '{day}', 't{i}', 1);\n\
             INSERT INTO report_single_visit_days (source, day, resolved, once, resolution_secs) VALUES ('p{i}', \
             '{day}', 1, 1, 86400);\n",
            p = i % 500,
            hour = i % 24,
        ));
    }
    assert_no_full_scans(&db, rows, HOT, REPLANNED, POSTGRES_REPLANNED).await;
}
