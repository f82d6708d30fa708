//! Applying intake's, routing's and evaluation's events to the read model, one consumer per
//! stream. Each projection only ever reads its own tables: nothing here calls another service.

use caseflow_proto::v1 as pb;
use caseflow_runtime::consumer::{ApplyAll, ApplyError, EventHandler};
use caseflow_runtime::db::native::{Native as _, columns};
use caseflow_runtime::{AnyConnection, event_log, time};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::{
    CaseFact, DispatchFact, report_cases, report_dispatches, report_history_warnings, report_ratings, report_returns,
};
use crate::{add_row, rollup, single_visit};

fn ts(t: Option<&prost_types::Timestamp>) -> Option<NaiveDateTime> {
    t.and_then(|t| time::from_proto(Some(t), "t").ok()).map(|t| t.naive_utc())
}

fn refused(position: i64) -> impl Fn(String) -> ApplyError {
    move |reason| ApplyError::Refused { position, reason }
}

/// Intake's stream: cases.
pub struct IntakeProjection;

impl EventHandler for IntakeProjection {
    fn apply_batch(
        &self,
        conn: &mut AnyConnection,
        events: &[&pb::EventEnvelope],
        apply_all: ApplyAll<'_>,
    ) -> Result<(), ApplyError> {
        rollup::lock_projections(conn)?;
        crate::known::cases_arriving(conn, events, |c| add_row::gathered(c, apply_all))
    }

    fn apply(&self, conn: &mut AnyConnection, event: &pb::EventEnvelope) -> Result<(), ApplyError> {
        let decoded: pb::IntakeEvent = event_log::decode(event).map_err(refused(event.position))?;
        let case = match decoded.kind {
            Some(pb::intake_event::Kind::CaseReceived(case)) => case,
            Some(pb::intake_event::Kind::LeaderReceptionRecorded(r)) => {
                let received_at =
                    ts(r.received_at.as_ref()).ok_or_else(|| refused(event.position)("received_at missing".into()))?;
                for (i, outcome) in r.outcomes.iter().enumerate() {
                    // The batch's persons are carried on its first matter, so they add up once.
                    diesel::insert_into(crate::store::report_reception_matters::table)
                        .values((
                            crate::store::report_reception_matters::reception_id.eq(&r.reception_id),
                            crate::store::report_reception_matters::ordinal
                                .eq(i32::try_from(i + 1).unwrap_or(i32::MAX)),
                            crate::store::report_reception_matters::received_at.eq(received_at),
                            crate::store::report_reception_matters::persons.eq(if i == 0 { r.persons } else { 0 }),
                            crate::store::report_reception_matters::outcome.eq(outcome),
                        ))
                        .execute_native(conn)?;
                }
                return Ok(());
            }
            Some(pb::intake_event::Kind::PetitionDecided(d)) => {
                let Some(decision) = d.decision else { return Ok(()) };
                let received: Option<(String, NaiveDateTime)> = report_cases::table
                    .find(&d.case_id)
                    .select((report_cases::source, report_cases::received_at))
                    .first_native(conn)?;
                let Some((source, received_at)) = received else {
                    return Err(refused(event.position)(format!("decision on unknown case {}", d.case_id)));
                };
                let value = if decision.legal_channel.is_empty() {
                    decision.outcome.clone()
                } else {
                    format!("{}.{}", decision.outcome, decision.legal_channel)
                };
                let late = match (ts(d.decided_at.as_ref()), ts(d.due_at.as_ref())) {
                    (Some(at), Some(due)) => at > due,
                    _ => false,
                };
                rollup::decision_recorded(conn, &source, rollup::district_day(received_at), &value, late)?;
                return Ok(());
            }
            Some(pb::intake_event::Kind::ReviewRequested(r)) => {
                crate::reviews::requested(conn, &r, event.position)?;
                return Ok(());
            }
            Some(pb::intake_event::Kind::ReviewDecided(d)) => {
                crate::reviews::decided(conn, &d, event.position)?;
                return Ok(());
            }
            Some(pb::intake_event::Kind::LeaderReceptionMatterUpdated(u)) => {
                caseflow_runtime::db::kept::update(
                    crate::store::report_reception_matters::table.find((&u.reception_id, u.ordinal)),
                    crate::store::report_reception_matters::outcome.eq(&u.outcome),
                )
                .execute_native(conn)?;
                return Ok(());
            }
            None => return Ok(()),
        };
        let received_at =
            ts(case.received_at.as_ref()).ok_or_else(|| refused(event.position)("received_at missing".into()))?;
        let summaries: Vec<&str> = case.matters.iter().map(|m| m.summary.as_str()).collect();
        let terms = caseflow_runtime::words::terms(&summaries).into_iter().collect::<Vec<_>>().join(" ");
        let fact = CaseFact {
            case_id: case.case_id.clone(),
            source: pb::CaseSource::code_of(case.source).to_owned(),
            channel: case.channel.clone(),
            kind: pb::CaseKind::code_of(case.kind).to_owned(),
            category: case.category.clone(),
            sub_district: case.location.as_ref().map(|l| l.sub_district.clone()).unwrap_or_default(),
            received_at,
            is_first: case.is_first,
            single_visit: case.single_visit,
            repeat_of: Some(case.repeat_of.clone()).filter(|r| !r.is_empty()),
            person_key: case.person_key.clone(),
            citizen_masked: case.citizen_masked_name.clone(),
            visit_persons: case.visit_persons,
            collective: case.collective,
            terms,
        };
        // The case's own single-visit figures move, and those of the case it repeats.
        let own = |c: &mut AnyConnection| {
            if fact.single_visit {
                single_visit::track(c, &fact.case_id, |c| insert_case(c, &fact))
            } else {
                insert_case(c, &fact)
            }
        };
        match fact.repeat_of.clone() {
            Some(first) => single_visit::track(conn, &first, own)?,
            None => own(conn)?,
        }
        // A petition taken in before decisions were recorded was accepted at registration; a
        // later one says so with its own PetitionDecided.
        if fact.source == "petition" && case.decision.is_empty() {
            rollup::decision_recorded(conn, &fact.source, rollup::district_day(received_at), "accepted", false)?;
        }
        Ok(())
    }
}

/// A case reaching the read model: its row, its rollups, the first case's dispatches that came
/// before it, and where it stands among the petitioner's petitions.
fn insert_case(conn: &mut AnyConnection, fact: &CaseFact) -> QueryResult<()> {
    diesel::insert_into(report_cases::table).values(fact).execute_native(conn)?;
    rollup::case_arrived(conn, fact)?;
    if fact.is_first {
        rollup::mark_first_case(conn, &fact.case_id)?;
    }
    if fact.source == "petition" {
        crate::repeats::petition_arrived(conn, &fact.case_id, &fact.person_key, fact.received_at)?;
    }
    Ok(())
}

/// Routing's stream: dispatches and their lifecycle, returns and their outcome.
pub struct RoutingProjection;

impl EventHandler for RoutingProjection {
    fn apply_batch(
        &self,
        conn: &mut AnyConnection,
        events: &[&pb::EventEnvelope],
        apply_all: ApplyAll<'_>,
    ) -> Result<(), ApplyError> {
        rollup::lock_projections(conn)?;
        crate::known::dispatches_arriving(conn, events, |c| add_row::gathered(c, apply_all))
    }

    fn apply(&self, conn: &mut AnyConnection, event: &pb::EventEnvelope) -> Result<(), ApplyError> {
        let decoded: pb::RoutingEvent = event_log::decode(event).map_err(refused(event.position))?;
        let Some(pb::routing_event::Kind::DispatchChanged(d)) = decoded.kind else {
            return Ok(());
        };
        // A single-visit case's figures follow its lead dispatches.
        if d.single_visit {
            let case_id = d.case_id.clone();
            return single_visit::track(conn, &case_id, |c| Ok(dispatch_changed(c, &d, event.position)))?;
        }
        dispatch_changed(conn, &d, event.position)
    }
}

/// The unit of a matter's lead dispatch just before the assignment `assignment`, past the first.
fn previous_unit(conn: &mut AnyConnection, matter_id: &str, assignment: i32) -> QueryResult<Option<String>> {
    if assignment <= 1 {
        return Ok(None);
    }
    let unit: Option<Option<String>> = report_dispatches::table
        .filter(report_dispatches::matter_id.eq(matter_id))
        .filter(report_dispatches::role.eq("lead"))
        .filter(report_dispatches::assignment.eq(assignment - 1))
        .select(report_dispatches::unit)
        .first_native(conn)?;
    Ok(unit.flatten())
}

/// One dispatch event applied to the dispatch's row, its rollups and the returns.
fn dispatch_changed(conn: &mut AnyConnection, d: &pb::DispatchChanged, position: i64) -> Result<(), ApplyError> {
    let refused = refused(position);
    let at = ts(d.at.as_ref()).ok_or_else(|| refused("at missing".into()))?;
    let received_at = ts(d.case_received_at.as_ref()).ok_or_else(|| refused("case_received_at missing".into()))?;
    let created =
        d.to_state == "dispatched" && matches!(d.action.as_str(), "dispatch" | "designate" | "transfer" | "assign");
    if d.action == "triage" {
        diesel::insert_into(report_dispatches::table)
            .values(DispatchFact {
                dispatch_id: format!("triage:{}", d.matter_id),
                case_id: d.case_id.clone(),
                matter_id: d.matter_id.clone(),
                unit: None,
                role: "lead".into(),
                assignment: 0,
                source: pb::CaseSource::code_of(d.source).into(),
                received_at,
                dispatched_at: at,
                acknowledge_deadline: None,
                acknowledged_at: None,
                resolve_deadline: ts(d.resolve_deadline.as_ref()),
                resolved_at: None,
                status: "triage".into(),
                closed_at: None,
                rehandled: 0,
                settles_at: None,
                first_case: false,
                previous_unit: None,
            })
            .execute_native(conn)?;
        return Ok(());
    }
    if created {
        // A matter waits in triage only from its receipt until a dispatcher assigns it; the
        // first dispatch of a matter routed at receipt never had a triage row to remove.
        let from_receipt = d.action == "dispatch" && d.assignment == 1;
        if !from_receipt {
            diesel::delete(report_dispatches::table.find(format!("triage:{}", d.matter_id))).execute_native(conn)?;
        }
        let mut fact = DispatchFact {
            dispatch_id: d.dispatch_id.clone(),
            case_id: d.case_id.clone(),
            matter_id: d.matter_id.clone(),
            unit: Some(d.unit.clone()).filter(|u| !u.is_empty()),
            role: if d.role.is_empty() { "lead".into() } else { d.role.clone() },
            assignment: d.assignment,
            source: pb::CaseSource::code_of(d.source).into(),
            received_at,
            dispatched_at: ts(d.dispatched_at.as_ref()).unwrap_or(at),
            acknowledge_deadline: ts(d.acknowledge_deadline.as_ref()),
            acknowledged_at: None,
            resolve_deadline: ts(d.resolve_deadline.as_ref()),
            resolved_at: None,
            status: "open".into(),
            closed_at: None,
            rehandled: 0,
            settles_at: None,
            first_case: rollup::is_first_case(conn, &d.case_id)?,
            previous_unit: previous_unit(conn, &d.matter_id, d.assignment)?,
        };
        fact.settles_at = rollup::settles_at(&fact);
        // A dispatch is created once: the insert fails on one already there.
        rollup::track_dispatch_write(conn, None, &fact, |c| {
            diesel::insert_into(report_dispatches::table).values(&fact).execute_native(c)
        })?;
        if let Some(note) = d.suggester.as_ref().filter(|n| !n.warning.is_empty() && !d.unit.is_empty()) {
            diesel::insert_into(report_history_warnings::table)
                .values((
                    report_history_warnings::dispatch_id.eq(&d.dispatch_id),
                    report_history_warnings::case_id.eq(&d.case_id),
                    report_history_warnings::matter_id.eq(&d.matter_id),
                    report_history_warnings::unit.eq(&d.unit),
                    report_history_warnings::received_at.eq(received_at),
                    report_history_warnings::model_version.eq(note.model_version),
                ))
                .execute_native(conn)?;
        }
        return Ok(());
    }
    if d.dispatch_id.is_empty() {
        return Ok(());
    }
    let Some(before) = report_dispatches::table
        .find(&d.dispatch_id)
        .select(columns::<DispatchFact>())
        .first_native::<DispatchFact>(conn)?
    else {
        return Ok(());
    };
    let mut fact = before.clone();
    // The unit may change (a merged unit's successor); deadlines move only by extension.
    // Only an open dispatch moves (routing's move_to_successor): the latest of its matter, so
    // no later dispatch's `previous_unit` names it yet.
    if !d.unit.is_empty() {
        fact.unit = Some(d.unit.clone());
    }
    fact.resolve_deadline = ts(d.resolve_deadline.as_ref()).or(fact.resolve_deadline);
    match d.action.as_str() {
        "acknowledge" => fact.acknowledged_at = Some(at),
        "resolve" => {
            fact.status = "resolved".into();
            fact.resolved_at = Some(at);
        }
        "rehandle" => {
            fact.status = "open".into();
            fact.resolved_at = None;
            fact.rehandled += 1;
        }
        "review_send_back" => fact.rehandled += 1,
        "return_approve" | "transfer" | "supersede" => {
            fact.status = d.to_state.clone();
            fact.closed_at = Some(at);
        }
        _ => {}
    }
    fact.settles_at = rollup::settles_at(&fact);
    // The update writes every column of the fact (`treat_none_as_null`).
    rollup::track_dispatch_write(conn, Some(&before), &fact, |c| {
        caseflow_runtime::db::kept::update(report_dispatches::table.find(&d.dispatch_id), &fact).execute_native(c)
    })?;
    match d.action.as_str() {
        "return_request" => {
            diesel::insert_into(report_returns::table)
                .values((
                    report_returns::return_id.eq(&d.return_id),
                    report_returns::unit.eq(&d.unit),
                    report_returns::matter_id.eq(&d.matter_id),
                    report_returns::status.eq("pending"),
                    report_returns::wrongful.eq(false),
                    report_returns::received_at.eq(Some(received_at)),
                ))
                .execute_native(conn)?;
        }
        "return_reject" => {
            caseflow_runtime::db::kept::update(
                report_returns::table.find(&d.return_id),
                report_returns::status.eq("rejected"),
            )
            .execute_native(conn)?;
        }
        "return_approve" => {
            caseflow_runtime::db::kept::update(
                report_returns::table
                    .filter(report_returns::matter_id.eq(&d.matter_id))
                    .filter(report_returns::unit.eq(&d.unit))
                    .filter(report_returns::status.eq("pending")),
                report_returns::status.eq("approved"),
            )
            .execute_native(conn)?;
        }
        "resolve" => {
            for w in &d.wrongful_returns {
                caseflow_runtime::db::kept::update(
                    report_returns::table.find(&w.return_id),
                    (report_returns::wrongful.eq(true), report_returns::days_cost.eq(Some(w.days_cost))),
                )
                .execute_native(conn)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Evaluation's stream: what is due, rated (the final rating replaces earlier ones) or expired.
pub struct EvaluationProjection;

/// Where one subject's rating stands: due (until `window_ends`), rated (`mapped`), or expired.
struct Standing<'a> {
    status: &'a str,
    mapped: Option<&'a str>,
    window_ends: Option<NaiveDateTime>,
}

impl<'a> Standing<'a> {
    fn due(window_ends: Option<NaiveDateTime>) -> Self {
        Self { status: "due", mapped: None, window_ends }
    }

    fn rated(mapped: &'a str) -> Self {
        Self { status: "rated", mapped: Some(mapped), window_ends: None }
    }

    fn expired() -> Self {
        Self { status: "expired", mapped: None, window_ends: None }
    }
}

fn put_rating(
    conn: &mut AnyConnection,
    case_id: &str,
    subject: &str,
    dispatch_id: &str,
    source: i32,
    Standing { status, mapped, window_ends }: Standing<'_>,
) -> QueryResult<()> {
    let change = |c: &mut AnyConnection| {
        diesel::delete(report_ratings::table.find((case_id, subject))).execute_native(c)?;
        diesel::insert_into(report_ratings::table)
            .values((
                report_ratings::case_id.eq(case_id),
                report_ratings::subject.eq(subject),
                report_ratings::dispatch_id.eq(Some(dispatch_id).filter(|d| !d.is_empty())),
                report_ratings::source.eq(pb::CaseSource::code_of(source)),
                report_ratings::status.eq(status),
                report_ratings::mapped.eq(mapped),
                report_ratings::window_ends.eq(window_ends),
            ))
            .execute_native(c)
    };
    // A unit's rating moves its dispatch's cells and its subject's evaluation cells.
    let rating = |c: &mut AnyConnection| rollup::track_rating(c, case_id, subject, change);
    if dispatch_id.is_empty() {
        rating(conn)?;
    } else {
        rollup::track_dispatch(conn, dispatch_id, rating)?;
    }
    Ok(())
}

impl EventHandler for EvaluationProjection {
    fn apply_batch(
        &self,
        conn: &mut AnyConnection,
        _events: &[&pb::EventEnvelope],
        apply_all: ApplyAll<'_>,
    ) -> Result<(), ApplyError> {
        rollup::lock_projections(conn)?;
        add_row::gathered(conn, apply_all)
    }

    fn apply(&self, conn: &mut AnyConnection, event: &pb::EventEnvelope) -> Result<(), ApplyError> {
        let decoded: pb::EvaluationEvent = event_log::decode(event).map_err(refused(event.position))?;
        match decoded.kind {
            Some(pb::evaluation_event::Kind::Due(e)) => {
                let window_ends = e.window_ends.as_ref().and_then(|t| time::from_proto(Some(t), "window_ends").ok());
                let window_ends = window_ends.map(|t| t.naive_utc());
                for s in &e.subjects {
                    put_rating(conn, &e.case_id, &s.subject, &s.dispatch_id, e.source, Standing::due(window_ends))?;
                }
                if e.source == pb::CaseSource::Hotline as i32 {
                    put_rating(conn, &e.case_id, "case", "", e.source, Standing::due(window_ends))?;
                }
            }
            Some(pb::evaluation_event::Kind::Rated(r)) => {
                for s in &r.subjects {
                    put_rating(conn, &r.case_id, &s.subject, &s.dispatch_id, r.source, Standing::rated(&s.mapped))?;
                }
                if r.source == pb::CaseSource::Hotline as i32 {
                    put_rating(conn, &r.case_id, "case", "", r.source, Standing::rated(&r.case_mapped))?;
                }
            }
            Some(pb::evaluation_event::Kind::Expired(x)) => {
                for s in &x.subjects {
                    put_rating(conn, &x.case_id, &s.subject, &s.dispatch_id, x.source, Standing::expired())?;
                }
                if x.source == pb::CaseSource::Hotline as i32 {
                    put_rating(conn, &x.case_id, "case", "", x.source, Standing::expired())?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}
