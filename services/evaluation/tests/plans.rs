//! Evaluation's hot queries (the consumer of routing's events, rating, follow-ups, the expiry
//! job, the rates summary) read through an index on a database that was never analyzed, on
//! both backends: none of them reads a growing table whole. Diesel's `eq_any` is written as
//! the portable `IN ($1, ...)`.

use caseflow_runtime::db::Db;
use caseflow_runtime::event_log;
use caseflow_runtime::testing::{Checked, TestDatabase, assert_no_full_scans};

const CASES: usize = 3_000;

/// (what, SQL with `$n` binds, the values).
const HOT: &[Checked] = &[
    ("a case by id", "SELECT source FROM eval_cases WHERE case_id = $1", &["case-1500"]),
    ("a matter by id", "SELECT matter_id FROM eval_matters WHERE matter_id = $1", &["m-1500"]),
    (
        "a case's unresolved matters",
        "SELECT COUNT(*) FROM eval_matters WHERE case_id = $1 AND resolved = FALSE",
        &["case-1500"],
    ),
    (
        "a case's matters in order",
        "SELECT matter_id FROM eval_matters WHERE case_id = $1 ORDER BY matter_id",
        &["case-1500"],
    ),
    (
        "a unit's unresolved matters of a case",
        "SELECT COUNT(*) FROM eval_matters WHERE case_id = $1 AND lead_unit = $2 AND resolved = FALSE",
        &["case-1500", "chengguan"],
    ),
    (
        "a case's evaluation parts",
        "SELECT part, status FROM evaluation_parts WHERE case_id = $1 ORDER BY part",
        &["case-1500"],
    ),
    (
        "one part",
        "SELECT status, version FROM evaluation_parts WHERE case_id = $1 AND part = $2",
        &["case-1500", "case"],
    ),
    ("a link by token", "SELECT case_id, expires_at FROM rating_links WHERE token_hash = $1", &["t-1500"]),
    ("a case's links", "SELECT token_hash FROM rating_links WHERE case_id = $1", &["case-1500"]),
    ("a case's ratings", "SELECT id FROM evaluation_ratings WHERE case_id = $1", &["case-1500"]),
    (
        "a part's ratings of a cycle",
        "SELECT id FROM evaluation_ratings WHERE case_id = $1 AND part = $2 AND cycle = $3",
        &["case-1500", "case", "1"],
    ),
    (
        "a case's current ratings",
        "SELECT id FROM evaluation_ratings WHERE case_id = $1 AND superseded = FALSE",
        &["case-1500"],
    ),
    (
        "a case's rating history",
        "SELECT id FROM evaluation_ratings WHERE case_id = $1 ORDER BY at, attempt, subject",
        &["case-1500"],
    ),
    (
        "the expiry job's due parts",
        "SELECT case_id, part FROM evaluation_parts WHERE status IN ($1, $2) AND window_ends < $3",
        &["due", "re_rating_invited", "2020-06-01 00:00:00"],
    ),
    (
        "a case's subjects",
        "SELECT unit, source FROM evaluation_subjects WHERE case_id = $1 ORDER BY dispatch_id",
        &["case-1500"],
    ),
    (
        "the rates summary's cases",
        "SELECT case_id FROM eval_cases WHERE source = $1 AND received_at >= $2 AND received_at < $3",
        &["hotline", "2020-03-01 00:00:00", "2020-03-02 00:00:00"],
    ),
    (
        "a consumer's checkpoint",
        "SELECT position FROM consumer_checkpoints WHERE consumer = $1",
        &["evaluation<-routing"],
    ),
];

/// Queries run rarely and planned anew on every run (`Replanned`): checked as planned on the full
/// load.
/// The lead units a batch of routing's events sets on PostgreSQL (`projections.rs`), its
/// matters bound as arrays, planned with them on every run.
const POSTGRES_REPLANNED: &[Checked] = &[(
    "a batch's lead units",
    "UPDATE eval_matters SET lead_dispatch = u.d, lead_unit = u.u FROM unnest($1::text[], $2::text[], $3::text[]) \
     AS u (m, d, u) WHERE eval_matters.matter_id = u.m",
    &["{m-1500,m-7,m-2999}", "{d-1,d-2,d-3}", "{chengguan,chengguan,kaiyuan}"],
)];

const REPLANNED: &[Checked] = &[
    // gauges.rs: what `/metrics` reads at each scrape
    (
        "evaluations waiting, by status and source",
        "SELECT status, source, COUNT(*) FROM evaluation_parts WHERE status IN ($1, $2, $3) GROUP BY status, source",
        &["due", "re_rating_invited", "awaiting_rehandling"],
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluations_hot_queries_read_through_an_index_without_statistics() {
    let test_db = TestDatabase::new("evaluation_plans");
    let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS, &caseflow_evaluation::MIGRATIONS])
        .await
        .expect("database");
    let mut rows = Vec::new();
    for i in 0..CASES {
        let status = ["rated", "expired", "due"][i % 3];
        rows.push(format!(
            "INSERT INTO eval_cases (case_id, source, matters, received_at) VALUES ('case-{i}', 'hotline', 1, \
             '2020-03-{day:02} 09:00:00');\n\
             INSERT INTO eval_matters (matter_id, case_id, lead_dispatch, lead_unit, resolved, resolved_at) VALUES \
             ('m-{i}', 'case-{i}', 'm-{i}-d1', 'chengguan', TRUE, '2020-03-10 09:00:00');\n\
             INSERT INTO evaluation_subjects (dispatch_id, case_id, unit, source) VALUES ('m-{i}-d1', 'case-{i}', \
             'chengguan', 'hotline');\n\
             INSERT INTO evaluation_parts (case_id, part, source, status, cycle, reopened, rerated, opened_at, \
             window_ends, version) VALUES ('case-{i}', 'case', 'hotline', '{status}', 1, FALSE, FALSE, \
             '2020-03-10 09:00:00', '2020-03-13 16:00:00', 1);\n\
             INSERT INTO rating_links (token_hash, case_id, expires_at) VALUES ('t-{i}', 'case-{i}', \
             '2020-03-13 16:00:00');\n\
             INSERT INTO evaluation_ratings (id, case_id, part, cycle, attempt, subject, dispatch_id, level, mapped, \
             rated_by, channel, at, superseded) VALUES ('er-{i}', 'case-{i}', 'case', 1, 1, 'chengguan', 'm-{i}-d1', \
             'satisfied', 'satisfied', 'platform', 'integrator', '2020-03-11 09:00:00', FALSE);\n\
             INSERT INTO follow_ups (id, case_id, part, outcome, note, by_whom, at) VALUES ('f-{i}', 'case-{i}', \
             'case', 'explanation', '解释', 'platform', '2020-03-12 09:00:00');\n",
            day = 1 + i % 28,
        ));
    }
    assert_no_full_scans(&db, rows, HOT, REPLANNED, POSTGRES_REPLANNED).await;
}
