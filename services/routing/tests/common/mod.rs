//! What routing's integration tests share: a migrated database with the built-in policy and
//! its registry, and a case taken in as intake's stream would deliver it.

use std::sync::Arc;

use caseflow_proto::v1 as pb;
use caseflow_routing::MIGRATIONS;
use caseflow_routing::calendar::Calendar;
use caseflow_routing::catalog::Catalog;
use caseflow_routing::dispatching::Rules;
use caseflow_routing::intake_events::IntakeEvents;
use caseflow_routing::policy::RoutingPolicy;
use caseflow_routing::registry::Registry;
use caseflow_routing::suggest::Suggester;
use caseflow_runtime::clock::SharedClock;
use caseflow_runtime::consumer::{ApplyError, EventHandler};
use caseflow_runtime::db::{AnyConnection, Db, DbError};
use caseflow_runtime::event_log;
use caseflow_runtime::testing::TestDatabase;
use prost::Message as _;

/// A migrated routing database under the built-in policy, its registry synced.
pub async fn open(test_db: &TestDatabase) -> (Db, Arc<Rules>) {
    let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS, &MIGRATIONS]).await.expect("database");
    let rules = Arc::new(Rules {
        registry: Registry::load(None).expect("registry"),
        catalog: Catalog::load(None).expect("catalog"),
        calendar: Calendar::load(None).expect("calendar"),
        policy: RoutingPolicy::load(None).expect("policy"),
    });
    {
        let rules = rules.clone();
        db.write(move |c| rules.registry.sync(c).map_err(DbError::from)).await.expect("registry synced");
    }
    (db, rules)
}

/// Applies `case` at stream position `position`, as routing's consumer of intake's stream does,
/// with `suggester`'s model (if one is trained) noting its word on triage and dispatches.
pub async fn receive(
    db: &Db,
    rules: &Arc<Rules>,
    clock: &SharedClock,
    suggester: &Suggester,
    position: i64,
    case: pb::CaseReceived,
) {
    let handler = IntakeEvents { rules: rules.clone(), clock: clock.clone(), suggester: suggester.clone() };
    let envelope = pb::EventEnvelope {
        position,
        event_type: "caseflow.v1.IntakeEvent".into(),
        payload: pb::IntakeEvent { kind: Some(pb::intake_event::Kind::CaseReceived(case)) }.encode_to_vec(),
        ..Default::default()
    };
    db.write(move |c: &mut AnyConnection| {
        handler.apply(c, &envelope).map_err(|e| match e {
            ApplyError::Db(e) => e,
            other => DbError::Unavailable(other.to_string()),
        })
    })
    .await
    .expect("received");
}

/// Every routing event written so far, in order (stamped first, as the publisher would).
pub fn read_all_events(c: &mut AnyConnection) -> Result<Vec<pb::DispatchChanged>, DbError> {
    while event_log::stamp_positions(c)?.is_some() {}
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let batch = event_log::read_after(c, after, 1000)?;
        if batch.is_empty() {
            return Ok(out);
        }
        for e in batch {
            after = e.position;
            let decoded: pb::RoutingEvent = event_log::decode(&e).map_err(DbError::Unavailable)?;
            if let Some(pb::routing_event::Kind::DispatchChanged(d)) = decoded.kind {
                out.push(d);
            }
        }
    }
}
