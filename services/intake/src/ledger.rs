//! The watch ledger (动态台账) and the repeat-petitioner list.
//!
//! Collective visits, joint letters and repeat visits go on the ledger when they are taken in;
//! staff flag threats (扬言). Each item is followed to resolution with a status and a note.

use caseflow_runtime::{ErrorKind, FieldViolation, Principal, Problem, Role};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::citizen::mask_name;
use crate::error::IntakeError;
use crate::service::Intake;
use crate::store::{self, WatchRow, cases, watch_items};

const LEDGER_READERS: &[Role] = &[Role::Dispatcher, Role::Evaluator, Role::EfficiencyOffice, Role::Admin];
const LEDGER_KEEPERS: &[Role] = &[Role::Dispatcher, Role::Evaluator, Role::Admin];

pub const WATCH_STATUSES: [&str; 3] = ["open", "in_progress", "resolved"];
pub const WATCH_REASONS: [&str; 4] = ["collective_visit", "joint_letter", "repeat_visit", "threat"];

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WatchItem {
    pub watch_id: String,
    pub case_id: String,
    /// collective_visit | joint_letter | repeat_visit | threat
    pub reason: String,
    /// open | in_progress | resolved
    pub status: String,
    pub note: String,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

impl From<WatchRow> for WatchItem {
    fn from(r: WatchRow) -> Self {
        Self {
            watch_id: r.id,
            case_id: r.case_id,
            reason: r.reason,
            status: r.status,
            note: r.note,
            opened_at: r.opened_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
            updated_by: r.updated_by,
        }
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchUpdate {
    /// open | in_progress | resolved
    #[schema(pattern = "^(open|in_progress|resolved)$")]
    pub status: String,
    /// What was done (三见面、四认真、五弄清 ...), 1 to 1000 characters.
    #[schema(min_length = 1, max_length = 1000, pattern = "\\S")]
    pub note: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreatFlag {
    /// What the citizen threatened, as recorded by staff, 1 to 1000 characters.
    #[schema(min_length = 1, max_length = 1000, pattern = "\\S")]
    pub note: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RepeatPetitioner {
    /// Masked (`庄**`); the name of the person's latest case.
    pub name: Option<String>,
    /// Cases of this person received in the period.
    pub cases: i64,
    pub first_received_at: DateTime<Utc>,
    pub last_received_at: DateTime<Utc>,
    pub latest_case_id: String,
}

fn note(field: &str, value: &str) -> Result<String, IntakeError> {
    let v = value.trim();
    let n = v.chars().count();
    if n == 0 || n > 1000 {
        return Err(IntakeError::Invalid(vec![FieldViolation::new(field, "must be 1 to 1000 characters")]));
    }
    Ok(v.to_owned())
}

impl Intake {
    /// Staff flag a case as a threat (扬言); it goes on the watch ledger.
    #[tracing::instrument(skip_all, fields(caseflow.service = "intake", case_id = %case_id))]
    pub async fn flag_threat(
        &self,
        principal: &Principal,
        case_id: &str,
        flag: ThreatFlag,
    ) -> Result<WatchItem, IntakeError> {
        principal.require("flag threats", LEDGER_KEEPERS)?;
        let text = note("note", &flag.note)?;
        let now = self.clock.now().naive_utc();
        let (id, actor) = (case_id.to_owned(), principal.name.clone());
        let row = self
            .db
            .write(move |c| {
                store::find_case(c, &id)?.ok_or_else(|| IntakeError::NotFound(format!("case {id}")))?;
                store::open_watch_item(c, &id, "threat", &text, &actor, now)?;
                Ok::<_, IntakeError>(
                    watch_items::table
                        .filter(watch_items::case_id.eq(&id))
                        .filter(watch_items::reason.eq("threat"))
                        .select(WatchRow::as_select())
                        .first(c)?,
                )
            })
            .await?;
        Ok(row.into())
    }

    /// The ledger, newest first, optionally by status and reason.
    pub async fn watch_items(
        &self,
        principal: &Principal,
        status: Option<String>,
        reason: Option<String>,
    ) -> Result<Vec<WatchItem>, IntakeError> {
        principal.require("read the watch ledger", LEDGER_READERS)?;
        let mut errors = Vec::new();
        if let Some(s) = status.as_deref().filter(|s| !WATCH_STATUSES.contains(s)) {
            errors.push(FieldViolation::new("status", format!("'{s}' is not one of {}", WATCH_STATUSES.join(", "))));
        }
        if let Some(r) = reason.as_deref().filter(|r| !WATCH_REASONS.contains(r)) {
            errors.push(FieldViolation::new("reason", format!("'{r}' is not one of {}", WATCH_REASONS.join(", "))));
        }
        if !errors.is_empty() {
            return Err(IntakeError::Invalid(errors));
        }
        let rows = self
            .db
            .read(move |c| {
                let mut q = watch_items::table.select(WatchRow::as_select()).into_boxed();
                if let Some(s) = status {
                    q = q.filter(watch_items::status.eq(s));
                }
                if let Some(r) = reason {
                    q = q.filter(watch_items::reason.eq(r));
                }
                q.order((watch_items::opened_at.desc(), watch_items::id.desc())).load(c).map_err(IntakeError::from)
            })
            .await?;
        Ok(rows.into_iter().map(WatchItem::from).collect())
    }

    /// Moves a ledger item on, with what was done.
    pub async fn update_watch_item(
        &self,
        principal: &Principal,
        watch_id: &str,
        update: WatchUpdate,
    ) -> Result<WatchItem, IntakeError> {
        principal.require("update the watch ledger", LEDGER_KEEPERS)?;
        let text = note("note", &update.note)?;
        if !WATCH_STATUSES.contains(&update.status.as_str()) {
            return Err(IntakeError::Invalid(vec![FieldViolation::new(
                "status",
                format!("'{}' is not one of {}", update.status, WATCH_STATUSES.join(", ")),
            )]));
        }
        let now = self.clock.now().naive_utc();
        let (id, actor, status) = (watch_id.to_owned(), principal.name.clone(), update.status);
        let row = self
            .db
            .write(move |c| {
                let current: WatchRow = watch_items::table
                    .find(&id)
                    .select(WatchRow::as_select())
                    .first(c)
                    .optional()?
                    .ok_or_else(|| IntakeError::NotFound(format!("watch item {id}")))?;
                if current.status == "resolved" && status != "resolved" {
                    // Reopening is allowed, and recorded like any other move.
                    tracing::info!(watch_id = %id, "watch item reopened");
                }
                caseflow_runtime::db::kept::update(
                    watch_items::table.find(&id),
                    (
                        watch_items::status.eq(&status),
                        watch_items::note.eq(&text),
                        watch_items::updated_at.eq(now),
                        watch_items::updated_by.eq(&actor),
                    ),
                )
                .execute(c)?;
                Ok::<_, IntakeError>(watch_items::table.find(&id).select(WatchRow::as_select()).first(c)?)
            })
            .await?;
        Ok(row.into())
    }

    /// Persons with two or more cases of `source` received in [from, to), most cases first
    /// (重复信访: the bulletin lists 庄某某 29件, 陈某某 14件 ...). Names are masked.
    pub async fn repeat_petitioners(
        &self,
        principal: &Principal,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        source: String,
    ) -> Result<Vec<RepeatPetitioner>, IntakeError> {
        principal.require("read the repeat-petitioner list", LEDGER_READERS)?;
        if from >= to {
            return Err(IntakeError::Invalid(vec![FieldViolation::new("to", "must be after from")]));
        }
        if source != "hotline" && source != "petition" {
            return Err(Problem::new(
                ErrorKind::InvalidArgument,
                format!("source '{source}' is not one of hotline, petition"),
            )
            .into());
        }
        let (f, t) = (from.naive_utc(), to.naive_utc());
        let rows: Vec<(String, String, chrono::NaiveDateTime, Option<String>)> = self
            .db
            .read(move |c| {
                cases::table
                    .filter(cases::source.eq(&source))
                    .filter(cases::received_at.ge(f))
                    .filter(cases::received_at.lt(t))
                    .filter(cases::person_key.is_not_null())
                    .order((cases::received_at.asc(), cases::id.asc()))
                    .select((
                        cases::person_key.assume_not_null(),
                        cases::id,
                        cases::received_at,
                        cases::citizen_name_enc,
                    ))
                    .load(c)
                    .map_err(IntakeError::from)
            })
            .await?;
        let mut by_person: std::collections::BTreeMap<String, Vec<(String, chrono::NaiveDateTime, Option<String>)>> =
            Default::default();
        for (person, id, at, name) in rows {
            by_person.entry(person).or_default().push((id, at, name));
        }
        let mut list = Vec::new();
        for cases in by_person.into_values().filter(|c| c.len() >= 2) {
            let (Some(first), Some(last)) = (cases.first(), cases.last()) else {
                continue;
            };
            let name = last.2.as_deref().map(|e| self.vault.decrypt(e).map(|n| mask_name(&n))).transpose()?;
            list.push(RepeatPetitioner {
                name,
                cases: cases.len() as i64,
                first_received_at: first.1.and_utc(),
                last_received_at: last.1.and_utc(),
                latest_case_id: last.0.clone(),
            });
        }
        list.sort_by(|a, b| b.cases.cmp(&a.cases).then_with(|| a.first_received_at.cmp(&b.first_received_at)));
        Ok(list)
    }
}
