//! Evaluation's consumers. From intake: each case and how many matters it has, and the petition
//! office's decisions (each opens the office's part of a petition's evaluation). From routing:
//! which unit leads each matter, when matters resolve (a hotline case whose matters are all
//! resolved opens its evaluation; a petition's unit that resolved all its matters of the case
//! opens its part; once per cycle) and when they are re-opened.

use std::sync::Arc;

use caseflow_proto::v1 as pb;
use caseflow_runtime::consumer::{ApplyAll, ApplyError, EventHandler};
use caseflow_runtime::db::arrays::{Arrays, Column};
use caseflow_runtime::db::kept::{Bind, Sql};
use caseflow_runtime::gathered::{self, Batch};
use caseflow_runtime::{AnyConnection, SharedClock, event_log, time};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::parts::{self, AGENCY, CASE};
use crate::service::Surveys;
use crate::store::{eval_cases, eval_matters, evaluation_subjects};

pub struct IntakeEvents {
    pub surveys: Arc<Surveys>,
}

impl EventHandler for IntakeEvents {
    fn apply_batch(
        &self,
        c: &mut AnyConnection,
        _events: &[&pb::EventEnvelope],
        apply_all: ApplyAll<'_>,
    ) -> Result<(), ApplyError> {
        gathered::gathering::<NewCases, _, _>(c, apply_all)
    }

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
                    gathered::flush::<NewCases>(c)?;
                    parts::open(c, &self.surveys, &d.case_id, AGENCY, at)?;
                }
                return Ok(());
            }
            _ => return Ok(()),
        };
        let received = time::from_proto(case.received_at.as_ref(), "received_at").map_err(refused)?;
        let new = NewCase {
            case_id: case.case_id.clone(),
            source: pb::CaseSource::code_of(case.source),
            matters: case.matters.iter().map(|m| m.matter_id.clone()).collect(),
            received_at: received.naive_utc(),
            summary: crate::rating_page::masked_summary(&case.matters),
        };
        if let Some(new) = gathered::gather(new, |batch: &mut NewCases, new| batch.0.push(new)) {
            new.insert(c)?;
        }
        if case.source == pb::CaseSource::Petition as i32 && case.decision != "pending" {
            // Decided at the desk when it was registered (a petition sent without a decision is
            // accepted then): the office's part opens at the registration's record.
            let at = match event.recorded_at.as_ref() {
                Some(t) => time::from_proto(Some(t), "recorded_at").map_err(refused)?,
                None => received,
            };
            gathered::flush::<NewCases>(c)?;
            parts::open(c, &self.surveys, &case.case_id, AGENCY, at)?;
        }
        Ok(())
    }
}

/// A case as evaluation keeps it, with its matters' ids.
#[derive(Debug)]
struct NewCase {
    case_id: String,
    source: &'static str,
    matters: Vec<String>,
    received_at: NaiveDateTime,
    summary: String,
}

impl NewCase {
    /// Inserts the case and its matters at once (SQLite).
    fn insert(&self, c: &mut AnyConnection) -> QueryResult<()> {
        diesel::insert_into(eval_cases::table)
            .values((
                eval_cases::case_id.eq(&self.case_id),
                eval_cases::source.eq(self.source),
                eval_cases::matters.eq(i32::try_from(self.matters.len()).unwrap_or(i32::MAX)),
                eval_cases::received_at.eq(self.received_at),
                eval_cases::summary.eq(&self.summary),
            ))
            .execute(c)?;
        for matter in &self.matters {
            diesel::insert_into(eval_matters::table)
                .values((
                    eval_matters::matter_id.eq(matter),
                    eval_matters::case_id.eq(&self.case_id),
                    eval_matters::resolved.eq(false),
                ))
                .execute(c)?;
        }
        Ok(())
    }
}

/// The cases a batch of intake's events brings, written at its end on PostgreSQL.
#[derive(Debug, Default)]
struct NewCases(Vec<NewCase>);

impl Batch for NewCases {
    fn write(self, pg: &mut diesel::PgConnection) -> QueryResult<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let cases = &self.0;
        Arrays::new(
            &[
                "INSERT INTO eval_cases (case_id, source, matters, received_at, summary) SELECT * FROM unnest(",
                "::text[], ",
                "::text[], ",
                "::int[], ",
                "::timestamp[], ",
                "::text[])",
            ],
            vec![
                Column::Text(cases.iter().map(|c| c.case_id.as_str()).collect()),
                Column::Text(cases.iter().map(|c| c.source).collect()),
                Column::Integer(cases.iter().map(|c| i32::try_from(c.matters.len()).unwrap_or(i32::MAX)).collect()),
                Column::Timestamp(cases.iter().map(|c| c.received_at).collect()),
                Column::Text(cases.iter().map(|c| c.summary.as_str()).collect()),
            ],
        )
        .execute(pg)?;
        let (matters, of): (Vec<&str>, Vec<&str>) =
            cases.iter().flat_map(|c| c.matters.iter().map(move |m| (m.as_str(), c.case_id.as_str()))).unzip();
        Arrays::new(
            &[
                "INSERT INTO eval_matters (matter_id, case_id, resolved) SELECT m, c, FALSE FROM unnest(",
                "::text[], ",
                "::text[]) AS u (m, c)",
            ],
            vec![Column::Text(matters), Column::Text(of)],
        )
        .execute(pg)?;
        Ok(())
    }
}

pub struct RoutingEvents {
    pub surveys: Arc<Surveys>,
    pub clock: SharedClock,
}

impl EventHandler for RoutingEvents {
    fn apply_batch(
        &self,
        c: &mut AnyConnection,
        _events: &[&pb::EventEnvelope],
        apply_all: ApplyAll<'_>,
    ) -> Result<(), ApplyError> {
        gathered::gathering::<NewDispatches, _, _>(c, apply_all)
    }

    fn apply(&self, c: &mut AnyConnection, event: &pb::EventEnvelope) -> Result<(), ApplyError> {
        let decoded: pb::RoutingEvent =
            event_log::decode(event).map_err(|reason| ApplyError::Refused { position: event.position, reason })?;
        let Some(pb::routing_event::Kind::DispatchChanged(d)) = decoded.kind else { return Ok(()) };
        let created =
            d.to_state == "dispatched" && matches!(d.action.as_str(), "dispatch" | "designate" | "transfer" | "assign");
        if created && !d.unit.is_empty() {
            let new = NewDispatch {
                dispatch_id: d.dispatch_id.clone(),
                case_id: d.case_id.clone(),
                matter_id: d.matter_id.clone(),
                unit: d.unit.clone(),
                source: pb::CaseSource::code_of(d.source),
                lead: d.role == "lead",
            };
            if let Some(new) = gathered::gather(new, |batch: &mut NewDispatches, new| batch.0.push(new)) {
                new.insert(c)?;
            }
        }
        if matches!(d.action.as_str(), "resolve" | "rehandle") {
            // These read and change the matters the dispatches before them lead.
            gathered::flush::<NewDispatches>(c)?;
        }
        match (d.action.as_str(), d.role.as_str()) {
            ("resolve", "lead") => {
                let at = time::from_proto(d.at.as_ref(), "at")
                    .map_err(|p| ApplyError::Refused { position: event.position, reason: p.detail.clone() })?;
                caseflow_runtime::db::kept::update(
                    eval_matters::table.find(&d.matter_id),
                    (
                        eval_matters::resolved.eq(true),
                        eval_matters::resolved_at.eq(Some(at.naive_utc())),
                        eval_matters::lead_dispatch.eq(Some(&d.dispatch_id)),
                        eval_matters::lead_unit.eq(Some(&d.unit)),
                    ),
                )
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
                caseflow_runtime::db::kept::update(
                    eval_matters::table.find(&d.matter_id),
                    eval_matters::resolved.eq(false),
                )
                .execute(c)?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// A dispatch to a unit, which the case's rating will apply to; a lead one leads its matter.
#[derive(Debug)]
struct NewDispatch {
    dispatch_id: String,
    case_id: String,
    matter_id: String,
    unit: String,
    source: &'static str,
    lead: bool,
}

impl NewDispatch {
    /// Records the subject and the matter's lead at once (SQLite).
    fn insert(&self, c: &mut AnyConnection) -> QueryResult<()> {
        diesel::insert_into(evaluation_subjects::table)
            .values((
                evaluation_subjects::dispatch_id.eq(&self.dispatch_id),
                evaluation_subjects::case_id.eq(&self.case_id),
                evaluation_subjects::unit.eq(Some(self.unit.as_str())),
                evaluation_subjects::source.eq(self.source),
            ))
            .execute(c)?;
        if self.lead {
            // Every dispatch makes one: written out and kept prepared (`runtime::db::kept`;
            // diesel keeps no `UPDATE`).
            Sql::<()>::new(
                &["UPDATE eval_matters SET lead_dispatch = ", ", lead_unit = ", " WHERE matter_id = ", ""],
                vec![Bind::Text(&self.dispatch_id), Bind::Text(&self.unit), Bind::Text(&self.matter_id)],
            )
            .execute(c)?;
        }
        Ok(())
    }
}

/// The dispatches a batch of routing's events creates, written at its end on PostgreSQL.
#[derive(Debug, Default)]
struct NewDispatches(Vec<NewDispatch>);

impl Batch for NewDispatches {
    /// The subjects in one insert; each matter's lead in one update, the last lead dispatch of
    /// the batch winning as it would one by one (an update that matches a row twice applies
    /// one of the two, so each matter is named once). The update finds its matters by the
    /// batch's array, so it is planned with it (`Arrays::replanned`).
    fn write(self, pg: &mut diesel::PgConnection) -> QueryResult<()> {
        let dispatches = &self.0;
        if dispatches.is_empty() {
            return Ok(());
        }
        Arrays::new(
            &[
                "INSERT INTO evaluation_subjects (dispatch_id, case_id, unit, source) SELECT * FROM unnest(",
                "::text[], ",
                "::text[], ",
                "::text[], ",
                "::text[])",
            ],
            vec![
                Column::Text(dispatches.iter().map(|d| d.dispatch_id.as_str()).collect()),
                Column::Text(dispatches.iter().map(|d| d.case_id.as_str()).collect()),
                Column::Text(dispatches.iter().map(|d| d.unit.as_str()).collect()),
                Column::Text(dispatches.iter().map(|d| d.source).collect()),
            ],
        )
        .execute(pg)?;
        let mut named = std::collections::HashSet::new();
        let leads: Vec<&NewDispatch> =
            dispatches.iter().rev().filter(|d| d.lead && named.insert(d.matter_id.as_str())).collect();
        if leads.is_empty() {
            return Ok(());
        }
        Arrays::replanned(
            &[
                "UPDATE eval_matters SET lead_dispatch = u.d, lead_unit = u.u FROM unnest(",
                "::text[], ",
                "::text[], ",
                "::text[]) AS u (m, d, u) WHERE eval_matters.matter_id = u.m",
            ],
            vec![
                Column::Text(leads.iter().map(|d| d.matter_id.as_str()).collect()),
                Column::Text(leads.iter().map(|d| d.dispatch_id.as_str()).collect()),
                Column::Text(leads.iter().map(|d| d.unit.as_str()).collect()),
            ],
        )
        .execute(pg)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use caseflow_runtime::consumer::{ApplyError, EventHandler};
    use caseflow_runtime::testing::TestDatabase;
    use caseflow_runtime::{Db, time};

    use super::*;
    use crate::store::evaluation_parts;

    fn envelope<M: prost::Message + prost::Name>(position: i64, event: &M) -> pb::EventEnvelope {
        pb::EventEnvelope { position, event_type: M::full_name(), payload: event.encode_to_vec(), ..Default::default() }
    }

    /// Routing's event for dispatch `n` of `matter` to `unit`, created by `action` or changed by it.
    fn dispatch(position: i64, matter: &str, n: i32, unit: &str, action: &str) -> pb::EventEnvelope {
        let at = chrono::Utc::now();
        let changed = pb::DispatchChanged {
            dispatch_id: format!("{matter}-d{n}"),
            case_id: "case-1".into(),
            matter_id: matter.into(),
            unit: unit.into(),
            assignment: n,
            action: action.into(),
            to_state: if action == "resolve" { "resolved".into() } else { "dispatched".into() },
            role: "lead".into(),
            source: pb::CaseSource::Petition as i32,
            at: Some(time::to_proto(at)),
            ..Default::default()
        };
        envelope(position, &pb::RoutingEvent { kind: Some(pb::routing_event::Kind::DispatchChanged(changed)) })
    }

    /// A petition's two matters, dispatched, one handed on, the other resolved, all in one batch
    /// of routing's events: each matter ends led by its last dispatch, and the resolution sees
    /// the leads set before it (unit `a` still leads the other matter, so its part does not open),
    /// on either backend.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_of_dispatches_leaves_each_matter_led_by_its_last_and_a_resolution_sees_them() {
        let test_db = TestDatabase::new("evaluation_batch");
        let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS, &crate::MIGRATIONS]).await.expect("db");
        let surveys = Arc::new(Surveys { policy: crate::policy::EvaluationPolicy::load(None).expect("policy") });
        let intake = IntakeEvents { surveys: surveys.clone() };
        let routing = RoutingEvents { surveys, clock: Arc::new(caseflow_runtime::clock::SystemClock) };
        let received = pb::CaseReceived {
            case_id: "case-1".into(),
            source: pb::CaseSource::Petition as i32,
            received_at: Some(time::to_proto(chrono::Utc::now())),
            decision: "pending".into(),
            matters: ["m1", "m2"]
                .iter()
                .map(|m| pb::ReceivedMatter { matter_id: (*m).into(), ..Default::default() })
                .collect(),
            ..Default::default()
        };
        let case = envelope(1, &pb::IntakeEvent { kind: Some(pb::intake_event::Kind::CaseReceived(received)) });
        let batch = [
            dispatch(1, "m1", 1, "a", "dispatch"),
            dispatch(2, "m2", 1, "b", "dispatch"),
            dispatch(3, "m2", 2, "a", "transfer"),
            dispatch(4, "m1", 1, "a", "resolve"),
        ];
        let (leads, parts) = db
            .write(move |c| {
                intake.apply_batch(c, &[&case], &mut |c| intake.apply(c, &case))?;
                let events: Vec<&pb::EventEnvelope> = batch.iter().collect();
                routing.apply_batch(c, &events, &mut |c| batch.iter().try_for_each(|e| routing.apply(c, e)))?;
                let leads: Vec<(String, Option<String>, Option<String>, bool)> = eval_matters::table
                    .select((
                        eval_matters::matter_id,
                        eval_matters::lead_dispatch,
                        eval_matters::lead_unit,
                        eval_matters::resolved,
                    ))
                    .order(eval_matters::matter_id)
                    .load(c)?;
                let parts: Vec<String> = evaluation_parts::table.select(evaluation_parts::part).load(c)?;
                Ok::<_, ApplyError>((leads, parts))
            })
            .await
            .expect("both batches applied");
        let led = |m: &str, d: &str, u: &str, resolved: bool| {
            (m.to_owned(), Some(d.to_owned()), Some(u.to_owned()), resolved)
        };
        assert_eq!(
            leads,
            vec![led("m1", "m1-d1", "a", true), led("m2", "m2-d2", "a", false)],
            "each matter is led by its last dispatch"
        );
        assert!(parts.is_empty(), "unit a still leads an open matter of the case, so its part is not open: {parts:?}");
    }
}
