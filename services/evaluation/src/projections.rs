//! Evaluation's consumers. From intake: each case and how many matters it has. From routing:
//! which unit leads each matter, when matters resolve (a case whose matters are all resolved
//! opens its evaluation, once per cycle) and when they are re-opened.

use std::sync::Arc;

use caseflow_proto::v1 as pb;
use caseflow_runtime::consumer::{ApplyError, EventHandler};
use caseflow_runtime::{AnyConnection, SharedClock, event_log, time};
use diesel::prelude::*;

use crate::service::{Surveys, open_or_reopen};
use crate::store::{eval_cases, eval_matters, evaluation_subjects};

pub struct IntakeEvents;

impl EventHandler for IntakeEvents {
    fn apply(&self, c: &mut AnyConnection, event: &pb::EventEnvelope) -> Result<(), ApplyError> {
        let decoded: pb::IntakeEvent =
            event_log::decode(event).map_err(|reason| ApplyError::Refused { position: event.position, reason })?;
        let Some(pb::intake_event::Kind::CaseReceived(case)) = decoded.kind else { return Ok(()) };
        let received = time::from_proto(case.received_at.as_ref(), "received_at")
            .map_err(|p| ApplyError::Refused { position: event.position, reason: p.detail.clone() })?;
        diesel::insert_into(eval_cases::table)
            .values((
                eval_cases::case_id.eq(&case.case_id),
                eval_cases::source.eq(pb::CaseSource::code_of(case.source)),
                eval_cases::matters.eq(i32::try_from(case.matters.len()).unwrap_or(i32::MAX)),
                eval_cases::received_at.eq(received.naive_utc()),
                eval_cases::summary.eq(crate::rating_page::masked_summary(&case.matters)),
            ))
            .execute(c)?;
        for m in &case.matters {
            diesel::insert_into(eval_matters::table)
                .values((
                    eval_matters::matter_id.eq(&m.matter_id),
                    eval_matters::case_id.eq(&case.case_id),
                    eval_matters::resolved.eq(false),
                ))
                .execute(c)?;
        }
        Ok(())
    }
}

pub struct RoutingEvents {
    pub surveys: Arc<Surveys>,
    pub clock: SharedClock,
}

impl EventHandler for RoutingEvents {
    fn apply(&self, c: &mut AnyConnection, event: &pb::EventEnvelope) -> Result<(), ApplyError> {
        let decoded: pb::RoutingEvent =
            event_log::decode(event).map_err(|reason| ApplyError::Refused { position: event.position, reason })?;
        let Some(pb::routing_event::Kind::DispatchChanged(d)) = decoded.kind else { return Ok(()) };
        let created =
            d.to_state == "dispatched" && matches!(d.action.as_str(), "dispatch" | "designate" | "transfer" | "assign");
        if created && !d.unit.is_empty() {
            diesel::insert_into(evaluation_subjects::table)
                .values((
                    evaluation_subjects::dispatch_id.eq(&d.dispatch_id),
                    evaluation_subjects::case_id.eq(&d.case_id),
                    evaluation_subjects::unit.eq(Some(d.unit.as_str())),
                    evaluation_subjects::source.eq(pb::CaseSource::code_of(d.source)),
                ))
                .execute(c)?;
            if d.role == "lead" {
                diesel::update(eval_matters::table.find(&d.matter_id))
                    .set((
                        eval_matters::lead_dispatch.eq(Some(&d.dispatch_id)),
                        eval_matters::lead_unit.eq(Some(&d.unit)),
                    ))
                    .execute(c)?;
            }
        }
        match (d.action.as_str(), d.role.as_str()) {
            ("resolve", "lead") => {
                let at = time::from_proto(d.at.as_ref(), "at")
                    .map_err(|p| ApplyError::Refused { position: event.position, reason: p.detail.clone() })?;
                diesel::update(eval_matters::table.find(&d.matter_id))
                    .set((
                        eval_matters::resolved.eq(true),
                        eval_matters::resolved_at.eq(Some(at.naive_utc())),
                        eval_matters::lead_dispatch.eq(Some(&d.dispatch_id)),
                        eval_matters::lead_unit.eq(Some(&d.unit)),
                    ))
                    .execute(c)?;
                let open: i64 = eval_matters::table
                    .filter(eval_matters::case_id.eq(&d.case_id))
                    .filter(eval_matters::resolved.eq(false))
                    .count()
                    .get_result(c)?;
                if open == 0 {
                    // The window opens at the resolution (a replayed one keeps its time).
                    open_or_reopen(c, &self.surveys, &d.case_id, at)?;
                }
            }
            ("rehandle", _) => {
                diesel::update(eval_matters::table.find(&d.matter_id))
                    .set(eval_matters::resolved.eq(false))
                    .execute(c)?;
            }
            _ => {}
        }
        Ok(())
    }
}
