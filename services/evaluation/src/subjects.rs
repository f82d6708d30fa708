//! Which units a case's rating applies to, kept from routing's dispatch events. One hotline
//! rating belongs to the case and applies to each of its dispatches (FIGURES.md: one case sent
//! to two units can be unsatisfied twice in dispatches and once in cases).

use caseflow_proto::v1 as pb;
use caseflow_runtime::consumer::{ApplyError, EventHandler};
use caseflow_runtime::{AnyConnection, Db, DbError, Principal, Problem, Role, event_log};
use diesel::prelude::*;

diesel::table! {
    evaluation_subjects (dispatch_id) {
        dispatch_id -> Text,
        case_id -> Text,
        unit -> Nullable<Text>,
        source -> Text,
    }
}

pub struct RoutingEvents;

impl EventHandler for RoutingEvents {
    fn apply(&self, conn: &mut AnyConnection, event: &pb::EventEnvelope) -> Result<(), ApplyError> {
        let decoded: pb::RoutingEvent =
            event_log::decode(event).map_err(|reason| ApplyError::Refused { position: event.position, reason })?;
        let Some(pb::routing_event::Kind::DispatchChanged(d)) = decoded.kind else {
            return Ok(());
        };
        if d.to_state != "dispatched"
            || d.unit.is_empty()
            || !matches!(d.action.as_str(), "dispatch" | "designate" | "transfer" | "assign")
        {
            return Ok(());
        }
        let source = match pb::CaseSource::try_from(d.source) {
            Ok(pb::CaseSource::Petition) => "petition",
            _ => "hotline",
        };
        diesel::insert_into(evaluation_subjects::table)
            .values((
                evaluation_subjects::dispatch_id.eq(&d.dispatch_id),
                evaluation_subjects::case_id.eq(&d.case_id),
                evaluation_subjects::unit.eq(Some(d.unit.as_str()).filter(|u| !u.is_empty())),
                evaluation_subjects::source.eq(source),
            ))
            .execute(conn)?;
        Ok(())
    }
}

const READERS: &[Role] = &[Role::Evaluator, Role::Integrator, Role::Admin, Role::Service];

#[derive(Clone, Debug)]
pub struct Subjects {
    pub(crate) db: Db,
}

/// The units of a case's dispatches, and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseSubjects {
    pub case_id: String,
    pub source: Option<String>,
    pub units: Vec<String>,
}

impl Subjects {
    pub async fn of_case(&self, principal: &Principal, case_id: &str) -> Result<CaseSubjects, Problem> {
        principal.require("read evaluation subjects", READERS)?;
        let id = case_id.to_owned();
        let rows: Vec<(Option<String>, String)> = self
            .db
            .read(move |c| {
                evaluation_subjects::table
                    .filter(evaluation_subjects::case_id.eq(&id))
                    .order(evaluation_subjects::dispatch_id.asc())
                    .select((evaluation_subjects::unit, evaluation_subjects::source))
                    .load(c)
                    .map_err(DbError::from)
            })
            .await?;
        Ok(CaseSubjects {
            case_id: case_id.to_owned(),
            source: rows.first().map(|r| r.1.clone()),
            units: rows.into_iter().filter_map(|r| r.0).collect(),
        })
    }
}
