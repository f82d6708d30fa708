//! Routing's hot queries (every action, the consumers of intake's and evaluation's events, the
//! deadline scanner) read through an index on a database that was never analyzed (autovacuum
//! off, a bulk load just done), on both backends: none of them reads a growing table whole.
//! Each query is the one the code runs (file and line in the comment), with its binds; diesel's
//! `eq_any` is written as the portable `IN ($1, ...)`.

use caseflow_runtime::db::Db;
use caseflow_runtime::event_log;
use caseflow_runtime::testing::{Checked, TestDatabase, assert_no_full_scans};

const MATTERS: usize = 3_000;
const UNITS: [&str; 4] = ["chengguan", "zhujian", "shichang", "kaiyuan"];

/// (what, SQL with `$n` binds, the values).
const HOT: &[Checked] = &[
    // dispatching.rs active_unit
    ("a unit by code", "SELECT status, successor FROM units WHERE code = $1", &["chengguan"]),
    // dispatching.rs load_matter / save_matter: every action and both consumers
    ("a matter by id", "SELECT matter_id, version FROM routing_matters WHERE matter_id = $1", &["m-1500"]),
    (
        "a matter's versioned save",
        "SELECT COUNT(*) FROM routing_matters WHERE matter_id = $1 AND version = $2",
        &["m-1500", "1"],
    ),
    // dispatching.rs load_dispatch / save_dispatch
    ("a dispatch by id", "SELECT id, version FROM dispatches WHERE id = $1", &["m-1500-d1"]),
    (
        "a dispatch's versioned save",
        "SELECT COUNT(*) FROM dispatches WHERE id = $1 AND version = $2",
        &["m-1500-d1", "1"],
    ),
    // dispatching.rs open_dispatch
    ("a matter's last assignment", "SELECT MAX(assignment) FROM dispatches WHERE matter_id = $1", &["m-1500"]),
    // dispatching.rs returned_by; actions.rs judge_wrongful_returns
    (
        "a unit's approved returns of a matter",
        "SELECT COUNT(*) FROM return_requests WHERE matter_id = $1 AND unit = $2 AND status = $3",
        &["m-1500", "chengguan", "approved"],
    ),
    // actions.rs request_return
    (
        "a dispatch's pending return",
        "SELECT COUNT(*) FROM return_requests WHERE dispatch_id = $1 AND status = $2",
        &["m-1500-d1", "pending"],
    ),
    // actions.rs request_extension
    (
        "a matter's pending extension",
        "SELECT COUNT(*) FROM extensions WHERE matter_id = $1 AND status = $2",
        &["m-1500", "pending"],
    ),
    // actions.rs matter_returns
    (
        "a matter's returns",
        "SELECT id FROM return_requests WHERE matter_id = $1 ORDER BY requested_at, id",
        &["m-1500"],
    ),
    ("a return request by id", "SELECT id, status FROM return_requests WHERE id = $1", &["r-1500"]),
    ("an extension request by id", "SELECT id, status FROM extensions WHERE id = $1", &["x-1500"]),
    // actions.rs resolve
    (
        "a matter's open assisting units",
        "SELECT id FROM dispatches WHERE matter_id = $1 AND role = $2 AND closed_at IS NULL",
        &["m-1500", "assist"],
    ),
    // actions.rs designate
    (
        "a matter's open dispatches",
        "SELECT id FROM dispatches WHERE matter_id = $1 AND closed_at IS NULL AND state <> $2",
        &["m-1500", "resolved"],
    ),
    // actions.rs add_assist
    (
        "a unit already holding a matter",
        "SELECT unit FROM dispatches WHERE matter_id = $1 AND closed_at IS NULL",
        &["m-1500"],
    ),
    // service.rs inbox; actions.rs succeed_unit
    (
        "a unit's open dispatches",
        "SELECT id FROM dispatches WHERE unit = $1 AND closed_at IS NULL AND state <> 'resolved'",
        &["chengguan"],
    ),
    // service.rs case_dispatches, case_log
    (
        "a case's dispatches",
        "SELECT id FROM dispatches WHERE case_id = $1 ORDER BY matter_id, assignment, unit",
        &["case-1500"],
    ),
    ("a case's routing log", "SELECT id FROM routing_log WHERE case_id = $1 ORDER BY at, id", &["case-1500"]),
    // scanner.rs scan_at: the dispatches due, and when the next one is
    (
        "the dispatches due for the scanner",
        "SELECT id FROM dispatches WHERE scan_at BETWEEN $1 AND $2 ORDER BY scan_at LIMIT 500",
        &["1900-01-01 00:00:00", "2020-03-10 00:00:00"],
    ),
    ("when the scanner must look next", "SELECT MIN(scan_at) FROM dispatches", &[]),
    (
        "a reminder already sent",
        "SELECT COUNT(*) FROM reminders WHERE dispatch_id = $1 AND deadline = $2 AND fraction = $3",
        &["m-1500-d1", "resolve", "50"],
    ),
    (
        "a dispatch's open supervisions",
        "SELECT id FROM supervisions WHERE dispatch_id = $1 AND closed_at IS NULL ORDER BY level DESC",
        &["m-1500-d1"],
    ),
    ("a supervision by id", "SELECT id FROM supervisions WHERE id = $1", &["s-1500"]),
    ("a consumer's checkpoint", "SELECT position FROM consumer_checkpoints WHERE consumer = $1", &["routing<-intake"]),
    ("an outbox's unpublished rows", "SELECT COUNT(*) FROM outbox_events WHERE position IS NULL", &[]),
];

/// Queries run rarely and planned anew on every run (`Replanned`): checked as planned on the full
/// load.
const REPLANNED: &[Checked] = &[
    // gauges.rs: what `/metrics` reads at each scrape
    (
        "open dispatches per unit",
        "SELECT unit, COUNT(*) FROM dispatches WHERE state IN ($1, $2, $3, $4, $5, $6) AND closed_at IS NULL GROUP BY unit",
        &["dispatched", "acknowledged", "landed", "replied", "reviewed", "rehandling"],
    ),
    (
        "overdue dispatches per unit",
        "SELECT d.unit, COUNT(*) FROM dispatches d JOIN routing_matters m ON m.matter_id = d.matter_id \
         WHERE d.state IN ($1, $2, $3, $4, $5, $6) AND d.closed_at IS NULL AND m.resolve_deadline < $7 GROUP BY d.unit",
        &["dispatched", "acknowledged", "landed", "replied", "reviewed", "rehandling", "2020-06-01 00:00:00"],
    ),
    ("pending return requests", "SELECT COUNT(*) FROM return_requests WHERE status = $1", &["pending"]),
    // suggest/history.rs: a page of the year's resolved matters (training, the accuracy report)
    (
        "a page of the lead dispatches resolved in a year",
        "SELECT matter_id, unit, resolved_at FROM dispatches WHERE role = $1 AND resolved_at >= $2 AND resolved_at < $3 \
         AND (resolved_at > $2 OR (resolved_at = $2 AND matter_id > $4)) \
         ORDER BY resolved_at, matter_id LIMIT 5000",
        &["lead", "2019-06-01 00:00:00", "2020-03-01 00:00:00", "m-1"],
    ),
    (
        "some matters by id",
        "SELECT matter_id, state, resolved_at FROM routing_matters WHERE matter_id IN ($1, $2)",
        &["m-1500", "m-1501"],
    ),
    // suggest/history.rs: the matters received in a period (accuracy, the catalog's contradictions)
    (
        "the matters received in a period",
        "SELECT matter_id FROM routing_matters WHERE case_received_at >= $1 AND case_received_at < $2 \
         ORDER BY case_received_at, matter_id",
        &["2020-02-01 00:00:00", "2020-02-15 00:00:00"],
    ),
    (
        "the lead dispatches of some matters",
        "SELECT matter_id, assignment, unit FROM dispatches WHERE matter_id IN ($1, $2) AND role = $3",
        &["m-1500", "m-1501", "lead"],
    ),
    (
        "unresolved matters by state",
        "SELECT state, COUNT(*) FROM routing_matters WHERE state IN ($1, $2, $3) GROUP BY state",
        &["triage", "open", "arbitration"],
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routings_hot_queries_read_through_an_index_without_statistics() {
    let test_db = TestDatabase::new("routing_plans");
    let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS, &caseflow_routing::MIGRATIONS])
        .await
        .expect("database");
    // A few thousand matters with their dispatch, return, extension, supervision, reminder and
    // log entry, most of them resolved or closed long ago, as a bulk load leaves them.
    let mut rows = Vec::new();
    for unit in UNITS {
        rows.push(format!(
            "INSERT INTO units (code, name, kind, status) VALUES ('{unit}', '{unit}', 'department', 'active');\n"
        ));
    }
    for i in 0..MATTERS {
        let unit = UNITS[i % UNITS.len()];
        let (state, closed) = match i % 4 {
            0 => ("resolved", "NULL"),
            1 => ("returned", "'2020-03-02 09:00:00'"),
            2 => ("transferred", "'2020-03-02 09:00:00'"),
            _ => ("dispatched", "NULL"),
        };
        // The open ones wait for a moment over the next month; the others for nothing.
        let scan_at =
            if state == "dispatched" { format!("'2020-03-{:02} 09:00:00'", 1 + i % 28) } else { "NULL".into() };
        rows.push(format!(
            "INSERT INTO routing_matters (matter_id, case_id, source, kind, category, summary, sub_district, anonymous, \
             single_visit, case_received_at, land_deadline, resolve_deadline, extensions, approved_returns, state, \
             version) VALUES ('m-{i}', 'case-{i}', 'hotline', 'complaint', 'urban_management.cooking_fume', '油烟', \
             'kaiyuan', FALSE, FALSE, '2020-03-01 09:00:00', '2020-03-02 09:00:00', '2020-03-15 09:00:00', 0, 0, \
             'open', 1);\n\
             INSERT INTO dispatches (id, case_id, matter_id, assignment, unit, role, via, state, dispatched_at, \
             acknowledge_deadline, return_deadline, closed_at, version, scan_at) VALUES ('m-{i}-d1', 'case-{i}', \
             'm-{i}', 1, '{unit}', 'lead', 'catalog', '{state}', '2020-03-01 09:00:00', '2020-03-01 11:00:00', \
             '2020-03-02 09:00:00', {closed}, 1, {scan_at});\n\
             INSERT INTO return_requests (id, dispatch_id, matter_id, unit, reason_code, reason, proposed_unit, basis, \
             contact, requested_at, status, wrongful) VALUES ('r-{i}', 'm-{i}-d1', 'm-{i}', '{unit}', 'not_ours', \
             '不属本单位', 'zhujian', 'basis', '{{}}', '2020-03-01 10:00:00', 'rejected', FALSE);\n\
             INSERT INTO extensions (id, dispatch_id, matter_id, days, reason, progress, requested_at, status) VALUES \
             ('x-{i}', 'm-{i}-d1', 'm-{i}', 5, '需要时间', '进行中', '2020-03-02 10:00:00', 'approved');\n\
             INSERT INTO supervisions (id, dispatch_id, level, reason, opened_at, opened_by) VALUES ('s-{i}', \
             'm-{i}-d1', 1, 'overdue', '2020-03-16 09:00:00', 'system:routing');\n\
             INSERT INTO reminders (dispatch_id, deadline, fraction, sent_at) VALUES ('m-{i}-d1', 'resolve', 50, \
             '2020-03-08 09:00:00');\n\
             INSERT INTO routing_log (id, case_id, matter_id, dispatch_id, unit, action, from_state, to_state, actor, \
             reason, evidence, at) VALUES ('l-{i}', 'case-{i}', 'm-{i}', 'm-{i}-d1', '{unit}', 'dispatch', '', \
             'dispatched', 'system:routing', 'catalog', '', '2020-03-01 09:00:00');\n"
        ));
    }
    assert_no_full_scans(&db, rows, HOT, REPLANNED, &[]).await;
}
