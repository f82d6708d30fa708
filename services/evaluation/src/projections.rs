//! Evaluation's consumers. From intake: each case and how many matters it has, and the petition
//! office's decisions (each opens the office's part of a petition's evaluation). From routing:
//! which unit leads each matter, when matters resolve (a hotline case whose matters are all
//! resolved opens its evaluation; a petition's unit that resolved all its matters of the case
//! opens its part; once per cycle) and when they are re-opened.

use std::sync::Arc;

use caseflow_proto::v1 as pb;
use caseflow_runtime::consumer::{ApplyError, EventHandler};
use caseflow_runtime::db::kept::{Bind, Sql};
use caseflow_runtime::{AnyConnection, SharedClock, event_log, time};
use diesel::prelude::*;

use crate::parts::{self, AGENCY, CASE};
use crate::service::Surveys;
use crate::store::{eval_cases, eval_matters, evaluation_subjects};

pub struct IntakeEvents {
    pub surveys: Arc<Surveys>,
}

impl EventHandler for IntakeEvents {
    fn apply(&self, c: &mut AnyConnection, event: &pb::EventEnvelope) -> Result<(), ApplyError> {
        let decoded: pb::IntakeEvent =
            event_log::decode(event).map_err(|reason| ApplyError::Refused { position: event.position, reason })?;
        let refused =
            |p: caseflow_runtime::Problem| ApplyError::Refused { position: event.position, reason: p.detail.clone() };
        let case = match decoded.kind {
            Some(pb::intake_event::Kind::CaseReceived(case)) => case,
            Some(pb::intake_event::Kind::PetitionDecided(d)) => {
                // The office's part opens with its decision, whatever it decided: the citizen
                // rates the registration, the acceptance or forwarding, and the written notice.
                let outcome = d.decision.as_ref().map_or("", |d| d.outcome.as_str());
                if outcome != "pending" {
                    let at = time::from_proto(d.decided_at.as_ref(), "decided_at").map_err(refused)?;
                    parts::open(c, &self.surveys, &d.case_id, AGENCY, at)?;
                }
                return Ok(());
            }
            _ => return Ok(()),
        };
        let received = time::from_proto(case.received_at.as_ref(), "received_at").map_err(refused)?;
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
        if case.source == pb::CaseSource::Petition as i32 && case.decision != "pending" {
            // Decided at the desk when it was registered (a petition sent without a decision is
            // accepted then): the office's part opens at the registration's record.
            let at = match event.recorded_at.as_ref() {
                Some(t) => time::from_proto(Some(t), "recorded_at").map_err(refused)?,
                None => received,
            };
            parts::open(c, &self.surveys, &case.case_id, AGENCY, at)?;
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
                // Every dispatch makes one: written out and kept prepared (`runtime::db::kept`;
                // diesel keeps no `UPDATE`).
                Sql::<()>::new(
                    &["UPDATE eval_matters SET lead_dispatch = ", ", lead_unit = ", " WHERE matter_id = ", ""],
                    vec![Bind::Text(&d.dispatch_id), Bind::Text(&d.unit), Bind::Text(&d.matter_id)],
                )
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
                // The window opens at the resolution (a replayed one keeps its time).
                if d.source == pb::CaseSource::Petition as i32 {
                    if parts::unit_resolved_all(c, &d.case_id, &d.unit)? {
                        parts::open(c, &self.surveys, &d.case_id, &d.unit, at)?;
                    }
                } else {
                    let open: i64 = eval_matters::table
                        .filter(eval_matters::case_id.eq(&d.case_id))
                        .filter(eval_matters::resolved.eq(false))
                        .count()
                        .get_result(c)?;
                    if open == 0 {
                        parts::open(c, &self.surveys, &d.case_id, CASE, at)?;
                    }
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
