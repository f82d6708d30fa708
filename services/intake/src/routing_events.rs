//! Intake's consumer of routing's stream: which units each case went to (so a unit handler sees
//! only its own cases) and the case's status.
//!
//! Every dispatch makes these writes. On PostgreSQL a batch's writes are gathered and made in
//! three statements at its end (`runtime::gathered`), whatever the batch's size; on SQLite,
//! where a statement is no round trip, each event's are made as it is applied.

use caseflow_proto::v1 as pb;
use caseflow_runtime::consumer::{ApplyAll, ApplyError, EventHandler};
use caseflow_runtime::db::arrays::{Arrays, Column};
use caseflow_runtime::db::kept::{Bind, Sql};
use caseflow_runtime::db::native::Native as _;
use caseflow_runtime::gathered::{self, Batch};
use caseflow_runtime::{AnyConnection, event_log};
use diesel::{PgConnection, QueryResult};

pub struct RoutingEvents;

impl EventHandler for RoutingEvents {
    fn apply_batch(
        &self,
        conn: &mut AnyConnection,
        _events: &[&pb::EventEnvelope],
        apply_all: ApplyAll<'_>,
    ) -> Result<(), ApplyError> {
        gathered::gathering::<Changes, _, _>(conn, apply_all)
    }

    fn apply(&self, conn: &mut AnyConnection, event: &pb::EventEnvelope) -> Result<(), ApplyError> {
        let decoded: pb::RoutingEvent =
            event_log::decode(event).map_err(|reason| ApplyError::Refused { position: event.position, reason })?;
        let Some(pb::routing_event::Kind::DispatchChanged(d)) = decoded.kind else {
            return Ok(());
        };
        if d.action == "triage" {
            if gathered::gather(d.case_id.clone(), |c: &mut Changes, case| c.triaged.push(case)).is_none() {
                return Ok(());
            }
            // In the triage queue: only a case not yet dispatched anywhere shows it. Written out
            // and kept prepared (`runtime::db::kept`): diesel keeps no `UPDATE`.
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
        let dispatched = (d.case_id.clone(), d.unit.clone());
        if gathered::gather(dispatched, |c: &mut Changes, dispatched| c.dispatched.push(dispatched)).is_none() {
            return Ok(());
        }
        // A unit already known took a read before its insert: the conflict does nothing instead.
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

/// What a batch's events change, on PostgreSQL.
#[derive(Debug, Default)]
struct Changes {
    /// Cases sent to the triage queue.
    triaged: Vec<String>,
    /// Cases dispatched, with the unit.
    dispatched: Vec<(String, String)>,
}

impl Batch for Changes {
    /// The triage updates go first: applied one by one, a case triaged and dispatched in the
    /// same batch ends `dispatched` in either order (triage moves only a case still
    /// `received`), and so it does here. The updates find their cases by the batch's array, so
    /// they are planned with it (`Arrays::replanned`).
    fn write(self, pg: &mut PgConnection) -> QueryResult<()> {
        if !self.triaged.is_empty() {
            Arrays::replanned(
                &["UPDATE cases SET status = 'in_triage' WHERE id = ANY(", "::text[]) AND status = 'received'"],
                vec![Column::Text(self.triaged.iter().map(String::as_str).collect())],
            )
            .execute(pg)?;
        }
        if self.dispatched.is_empty() {
            return Ok(());
        }
        let (cases, units): (Vec<&str>, Vec<&str>) =
            self.dispatched.iter().map(|(case, unit)| (case.as_str(), unit.as_str())).unzip();
        Arrays::new(
            &[
                "INSERT INTO case_units (case_id, unit) SELECT * FROM unnest(",
                "::text[], ",
                "::text[]) ON CONFLICT DO NOTHING",
            ],
            vec![Column::Text(cases.clone()), Column::Text(units)],
        )
        .execute(pg)?;
        Arrays::replanned(
            &["UPDATE cases SET status = 'dispatched' WHERE id = ANY(", "::text[])"],
            vec![Column::Text(cases)],
        )
        .execute(pg)?;
        Ok(())
    }
}
