//! Routing's consumer of intake's stream: each matter of a received case becomes a routing
//! matter with its clock, and a dispatch — to the unit the caller named, else to the unit the
//! responsibility catalog names, else into the triage queue where a dispatcher chooses.
//!
//! A petition goes to units only once the petition office accepted it (信访工作条例 第二十二条):
//! at registration (its `CaseReceived` says accepted), or later (`PetitionDecided` carries the
//! case); one not accepted, no longer accepted or forwarded outside the district never does.

use std::sync::Arc;

use caseflow_proto::v1 as pb;
use caseflow_runtime::consumer::{ApplyAll, ApplyError, EventHandler};
use caseflow_runtime::db::native::Native as _;
use caseflow_runtime::gathered;
use caseflow_runtime::{AnyConnection, SharedClock, event_log, time};

use crate::catalog::MatterFacts;
use crate::dispatching::{History, Rules, Via, class, plan_dispatch, record_opened};
use crate::error::RoutingError;
use crate::record::{Change, Opened, record, with_field};
use crate::store::{MatterRow, dispatches, routing_matters};
use crate::suggest::Suggester;
use crate::suggest::advice;
use crate::suggest::features::Traits;

pub const SYSTEM: &str = "system:routing";

pub struct IntakeEvents {
    pub rules: Arc<Rules>,
    pub clock: SharedClock,
    /// The model in use, if one is trained: its word goes with a matter left in triage, and
    /// with a dispatch to a unit that rarely resolved such matters. It never chooses the unit.
    pub suggester: Suggester,
}

impl EventHandler for IntakeEvents {
    /// A batch's new matters, dispatches and log entries go in a statement each on PostgreSQL
    /// (`record::Opened`).
    fn apply_batch(
        &self,
        conn: &mut AnyConnection,
        _events: &[&pb::EventEnvelope],
        apply_all: ApplyAll<'_>,
    ) -> Result<(), ApplyError> {
        gathered::gathering::<Opened, _, _>(conn, apply_all)
    }

    fn apply(&self, conn: &mut AnyConnection, event: &pb::EventEnvelope) -> Result<(), ApplyError> {
        let decoded: pb::IntakeEvent =
            event_log::decode(event).map_err(|reason| ApplyError::Refused { position: event.position, reason })?;
        match decoded.kind {
            Some(pb::intake_event::Kind::CaseReceived(case)) => {
                if !matches!(case.decision.as_str(), "" | "accepted") {
                    // Registered pending the office's decision, or decided against the units.
                    return Ok(());
                }
                // Dispatched when the case was taken in (a replayed case keeps its time).
                let at = event_log::recorded_at(event).unwrap_or_else(|| self.clock.now());
                self.case_received(conn, event.position, case, at)
            }
            Some(pb::intake_event::Kind::PetitionDecided(pb::PetitionDecided {
                accepted_case: Some(case),
                decided_at,
                ..
            })) => {
                // Accepted after registration: dispatched at the decision.
                let at = time::from_proto(decided_at.as_ref(), "decided_at")
                    .map_err(|p| ApplyError::Refused { position: event.position, reason: p.detail.clone() })?;
                self.case_received(conn, event.position, case, at)
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
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), ApplyError> {
        let refused = |reason: String| ApplyError::Refused { position, reason };
        let received_at =
            time::from_proto(case.received_at.as_ref(), "received_at").map_err(|p| refused(p.detail.clone()))?;
        let clock_start = match case.accepted_at.as_ref() {
            Some(t) => time::from_proto(Some(t), "accepted_at").map_err(|p| refused(p.detail.clone()))?,
            None => received_at,
        };
        let sub_district = case.location.as_ref().map(|l| l.sub_district.clone()).unwrap_or_default();
        let source = if case.source == pb::CaseSource::Petition as i32 { "petition" } else { "hotline" };
        for m in &case.matters {
            let mut matter = MatterRow {
                matter_id: m.matter_id.clone(),
                case_id: case.case_id.clone(),
                source: source.to_owned(),
                kind: pb::CaseKind::code_of(case.kind).to_owned(),
                category: m.category.clone(),
                summary: m.summary.clone(),
                sub_district: sub_district.clone(),
                anonymous: case.anonymous,
                single_visit: case.single_visit,
                accused_unit: Some(case.accused_unit.clone()).filter(|u| !u.is_empty()),
                case_received_at: received_at.naive_utc(),
                land_deadline: received_at.naive_utc(),
                resolve_deadline: received_at.naive_utc(),
                extensions: 0,
                approved_returns: 0,
                state: "triage".into(),
                designated_unit: None,
                case_analysis: None,
                resolved_at: None,
                version: 1,
                named_unit: None,
                catalog_unit: None,
            };
            // The clock runs from the case's receipt, whoever holds the matter (rule 6); a
            // petition accepted after registration runs from its acceptance (信访工作条例 第三十四条:
            // 自受理之日起). The rules are those in force on the day of receipt.
            let deadlines = self.rules.policy.deadlines(class(&matter));
            matter.land_deadline = self.rules.calendar.deadline(clock_start, deadlines.land).naive_utc();
            matter.resolve_deadline = self.rules.calendar.deadline(clock_start, deadlines.resolve).naive_utc();

            let facts = MatterFacts {
                category: &m.category,
                summary: &m.summary,
                sub_district: &sub_district,
                on: received_at.with_timezone(&caseflow_runtime::clock::district_offset()).date_naive(),
            };
            let named = Some(m.target_unit.as_str()).filter(|u| !u.is_empty());
            let catalog = self.rules.catalog.responsible(&facts);
            matter.named_unit = named.map(str::to_owned);
            matter.catalog_unit = catalog.map(|e| e.unit.clone());
            let mut attempts: Vec<(String, Via, String, String)> = Vec::new();
            if let Some(unit) = named {
                attempts.push((
                    unit.to_owned(),
                    Via::Named,
                    format!("dispatched to {unit}, the unit named by the caller"),
                    String::new(),
                ));
            }
            if let Some(entry) = catalog {
                attempts.push((
                    entry.unit.clone(),
                    Via::Catalog,
                    format!("dispatched to {} by catalog entry {}", entry.unit, entry.id),
                    serde_json::json!({"catalog_entry": entry.id, "legal_basis": entry.legal_basis}).to_string(),
                ));
            }
            // The matter is new: the dispatch is worked out first, so that the matter is
            // written once, open or in triage, and nothing of its past needs reading.
            let mut refusals = Vec::new();
            let mut opened = None;
            for (unit, via, reason, evidence) in attempts {
                match plan_dispatch(conn, &self.rules, &matter, &unit, via, now, History::Fresh) {
                    Ok(row) => {
                        opened = Some((row, via, reason, evidence));
                        break;
                    }
                    Err(RoutingError::Db(e)) => return Err(ApplyError::Db(e)),
                    Err(other) => refusals.push(caseflow_runtime::Problem::from(other).detail.clone()),
                }
            }
            if opened.is_some() {
                matter.state = "open".into();
            }
            let model = self.suggester.current();
            let traits = Traits::of(&matter);
            if let Some(matter) = gathered::gather(matter.clone(), |o: &mut Opened, m| o.matters.push(m)) {
                diesel::insert_into(routing_matters::table).values(&matter).execute_native(conn)?;
            }
            if let Some((mut row, via, reason, evidence)) = opened {
                // The platform's or the catalog's unit goes ahead; when history says it rarely
                // resolves such matters, the dispatch carries the warning for the dispatcher.
                let warning =
                    model.as_deref().and_then(|m| advice::warning(m, &traits, &self.rules.registry, &row.unit));
                let mut change = Change { actor: SYSTEM.into(), reason, evidence, ..Change::default() };
                if let Some(note) = &warning {
                    row.history_warning = serde_json::to_string(note).ok();
                    change.evidence = with_field(&change.evidence, "history_warning", note);
                    change.suggester = Some(note.to_proto());
                }
                if let Some(row) = gathered::gather(row.clone(), |o: &mut Opened, row| o.dispatches.push(row)) {
                    diesel::insert_into(dispatches::table).values(&row).execute_native(conn)?;
                }
                record_opened(conn, &matter, &row, via, change, now)?;
            } else {
                let mut reason = "no unit named and the catalog names no single owner; a dispatcher chooses".to_owned();
                if !refusals.is_empty() {
                    reason = format!("{}; a dispatcher chooses", refusals.join("; "));
                }
                // The dispatcher who chooses sees what history ranks first, and so does the log.
                let (evidence, suggester) = match model.as_deref() {
                    Some(m) => {
                        let ranked = advice::suggestions(m, &traits, &self.rules.registry, 3);
                        let shown = serde_json::json!({"model_version": m.version, "suggestions": ranked});
                        (with_field("", "suggester", &shown), Some(advice::triage_note(m.version, &ranked)))
                    }
                    None => (String::new(), None),
                };
                record(
                    conn,
                    now,
                    &matter,
                    None,
                    Change {
                        action: "triage",
                        from: String::new(),
                        to: "triage".into(),
                        actor: SYSTEM.into(),
                        reason,
                        evidence,
                        suggester,
                        ..Change::default()
                    },
                )?;
            }
        }
        tracing::info!(case_id = %case.case_id, matters = case.matters.len(), "case routed");
        Ok(())
    }
}
