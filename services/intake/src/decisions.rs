//! The petition office's decision on each petition (信访工作条例 第二十二条): registered, then
//! within 15 days accepted and sent to the units with the power to handle it, not accepted (a
//! matter for litigation, arbitration or administrative review), no longer accepted (the same
//! facts after a concluded review), or forwarded to a body outside the district; a written
//! notice to the petitioner with each.
//!
//! The 15 days are natural days: the regulation's text says "15日内", and where Chinese
//! administrative law means working days it says so (行政许可法 第八十二条: "以工作日计算").
//! A petition submitted with no decision is registered and accepted at once, as a desk that
//! registers and forwards in one step does; existing callers and imports work unchanged.

use caseflow_proto::v1 as pb;
use caseflow_runtime::{ErrorKind, Principal, Problem, Role, event_log, time};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::error::IntakeError;
use crate::input::DecisionInput;
use crate::store::{self, DecisionRow, cases, petition_decisions};
use crate::validate::ValidDecision;
use crate::view::{CaseView, Visibility};

/// Natural days the office has to decide (信访工作条例 第二十二条).
pub const DECISION_DAYS: i64 = 15;

const DECIDERS: &[Role] = &[Role::Dispatcher, Role::Admin];

/// The end (24:00, district time) of the 15th natural day after registration.
pub fn due_at(received_at: DateTime<Utc>) -> NaiveDateTime {
    end_of_natural_day(received_at, DECISION_DAYS)
}

/// The end (24:00, district time) of the `days`-th natural day after `from`'s day.
pub fn end_of_natural_day(from: DateTime<Utc>, days: i64) -> NaiveDateTime {
    use chrono::TimeZone as _;
    let offset = caseflow_runtime::clock::district_offset();
    let day = from.with_timezone(&offset).date_naive() + Duration::days(days + 1);
    day.and_hms_opt(0, 0, 0)
        .and_then(|midnight| offset.from_local_datetime(&midnight).single())
        .map_or(from.naive_utc(), |t| t.naive_utc())
}

/// The case's status while (or once) the decision keeps it from the units.
pub fn status_for(outcome: &str) -> &'static str {
    match outcome {
        "pending" => "awaiting_decision",
        "not_accepted" => "not_accepted",
        "no_longer_accepted" => "no_longer_accepted",
        "forwarded" => "forwarded",
        _ => "received",
    }
}

/// The decision row a registration makes: the one given, or accepted at once.
pub fn at_registration(
    case_id: &str,
    received_at: DateTime<Utc>,
    decision: Option<&ValidDecision>,
    actor: &str,
) -> DecisionRow {
    let outcome = decision.map_or("accepted", |d| d.outcome.as_str()).to_owned();
    let decided = outcome != "pending";
    DecisionRow {
        case_id: case_id.to_owned(),
        legal_channel: decision.and_then(|d| d.legal_channel.clone()),
        concluded_case: decision.and_then(|d| d.concluded_case.clone()),
        forwarded_to: decision.and_then(|d| d.forwarded_to.clone()),
        notice: decision.map(|d| d.notice.clone()).unwrap_or_default(),
        due_at: Some(due_at(received_at)),
        // Decided at registration: at the moment the petition was received.
        decided_at: decided.then(|| received_at.naive_utc()),
        decided_by: decided.then(|| actor.to_owned()),
        outcome,
    }
}

fn decision_message(row: &DecisionRow) -> pb::PetitionDecision {
    pb::PetitionDecision {
        outcome: row.outcome.clone(),
        legal_channel: row.legal_channel.clone().unwrap_or_default(),
        concluded_case: row.concluded_case.clone().unwrap_or_default(),
        forwarded_to: row.forwarded_to.clone().unwrap_or_default(),
        notice: row.notice.clone(),
    }
}

/// The event of a decision; `accepted_case` when a petition registered pending is accepted.
pub fn decided_event(row: &DecisionRow, accepted_case: Option<pb::CaseReceived>) -> pb::IntakeEvent {
    pb::IntakeEvent {
        kind: Some(pb::intake_event::Kind::PetitionDecided(pb::PetitionDecided {
            case_id: row.case_id.clone(),
            decision: Some(decision_message(row)),
            due_at: row.due_at.map(|t| time::to_proto(t.and_utc())),
            decided_at: row.decided_at.map(|t| time::to_proto(t.and_utc())),
            accepted_case,
        })),
    }
}

/// What the petition's view says of its decision.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DecisionView {
    /// pending | accepted | not_accepted | no_longer_accepted | forwarded
    pub outcome: String,
    pub legal_channel: Option<String>,
    pub concluded_case: Option<String>,
    pub forwarded_to: Option<String>,
    /// The written notice to the petitioner.
    pub notice: String,
    /// 15 natural days after registration; absent for petitions registered before decisions
    /// were recorded.
    pub due_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    /// Decided after it was due (or still pending past it, as of the answer).
    pub late: bool,
}

impl DecisionView {
    pub fn of(row: DecisionRow, now: DateTime<Utc>) -> Self {
        let late = match (row.due_at, row.decided_at) {
            (Some(due), Some(at)) => at > due,
            (Some(due), None) => now.naive_utc() > due,
            _ => false,
        };
        Self {
            outcome: row.outcome,
            legal_channel: row.legal_channel,
            concluded_case: row.concluded_case,
            forwarded_to: row.forwarded_to,
            notice: row.notice,
            due_at: row.due_at.map(|t| t.and_utc()),
            decided_at: row.decided_at.map(|t| t.and_utc()),
            late,
        }
    }
}

impl crate::service::Intake {
    /// Decides on a petition registered pending the office's decision. Accepted, its matters go
    /// to their units now (their handling period runs from acceptance); otherwise no unit gets it.
    #[tracing::instrument(skip_all, fields(caseflow.service = "intake", case_id = %case_id))]
    pub async fn decide_petition(
        &self,
        principal: &Principal,
        case_id: &str,
        input: DecisionInput,
    ) -> Result<CaseView, IntakeError> {
        principal.require("decide on petitions", DECIDERS)?;
        let now = self.clock.now();
        let decision = input.validate("", false, now).map_err(IntakeError::Invalid)?;
        let decided_at = decision.decided_at.unwrap_or(now);
        let id = case_id.to_owned();
        let actor = principal.name.clone();
        let vault = self.vault.clone();
        let (case, matters, row) = self
            .db
            .write(move |c| {
                let case = store::find_case(c, &id)?.ok_or_else(|| IntakeError::NotFound(id.clone()))?;
                let current: Option<DecisionRow> =
                    petition_decisions::table.find(&id).select(DecisionRow::as_select()).first(c).optional()?;
                let Some(mut row) = current.filter(|_| case.source == "petition") else {
                    return Err(refuse("decision.petition", format!("case '{id}' is not a petition")));
                };
                if row.outcome != "pending" {
                    return Err(refuse(
                        "decision.made",
                        format!("the petition was already decided ({}); a decision is made once", row.outcome),
                    ));
                }
                if decision.outcome == "accepted"
                    && let Some(head) = &case.repeat_of
                    && let Some(concluded) = crate::reviews::concluded(c, head)?
                {
                    return Err(IntakeError::Invalid(vec![crate::reviews::no_reacceptance("outcome", &concluded)]));
                }
                if decided_at.naive_utc() < case.received_at {
                    return Err(IntakeError::Invalid(vec![caseflow_runtime::FieldViolation::new(
                        "decided_at",
                        "must not be before the petition was registered",
                    )]));
                }
                row.outcome = decision.outcome.clone();
                row.legal_channel = decision.legal_channel.clone();
                row.concluded_case = decision.concluded_case.clone();
                row.forwarded_to = decision.forwarded_to.clone();
                row.notice = decision.notice.clone();
                row.decided_at = Some(decided_at.naive_utc());
                row.decided_by = Some(actor.clone());
                caseflow_runtime::db::kept::update(petition_decisions::table.find(&id), &row).execute(c)?;
                diesel::update(cases::table.find(&id))
                    .filter(cases::status.eq("awaiting_decision"))
                    .set(cases::status.eq(status_for(&row.outcome)))
                    .execute(c)?;
                let matters = store::matters_of(c, std::slice::from_ref(&id))?;
                let accepted_case = if row.outcome == "accepted" {
                    let masked = case
                        .citizen_name_enc
                        .as_deref()
                        .and_then(|e| vault.decrypt(e).ok())
                        .map(|n| crate::citizen::mask_name(&n))
                        .unwrap_or_default();
                    let mut received = crate::service::case_received_message(&case, &matters, &masked, &row);
                    received.accepted_at = Some(time::to_proto(decided_at));
                    Some(received)
                } else {
                    None
                };
                event_log::append(c, now, &id, &decided_event(&row, accepted_case))?;
                let case = store::find_case(c, &id)?.ok_or_else(|| IntakeError::NotFound(id.clone()))?;
                Ok::<_, IntakeError>((case, matters, row))
            })
            .await?;
        tracing::info!(case_id = %case_id, outcome = %row.outcome, "petition decided");
        Ok(CaseView::build(case, matters, &self.vault, Visibility::Masked)?.with_decision(Some(row), now))
    }
}

fn refuse(rule: &str, message: String) -> IntakeError {
    Problem::new(ErrorKind::Conflict, message).with_rule(rule).into()
}
