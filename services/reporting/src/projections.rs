//! Applying intake's and routing's events to the read model, one consumer per stream.

use caseflow_proto::v1 as pb;
use caseflow_runtime::consumer::{ApplyError, EventHandler};
use caseflow_runtime::{AnyConnection, event_log, time};
use diesel::prelude::*;

use crate::store::{CaseFact, DispatchFact, report_cases, report_dispatches};

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

fn refused(position: i64) -> impl Fn(String) -> ApplyError {
    move |reason| ApplyError::Refused { position, reason }
}

/// Intake's stream: cases.
pub struct IntakeProjection;

impl EventHandler for IntakeProjection {
    fn apply(&self, conn: &mut AnyConnection, event: &pb::EventEnvelope) -> Result<(), ApplyError> {
        let decoded: pb::IntakeEvent = event_log::decode(event).map_err(refused(event.position))?;
        let Some(pb::intake_event::Kind::CaseReceived(case)) = decoded.kind else {
            return Ok(());
        };
        let received_at = time::from_proto(case.received_at.as_ref(), "received_at")
            .map_err(|p| refused(event.position)(p.detail.clone()))?;
        diesel::insert_into(report_cases::table)
            .values(CaseFact {
                case_id: case.case_id,
                source: source_name(case.source).to_owned(),
                channel: case.channel,
                kind: kind_name(case.kind).to_owned(),
                category: case.category,
                sub_district: case.location.map(|l| l.sub_district).unwrap_or_default(),
                received_at: received_at.naive_utc(),
            })
            .execute(conn)?;
        Ok(())
    }
}

/// Routing's stream: dispatches.
pub struct RoutingProjection;

impl EventHandler for RoutingProjection {
    fn apply(&self, conn: &mut AnyConnection, event: &pb::EventEnvelope) -> Result<(), ApplyError> {
        let decoded: pb::RoutingEvent = event_log::decode(event).map_err(refused(event.position))?;
        let Some(pb::routing_event::Kind::DispatchChanged(d)) = decoded.kind else {
            return Ok(());
        };
        // A dispatch is counted for its unit when it is created (批转件); triage waits unit-less.
        let created =
            d.to_state == "dispatched" && matches!(d.action.as_str(), "dispatch" | "designate" | "transfer" | "assign");
        if !created && d.action != "triage" {
            return Ok(());
        }
        if d.action == "assign" {
            diesel::delete(report_dispatches::table.find(format!("triage:{}", d.matter_id))).execute(conn)?;
        }
        let received_at = time::from_proto(d.case_received_at.as_ref(), "case_received_at")
            .map_err(|p| refused(event.position)(p.detail.clone()))?;
        let dispatched_at = time::from_proto(d.dispatched_at.as_ref().or(d.at.as_ref()), "dispatched_at")
            .map_err(|p| refused(event.position)(p.detail.clone()))?;
        diesel::insert_into(report_dispatches::table)
            .values(DispatchFact {
                dispatch_id: if d.action == "triage" { format!("triage:{}", d.matter_id) } else { d.dispatch_id },
                case_id: d.case_id,
                matter_id: d.matter_id,
                unit: Some(d.unit).filter(|u| !u.is_empty()),
                source: source_name(d.source).to_owned(),
                received_at: received_at.naive_utc(),
                dispatched_at: dispatched_at.naive_utc(),
            })
            .execute(conn)?;
        tracing::debug!("dispatch counted");
        Ok(())
    }
}
