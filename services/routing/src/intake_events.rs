//! Routing's consumer of intake's stream: each matter of a received case becomes a dispatch, to
//! the unit the caller named or else into the triage queue, with a log entry and an event, all
//! in the consumer's transaction.

use std::sync::Arc;

use caseflow_proto::v1 as pb;
use caseflow_runtime::consumer::{ApplyError, EventHandler};
use caseflow_runtime::{AnyConnection, SharedClock, event_log, time};
use diesel::prelude::*;

use crate::registry::Registry;
use crate::store::{DispatchRow, LogRow, dispatches, routing_log};

pub const STATE_DISPATCHED: &str = "dispatched";
pub const STATE_TRIAGE: &str = "triage";

pub struct IntakeEvents {
    pub registry: Arc<Registry>,
    pub clock: SharedClock,
}

fn source_name(v: i32) -> &'static str {
    match pb::CaseSource::try_from(v) {
        Ok(pb::CaseSource::Petition) => "petition",
        _ => "hotline",
    }
}

fn kind_name(v: i32) -> &'static str {
    match pb::CaseKind::try_from(v) {
        Ok(pb::CaseKind::Complaint) => "complaint",
        Ok(pb::CaseKind::Suggestion) => "suggestion",
        Ok(pb::CaseKind::Inquiry) => "inquiry",
        Ok(pb::CaseKind::HelpRequest) => "help_request",
        _ => "unspecified",
    }
}

impl EventHandler for IntakeEvents {
    fn apply(&self, conn: &mut AnyConnection, event: &pb::EventEnvelope) -> Result<(), ApplyError> {
        let decoded: pb::IntakeEvent =
            event_log::decode(event).map_err(|reason| ApplyError::Refused {
                position: event.position,
                reason,
            })?;
        match decoded.kind {
            Some(pb::intake_event::Kind::CaseReceived(case)) => {
                self.case_received(conn, event.position, case)
            }
            // Leader receptions concern reporting, not routing.
            Some(_) | None => Ok(()),
        }
    }
}

impl IntakeEvents {
    fn case_received(
        &self,
        conn: &mut AnyConnection,
        position: i64,
        case: pb::CaseReceived,
    ) -> Result<(), ApplyError> {
        let now = self.clock.now();
        let received_at =
            time::from_proto(case.received_at.as_ref(), "received_at").map_err(|p| {
                ApplyError::Refused {
                    position,
                    reason: p.detail.clone(),
                }
            })?;
        let sub_district = case
            .location
            .as_ref()
            .map(|l| l.sub_district.clone())
            .unwrap_or_default();
        for matter in &case.matters {
            let target = Some(matter.target_unit.as_str()).filter(|u| !u.is_empty());
            let (unit, state, reason) = match target {
                Some(code) if self.registry.get(code).is_some() => (
                    Some(code.to_owned()),
                    STATE_DISPATCHED,
                    format!("dispatched to {code}, the unit named by the caller"),
                ),
                Some(code) => (
                    None,
                    STATE_TRIAGE,
                    format!("named unit '{code}' is not in the registry; a dispatcher chooses"),
                ),
                None => (
                    None,
                    STATE_TRIAGE,
                    "no unit named; a dispatcher chooses".to_owned(),
                ),
            };
            let row = DispatchRow {
                id: format!("{}-d1", matter.matter_id),
                case_id: case.case_id.clone(),
                matter_id: matter.matter_id.clone(),
                assignment: 1,
                unit: unit.clone(),
                state: state.to_owned(),
                source: source_name(case.source).to_owned(),
                kind: kind_name(case.kind).to_owned(),
                category: matter.category.clone(),
                sub_district: sub_district.clone(),
                anonymous: case.anonymous,
                case_received_at: received_at.naive_utc(),
                dispatched_at: now.naive_utc(),
                version: 1,
            };
            diesel::insert_into(dispatches::table)
                .values(&row)
                .execute(conn)?;
            diesel::insert_into(routing_log::table)
                .values(LogRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    case_id: row.case_id.clone(),
                    matter_id: row.matter_id.clone(),
                    dispatch_id: Some(row.id.clone()),
                    action: if unit.is_some() {
                        "dispatch".into()
                    } else {
                        "queue_for_triage".into()
                    },
                    actor: "system:routing".into(),
                    reason,
                    evidence: String::new(),
                    at: now.naive_utc(),
                })
                .execute(conn)?;
            let created = pb::RoutingEvent {
                kind: Some(pb::routing_event::Kind::DispatchCreated(
                    pb::DispatchCreated {
                        dispatch_id: row.id.clone(),
                        case_id: row.case_id.clone(),
                        matter_id: row.matter_id.clone(),
                        unit: unit.unwrap_or_default(),
                        source: case.source,
                        kind: case.kind,
                        category: row.category.clone(),
                        case_received_at: case.received_at,
                        dispatched_at: Some(time::to_proto(now)),
                    },
                )),
            };
            event_log::append(conn, now, &row.case_id, &created)?;
        }
        tracing::info!(case_id = %case.case_id, matters = case.matters.len(), "case dispatched");
        Ok(())
    }
}
