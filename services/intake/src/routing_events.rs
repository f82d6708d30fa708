//! Intake's consumer of routing's stream: which units each case went to (so a unit handler sees
//! only its own cases) and the case's status.

use caseflow_proto::v1 as pb;
use caseflow_runtime::consumer::{ApplyError, EventHandler};
use caseflow_runtime::{AnyConnection, event_log};
use diesel::prelude::*;

use crate::store::{case_units, cases};

pub struct RoutingEvents;

impl EventHandler for RoutingEvents {
    fn apply(&self, conn: &mut AnyConnection, event: &pb::EventEnvelope) -> Result<(), ApplyError> {
        let decoded: pb::RoutingEvent =
            event_log::decode(event).map_err(|reason| ApplyError::Refused { position: event.position, reason })?;
        let Some(pb::routing_event::Kind::DispatchChanged(d)) = decoded.kind else {
            return Ok(());
        };
        if d.action == "triage" {
            // In the triage queue: only a case not yet dispatched anywhere shows it.
            diesel::update(cases::table.find(&d.case_id).filter(cases::status.eq("received")))
                .set(cases::status.eq("in_triage"))
                .execute(conn)?;
            return Ok(());
        }
        if d.unit.is_empty() || d.to_state != "dispatched" {
            return Ok(());
        }
        let known = case_units::table
            .filter(case_units::case_id.eq(&d.case_id))
            .filter(case_units::unit.eq(&d.unit))
            .count()
            .get_result::<i64>(conn)?
            > 0;
        if !known {
            diesel::insert_into(case_units::table)
                .values((case_units::case_id.eq(&d.case_id), case_units::unit.eq(&d.unit)))
                .execute(conn)?;
        }
        diesel::update(cases::table.find(&d.case_id)).set(cases::status.eq("dispatched")).execute(conn)?;
        Ok(())
    }
}
