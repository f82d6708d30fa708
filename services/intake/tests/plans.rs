//! The write path's queries read through an index on a database that was never analyzed
//! (autovacuum off, a bulk load just done), on both backends: none of them reads a growing
//! table whole. Each query below is the one `store.rs` and the event log run, with its binds.

use caseflow_runtime::db::Db;
use caseflow_runtime::event_log;
use caseflow_runtime::testing::{Checked, TestDatabase, assert_no_full_scans};

const CASES: usize = 3_000;

/// The hashes of a person the rows below do not have ([`phone_key`], [`id_key`] of person 500):
/// a first call, the commonest lookup, which finds nothing and so reads all a plan lets it.
const NEW_CALLER_PHONE: &str = "00000000000000000000000000000000000000000000000000000135a291370d";
const NEW_CALLER_ID: &str = "0000000000000000000000000000000000000000000000000000010616732367";

/// The intake path's hot queries: (what, SQL with `$n` binds, the values).
const HOT: &[Checked] = &[
    (
        "a resend found by its number",
        "SELECT id FROM cases WHERE source = $1 AND external_ref = $2",
        &["hotline", "GD-1500"],
    ),
    ("a case by id", "SELECT id, status FROM cases WHERE id = $1", &["case-1500"]),
    (
        "the repeat lookup by phone",
        "SELECT * FROM cases WHERE (phone_key, source, category, sub_district, received_at) \
         BETWEEN ($1, $2, $3, $4, $5) AND ($1, $2, $3, $4, $6) \
         ORDER BY phone_key, source, category, sub_district, received_at, id LIMIT $7",
        &[
            NEW_CALLER_PHONE,
            "hotline",
            "urban_management.cooking_fume",
            "kaiyuan",
            "2020-01-01 00:00:00",
            "2020-06-30 00:00:00",
            "1",
        ],
    ),
    (
        "the repeat lookup by ID number",
        "SELECT * FROM cases WHERE (id_key, source, category, sub_district, received_at) \
         BETWEEN ($1, $2, $3, $4, $5) AND ($1, $2, $3, $4, $6) \
         ORDER BY id_key, source, category, sub_district, received_at, id LIMIT $7",
        &[
            NEW_CALLER_ID,
            "hotline",
            "urban_management.cooking_fume",
            "kaiyuan",
            "2020-01-01 00:00:00",
            "2020-06-30 00:00:00",
            "1",
        ],
    ),
    ("a case's matters", "SELECT id FROM matters WHERE case_id = $1 ORDER BY case_id, ordinal", &["case-1500"]),
    (
        "a watch item's existence",
        "SELECT COUNT(*) FROM watch_items WHERE case_id = $1 AND reason = $2",
        &["case-1500", "threat"],
    ),
    ("a unit's scope", "SELECT COUNT(*) FROM case_units WHERE case_id = $1 AND unit = $2", &["case-1500", "chengguan"]),
    ("the publisher's idle check", "SELECT EXISTS (SELECT 1 FROM outbox_events WHERE position IS NULL)", &[]),
    ("the publisher's batch", "SELECT id FROM outbox_events WHERE position IS NULL ORDER BY id LIMIT $1", &["1000"]),
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

/// The batch writes of routing's stream on PostgreSQL (`routing_events.rs`), a batch's cases
/// bound as one array, planned with them on every run.
const POSTGRES_REPLANNED: &[Checked] = &[
    (
        "a batch's triaged cases",
        "UPDATE cases SET status = 'in_triage' WHERE id = ANY($1::text[]) AND status = 'received'",
        &["{case-1500,case-1501,case-7}"],
    ),
    (
        "a batch's dispatched cases",
        "UPDATE cases SET status = 'dispatched' WHERE id = ANY($1::text[])",
        &["{case-1500,case-1501,case-7}"],
    ),
];

/// Person `p`'s phone hash, 64 hex digits as the vault's are.
fn phone_key(p: usize) -> String {
    format!("{:064x}", 0x9e37_79b9_u64.wrapping_mul(p as u64 + 1))
}

/// Person `p`'s ID number hash.
fn id_key(p: usize) -> String {
    format!("{:064x}", 0x85eb_ca6b_u64.wrapping_mul(p as u64 + 1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_paths_queries_read_through_an_index_without_statistics() {
    let test_db = TestDatabase::new("intake_plans");
    let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS, &caseflow_intake::MIGRATIONS])
        .await
        .expect("database");
    // A few thousand cases, matters and published events, as a bulk load leaves them. A case's
    // content is a paragraph, as a work order's is: how many rows a page holds decides which plan
    // a small table gets.
    let content = "楼下饭店油烟直排，晚上十点以后还在营业，噪音和油烟影响居民休息。".repeat(5);
    let start = chrono::NaiveDate::from_ymd_opt(2020, 3, 1).and_then(|d| d.and_hms_opt(9, 0, 0)).expect("a time");
    let mut rows = Vec::new();
    for i in 0..CASES {
        // Cases a few minutes apart, people known by 64-hex-digit hashes as the vault makes them.
        let received = (start + chrono::Duration::minutes(7 * i as i64)).format("%Y-%m-%d %H:%M:%S");
        rows.push(format!(
            "INSERT INTO cases (id, source, external_ref, channel, kind, purpose, category, content, sub_district, \
             address, received_at, recorded_at, anonymous, hide_identity, phone_key, id_key, person_key, \
             collective, single_visit, is_first, status, fingerprint) VALUES ('case-{i}', 'hotline', 'GD-{i}', \
             'phone', 'complaint', '', 'urban_management.cooking_fume', '{content}', 'kaiyuan', '路', \
             '{received}', '{received}', FALSE, FALSE, '{phone}', '{id}', '{phone}', FALSE, FALSE, \
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
            phone = phone_key(i % 500),
            id = id_key(i % 500),
            pos = i + 1,
        ));
    }
    assert_no_full_scans(&db, rows, HOT, &[], POSTGRES_REPLANNED).await;
}
