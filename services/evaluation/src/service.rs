//! Evaluation's service layer: one evaluation per case cycle, opened when every matter of the
//! case is resolved; rated by the platform, the petition desk or the citizen's one-time link;
//! expired when not rated in its window; followed up when unsatisfied, by an explanation and
//! one more rating, or by re-handling and one re-opened evaluation.

use std::collections::BTreeMap;

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore as _;
use base64::Engine as _;
use caseflow_proto::v1 as pb;
use caseflow_runtime::clock::district_offset;
use caseflow_runtime::{
    AnyConnection, Db, DbError, ErrorKind, FieldViolation, Principal, Problem, Role, SharedClock, event_log, time,
};
use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::policy::EvaluationPolicy;
use crate::store::{EvaluationRow, MatterRow, RatingRow, eval_matters, evaluation_ratings, evaluations, follow_ups};

/// The rules evaluation runs on.
#[derive(Debug)]
pub struct Surveys {
    pub policy: EvaluationPolicy,
}

#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    #[error(transparent)]
    Refused(#[from] Problem),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for EvaluationError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

impl From<EvaluationError> for Problem {
    fn from(e: EvaluationError) -> Self {
        match e {
            EvaluationError::Refused(p) => p,
            EvaluationError::Db(e) => e.into(),
        }
    }
}

impl From<EvaluationError> for tonic::Status {
    fn from(e: EvaluationError) -> Self {
        Problem::from(e).into()
    }
}

impl axum::response::IntoResponse for EvaluationError {
    fn into_response(self) -> axum::response::Response {
        Problem::from(self).into_response()
    }
}

fn refuse(rule: &str, detail: impl Into<String>) -> EvaluationError {
    Problem::new(ErrorKind::FailedPrecondition, detail).with_rule(rule).into()
}

fn invalid(field: &str, rule: impl Into<String>) -> EvaluationError {
    Problem::invalid(vec![FieldViolation::new(field, rule)]).into()
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct SubjectView {
    /// "agency" for the petition agency (信访机构), else the unit code.
    pub subject: String,
    pub dispatch_id: Option<String>,
    pub level: Option<String>,
    /// satisfied | basic | unsatisfied, once rated.
    pub mapped: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct EvaluationView {
    pub case_id: String,
    pub source: String,
    /// due | rated | expired | re_rating_invited | awaiting_rehandling
    pub status: String,
    pub cycle: i32,
    pub window_ends: DateTime<Utc>,
    /// The final ratings of the current cycle (empty until rated).
    pub subjects: Vec<SubjectView>,
    /// Every rating ever given for this case, oldest first, superseded ones marked.
    pub history: Vec<RatingRecord>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct RatingRecord {
    pub cycle: i32,
    pub attempt: i32,
    pub subject: String,
    pub level: String,
    pub mapped: String,
    pub channel: String,
    pub at: DateTime<Utc>,
    pub superseded: bool,
    /// The citizen's comment with this rating, if any.
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateInput {
    /// Hotline: the case's level on the configured scale (very_satisfied, satisfied, basic,
    /// unsatisfied, poor). Petition: the petition agency's level (satisfied, basic, unsatisfied).
    pub level: String,
    /// Per unit code: required for every handling unit of a petition; for the hotline, overrides
    /// for the units the citizen named (the others take `level`).
    #[serde(default)]
    pub unit_levels: BTreeMap<String, String>,
    /// The citizen's own words with the rating, up to 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUpInput {
    /// explanation (政策解释, with an invitation to rate again) | rehandling (重办)
    #[schema(pattern = "^(explanation|rehandling)$")]
    pub outcome: String,
    /// What was explained or why it is handled again.
    #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
    pub note: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RatingLink {
    /// The one-time token; valid until the window ends, used once.
    pub token: String,
    /// Path the citizen's link opens (POST a rating to it).
    pub path: String,
    pub expires_at: DateTime<Utc>,
}

/// Why a rating link shows no form, or that reading it failed.
#[derive(Debug)]
pub enum RatingLinkState {
    Closed(crate::rating_page::Closed),
    Failed(EvaluationError),
}

fn end_of_day_after(now: DateTime<Utc>, days: u32) -> NaiveDateTime {
    let day = now.with_timezone(&district_offset()).date_naive() + Duration::days(i64::from(days) + 1);
    district_offset()
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map(|t| t.with_timezone(&Utc).naive_utc())
        .unwrap_or(now.naive_utc())
}

fn leads(c: &mut AnyConnection, case_id: &str) -> QueryResult<Vec<MatterRow>> {
    eval_matters::table
        .filter(eval_matters::case_id.eq(case_id))
        .order(eval_matters::matter_id.asc())
        .select(MatterRow::as_select())
        .load(c)
}

/// The subjects to rate: the agency for a petition, and each matter's handling unit.
fn subjects(c: &mut AnyConnection, case_id: &str, source: &str) -> QueryResult<Vec<pb::SubjectRating>> {
    let mut out = Vec::new();
    if source == "petition" {
        out.push(pb::SubjectRating { subject: "agency".into(), ..Default::default() });
    }
    for m in leads(c, case_id)? {
        if let (Some(unit), Some(dispatch)) = (m.lead_unit, m.lead_dispatch) {
            out.push(pb::SubjectRating { subject: unit, dispatch_id: dispatch, ..Default::default() });
        }
    }
    Ok(out)
}

fn append(
    c: &mut AnyConnection,
    now: DateTime<Utc>,
    case_id: &str,
    kind: pb::evaluation_event::Kind,
) -> QueryResult<()> {
    event_log::append(c, now, case_id, &pb::EvaluationEvent { kind: Some(kind) })
}

/// A case's matters are all resolved: open its evaluation, or re-open it once after
/// re-handling. A repeated resolution never creates a second survey.
pub fn open_or_reopen(c: &mut AnyConnection, surveys: &Surveys, case_id: &str, now: DateTime<Utc>) -> QueryResult<()> {
    let (source, received_at): (String, chrono::NaiveDateTime) = crate::store::eval_cases::table
        .find(case_id)
        .select((crate::store::eval_cases::source, crate::store::eval_cases::received_at))
        .first(c)?;
    let received_on = received_at.and_utc().with_timezone(&caseflow_runtime::clock::district_offset()).date_naive();
    let existing: Option<EvaluationRow> =
        evaluations::table.find(case_id).select(EvaluationRow::as_select()).first(c).optional()?;
    let window_ends = end_of_day_after(now, surveys.policy.window_days(&source, received_on));
    let cycle = match existing {
        None => {
            diesel::insert_into(evaluations::table)
                .values(EvaluationRow {
                    case_id: case_id.to_owned(),
                    source: source.clone(),
                    status: "due".into(),
                    cycle: 1,
                    reopened: false,
                    rerated: false,
                    opened_at: now.naive_utc(),
                    window_ends,
                    token_hash: None,
                    version: 1,
                })
                .execute(c)?;
            1
        }
        Some(mut e) if e.status == "awaiting_rehandling" && !e.reopened => {
            e.cycle += 1;
            e.reopened = true;
            e.rerated = false;
            e.status = "due".into();
            e.opened_at = now.naive_utc();
            e.window_ends = window_ends;
            e.token_hash = None;
            e.version += 1;
            // A rating that won the race is read again when the batch is applied again.
            if !saved(c, &e)? {
                return Err(diesel::result::Error::RollbackTransaction);
            }
            diesel::update(evaluation_ratings::table.filter(evaluation_ratings::case_id.eq(case_id)))
                .set(evaluation_ratings::superseded.eq(true))
                .execute(c)?;
            e.cycle
        }
        Some(_) => return Ok(()),
    };
    let subjects = subjects(c, case_id, &source)?;
    append(
        c,
        now,
        case_id,
        pb::evaluation_event::Kind::Due(pb::EvaluationDue {
            case_id: case_id.to_owned(),
            source: pb::CaseSource::from_code(&source) as i32,
            cycle,
            due_at: Some(time::to_proto(now)),
            window_ends: Some(time::to_proto(window_ends.and_utc())),
            subjects,
        }),
    )
}

fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(Clone, Debug)]
pub struct Evaluation {
    pub(crate) db: Db,
    pub(crate) clock: SharedClock,
    pub(crate) surveys: std::sync::Arc<Surveys>,
}

const RATERS: &[Role] = &[Role::Integrator, Role::Evaluator, Role::Admin];
const READERS: &[Role] =
    &[Role::Integrator, Role::Evaluator, Role::Admin, Role::Dispatcher, Role::EfficiencyOffice, Role::Service];
const FOLLOWERS: &[Role] = &[Role::Integrator, Role::Evaluator, Role::Dispatcher, Role::Admin];

/// Who rates and follows up which cases: the 12345 platform its hotline cases, the petition desk
/// its petitions. Either one acting on the other's case is refused (`evaluation.source_role`);
/// other roles that may act at all (dispatchers, administrators, the citizen's link) are not
/// bound to a source.
fn require_source_role(role: Role, source: &str, action: &str) -> Result<(), EvaluationError> {
    let owner = match source {
        "hotline" => Role::Integrator,
        "petition" => Role::Evaluator,
        _ => return Ok(()),
    };
    if matches!(role, Role::Integrator | Role::Evaluator) && role != owner {
        return Err(Problem::new(
            ErrorKind::PermissionDenied,
            format!("{action} on a {source} case is for the {owner} role, not {role}"),
        )
        .with_rule("evaluation.source_role")
        .into());
    }
    Ok(())
}

/// The 12345 platform's integration reads the hotline's cases only: a petition's evaluation
/// (accusations among them) is the petition office's (`scope.source`, as intake's reads).
pub(crate) fn require_read_scope(role: Role, source: Option<&str>) -> Result<(), Problem> {
    if role == Role::Integrator && source == Some("petition") {
        return Err(Problem::new(
            ErrorKind::PermissionDenied,
            "the integrator reads hotline cases only; this case is a petition",
        )
        .with_rule("scope.source"));
    }
    Ok(())
}

enum Outcome<T> {
    Done(T),
    Refused(EvaluationError),
}

impl Evaluation {
    pub fn new(db: Db, clock: SharedClock, surveys: std::sync::Arc<Surveys>) -> Self {
        Self { db, clock, surveys }
    }

    pub async fn get(&self, p: &Principal, case_id: &str) -> Result<EvaluationView, EvaluationError> {
        p.require("read evaluations", READERS)?;
        let id = case_id.to_owned();
        let v = self.db.read(move |c| view(c, &id)).await?;
        require_read_scope(p.role, Some(&v.source))?;
        Ok(v)
    }

    /// Rates as the platform (hotline) or the petition desk (petition).
    pub async fn rate(
        &self,
        p: &Principal,
        case_id: &str,
        input: RateInput,
    ) -> Result<EvaluationView, EvaluationError> {
        p.require("record ratings", RATERS)?;
        let channel = match p.role {
            Role::Integrator => "integrator",
            Role::Evaluator => "evaluator",
            _ => "admin",
        };
        self.rate_as(case_id.to_owned(), None, input, (channel, Some(p.role)), p.name.clone()).await
    }

    /// Rates with the citizen's one-time link: no account, the token is the credential.
    pub async fn rate_with_token(&self, token: &str, input: RateInput) -> Result<EvaluationView, EvaluationError> {
        let digest = token_digest(token.trim());
        let case_id: Option<String> = self
            .db
            .read(move |c| {
                evaluations::table
                    .filter(evaluations::token_hash.eq(&digest))
                    .select(evaluations::case_id)
                    .first(c)
                    .optional()
                    .map_err(EvaluationError::from)
            })
            .await?;
        let Some(case_id) = case_id else {
            // The same answer for a wrong, a used and an unknown token: nothing to enumerate.
            return Err(Problem::new(
                ErrorKind::NotFound,
                "this rating link is not valid (it may have been used already)",
            )
            .with_rule("evaluation.token")
            .into());
        };
        self.rate_as(case_id, Some(token_digest(token.trim())), input, ("citizen", None), "citizen".into()).await
    }

    /// What the citizen's link shows: the form, or why there is none.
    pub async fn rating_form(&self, token: &str) -> Result<crate::rating_page::Form, RatingLinkState> {
        use crate::rating_page::{Closed, Form, Subject, scale};
        let digest = token_digest(token.trim());
        let now = self.clock.now().naive_utc();
        let found = self
            .db
            .read(move |c| {
                let Some(e) = evaluations::table
                    .filter(evaluations::token_hash.eq(&digest))
                    .select(EvaluationRow::as_select())
                    .first(c)
                    .optional()?
                else {
                    return Ok::<_, EvaluationError>(None);
                };
                let case: Option<(chrono::NaiveDateTime, String)> = crate::store::eval_cases::table
                    .find(&e.case_id)
                    .select((crate::store::eval_cases::received_at, crate::store::eval_cases::summary))
                    .first(c)
                    .optional()?;
                let subjects = subjects(c, &e.case_id, &e.source)?;
                Ok(Some((e, case, subjects)))
            })
            .await
            .map_err(RatingLinkState::Failed)?;
        let Some((e, case, rated)) = found else { return Err(RatingLinkState::Closed(Closed::NotValid)) };
        if !matches!(e.status.as_str(), "due" | "re_rating_invited") {
            return Err(RatingLinkState::Closed(Closed::NotValid));
        }
        if now > e.window_ends {
            return Err(RatingLinkState::Closed(Closed::Expired));
        }
        let (received_at, summary) = case.unwrap_or((e.opened_at, String::new()));
        let hotline = &self.surveys.policy.hotline_scale;
        let mut subjects = Vec::new();
        if e.source == "hotline" {
            subjects.push(Subject {
                field: "level".into(),
                title: "您对本次诉求办理的评价".into(),
                choices: scale("hotline", hotline, false),
                picked: String::new(),
            });
        }
        for s in rated {
            let (field, title) = if s.subject == "agency" {
                ("level".to_owned(), "对信访部门（登记、转送、告知）的评价".to_owned())
            } else if e.source == "petition" {
                (
                    format!("unit.{}", s.subject),
                    format!("对办理单位“{}”的评价", crate::rating_page::unit_name(&s.subject)),
                )
            } else {
                // A hotline case is rated once; its units take the case's level.
                continue;
            };
            subjects.push(Subject { field, title, choices: scale(&e.source, hotline, true), picked: String::new() });
        }
        Ok(Form {
            source: e.source,
            received_on: received_at.and_utc().with_timezone(&district_offset()).date_naive(),
            summary,
            window_ends: e.window_ends.and_utc(),
            subjects,
        })
    }

    async fn rate_as(
        &self,
        case_id: String,
        token: Option<String>,
        input: RateInput,
        (channel, rater): (&'static str, Option<Role>),
        actor: String,
    ) -> Result<EvaluationView, EvaluationError> {
        let (surveys, now) = (self.surveys.clone(), self.clock.now());
        let outcome = self
            .db
            .write(move |c| -> Result<Outcome<EvaluationView>, EvaluationError> {
                let mut e: EvaluationRow = evaluations::table
                    .find(&case_id)
                    .select(EvaluationRow::as_select())
                    .first(c)
                    .optional()?
                    .ok_or_else(|| Problem::new(ErrorKind::NotFound, format!("case '{case_id}' has no evaluation (it is not resolved yet)")))?;
                if let Some(role) = rater {
                    require_source_role(role, &e.source, "rating")?;
                }
                if token.is_some() && e.token_hash != token {
                    return Err(Problem::new(ErrorKind::NotFound, "this rating link is not valid (it may have been used already)").with_rule("evaluation.token").into());
                }
                // A rating given inside the window stands even if the expiry job got there first:
                // only an imported rating can be earlier than the moment it is recorded.
                let late_expiry = e.status == "expired" && now.naive_utc() <= e.window_ends;
                if e.status != "due" && e.status != "re_rating_invited" && !late_expiry {
                    return Err(refuse(
                        "evaluation.state",
                        format!("the evaluation is {}; a rating is taken while it is due, and once more after an explanation", e.status),
                    ));
                }
                if now.naive_utc() > e.window_ends {
                    let subjects = subjects(c, &case_id, &e.source)?;
                    e.status = "expired".into();
                    e.version += 1;
                    save(c, &e)?;
                    append(c, now, &case_id, pb::evaluation_event::Kind::Expired(pb::Expired {
                        case_id: case_id.clone(),
                        source: pb::CaseSource::from_code(&e.source) as i32,
                        cycle: e.cycle,
                        at: Some(time::to_proto(e.window_ends.and_utc())),
                        subjects,
                    }))?;
                    return Ok(Outcome::Refused(refuse(
                        "evaluation.window",
                        format!("the rating window closed at {}; the evaluation is expired (超期未评)", e.window_ends.and_utc().with_timezone(&district_offset()).format("%Y-%m-%d %H:%M")),
                    )));
                }
                let mut subjects = subjects(c, &case_id, &e.source)?;
                let case_mapped = surveys.policy.map_level(&e.source, input.level.trim()).map_err(|rule| invalid("level", rule))?;
                let units: Vec<String> = subjects.iter().filter(|s| s.subject != "agency").map(|s| s.subject.clone()).collect();
                let mut violations = Vec::new();
                if let Some(comment) = &input.comment {
                    if comment.chars().count() > 500 {
                        violations.push(FieldViolation::new("comment", "at most 500 characters"));
                    } else if comment.chars().any(|ch| ch.is_control() && !matches!(ch, '\n' | '\r' | '\t')) {
                        violations.push(FieldViolation::new("comment", "must not hold control characters"));
                    }
                }
                for unit in input.unit_levels.keys() {
                    if !units.contains(unit) {
                        violations.push(FieldViolation::new(format!("unit_levels.{unit}"), format!("'{unit}' did not handle this case; its units: {}", units.join(", "))));
                    }
                }
                for s in subjects.iter_mut() {
                    let given = if s.subject == "agency" {
                        Some(input.level.trim().to_owned())
                    } else {
                        match (input.unit_levels.get(&s.subject), e.source.as_str()) {
                            (Some(l), _) => Some(l.trim().to_owned()),
                            (None, "petition") => {
                                violations.push(FieldViolation::new(format!("unit_levels.{}", s.subject), "is required: a petition rates each handling unit (有权处理机关)"));
                                None
                            }
                            (None, _) => Some(input.level.trim().to_owned()),
                        }
                    };
                    if let Some(level) = given {
                        match surveys.policy.map_level(&e.source, &level) {
                            Ok(m) => {
                                s.level = level;
                                s.mapped = m.to_owned();
                            }
                            Err(rule) => violations.push(FieldViolation::new(format!("unit_levels.{}", s.subject), rule)),
                        }
                    }
                }
                if !violations.is_empty() {
                    return Err(Problem::invalid(violations).into());
                }
                let rerated = e.status == "re_rating_invited";
                let attempt = if rerated { 2 } else { 1 };
                let comment = input.comment.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
                diesel::update(evaluation_ratings::table.filter(evaluation_ratings::case_id.eq(&case_id)).filter(evaluation_ratings::cycle.eq(e.cycle)))
                    .set(evaluation_ratings::superseded.eq(true))
                    .execute(c)?;
                let mut rows = Vec::new();
                if e.source == "hotline" {
                    rows.push(("case".to_owned(), None, input.level.trim().to_owned(), case_mapped.to_owned()));
                }
                for s in &subjects {
                    rows.push((s.subject.clone(), Some(s.dispatch_id.clone()).filter(|d| !d.is_empty()), s.level.clone(), s.mapped.clone()));
                }
                for (subject, dispatch_id, level, mapped) in rows {
                    diesel::insert_into(evaluation_ratings::table)
                        .values(RatingRow {
                            id: uuid::Uuid::now_v7().to_string(),
                            case_id: case_id.clone(),
                            cycle: e.cycle,
                            attempt,
                            subject,
                            dispatch_id,
                            level,
                            mapped,
                            rated_by: actor.clone(),
                            channel: channel.to_owned(),
                            at: now.naive_utc(),
                            superseded: false,
                            comment: comment.clone(),
                        })
                        .execute(c)?;
                }
                e.status = "rated".into();
                e.rerated = rerated;
                e.token_hash = None;
                e.version += 1;
                save(c, &e)?;
                append(c, now, &case_id, pb::evaluation_event::Kind::Rated(pb::Rated {
                    case_id: case_id.clone(),
                    source: pb::CaseSource::from_code(&e.source) as i32,
                    cycle: e.cycle,
                    at: Some(time::to_proto(now)),
                    case_mapped: case_mapped.to_owned(),
                    subjects,
                    rerated,
                    channel: channel.to_owned(),
                }))?;
                Ok(Outcome::Done(view(c, &case_id)?))
            })
            .await?;
        match outcome {
            Outcome::Done(v) => Ok(v),
            Outcome::Refused(e) => Err(e),
        }
    }

    /// Issues the citizen's one-time rating link (a new one replaces the old).
    pub async fn issue_link(&self, p: &Principal, case_id: &str) -> Result<RatingLink, EvaluationError> {
        p.require("issue rating links", RATERS)?;
        let mut raw = [0u8; 32];
        OsRng.fill_bytes(&mut raw);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let (id, digest, now, role) = (case_id.to_owned(), token_digest(&token), self.clock.now(), p.role);
        let expires = self
            .db
            .write(move |c| {
                let e: EvaluationRow = evaluations::table
                    .find(&id)
                    .select(EvaluationRow::as_select())
                    .first(c)
                    .optional()?
                    .ok_or_else(|| Problem::new(ErrorKind::NotFound, format!("case '{id}' has no evaluation")))?;
                require_source_role(role, &e.source, "a rating link")?;
                if (e.status != "due" && e.status != "re_rating_invited") || now.naive_utc() > e.window_ends {
                    return Err(refuse(
                        "evaluation.state",
                        format!("the evaluation is {}; links are for evaluations open to rating", e.status),
                    ));
                }
                diesel::update(evaluations::table.find(&id))
                    .set(evaluations::token_hash.eq(Some(&digest)))
                    .execute(c)?;
                Ok::<_, EvaluationError>(e.window_ends.and_utc())
            })
            .await?;
        Ok(RatingLink { path: format!("/rate?t={token}"), token, expires_at: expires })
    }

    /// A follow-up (回访) of an unsatisfied rating: an explanation invites one more rating;
    /// re-handling asks routing to re-open the unsatisfied units' dispatches.
    pub async fn follow_up(
        &self,
        p: &Principal,
        case_id: &str,
        input: FollowUpInput,
    ) -> Result<EvaluationView, EvaluationError> {
        p.require("record follow-ups", FOLLOWERS)?;
        if input.outcome != "explanation" && input.outcome != "rehandling" {
            return Err(invalid("outcome", format!("'{}' is not one of explanation, rehandling", input.outcome)));
        }
        let note = input.note.trim().to_owned();
        if note.is_empty() || note.chars().count() > 2000 {
            return Err(invalid("note", "is required, 1 to 2000 characters"));
        }
        let (id, now, actor, role) = (case_id.to_owned(), self.clock.now(), p.name.clone(), p.role);
        self.db
            .write(move |c| {
                let mut e: EvaluationRow = evaluations::table
                    .find(&id)
                    .select(EvaluationRow::as_select())
                    .first(c)
                    .optional()?
                    .ok_or_else(|| Problem::new(ErrorKind::NotFound, format!("case '{id}' has no evaluation")))?;
                require_source_role(role, &e.source, "a follow-up")?;
                let current: Vec<RatingRow> = evaluation_ratings::table
                    .filter(evaluation_ratings::case_id.eq(&id))
                    .filter(evaluation_ratings::superseded.eq(false))
                    .select(RatingRow::as_select())
                    .load(c)?;
                let unsatisfied: Vec<&RatingRow> = current.iter().filter(|r| r.mapped == "unsatisfied").collect();
                if e.status != "rated" || unsatisfied.is_empty() {
                    return Err(refuse("follow_up.unsatisfied", format!("a follow-up answers an unsatisfied rating; the evaluation is {} with no unsatisfied subject", e.status)));
                }
                match input.outcome.as_str() {
                    "explanation" if e.rerated => {
                        return Err(refuse("follow_up.rerate_once", "the citizen already rated again once after an explanation"));
                    }
                    "explanation" => e.status = "re_rating_invited".into(),
                    _ if e.reopened => {
                        return Err(refuse("follow_up.reopen_once", "this evaluation was already re-opened once after re-handling"));
                    }
                    _ => e.status = "awaiting_rehandling".into(),
                }
                e.version += 1;
                save(c, &e)?;
                diesel::insert_into(follow_ups::table)
                    .values((
                        follow_ups::id.eq(uuid::Uuid::now_v7().to_string()),
                        follow_ups::case_id.eq(&id),
                        follow_ups::outcome.eq(&input.outcome),
                        follow_ups::note.eq(&note),
                        follow_ups::by_whom.eq(&actor),
                        follow_ups::at.eq(now.naive_utc()),
                    ))
                    .execute(c)?;
                append(c, now, &id, pb::evaluation_event::Kind::FollowUp(pb::FollowUpRecorded {
                    case_id: id.clone(),
                    outcome: input.outcome.clone(),
                    at: Some(time::to_proto(now)),
                }))?;
                if input.outcome == "rehandling" {
                    // The case-level hotline rating names no dispatch: every unit's dispatch goes back.
                    let mut dispatch_ids: Vec<String> = unsatisfied.iter().filter_map(|r| r.dispatch_id.clone()).collect();
                    if dispatch_ids.is_empty() {
                        dispatch_ids = current.iter().filter_map(|r| r.dispatch_id.clone()).collect();
                    }
                    dispatch_ids.sort();
                    dispatch_ids.dedup();
                    append(c, now, &id, pb::evaluation_event::Kind::RehandlingRequested(pb::RehandlingRequested {
                        case_id: id.clone(),
                        dispatch_ids,
                        reason: format!("unsatisfied rating; follow-up: {note}"),
                    }))?;
                }
                view(c, &id)
            })
            .await
    }

    /// Expires every evaluation whose window closed unrated, as of now.
    pub async fn expire_due(&self) -> Result<usize, EvaluationError> {
        let now = self.clock.now();
        self.db
            .write(move |c| {
                let due: Vec<EvaluationRow> = evaluations::table
                    .filter(evaluations::status.eq_any(["due", "re_rating_invited"]))
                    .filter(evaluations::window_ends.lt(now.naive_utc()))
                    .select(EvaluationRow::as_select())
                    .load(c)?;
                let mut expired = 0;
                for e in due {
                    // One that a rating or another replica's job changed meanwhile is theirs.
                    expired += usize::from(expire_row(c, e, now)?);
                }
                Ok(expired)
            })
            .await
    }

    /// Expires one case's evaluation if its window has closed by now, as the background job
    /// would; an expired one stays as it is.
    pub async fn expire(&self, p: &Principal, case_id: &str) -> Result<EvaluationView, EvaluationError> {
        p.require("expire evaluations", &[Role::Integrator, Role::Evaluator, Role::Admin])?;
        let (id, now, role) = (case_id.to_owned(), self.clock.now(), p.role);
        self.db
            .write(move |c| {
                let e: EvaluationRow =
                    evaluations::table.find(&id).select(EvaluationRow::as_select()).first(c).optional()?.ok_or_else(
                        || {
                            Problem::new(
                                ErrorKind::NotFound,
                                format!("case '{id}' has no evaluation (it is not resolved yet)"),
                            )
                        },
                    )?;
                require_source_role(role, &e.source, "expiry")?;
                match e.status.as_str() {
                    "expired" => {}
                    "due" | "re_rating_invited" if now.naive_utc() > e.window_ends => {
                        if !expire_row(c, e, now)? {
                            return Err(Problem::new(
                                ErrorKind::Conflict,
                                "the evaluation changed while this request ran; read it again and retry",
                            )
                            .with_rule("evaluation.concurrent")
                            .into());
                        }
                    }
                    "due" | "re_rating_invited" => {
                        return Err(refuse(
                            "evaluation.window",
                            format!(
                                "the rating window is open until {}",
                                e.window_ends.and_utc().with_timezone(&district_offset()).format("%Y-%m-%d %H:%M")
                            ),
                        ));
                    }
                    other => {
                        return Err(refuse(
                            "evaluation.state",
                            format!("the evaluation is {other}; only a due one expires"),
                        ));
                    }
                }
                view(c, &id)
            })
            .await
    }

    /// Expires due evaluations every `interval` until `shutdown`.
    pub async fn run_expiry(self, interval: std::time::Duration, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
            if let Err(e) = self.expire_due().await {
                tracing::warn!(error = %Problem::from(e), "expiry scan failed");
            }
        }
    }
}

/// A due evaluation whose window closed: expired (超期未评), or, after an explanation that
/// was never answered, the first rating stands.
/// Expires `e` unless someone changed it since it was read (then nothing happens and false is
/// returned): the row is saved first, and the event appended only when it was.
fn expire_row(c: &mut AnyConnection, mut e: EvaluationRow, now: DateTime<Utc>) -> Result<bool, EvaluationError> {
    let invited = e.status == "re_rating_invited";
    e.status = if invited { "rated".into() } else { "expired".into() };
    e.token_hash = None;
    e.version += 1;
    if !saved(c, &e)? {
        return Ok(false);
    }
    if !invited {
        let subjects = subjects(c, &e.case_id, &e.source)?;
        append(
            c,
            now,
            &e.case_id,
            pb::evaluation_event::Kind::Expired(pb::Expired {
                case_id: e.case_id.clone(),
                source: pb::CaseSource::from_code(&e.source) as i32,
                cycle: e.cycle,
                at: Some(time::to_proto(e.window_ends.and_utc())),
                subjects,
            }),
        )?;
    }
    Ok(true)
}

/// Writes `e`, whose version was raised by one, if the stored row still has the version it was
/// read with. On PostgreSQL two transactions may read the same evaluation (a rating and the
/// expiry job, or two replicas' jobs): the second to write finds the version moved.
fn saved(c: &mut AnyConnection, e: &EvaluationRow) -> QueryResult<bool> {
    let n = diesel::update(
        evaluations::table.filter(evaluations::case_id.eq(&e.case_id)).filter(evaluations::version.eq(e.version - 1)),
    )
    .set(e)
    .execute(c)?;
    Ok(n == 1)
}

/// [`saved`], refusing the request when a concurrent change won.
fn save(c: &mut AnyConnection, e: &EvaluationRow) -> Result<(), EvaluationError> {
    if saved(c, e)? {
        return Ok(());
    }
    Err(Problem::new(ErrorKind::Conflict, "the evaluation changed while this request ran; read it again and retry")
        .with_rule("evaluation.concurrent")
        .into())
}

fn view(c: &mut AnyConnection, case_id: &str) -> Result<EvaluationView, EvaluationError> {
    let e: EvaluationRow =
        evaluations::table.find(case_id).select(EvaluationRow::as_select()).first(c).optional()?.ok_or_else(|| {
            Problem::new(ErrorKind::NotFound, format!("case '{case_id}' has no evaluation (it is not resolved yet)"))
        })?;
    let ratings: Vec<RatingRow> = evaluation_ratings::table
        .filter(evaluation_ratings::case_id.eq(case_id))
        .order((evaluation_ratings::cycle.asc(), evaluation_ratings::attempt.asc(), evaluation_ratings::subject.asc()))
        .select(RatingRow::as_select())
        .load(c)?;
    let subjects = ratings
        .iter()
        .filter(|r| !r.superseded)
        .map(|r| SubjectView {
            subject: r.subject.clone(),
            dispatch_id: r.dispatch_id.clone(),
            level: Some(r.level.clone()),
            mapped: Some(r.mapped.clone()),
        })
        .collect();
    Ok(EvaluationView {
        case_id: e.case_id,
        source: e.source,
        status: e.status,
        cycle: e.cycle,
        window_ends: e.window_ends.and_utc(),
        subjects,
        history: ratings
            .into_iter()
            .map(|r| RatingRecord {
                cycle: r.cycle,
                attempt: r.attempt,
                subject: r.subject,
                level: r.level,
                mapped: r.mapped,
                channel: r.channel,
                at: r.at.and_utc(),
                superseded: r.superseded,
                comment: r.comment,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use caseflow_runtime::event_log;
    use caseflow_runtime::testing::TestDatabase;

    use super::*;

    #[derive(QueryableByName)]
    struct Counted {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    /// Two transactions that read the same evaluation (a rating and the expiry job, or two
    /// replicas' jobs): the second to write finds the version moved and changes nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stale_evaluation_is_neither_saved_nor_expired_twice() {
        let test_db = TestDatabase::new("evaluation_versions");
        let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS, &crate::MIGRATIONS]).await.expect("db");
        let opened = chrono::NaiveDate::from_ymd_opt(2020, 3, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).expect("date");
        let row = EvaluationRow {
            case_id: "case-1".into(),
            source: "hotline".into(),
            status: "due".into(),
            cycle: 1,
            reopened: false,
            rerated: false,
            opened_at: opened,
            window_ends: opened + chrono::Duration::days(7),
            token_hash: None,
            version: 1,
        };
        let now = Utc::now();
        let (expired_first, expired_again, events, status) = db
            .write(move |c| {
                diesel::insert_into(evaluations::table).values(&row).execute(c)?;
                let read_by_the_job = row.clone();
                let mut read_by_a_rating = row.clone();
                read_by_a_rating.status = "rated".into();
                read_by_a_rating.version += 1;
                save(c, &read_by_a_rating)?;
                let expired_first = expire_row(c, read_by_the_job.clone(), now)?;
                let expired_again = expire_row(c, read_by_the_job, now)?;
                let events = diesel::sql_query("SELECT COUNT(*) AS n FROM outbox_events").get_result::<Counted>(c)?.n;
                let status: String = evaluations::table.find("case-1").select(evaluations::status).first(c)?;
                Ok::<_, EvaluationError>((expired_first, expired_again, events, status))
            })
            .await
            .expect("runs");
        assert!(!expired_first && !expired_again, "the job's stale copy expires nothing");
        assert_eq!(events, 0, "and appends no Expired event");
        assert_eq!(status, "rated", "the rating that won stands");
    }
}
