//! The write path's queries read through an index on a database that was never analyzed
//! (autovacuum off, a bulk load just done), on both backends: none of them reads a growing
//! table whole. Each query below is the one `store.rs` and the event log run, with its binds.

use caseflow_runtime::db::Db;
use caseflow_runtime::event_log;
use caseflow_runtime::testing::{TestDatabase, assert_no_full_scans};

const CASES: usize = 3_000;

/// The intake path's hot queries: (what, SQL with `$n` binds, the values).
const HOT: &[(&str, &str, &[&str])] = &[
    (
        "a resend found by its number",
        "SELECT id FROM cases WHERE source = $1 AND external_ref = $2",
        &["hotline", "GD-1500"],
    ),
    ("a case by id", "SELECT id, status FROM cases WHERE id = $1", &["case-1500"]),
    (
        "the repeat lookup by phone",
        "SELECT id FROM cases WHERE source = $1 AND category = $2 AND sub_district = $3 AND received_at >= $4 \
         AND received_at <= $5 AND phone_key = $6 ORDER BY received_at, id LIMIT 1",
        &["hotline", "urban_management.cooking_fume", "kaiyuan", "2020-01-01 00:00:00", "2020-06-30 00:00:00", "p-7"],
    ),
    (
        "the repeat lookup by ID number",
        "SELECT id FROM cases WHERE source = $1 AND category = $2 AND sub_district = $3 AND received_at >= $4 \
         AND received_at <= $5 AND id_key = $6 ORDER BY received_at, id LIMIT 1",
        &["hotline", "urban_management.cooking_fume", "kaiyuan", "2020-01-01 00:00:00", "2020-06-30 00:00:00", "i-7"],
    ),
    ("a case's matters", "SELECT id FROM matters WHERE case_id = $1 ORDER BY case_id, ordinal", &["case-1500"]),
    (
        "a watch item's existence",
        "SELECT COUNT(*) FROM watch_items WHERE case_id = $1 AND reason = $2",
        &["case-1500", "threat"],
    ),
    ("a unit's scope", "SELECT COUNT(*) FROM case_units WHERE case_id = $1 AND unit = $2", &["case-1500", "chengguan"]),
    ("the publisher's idle check", "SELECT EXISTS (SELECT 1 FROM outbox_events WHERE position IS NULL)", &[]),
    ("the publisher's batch", "SELECT id FROM outbox_events WHERE position IS NULL ORDER BY id LIMIT 1000", &[]),
    ("the last position", "SELECT MAX(position) FROM outbox_events", &[]),
    (
        "a stream's next events",
        "SELECT event_id FROM outbox_events WHERE position > $1 AND position <= $2 ORDER BY position LIMIT 500",
        &["1500", "9223372036854775807"],
    ),
    ("a consumer's checkpoint", "SELECT position FROM consumer_checkpoints WHERE consumer = $1", &["intake<-routing"]),
    // reviews.rs: a petition's 复查 and 复核, and the facts a decided 复核 concluded.
    (
        "one review of a petition",
        "SELECT due_at, decided_at FROM petition_reviews WHERE case_id = $1 AND level = $2",
        &["case-1500", "review"],
    ),
    ("a petition's reviews", "SELECT level FROM petition_reviews WHERE case_id = $1", &["case-1500"]),
    ("concluded facts of a chain", "SELECT case_id FROM concluded_facts WHERE chain_head = $1", &["case-1500"]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_paths_queries_read_through_an_index_without_statistics() {
    let test_db = TestDatabase::new("intake_plans");
    let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS, &caseflow_intake::MIGRATIONS])
        .await
        .expect("database");
    // A few thousand cases, matters and published events, as a bulk load leaves them.
    let mut sql = String::new();
    for i in 0..CASES {
        sql.push_str(&format!(
            "INSERT INTO cases (id, source, external_ref, channel, kind, purpose, category, content, sub_district, \
             address, received_at, recorded_at, anonymous, hide_identity, phone_key, id_key, person_key, \
             collective, single_visit, is_first, status, fingerprint) VALUES ('case-{i}', 'hotline', 'GD-{i}', \
             'phone', 'complaint', '', 'urban_management.cooking_fume', '油烟', 'kaiyuan', '路', \
             '2020-03-01 09:00:00', '2020-03-01 09:00:00', FALSE, FALSE, 'p-{p}', 'i-{p}', 'p-{p}', FALSE, FALSE, \
             TRUE, 'dispatched', '{{}}');\n\
             INSERT INTO matters (id, case_id, ordinal, category, summary) VALUES ('m-{i}', 'case-{i}', 1, \
             'urban_management.cooking_fume', '油烟');\n\
             INSERT INTO outbox_events (position, event_id, event_type, aggregate_id, payload, trace_context, \
             recorded_at) VALUES ({pos}, 'e-{i}', 't', 'case-{i}', '', '{{}}', '2020-03-01 09:00:00');\n\
             INSERT INTO petition_reviews (case_id, level, reviewing_body, answer_received_at, requested_at, due_at, \
             requested_by) VALUES ('case-{i}', 'review', '区政府', '2020-03-01 09:00:00', '2020-03-02 09:00:00', \
             '2020-04-01 16:00:00', 'desk');\n\
             INSERT INTO concluded_facts (chain_head, case_id, concluded_at) VALUES ('case-{i}', 'case-{i}', \
             '2020-05-01 09:00:00');\n",
            p = i % 500,
            pos = i + 1,
        ));
    }
    assert_no_full_scans(&db, sql, HOT).await;
}
