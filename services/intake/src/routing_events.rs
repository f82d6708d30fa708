//! Intake's consumer of routing's stream: which units each case went to (so a unit handler sees
//! only its own cases) and the case's status.

use caseflow_proto::v1 as pb;
use caseflow_runtime::consumer::{ApplyError, EventHandler};
use caseflow_runtime::db::kept::{Bind, Sql};
use caseflow_runtime::db::native::Native as _;
use caseflow_runtime::{AnyConnection, event_log};

pub struct RoutingEvents;

impl EventHandler for RoutingEvents {
    fn apply(&self, conn: &mut AnyConnection, event: &pb::EventEnvelope) -> Result<(), ApplyError> {
        let decoded: pb::RoutingEvent =
            event_log::decode(event).map_err(|reason| ApplyError::Refused { position: event.position, reason })?;
        let Some(pb::routing_event::Kind::DispatchChanged(d)) = decoded.kind else {
            return Ok(());
        };
        // Written out and kept prepared (`runtime::db::kept`): diesel keeps no `UPDATE`, and a
        // unit already known took a read before its insert; these run for every dispatch.
        if d.action == "triage" {
            // In the triage queue: only a case not yet dispatched anywhere shows it.
            Sql::<()>::new(
                &["UPDATE cases SET status = 'in_triage' WHERE id = ", " AND status = 'received'"],
                vec![Bind::Text(&d.case_id)],
            )
            .execute_native(conn)?;
            return Ok(());
        }
        if d.unit.is_empty() || d.to_state != "dispatched" {
            return Ok(());
        }
        Sql::<()>::new(
            &["INSERT INTO case_units (case_id, unit) VALUES (", ", ", ") ON CONFLICT DO NOTHING"],
            vec![Bind::Text(&d.case_id), Bind::Text(&d.unit)],
        )
        .execute_native(conn)?;
        Sql::<()>::new(&["UPDATE cases SET status = 'dispatched' WHERE id = ", ""], vec![Bind::Text(&d.case_id)])
            .execute_native(conn)?;
        Ok(())
    }
}
