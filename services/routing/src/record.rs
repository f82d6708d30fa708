//! Writing down a routing decision: one append-only log entry and one event, in the
//! transaction that made the change.

use std::collections::BTreeMap;

use caseflow_proto::v1 as pb;
use caseflow_runtime::db::native::Native as _;
use caseflow_runtime::gathered::{self, Batch};
use caseflow_runtime::{AnyConnection, event_log, time};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::store::{DispatchRow, LogRow, MatterRow, dispatches, routing_log, routing_matters};

/// What happened, beyond the matter and dispatch it happened to.
#[derive(Debug, Default, Clone)]
pub struct Change {
    pub action: &'static str,
    pub from: String,
    pub to: String,
    pub actor: String,
    pub reason: String,
    /// JSON of the evidence (contact record, basis, landing method ...).
    pub evidence: String,
    pub held_seconds: i64,
    pub return_id: String,
    pub proposed_unit: String,
    pub extension_days: i32,
    pub wrongful_returns: Vec<pb::WrongfulReturn>,
    /// What the unit suggester said at this change, with its model's version.
    pub suggester: Option<pb::SuggesterNote>,
}

fn ts(t: NaiveDateTime) -> Option<prost_types::Timestamp> {
    Some(time::to_proto(t.and_utc()))
}

/// Appends the log entry and the event for `change`.
pub fn record(
    c: &mut AnyConnection,
    now: DateTime<Utc>,
    matter: &MatterRow,
    dispatch: Option<&DispatchRow>,
    change: Change,
) -> QueryResult<()> {
    let entry = LogRow {
        id: uuid::Uuid::now_v7().to_string(),
        case_id: matter.case_id.clone(),
        matter_id: matter.matter_id.clone(),
        dispatch_id: dispatch.map(|d| d.id.clone()),
        unit: dispatch.map(|d| d.unit.clone()),
        action: change.action.to_owned(),
        from_state: change.from.clone(),
        to_state: change.to.clone(),
        actor: change.actor.clone(),
        reason: change.reason.clone(),
        evidence: change.evidence.clone(),
        at: now.naive_utc(),
    };
    if let Some(entry) = gathered::gather(entry, |opened: &mut Opened, entry| opened.log.push(entry)) {
        diesel::insert_into(routing_log::table).values(entry).execute_native(c)?;
    }
    let event = pb::RoutingEvent {
        kind: Some(pb::routing_event::Kind::DispatchChanged(pb::DispatchChanged {
            dispatch_id: dispatch.map(|d| d.id.clone()).unwrap_or_default(),
            case_id: matter.case_id.clone(),
            matter_id: matter.matter_id.clone(),
            unit: dispatch.map(|d| d.unit.clone()).unwrap_or_default(),
            assignment: dispatch.map(|d| d.assignment).unwrap_or_default(),
            action: change.action.to_owned(),
            from_state: change.from,
            to_state: change.to,
            at: Some(time::to_proto(now)),
            actor: change.actor,
            source: pb::CaseSource::from_code(&matter.source) as i32,
            kind: pb::CaseKind::from_code(&matter.kind) as i32,
            category: matter.category.clone(),
            sub_district: matter.sub_district.clone(),
            case_received_at: ts(matter.case_received_at),
            dispatched_at: dispatch.and_then(|d| ts(d.dispatched_at)),
            acknowledge_deadline: dispatch.and_then(|d| ts(d.acknowledge_deadline)),
            land_deadline: ts(matter.land_deadline),
            resolve_deadline: ts(matter.resolve_deadline),
            role: dispatch.map(|d| d.role.clone()).unwrap_or_default(),
            via: dispatch.map(|d| d.via.clone()).unwrap_or_default(),
            held_seconds: change.held_seconds,
            reason: change.reason,
            single_visit: matter.single_visit,
            return_id: change.return_id,
            proposed_unit: change.proposed_unit,
            extension_days: change.extension_days,
            wrongful_returns: change.wrongful_returns,
            acknowledged_at: dispatch.and_then(|d| d.acknowledged_at).and_then(ts),
            landed_at: dispatch.and_then(|d| d.landed_at).and_then(ts),
            suggester: change.suggester,
        })),
    };
    event_log::append(c, now, &matter.case_id, &event)
}

/// The matters a batch of intake's events opens, with their dispatches and log entries,
/// gathered and written at the batch's end on PostgreSQL (`runtime::gathered`): three
/// statements for the batch instead of three for each matter. Nothing in that batch reads them
/// back: a new matter's dispatch is worked out before it is written (`History::Fresh`).
#[derive(Debug, Default)]
pub struct Opened {
    pub matters: Vec<MatterRow>,
    pub dispatches: Vec<DispatchRow>,
    pub log: Vec<LogRow>,
    /// The unit registry's entries the batch's dispatches looked up, by code (status and
    /// successor; `None`: not in the registry), read once for the batch instead of once for
    /// each matter (`dispatching::active_unit`). Intake's events never change the registry.
    pub units: BTreeMap<String, Option<(String, Option<String>)>>,
}

/// Rows in one insert: PostgreSQL binds at most 65,535 values a statement, and a matter has
/// 23 columns.
const ROWS_PER_INSERT: usize = 1000;

impl Batch for Opened {
    /// Matters, then their dispatches, then the log, each in the order the events came.
    fn write(self, pg: &mut diesel::PgConnection) -> QueryResult<()> {
        // The registry entries were read, not written: nothing of them goes to the database.
        for rows in self.matters.chunks(ROWS_PER_INSERT) {
            diesel::insert_into(routing_matters::table).values(rows).execute(pg)?;
        }
        for rows in self.dispatches.chunks(ROWS_PER_INSERT) {
            diesel::insert_into(dispatches::table).values(rows).execute(pg)?;
        }
        for rows in self.log.chunks(ROWS_PER_INSERT) {
            diesel::insert_into(routing_log::table).values(rows).execute(pg)?;
        }
        Ok(())
    }
}

/// `evidence` (a JSON object, or empty) with `key` set to `value`.
pub fn with_field(evidence: &str, key: &str, value: &impl serde::Serialize) -> String {
    let mut object = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(evidence).unwrap_or_default();
    object.insert(key.to_owned(), serde_json::to_value(value).unwrap_or_default());
    serde_json::Value::Object(object).to_string()
}
