//! Evaluation's service layer. A case's evaluation is made of parts, each with its own window
//! (`parts.rs`): a hotline case is one part, opened when every matter is resolved; a petition
//! has the petition office's part, opened by its decision, and each handling unit's, opened by
//! the unit's resolution. Parts are rated by the platform, the petition desk or the citizen's
//! one-time link; expired when not rated in their window; followed up when unsatisfied, by an
//! explanation and one more rating, or by re-handling and one re-opened part.

use std::collections::BTreeMap;

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore as _;
use base64::Engine as _;
use caseflow_proto::v1 as pb;
use caseflow_runtime::clock::district_offset;
use caseflow_runtime::{
    AnyConnection, Db, DbError, ErrorKind, FieldViolation, Principal, Problem, Role, SharedClock, time,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::parts::{self, AGENCY, CASE, append, is_open, named};
use crate::policy::EvaluationPolicy;
use crate::store::{PartRow, RatingRow, eval_cases, evaluation_ratings, follow_ups, rating_links};

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

/// The part is not open yet: the case is not resolved (a hotline case, a unit's matters), or the
/// petition office has not decided. What a caller's `x-caseflow-wait-ms` waits for.
pub const NOT_OPEN: &str = "evaluation.not_open";

fn not_open(detail: impl Into<String>) -> EvaluationError {
    Problem::new(ErrorKind::NotFound, detail).with_rule(NOT_OPEN).into()
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

/// One part of the evaluation, with its own window.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PartView {
    /// `case` (a hotline case), `agency` (the petition office) or a handling unit's code.
    pub part: String,
    /// due | rated | expired | re_rating_invited | awaiting_rehandling
    pub status: String,
    pub cycle: i32,
    pub opened_at: DateTime<Utc>,
    pub window_ends: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct EvaluationView {
    pub case_id: String,
    pub source: String,
    /// The case's part for a hotline case. For a petition, over its parts: due while any part is
    /// open to rating, else awaiting_rehandling, rated or expired in that order.
    /// due | rated | expired | re_rating_invited | awaiting_rehandling
    pub status: String,
    pub cycle: i32,
    /// The earliest window of a part open to rating, else the latest window.
    pub window_ends: DateTime<Utc>,
    /// Each part with its own status and window.
    pub parts: Vec<PartView>,
    /// The final ratings of each part's current cycle (empty until rated).
    pub subjects: Vec<SubjectView>,
    /// Every rating ever given for this case, oldest first, superseded ones marked.
    pub history: Vec<RatingRecord>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct RatingRecord {
    pub part: String,
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
    /// unsatisfied, poor), required. Petition: the petition office's level (satisfied, basic,
    /// unsatisfied) when its part is rated now; absent or empty: not this time.
    #[serde(default)]
    pub level: String,
    /// Per unit code: a petition's handling units rated now (each on its own part); for the
    /// hotline, overrides for the units the citizen named (the others take `level`).
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
    /// A petition's part followed up: `agency` or a handling unit's code. Absent: every part
    /// rated unsatisfied (for re-handling, every unit's part rated unsatisfied).
    #[serde(default)]
    #[schema(max_length = 64, pattern = "^[A-Za-z0-9_.-]+$")]
    pub part: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RatingLink {
    /// The one-time token; valid for the parts open to rating when it was issued, until the
    /// last of their windows ends; used once.
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

/// The case's source, or why it has no evaluation yet.
fn source_of(c: &mut AnyConnection, case_id: &str) -> Result<String, EvaluationError> {
    eval_cases::table
        .find(case_id)
        .select(eval_cases::source)
        .first(c)
        .optional()?
        .ok_or_else(|| not_open(format!("case '{case_id}' has no evaluation (it is not resolved yet)")))
}

/// The part a case's evaluation opens with: a petition's office, a hotline case's whole.
fn first_part(source: &str) -> &'static str {
    if source == "petition" { AGENCY } else { CASE }
}

/// Why `part` of the case has no row yet.
fn part_not_open(case_id: &str, part: &str) -> EvaluationError {
    not_open(not_open_detail(case_id, part))
}

fn not_open_detail(case_id: &str, part: &str) -> String {
    match part {
        AGENCY => {
            format!("the petition office has not decided on petition '{case_id}' yet; its part opens with the decision")
        }
        CASE => format!("case '{case_id}' has no evaluation (it is not resolved yet)"),
        unit => format!(
            "unit '{unit}' has no part in the evaluation of case '{case_id}': it has not resolved its matters of \
             the case yet, or does not handle it"
        ),
    }
}

fn closed_at(e: &PartRow) -> String {
    e.window_ends.and_utc().with_timezone(&district_offset()).format("%Y-%m-%d %H:%M").to_string()
}

/// The parts a rating names, each with the level given for it: the hotline case; a petition's
/// office (`level`) and the units of `unit_levels`. A petition's unit without a part is refused
/// as not open: evaluation cannot tell a unit that has not resolved yet (or whose resolution is
/// still on its way from routing) from one that never handled the case.
fn named_parts(source: &str, input: &RateInput, violations: &mut Vec<FieldViolation>) -> Vec<(String, String)> {
    if source != "petition" {
        return vec![(CASE.to_owned(), input.level.trim().to_owned())];
    }
    let mut named = Vec::new();
    if !input.level.trim().is_empty() {
        named.push((AGENCY.to_owned(), input.level.trim().to_owned()));
    }
    for (unit, level) in &input.unit_levels {
        named.push((unit.clone(), level.trim().to_owned()));
    }
    if named.is_empty() {
        violations.push(FieldViolation::new(
            "level",
            "is required: the petition office's level, or a handling unit's in unit_levels, or both",
        ));
    }
    named
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

    /// Rates as the platform (hotline) or the petition desk (petition): the parts the input names.
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

    /// Rates with the citizen's one-time link: no account, the token is the credential. The
    /// citizen rates every part the link's page shows.
    pub async fn rate_with_token(&self, token: &str, input: RateInput) -> Result<EvaluationView, EvaluationError> {
        let digest = token_digest(token.trim());
        let d = digest.clone();
        let case_id: Option<String> = self
            .db
            .read(move |c| {
                rating_links::table
                    .find(&d)
                    .select(rating_links::case_id)
                    .first(c)
                    .optional()
                    .map_err(EvaluationError::from)
            })
            .await?;
        let Some(case_id) = case_id else { return Err(token_not_valid()) };
        self.rate_as(case_id, Some(digest), input, ("citizen", None), "citizen".into()).await
    }

    /// What the citizen's link shows: the parts open to rating now, or why there are none.
    pub async fn rating_form(&self, token: &str) -> Result<crate::rating_page::Form, RatingLinkState> {
        use crate::rating_page::{Closed, Form, Subject, scale};
        let digest = token_digest(token.trim());
        let now = self.clock.now().naive_utc();
        let found = self
            .db
            .read(move |c| {
                let Some((case_id, expires_at)) = rating_links::table
                    .find(&digest)
                    .select((rating_links::case_id, rating_links::expires_at))
                    .first::<(String, NaiveDateTime)>(c)
                    .optional()?
                else {
                    return Ok::<_, EvaluationError>(None);
                };
                let case: Option<(NaiveDateTime, String, String)> = eval_cases::table
                    .find(&case_id)
                    .select((eval_cases::received_at, eval_cases::summary, eval_cases::source))
                    .first(c)
                    .optional()?;
                let open: Vec<PartRow> = parts::of_case(c, &case_id)?
                    .into_iter()
                    .filter(|p| is_open(&p.status) && now <= p.window_ends)
                    .collect();
                Ok(Some((expires_at, case, open)))
            })
            .await
            .map_err(RatingLinkState::Failed)?;
        let Some((expires_at, case, open)) = found else { return Err(RatingLinkState::Closed(Closed::NotValid)) };
        let Some((received_at, summary, source)) = case else { return Err(RatingLinkState::Closed(Closed::NotValid)) };
        let Some(window_ends) = open.iter().map(|p| p.window_ends).min() else {
            let closed = if now > expires_at { Closed::Expired } else { Closed::NotValid };
            return Err(RatingLinkState::Closed(closed));
        };
        let hotline = &self.surveys.policy.hotline_scale;
        let subjects = open
            .iter()
            .map(|p| {
                let (field, title) = match p.part.as_str() {
                    CASE => ("level".to_owned(), "您对本次诉求办理的评价".to_owned()),
                    AGENCY => ("level".to_owned(), "对信访部门（登记、转送、告知）的评价".to_owned()),
                    unit => {
                        (format!("unit.{unit}"), format!("对办理单位“{}”的评价", crate::rating_page::unit_name(unit)))
                    }
                };
                Subject { field, title, choices: scale(&source, hotline, p.part != CASE), picked: String::new() }
            })
            .collect();
        Ok(Form {
            source,
            received_on: received_at.and_utc().with_timezone(&district_offset()).date_naive(),
            summary,
            window_ends: window_ends.and_utc(),
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
                let source = source_of(c, &case_id)?;
                if let Some(role) = rater {
                    require_source_role(role, &source, "rating")?;
                }
                let all = parts::of_case(c, &case_id)?;
                let mut violations = Vec::new();
                if let Some(comment) = &input.comment {
                    if comment.chars().count() > 500 {
                        violations.push(FieldViolation::new("comment", "at most 500 characters"));
                    } else if comment.chars().any(|ch| ch.is_control() && !matches!(ch, '\n' | '\r' | '\t')) {
                        violations.push(FieldViolation::new("comment", "must not hold control characters"));
                    }
                }
                let asked = named_parts(&source, &input, &mut violations);
                if token.is_some() {
                    // The citizen's page shows every part open now; each is rated.
                    for p in all.iter().filter(|p| is_open(&p.status) && now.naive_utc() <= p.window_ends) {
                        if !asked.iter().any(|(part, _)| part == &p.part) {
                            let field =
                                if p.part == AGENCY { "level".to_owned() } else { format!("unit_levels.{}", p.part) };
                            violations.push(FieldViolation::new(
                                field,
                                "is required: the link rates every part open to rating",
                            ));
                        }
                    }
                }
                // Each named part: open, in its window, its level on the scale.
                let mut rated: Vec<(PartRow, String, &'static str)> = Vec::new();
                for (part, level) in &asked {
                    let field = match part.as_str() {
                        CASE | AGENCY => "level".to_owned(),
                        unit => format!("unit_levels.{unit}"),
                    };
                    let Some(e) = all.iter().find(|p| &p.part == part) else {
                        return Err(not_open(format!("{field}: {}", not_open_detail(&case_id, part))));
                    };
                    // A rating given inside the window stands even if the expiry job got there
                    // first: only an imported rating can be earlier than the moment it is recorded.
                    let late_expiry = e.status == "expired" && now.naive_utc() <= e.window_ends;
                    if !is_open(&e.status) && !late_expiry {
                        return Err(refuse(
                            "evaluation.state",
                            format!(
                                "{field}: {} is {}; a rating is taken while it is due, and once more after an \
                                 explanation",
                                named(part),
                                e.status
                            ),
                        ));
                    }
                    if now.naive_utc() > e.window_ends {
                        let closed = closed_at(e);
                        // The expiry stands: the refusal is the answer, not a rollback.
                        parts::expire(c, e.clone(), now)?;
                        return Ok(Outcome::Refused(refuse(
                            "evaluation.window",
                            format!(
                                "{field}: the rating window of {} closed at {closed}; it is expired (超期未评)",
                                named(part)
                            ),
                        )));
                    }
                    match surveys.policy.map_level(&source, level) {
                        Ok(mapped) => rated.push((e.clone(), level.clone(), mapped)),
                        Err(rule) => violations.push(FieldViolation::new(field, rule)),
                    }
                }
                // A hotline rating's overrides for the units the citizen named.
                let mut hotline_overrides: Vec<(String, String, &'static str)> = Vec::new();
                if source != "petition" && !input.unit_levels.is_empty() {
                    let units = parts::units(c, &case_id)?;
                    for (unit, level) in &input.unit_levels {
                        let field = format!("unit_levels.{unit}");
                        if !units.contains(unit) {
                            let rule = format!("'{unit}' did not handle this case; its units: {}", units.join(", "));
                            violations.push(FieldViolation::new(field, rule));
                            continue;
                        }
                        match surveys.policy.map_level(&source, level.trim()) {
                            Ok(m) => hotline_overrides.push((unit.clone(), level.trim().to_owned(), m)),
                            Err(rule) => violations.push(FieldViolation::new(field, rule)),
                        }
                    }
                }
                if !violations.is_empty() {
                    return Err(Problem::invalid(violations).into());
                }
                if let Some(digest) = &token {
                    let spent = diesel::delete(rating_links::table.find(digest)).execute(c)?;
                    if spent == 0 {
                        return Err(token_not_valid());
                    }
                }
                let comment = input.comment.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
                for (mut e, level, mapped) in rated {
                    let rerated = e.status == "re_rating_invited";
                    let mut subjects = parts::subjects(c, &case_id, &e.part)?;
                    for s in subjects.iter_mut() {
                        let (level, mapped) = hotline_overrides
                            .iter()
                            .find(|(unit, _, _)| unit == &s.subject)
                            .map_or((level.clone(), mapped), |(_, l, m)| (l.clone(), *m));
                        s.level = level;
                        s.mapped = mapped.to_owned();
                    }
                    caseflow_runtime::db::kept::update(
                        evaluation_ratings::table
                            .filter(evaluation_ratings::case_id.eq(&case_id))
                            .filter(evaluation_ratings::part.eq(&e.part))
                            .filter(evaluation_ratings::cycle.eq(e.cycle)),
                        evaluation_ratings::superseded.eq(true),
                    )
                    .execute(c)?;
                    let mut rows = Vec::new();
                    if e.part == CASE {
                        rows.push((CASE.to_owned(), None, level.clone(), mapped.to_owned()));
                    }
                    for s in &subjects {
                        rows.push((
                            s.subject.clone(),
                            Some(s.dispatch_id.clone()).filter(|d| !d.is_empty()),
                            s.level.clone(),
                            s.mapped.clone(),
                        ));
                    }
                    for (subject, dispatch_id, level, mapped) in rows {
                        diesel::insert_into(evaluation_ratings::table)
                            .values(RatingRow {
                                id: uuid::Uuid::now_v7().to_string(),
                                case_id: case_id.clone(),
                                part: e.part.clone(),
                                cycle: e.cycle,
                                attempt: if rerated { 2 } else { 1 },
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
                    e.version += 1;
                    parts::save(c, &e)?;
                    append(
                        c,
                        now,
                        &case_id,
                        pb::evaluation_event::Kind::Rated(pb::Rated {
                            case_id: case_id.clone(),
                            source: pb::CaseSource::from_code(&source) as i32,
                            cycle: e.cycle,
                            at: Some(time::to_proto(now)),
                            case_mapped: if e.part == AGENCY || e.part == CASE {
                                mapped.to_owned()
                            } else {
                                String::new()
                            },
                            subjects,
                            rerated,
                            channel: channel.to_owned(),
                            part: e.part.clone(),
                        }),
                    )?;
                }
                Ok(Outcome::Done(view(c, &case_id)?))
            })
            .await?;
        match outcome {
            Outcome::Done(v) => Ok(v),
            Outcome::Refused(e) => Err(e),
        }
    }

    /// Issues the citizen's one-time rating link for the parts open to rating now (a new one
    /// replaces the old).
    pub async fn issue_link(&self, p: &Principal, case_id: &str) -> Result<RatingLink, EvaluationError> {
        p.require("issue rating links", RATERS)?;
        let mut raw = [0u8; 32];
        OsRng.fill_bytes(&mut raw);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let (id, digest, now, role) = (case_id.to_owned(), token_digest(&token), self.clock.now(), p.role);
        let expires = self
            .db
            .write(move |c| {
                let source = source_of(c, &id)?;
                require_source_role(role, &source, "a rating link")?;
                let all = parts::of_case(c, &id)?;
                let Some(expires) = all
                    .iter()
                    .filter(|p| is_open(&p.status) && now.naive_utc() <= p.window_ends)
                    .map(|p| p.window_ends)
                    .max()
                else {
                    if all.is_empty() {
                        return Err(part_not_open(&id, first_part(&source)));
                    }
                    let states: Vec<String> = all.iter().map(|p| format!("{} {}", named(&p.part), p.status)).collect();
                    return Err(refuse(
                        "evaluation.state",
                        format!(
                            "no part is open to rating ({}); links are for evaluations open to rating",
                            states.join(", ")
                        ),
                    ));
                };
                diesel::delete(rating_links::table.filter(rating_links::case_id.eq(&id))).execute(c)?;
                diesel::insert_into(rating_links::table)
                    .values((
                        rating_links::token_hash.eq(&digest),
                        rating_links::case_id.eq(&id),
                        rating_links::expires_at.eq(expires),
                    ))
                    .execute(c)?;
                Ok::<_, EvaluationError>(expires.and_utc())
            })
            .await?;
        Ok(RatingLink { path: format!("/rate?t={token}"), token, expires_at: expires })
    }

    /// A follow-up (回访) of an unsatisfied rating: an explanation invites one more rating;
    /// re-handling asks routing to re-open the unsatisfied units' dispatches. A petition's
    /// follow-up answers the part it names, or every part rated unsatisfied.
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
                let source = source_of(c, &id)?;
                require_source_role(role, &source, "a follow-up")?;
                let all = parts::of_case(c, &id)?;
                if all.is_empty() {
                    return Err(part_not_open(&id, first_part(&source)));
                }
                let rehandling = input.outcome == "rehandling";
                let current: Vec<RatingRow> = evaluation_ratings::table
                    .filter(evaluation_ratings::case_id.eq(&id))
                    .filter(evaluation_ratings::superseded.eq(false))
                    .select(RatingRow::as_select())
                    .load(c)?;
                let unsatisfied = |part: &str| current.iter().any(|r| r.part == part && r.mapped == "unsatisfied");
                let targets: Vec<PartRow> = match input.part.as_deref().map(str::trim) {
                    Some(part) if !part.is_empty() => {
                        let Some(e) = all.iter().find(|p| p.part == part) else {
                            let names: Vec<&str> = all.iter().map(|p| p.part.as_str()).collect();
                            return Err(invalid("part", format!("'{part}' is not a part of this case's evaluation; its parts: {}", names.join(", "))));
                        };
                        vec![e.clone()]
                    }
                    _ => all
                        .iter()
                        .filter(|p| p.status == "rated" && unsatisfied(&p.part) && !(rehandling && p.part == AGENCY))
                        .cloned()
                        .collect(),
                };
                if targets.is_empty() {
                    let states: Vec<String> = all.iter().map(|p| format!("{} {}", named(&p.part), p.status)).collect();
                    return Err(refuse("follow_up.unsatisfied", format!("a follow-up answers an unsatisfied rating; none is waiting for one ({})", states.join(", "))));
                }
                for mut e in targets {
                    if e.status != "rated" || !unsatisfied(&e.part) {
                        return Err(refuse("follow_up.unsatisfied", format!("a follow-up answers an unsatisfied rating; {} is {} with no unsatisfied subject", named(&e.part), e.status)));
                    }
                    match input.outcome.as_str() {
                        "explanation" if e.rerated => {
                            return Err(refuse("follow_up.rerate_once", format!("the citizen already rated {} again once after an explanation", named(&e.part))));
                        }
                        "explanation" => e.status = "re_rating_invited".into(),
                        _ if e.part == AGENCY => {
                            return Err(refuse("follow_up.agency_rehandling", "the petition office's own step (registration, forwarding, the notice) is not re-handled by a unit; explain it instead"));
                        }
                        _ if e.reopened => {
                            return Err(refuse("follow_up.reopen_once", format!("{} was already re-opened once after re-handling", named(&e.part))));
                        }
                        _ => e.status = "awaiting_rehandling".into(),
                    }
                    e.version += 1;
                    parts::save(c, &e)?;
                    diesel::insert_into(follow_ups::table)
                        .values((
                            follow_ups::id.eq(uuid::Uuid::now_v7().to_string()),
                            follow_ups::case_id.eq(&id),
                            follow_ups::part.eq(&e.part),
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
                        part: e.part.clone(),
                    }))?;
                    if rehandling {
                        let of_part: Vec<&RatingRow> = current.iter().filter(|r| r.part == e.part).collect();
                        // The case-level hotline rating names no dispatch: every unit's dispatch goes back.
                        let mut dispatch_ids: Vec<String> = of_part.iter().filter(|r| r.mapped == "unsatisfied").filter_map(|r| r.dispatch_id.clone()).collect();
                        if dispatch_ids.is_empty() {
                            dispatch_ids = of_part.iter().filter_map(|r| r.dispatch_id.clone()).collect();
                        }
                        dispatch_ids.sort();
                        dispatch_ids.dedup();
                        append(c, now, &id, pb::evaluation_event::Kind::RehandlingRequested(pb::RehandlingRequested {
                            case_id: id.clone(),
                            dispatch_ids,
                            reason: format!("unsatisfied rating; follow-up: {note}"),
                        }))?;
                    }
                }
                view(c, &id)
            })
            .await
    }

    /// Expires every part whose window closed unrated, as of now.
    pub async fn expire_due(&self) -> Result<usize, EvaluationError> {
        Ok(self.expire_due_at(self.clock.now()).await?.0)
    }

    /// Expires what is due by `now`; also says when the next open window closes, if any does.
    async fn expire_due_at(&self, now: DateTime<Utc>) -> Result<(usize, Option<DateTime<Utc>>), EvaluationError> {
        use crate::store::evaluation_parts;
        const OPEN: [&str; 2] = ["due", "re_rating_invited"];
        self.db
            .write(move |c| {
                let due: Vec<PartRow> = evaluation_parts::table
                    .filter(evaluation_parts::status.eq_any(OPEN))
                    .filter(evaluation_parts::window_ends.lt(now.naive_utc()))
                    .select(PartRow::as_select())
                    .load(c)?;
                let mut expired = 0;
                for e in due {
                    // One that a rating or another replica's job changed meanwhile is theirs.
                    expired += usize::from(parts::expire(c, e, now)?);
                }
                // Through the index (status, window_ends): the first of each open status.
                let mut next: Option<chrono::NaiveDateTime> = None;
                for status in OPEN {
                    let first: Option<chrono::NaiveDateTime> = evaluation_parts::table
                        .filter(evaluation_parts::status.eq(status))
                        .order(evaluation_parts::window_ends)
                        .select(evaluation_parts::window_ends)
                        .first(c)
                        .optional()?;
                    next = match (next, first) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                Ok((expired, next.map(|t| t.and_utc())))
            })
            .await
    }

    /// Expires the case's parts (or the one `part` names) whose window has closed by now, as
    /// the background job would; an expired one stays as it is.
    pub async fn expire(
        &self,
        p: &Principal,
        case_id: &str,
        part: Option<String>,
    ) -> Result<EvaluationView, EvaluationError> {
        p.require("expire evaluations", &[Role::Integrator, Role::Evaluator, Role::Admin])?;
        let (id, now, role) = (case_id.to_owned(), self.clock.now(), p.role);
        self.db
            .write(move |c| {
                let source = source_of(c, &id)?;
                require_source_role(role, &source, "expiry")?;
                let mut all = parts::of_case(c, &id)?;
                if let Some(part) = part.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
                    let names: Vec<String> = all.iter().map(|p| p.part.clone()).collect();
                    all.retain(|p| p.part == part);
                    if all.is_empty() {
                        if source != "petition" {
                            return Err(invalid(
                                "part",
                                format!("a hotline case has one part, case; its parts: {}", names.join(", ")),
                            ));
                        }
                        return Err(not_open(format!("part: {}", not_open_detail(&id, part))));
                    }
                }
                if all.is_empty() {
                    return Err(part_not_open(&id, first_part(&source)));
                }
                let open: Vec<&PartRow> = all.iter().filter(|p| is_open(&p.status)).collect();
                let closed: Vec<&PartRow> = open.iter().copied().filter(|p| now.naive_utc() > p.window_ends).collect();
                if !closed.is_empty() {
                    for e in closed {
                        if !parts::expire(c, e.clone(), now)? {
                            return Err(Problem::new(
                                ErrorKind::Conflict,
                                "the evaluation changed while this request ran; read it again and retry",
                            )
                            .with_rule("evaluation.concurrent")
                            .into());
                        }
                    }
                } else if let Some(first) = open.iter().min_by_key(|p| p.window_ends) {
                    return Err(refuse(
                        "evaluation.window",
                        format!("the rating window of {} is open until {}", named(&first.part), closed_at(first)),
                    ));
                } else if !all.iter().any(|p| p.status == "expired") {
                    let states: Vec<String> = all.iter().map(|p| format!("{} {}", named(&p.part), p.status)).collect();
                    return Err(refuse("evaluation.state", format!("only a due part expires ({})", states.join(", "))));
                }
                view(c, &id)
            })
            .await
    }

    /// Expires evaluations until `shutdown`: when the earliest open window closes (a window
    /// closes at its end: expired once the moment is past it), and within `interval` of an
    /// evaluation opening or changing (`changes`: this service's stream, which each of those
    /// writes to). With nothing open it does nothing.
    pub async fn run_expiry(
        self,
        interval: std::time::Duration,
        changes: tokio::sync::watch::Receiver<i64>,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        caseflow_runtime::when_due::run_when_due(interval, changes, shutdown, || async {
            let now = self.clock.now();
            match self.expire_due_at(now).await {
                // Just past the window's end: it expires once the moment is after it.
                Ok((_, next)) => next.map(|t| (t - now + chrono::Duration::seconds(1)).to_std().unwrap_or(interval)),
                Err(e) => {
                    tracing::warn!(error = %Problem::from(e), "expiry scan failed");
                    Some(interval)
                }
            }
        })
        .await;
    }
}

fn token_not_valid() -> EvaluationError {
    // The same answer for a wrong, a used and an unknown token: nothing to enumerate.
    Problem::new(ErrorKind::NotFound, "this rating link is not valid (it may have been used already)")
        .with_rule("evaluation.token")
        .into()
}

/// The case's status over its parts (see [`EvaluationView::status`]).
fn overall(all: &[PartRow]) -> (&str, NaiveDateTime) {
    let open = all.iter().filter(|p| is_open(&p.status)).min_by_key(|p| p.window_ends);
    if let Some(p) = open {
        return (p.status.as_str(), p.window_ends);
    }
    let latest = all.iter().map(|p| p.window_ends).max().unwrap_or_default();
    for status in ["awaiting_rehandling", "rated", "expired"] {
        if all.iter().any(|p| p.status == status) {
            return (status, latest);
        }
    }
    ("due", latest)
}

fn view(c: &mut AnyConnection, case_id: &str) -> Result<EvaluationView, EvaluationError> {
    let all = parts::of_case(c, case_id)?;
    let Some(first) = all.first() else {
        let source = source_of(c, case_id)?;
        return Err(part_not_open(case_id, first_part(&source)));
    };
    let source = first.source.clone();
    let ratings: Vec<RatingRow> = evaluation_ratings::table
        .filter(evaluation_ratings::case_id.eq(case_id))
        .order((evaluation_ratings::at.asc(), evaluation_ratings::attempt.asc(), evaluation_ratings::subject.asc()))
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
    let (status, window_ends) = overall(&all);
    Ok(EvaluationView {
        case_id: case_id.to_owned(),
        source,
        status: status.to_owned(),
        cycle: all.iter().map(|p| p.cycle).max().unwrap_or(1),
        window_ends: window_ends.and_utc(),
        parts: all
            .iter()
            .map(|p| PartView {
                part: p.part.clone(),
                status: p.status.clone(),
                cycle: p.cycle,
                opened_at: p.opened_at.and_utc(),
                window_ends: p.window_ends.and_utc(),
            })
            .collect(),
        subjects,
        history: ratings
            .into_iter()
            .map(|r| RatingRecord {
                part: r.part,
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
