//! Leader receptions (领导接访): a leader receives petitioners in person. Each record is one
//! batch, with its persons and matters, and each matter's outcome: solved on the spot
//! (当场解决), resolved later (已化解), or in progress (正在化解).

use caseflow_proto::v1 as pb;
use caseflow_runtime::{FieldViolation, Principal, Role, event_log, time};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::IntakeError;
use crate::service::Intake;
use crate::store::{ReceptionMatterRow, ReceptionRow, leader_reception_matters, leader_receptions};
use caseflow_runtime::time::RecordBounds;

const RECORDERS: &[Role] = &[Role::Dispatcher, Role::Evaluator, Role::Admin];
const READERS: &[Role] = &[Role::Dispatcher, Role::Evaluator, Role::EfficiencyOffice, Role::Admin];
pub const OUTCOMES: [&str; 3] = ["solved_on_spot", "resolved", "in_progress"];

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceptionMatterInput {
    /// 1 to 500 characters.
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    pub summary: String,
    /// The case the matter was registered as, when there is one.
    #[serde(default)]
    pub case_id: Option<String>,
    /// solved_on_spot | resolved | in_progress
    #[schema(pattern = "^(solved_on_spot|resolved|in_progress)$")]
    pub outcome: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceptionInput {
    /// The petition bureau's number for this reception; the idempotency key. 1 to 64 characters.
    #[schema(min_length = 1, max_length = 64, pattern = "\\S")]
    pub reception_number: String,
    /// The receiving leader (a public official, not a petitioner), 1 to 50 characters.
    #[schema(min_length = 1, max_length = 50, pattern = "\\S")]
    pub leader_name: String,
    /// e.g. 区委书记, 区长; 1 to 50 characters.
    #[schema(min_length = 1, max_length = 50, pattern = "\\S")]
    pub leader_title: String,
    /// RFC 3339 with offset; not before the district's first records, not after now.
    #[schema(format = DateTime)]
    pub received_at: String,
    /// Persons (人次) received in this batch.
    #[schema(minimum = 1, maximum = 10000)]
    #[serde(deserialize_with = "caseflow_runtime::whole::i32")]
    pub persons: i32,
    /// 1 to 50 matters.
    #[schema(min_items = 1, max_items = 50)]
    pub matters: Vec<ReceptionMatterInput>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeUpdate {
    /// solved_on_spot | resolved | in_progress
    #[schema(pattern = "^(solved_on_spot|resolved|in_progress)$")]
    pub outcome: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceptionMatterView {
    pub ordinal: i32,
    pub summary: String,
    pub case_id: Option<String>,
    pub outcome: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceptionView {
    pub reception_id: String,
    pub reception_number: String,
    pub leader_name: String,
    pub leader_title: String,
    pub received_at: DateTime<Utc>,
    pub persons: i32,
    pub matters: Vec<ReceptionMatterView>,
}

/// The bulletin's sentence: 接待群众来访N批次M人次，受理信访事项K件，当场解决a件，已化解b件，正在化解c件.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceptionSummary {
    pub batches: i64,
    pub persons: i64,
    pub matters: i64,
    pub solved_on_spot: i64,
    pub resolved: i64,
    pub in_progress: i64,
    pub receptions: Vec<ReceptionView>,
}

fn check(input: &ReceptionInput, records: &RecordBounds, now: DateTime<Utc>) -> Result<DateTime<Utc>, IntakeError> {
    let mut errors = Vec::new();
    let mut text = |field: &str, v: &str, max: usize| {
        let n = v.trim().chars().count();
        if n == 0 || n > max {
            errors.push(FieldViolation::new(field, format!("must be 1 to {max} characters")));
        }
    };
    text("reception_number", &input.reception_number, 64);
    text("leader_name", &input.leader_name, 50);
    text("leader_title", &input.leader_title, 50);
    for (i, m) in input.matters.iter().enumerate() {
        text(&format!("matters[{i}].summary"), &m.summary, 500);
    }
    if !(1..=10_000).contains(&input.persons) {
        errors.push(FieldViolation::new("persons", "must be 1 to 10000"));
    }
    if input.matters.is_empty() || input.matters.len() > 50 {
        errors.push(FieldViolation::new("matters", "must list 1 to 50 matters"));
    }
    for (i, m) in input.matters.iter().enumerate() {
        if !OUTCOMES.contains(&m.outcome.as_str()) {
            errors.push(FieldViolation::new(
                format!("matters[{i}].outcome"),
                format!("'{}' is not one of {}", m.outcome, OUTCOMES.join(", ")),
            ));
        }
    }
    let received_at = match DateTime::parse_from_rfc3339(input.received_at.trim()) {
        Ok(t) => {
            let t = t.with_timezone(&Utc);
            if let Err(v) = records.check("received_at", t, now) {
                errors.push(v);
            }
            t
        }
        Err(_) => {
            errors.push(FieldViolation::new(
                "received_at",
                "must be RFC 3339 with offset, e.g. 2020-03-02T09:30:00+08:00",
            ));
            now
        }
    };
    if errors.is_empty() { Ok(received_at) } else { Err(IntakeError::Invalid(errors)) }
}

fn view(r: ReceptionRow, matters: Vec<ReceptionMatterRow>) -> ReceptionView {
    ReceptionView {
        reception_id: r.id,
        reception_number: r.external_ref,
        leader_name: r.leader_name,
        leader_title: r.leader_title,
        received_at: r.received_at.and_utc(),
        persons: r.persons,
        matters: matters
            .into_iter()
            .map(|m| ReceptionMatterView {
                ordinal: m.ordinal,
                summary: m.summary,
                case_id: m.case_id,
                outcome: m.outcome,
            })
            .collect(),
    }
}

impl Intake {
    /// Records a leader reception once per reception number.
    #[tracing::instrument(skip_all, fields(caseflow.service = "intake"))]
    pub async fn record_reception(
        &self,
        principal: &Principal,
        input: ReceptionInput,
    ) -> Result<(ReceptionView, bool), IntakeError> {
        principal.require("record leader receptions", RECORDERS)?;
        let now = self.clock.now();
        let received_at = check(&input, &self.rules.records, now)?;
        let fingerprint = serde_json::to_string(&(
            &input.leader_name,
            &input.leader_title,
            received_at.to_rfc3339(),
            input.persons,
            input.matters.iter().map(|m| (&m.summary, &m.case_id, &m.outcome)).collect::<Vec<_>>(),
        ))
        .unwrap_or_default();
        let id = uuid::Uuid::now_v7().to_string();
        let (created, reception_id) = self
            .db
            .write(move |c| {
                let existing: Option<ReceptionRow> = leader_receptions::table
                    .filter(leader_receptions::external_ref.eq(input.reception_number.trim()))
                    .select(ReceptionRow::as_select())
                    .first(c)
                    .optional()?;
                if let Some(existing) = existing {
                    if existing.fingerprint != fingerprint {
                        return Err(IntakeError::ChangedResend {
                            number: existing.external_ref,
                            case_id: existing.id,
                            fields: vec!["reception".into()],
                        });
                    }
                    return Ok((false, existing.id));
                }
                diesel::insert_into(leader_receptions::table)
                    .values(ReceptionRow {
                        id: id.clone(),
                        external_ref: input.reception_number.trim().to_owned(),
                        leader_name: input.leader_name.trim().to_owned(),
                        leader_title: input.leader_title.trim().to_owned(),
                        received_at: received_at.naive_utc(),
                        persons: input.persons,
                        recorded_at: now.naive_utc(),
                        fingerprint,
                    })
                    .execute(c)?;
                for (i, m) in input.matters.iter().enumerate() {
                    diesel::insert_into(leader_reception_matters::table)
                        .values(ReceptionMatterRow {
                            reception_id: id.clone(),
                            ordinal: i32::try_from(i + 1).unwrap_or(i32::MAX),
                            summary: m.summary.trim().to_owned(),
                            case_id: m.case_id.clone().filter(|s| !s.is_empty()),
                            outcome: m.outcome.clone(),
                            updated_at: now.naive_utc(),
                        })
                        .execute(c)?;
                }
                let event = pb::IntakeEvent {
                    kind: Some(pb::intake_event::Kind::LeaderReceptionRecorded(pb::LeaderReceptionRecorded {
                        reception_id: id.clone(),
                        received_at: Some(time::to_proto(received_at)),
                        persons: input.persons,
                        outcomes: input.matters.iter().map(|m| m.outcome.clone()).collect(),
                    })),
                };
                event_log::append(c, now, &id, &event)?;
                Ok((true, id))
            })
            .await?;
        Ok((self.reception(&reception_id).await?, created))
    }

    async fn reception(&self, id: &str) -> Result<ReceptionView, IntakeError> {
        let id = id.to_owned();
        self.db
            .read(move |c| {
                let r: ReceptionRow = leader_receptions::table
                    .find(&id)
                    .select(ReceptionRow::as_select())
                    .first(c)
                    .optional()?
                    .ok_or_else(|| IntakeError::NotFound(format!("leader reception {id}")))?;
                let m = leader_reception_matters::table
                    .filter(leader_reception_matters::reception_id.eq(&id))
                    .order(leader_reception_matters::ordinal.asc())
                    .select(ReceptionMatterRow::as_select())
                    .load(c)?;
                Ok(view(r, m))
            })
            .await
    }

    /// Sets a reception matter's outcome (e.g. in_progress -> resolved).
    pub async fn update_reception_outcome(
        &self,
        principal: &Principal,
        reception_id: &str,
        ordinal: i32,
        update: OutcomeUpdate,
    ) -> Result<ReceptionView, IntakeError> {
        principal.require("update leader receptions", RECORDERS)?;
        if !OUTCOMES.contains(&update.outcome.as_str()) {
            return Err(IntakeError::Invalid(vec![FieldViolation::new(
                "outcome",
                format!("'{}' is not one of {}", update.outcome, OUTCOMES.join(", ")),
            )]));
        }
        let now = self.clock.now();
        let (id, outcome) = (reception_id.to_owned(), update.outcome);
        self.db
            .write(move |c| {
                let changed = caseflow_runtime::db::kept::update(
                    leader_reception_matters::table
                        .filter(leader_reception_matters::reception_id.eq(&id))
                        .filter(leader_reception_matters::ordinal.eq(ordinal)),
                    (
                        leader_reception_matters::outcome.eq(&outcome),
                        leader_reception_matters::updated_at.eq(now.naive_utc()),
                    ),
                )
                .execute(c)?;
                if changed == 0 {
                    return Err(IntakeError::NotFound(format!("matter {ordinal} of leader reception {id}")));
                }
                let event = pb::IntakeEvent {
                    kind: Some(pb::intake_event::Kind::LeaderReceptionMatterUpdated(
                        pb::LeaderReceptionMatterUpdated {
                            reception_id: id.clone(),
                            ordinal,
                            outcome: outcome.clone(),
                            updated_at: Some(time::to_proto(now)),
                        },
                    )),
                };
                event_log::append(c, now, &id, &event)?;
                Ok(())
            })
            .await?;
        self.reception(reception_id).await
    }

    /// Receptions held in [from, to), with the bulletin's totals.
    pub async fn receptions(
        &self,
        principal: &Principal,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<ReceptionSummary, IntakeError> {
        principal.require("read leader receptions", READERS)?;
        if from >= to {
            return Err(IntakeError::Invalid(vec![FieldViolation::new("to", "must be after from")]));
        }
        let (f, t) = (from.naive_utc(), to.naive_utc());
        let (rows, matters) = self
            .db
            .read(move |c| {
                let rows: Vec<ReceptionRow> = leader_receptions::table
                    .filter(leader_receptions::received_at.ge(f))
                    .filter(leader_receptions::received_at.lt(t))
                    .order((leader_receptions::received_at.asc(), leader_receptions::id.asc()))
                    .select(ReceptionRow::as_select())
                    .load(c)?;
                let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
                let matters: Vec<ReceptionMatterRow> = leader_reception_matters::table
                    .filter(leader_reception_matters::reception_id.eq_any(&ids))
                    .order((leader_reception_matters::reception_id.asc(), leader_reception_matters::ordinal.asc()))
                    .select(ReceptionMatterRow::as_select())
                    .load(c)?;
                Ok::<_, IntakeError>((rows, matters))
            })
            .await?;
        let count = |o: &str| matters.iter().filter(|m| m.outcome == o).count() as i64;
        let mut summary = ReceptionSummary {
            batches: rows.len() as i64,
            persons: rows.iter().map(|r| i64::from(r.persons)).sum(),
            matters: matters.len() as i64,
            solved_on_spot: count("solved_on_spot"),
            resolved: count("resolved"),
            in_progress: count("in_progress"),
            receptions: Vec::new(),
        };
        for r in rows {
            let mine = matters.iter().filter(|m| m.reception_id == r.id).cloned().collect();
            summary.receptions.push(view(r, mine));
        }
        Ok(summary)
    }
}
