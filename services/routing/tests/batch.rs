//! A batch of intake's events, as routing's consumer applies it: the same dispatches as one
//! event at a time, and on PostgreSQL the unit registry read once per unit for the whole batch.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use caseflow_proto::v1 as pb;
use caseflow_routing::intake_events::IntakeEvents;
use caseflow_routing::store::{dispatches, units};
use caseflow_routing::suggest::Suggester;
use caseflow_runtime::clock::{SharedClock, SystemClock};
use caseflow_runtime::consumer::{ApplyError, EventHandler as _};
use caseflow_runtime::db::{AnyConnection, Db, DbError};
use caseflow_runtime::testing::TestDatabase;
use caseflow_runtime::time;
use diesel::connection::{Connection as _, InstrumentationEvent};
use diesel::prelude::*;
use prost::Message as _;

/// Six cases: three name 城管局, two name the merged 文旅局 (its successor 住建局 takes them), and
/// one names a unit the registry does not know (the catalog's unit takes it).
fn cases() -> Vec<pb::CaseReceived> {
    ["chengguan", "chengguan", "wenlv", "nosuchunit", "chengguan", "wenlv"]
        .iter()
        .enumerate()
        .map(|(i, unit)| pb::CaseReceived {
            case_id: format!("case-{i}"),
            source: pb::CaseSource::Hotline as i32,
            received_at: Some(time::to_proto(chrono::Utc::now() - chrono::Duration::hours(1))),
            channel: "phone".into(),
            kind: pb::CaseKind::Complaint as i32,
            category: "urban_management.cooking_fume".into(),
            location: Some(pb::Location { sub_district: "kaiyuan".into(), ..Default::default() }),
            matters: vec![pb::ReceivedMatter {
                matter_id: format!("case-{i}-m1"),
                ordinal: 1,
                category: "urban_management.cooking_fume".into(),
                target_unit: (*unit).into(),
                summary: "油烟扰民".into(),
            }],
            ..Default::default()
        })
        .collect()
}

fn envelope(position: i64, case: pb::CaseReceived) -> pb::EventEnvelope {
    pb::EventEnvelope {
        position,
        event_type: "caseflow.v1.IntakeEvent".into(),
        payload: pb::IntakeEvent { kind: Some(pb::intake_event::Kind::CaseReceived(case)) }.encode_to_vec(),
        ..Default::default()
    }
}

/// 文旅局 merged into 住建局.
async fn merge_wenlv(db: &Db) {
    db.write(|c| {
        diesel::update(units::table.find("wenlv"))
            .set((units::status.eq("merged"), units::successor.eq(Some("zhujian"))))
            .execute(c)
            .map_err(DbError::from)
    })
    .await
    .expect("merged");
}

/// Each case's dispatched unit, by case, and the events routing wrote (dispatch, unit, action).
async fn dispatched(db: &Db) -> (Vec<(String, String)>, Vec<(String, String, String)>) {
    db.write(|c| {
        let units = dispatches::table
            .select((dispatches::case_id, dispatches::unit))
            .order(dispatches::case_id)
            .load(c)
            .map_err(DbError::from)?;
        let events = common::read_all_events(c)?.into_iter().map(|e| (e.dispatch_id, e.unit, e.action)).collect();
        Ok::<_, DbError>((units, events))
    })
    .await
    .expect("dispatches read")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_dispatches_as_one_by_one_and_reads_each_unit_once() {
    let clock: SharedClock = Arc::new(SystemClock);

    // One event at a time, as a consumer with batches of one applies them.
    let one_db = TestDatabase::new("routing_batch_one_by_one");
    let (one, rules) = common::open(&one_db).await;
    merge_wenlv(&one).await;
    for (i, case) in cases().into_iter().enumerate() {
        common::receive(&one, &rules, &clock, &Suggester::default(), i64::try_from(i + 1).unwrap_or(1), case).await;
    }

    // The same events in one batch, counting the registry's reads.
    let batch_db = TestDatabase::new("routing_batch_whole");
    let (batch, rules) = common::open(&batch_db).await;
    merge_wenlv(&batch).await;
    let handler = IntakeEvents { rules, clock, suggester: Suggester::default() };
    let events: Vec<pb::EventEnvelope> =
        cases().into_iter().enumerate().map(|(i, c)| envelope(i64::try_from(i + 1).unwrap_or(1), c)).collect();
    let lookups = Arc::new(AtomicUsize::new(0));
    let counter = lookups.clone();
    let postgres = batch
        .write(move |c: &mut AnyConnection| {
            c.set_instrumentation(move |e: InstrumentationEvent<'_>| {
                if let InstrumentationEvent::StartQuery { query, .. } = e
                    && query.to_string().contains("successor")
                {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            });
            let refs: Vec<&pb::EventEnvelope> = events.iter().collect();
            handler.apply_batch(c, &refs, &mut |c| events.iter().try_for_each(|e| handler.apply(c, e)))?;
            Ok::<_, ApplyError>(matches!(c, AnyConnection::Postgresql(_)))
        })
        .await
        .expect("batch applied");

    let (expected, events) = dispatched(&one).await;
    assert_eq!(
        dispatched(&batch).await,
        (expected.clone(), events),
        "the batch dispatched each case as one by one did"
    );
    let to = |case: &str| expected.iter().find(|(c, _)| c == case).map(|(_, u)| u.as_str());
    assert_eq!(to("case-0"), Some("chengguan"));
    assert_eq!(to("case-2"), Some("zhujian"), "a merged unit's successor takes its cases");
    assert_eq!(to("case-5"), Some("zhujian"));
    let lookups = lookups.load(Ordering::Relaxed);
    if postgres {
        // chengguan, wenlv, zhujian (its successor) and nosuchunit: each once.
        assert_eq!(lookups, 4, "each unit was read once for the batch");
    } else {
        // SQLite reads at once (a statement is no round trip there): a read per step of each
        // dispatch's successor chain.
        assert!(lookups >= 8, "SQLite reads the registry for each dispatch: {lookups}");
    }
}
