//! 复查 and 复核: a petitioner who disagrees with a petition's written handling opinion may ask
//! the body above the one that gave it to review it (复查), within 30 days of receiving the
//! answer; the reviewing body answers within 30 days of the request (信访工作条例 第三十五条).
//! Against the review opinion the petitioner may ask the body above the reviewing one for 复核,
//! again 30 days and 30 days (第三十六条). After the 复核 is decided, the same facts and reasons
//! are not accepted again: a petition that repeats them (its repeat chain's facts were concluded)
//! is refused acceptance and is decided `no_longer_accepted` naming the concluded case.
//!
//! The 30 days are natural days: the regulation says "30日内", as for the 15 days of the
//! decision (see `decisions.rs`). Only an accepted petition has a handling opinion to review.

use caseflow_proto::v1 as pb;
use caseflow_runtime::{ErrorKind, FieldViolation, Principal, Problem, Role, event_log, time};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::IntakeError;
use crate::store::{self, ReviewRow, concluded_facts, petition_decisions, petition_reviews};
use crate::validate::Check;

/// Natural days to ask for a review after the answer, and to decide it after the request
/// (信访工作条例 第三十五条, 第三十六条).
pub const REVIEW_DAYS: i64 = 30;

/// 复查, then 复核.
pub const LEVELS: [&str; 2] = ["review", "re_review"];
/// 维持, 变更, 撤销.
pub const OUTCOMES: [&str; 3] = ["upheld", "changed", "revoked"];

const REVIEWERS: &[Role] = &[Role::Dispatcher, Role::Admin];
const READERS: &[Role] = &[Role::Dispatcher, Role::Admin, Role::EfficiencyOffice, Role::Evaluator];

/// A petitioner's request for 复查 or 复核.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequestInput {
    /// review (复查) | re_review (复核, after a decided 复查)
    #[schema(pattern = "^(review|re_review)$")]
    pub level: String,
    /// The body that reviews (for 复查 the one above the original handling body, for 复核 the
    /// one above the reviewing body), 2 to 100 characters, no control characters.
    #[schema(min_length = 2, max_length = 100, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub reviewing_body: String,
    /// When the petitioner received the written answer contested (the handling opinion for
    /// 复查, the review opinion for 复核), RFC 3339 with offset; the 30 days run from it.
    #[schema(format = DateTime)]
    pub answer_received_at: String,
    /// When the request was received, RFC 3339 with offset, not in the future; now when absent.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub requested_at: Option<String>,
}

/// The reviewing body's decision.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecisionInput {
    /// upheld (维持) | changed (变更) | revoked (撤销)
    #[schema(pattern = "^(upheld|changed|revoked)$")]
    pub outcome: String,
    /// The written opinion to the petitioner, 1 to 2,000 characters.
    #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
    pub opinion: String,
    /// When it was decided, RFC 3339 with offset, not before the request nor in the future; now
    /// when absent.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub decided_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ReviewView {
    pub case_id: String,
    /// review | re_review
    pub level: String,
    pub reviewing_body: String,
    pub answer_received_at: DateTime<Utc>,
    pub requested_at: DateTime<Utc>,
    /// The end of the 30th natural day after the request.
    pub due_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    /// upheld | changed | revoked, once decided.
    pub outcome: Option<String>,
    pub opinion: Option<String>,
    /// Decided after it was due (or still undecided past it, as of the answer).
    pub late: bool,
}

impl ReviewView {
    fn of(row: ReviewRow, now: DateTime<Utc>) -> Self {
        let late = match row.decided_at {
            Some(at) => at > row.due_at,
            None => now.naive_utc() > row.due_at,
        };
        Self {
            case_id: row.case_id,
            level: row.level,
            reviewing_body: row.reviewing_body,
            answer_received_at: row.answer_received_at.and_utc(),
            requested_at: row.requested_at.and_utc(),
            due_at: row.due_at.and_utc(),
            decided_at: row.decided_at.map(|t| t.and_utc()),
            outcome: row.outcome,
            opinion: row.opinion,
            late,
        }
    }
}

/// The name of a level in the regulation's words, for messages.
fn named(level: &str) -> &'static str {
    if level == "review" { "复查 (review)" } else { "复核 (re-review)" }
}

fn refuse(rule: &str, message: String) -> IntakeError {
    Problem::new(ErrorKind::Conflict, message).with_rule(rule).into()
}

fn district_day(t: NaiveDateTime) -> String {
    t.and_utc().with_timezone(&caseflow_runtime::clock::district_offset()).format("%Y-%m-%d").to_string()
}

/// When the facts of the repeat chain headed by `chain_head` were concluded by a decided 复核,
/// and in which case.
pub fn concluded(
    c: &mut caseflow_runtime::AnyConnection,
    chain_head: &str,
) -> QueryResult<Option<(String, NaiveDateTime)>> {
    concluded_facts::table
        .find(chain_head)
        .select((concluded_facts::case_id, concluded_facts::concluded_at))
        .first(c)
        .optional()
}

/// The refusal of accepting a petition whose facts were concluded (`field` names the outcome).
pub fn no_reacceptance(field: &str, (case_id, at): &(String, NaiveDateTime)) -> FieldViolation {
    FieldViolation::new(
        field,
        format!(
            "the same facts were concluded by the 复核 of case '{case_id}' on {} and are not accepted again \
             (信访工作条例 第三十六条); decide no_longer_accepted naming that case",
            district_day(*at)
        ),
    )
}

impl crate::service::Intake {
    /// Records a petitioner's request for 复查 or 复核 of a petition's answer.
    #[tracing::instrument(skip_all, fields(caseflow.service = "intake", case_id = %case_id))]
    pub async fn request_review(
        &self,
        principal: &Principal,
        case_id: &str,
        input: ReviewRequestInput,
    ) -> Result<ReviewView, IntakeError> {
        principal.require("record review requests", REVIEWERS)?;
        let now = self.clock.now();
        let mut check = Check::new();
        let level = check.one_of("level", &input.level, &LEVELS);
        let body = input.reviewing_body.trim().to_owned();
        if !(2..=100).contains(&body.chars().count()) || body.chars().any(char::is_control) {
            check.fail("reviewing_body", "must be 2 to 100 characters, no control characters");
        }
        let answered = check.moment("answer_received_at", Some(&input.answer_received_at), now);
        if input.answer_received_at.trim().is_empty() {
            check.fail("answer_received_at", "is required: when the petitioner received the answer contested");
        }
        let requested = check.moment("requested_at", input.requested_at.as_deref(), now).unwrap_or(now);
        if answered.is_some_and(|a| requested < a) {
            check.fail("requested_at", "must not be before the answer was received");
        }
        let (Some(answered), true) = (answered, check.violations.is_empty()) else {
            return Err(IntakeError::Invalid(check.violations));
        };
        let (id, actor) = (case_id.to_owned(), principal.name.clone());
        let row = self
            .db
            .write(move |c| {
                let case = store::find_case(c, &id)?.ok_or_else(|| IntakeError::NotFound(id.clone()))?;
                let decision: Option<String> = petition_decisions::table
                    .find(&id)
                    .select(petition_decisions::outcome)
                    .first(c)
                    .optional()?
                    .filter(|_| case.source == "petition");
                match decision.as_deref() {
                    None => return Err(refuse("review.petition", format!("case '{id}' is not a petition"))),
                    Some("accepted") => {}
                    Some(other) => {
                        return Err(refuse(
                            "review.accepted",
                            format!("only an accepted petition has a handling opinion to review; this one is {other}"),
                        ));
                    }
                }
                let review: Option<ReviewRow> = petition_reviews::table
                    .find((&id, "review"))
                    .select(ReviewRow::as_select())
                    .first(c)
                    .optional()?;
                let existing = if level == "review" {
                    review.clone()
                } else {
                    petition_reviews::table
                        .find((&id, "re_review"))
                        .select(ReviewRow::as_select())
                        .first(c)
                        .optional()?
                };
                if let Some(e) = existing {
                    return Err(refuse(
                        "review.requested",
                        format!("a {} of this petition was already requested on {}", named(&level), district_day(e.requested_at)),
                    ));
                }
                if level == "re_review" {
                    let Some(decided) = review.and_then(|r| r.decided_at) else {
                        return Err(refuse("review.order", "复核 is asked against a decided 复查 (第三十六条); this petition has none".into()));
                    };
                    if answered.naive_utc() < decided {
                        return Err(IntakeError::Invalid(vec![FieldViolation::new(
                            "answer_received_at",
                            format!("must not be before the 复查 was decided ({})", district_day(decided)),
                        )]));
                    }
                } else if answered.naive_utc() < case.received_at {
                    return Err(IntakeError::Invalid(vec![FieldViolation::new(
                        "answer_received_at",
                        "must not be before the petition was registered",
                    )]));
                }
                let window_ends = crate::decisions::end_of_natural_day(answered, REVIEW_DAYS);
                if requested.naive_utc() > window_ends {
                    return Err(refuse(
                        "review.window",
                        format!(
                            "a {} is asked within {REVIEW_DAYS} days of the answer (信访工作条例 {}), that is by the end of {}; this request came after",
                            named(&level),
                            if level == "review" { "第三十五条" } else { "第三十六条" },
                            district_day(window_ends - chrono::Duration::seconds(1)),
                        ),
                    ));
                }
                let row = ReviewRow {
                    case_id: id.clone(),
                    level: level.clone(),
                    reviewing_body: body.clone(),
                    answer_received_at: answered.naive_utc(),
                    requested_at: requested.naive_utc(),
                    due_at: crate::decisions::end_of_natural_day(requested, REVIEW_DAYS),
                    decided_at: None,
                    outcome: None,
                    opinion: None,
                    requested_by: actor.clone(),
                    decided_by: None,
                };
                diesel::insert_into(petition_reviews::table).values(&row).execute(c)?;
                let event = pb::IntakeEvent {
                    kind: Some(pb::intake_event::Kind::ReviewRequested(pb::ReviewRequested {
                        case_id: id.clone(),
                        level: level.clone(),
                        reviewing_body: body.clone(),
                        requested_at: Some(time::to_proto(requested)),
                        due_at: Some(time::to_proto(row.due_at.and_utc())),
                    })),
                };
                event_log::append(c, now, &id, &event)?;
                Ok::<_, IntakeError>(row)
            })
            .await?;
        tracing::info!(case_id = %case_id, level = %row.level, "review requested");
        Ok(ReviewView::of(row, now))
    }

    /// Records the reviewing body's decision. A decided 复核 concludes the facts.
    #[tracing::instrument(skip_all, fields(caseflow.service = "intake", case_id = %case_id))]
    pub async fn decide_review(
        &self,
        principal: &Principal,
        case_id: &str,
        level: &str,
        input: ReviewDecisionInput,
    ) -> Result<ReviewView, IntakeError> {
        principal.require("record review decisions", REVIEWERS)?;
        let now = self.clock.now();
        let mut check = Check::new();
        let level = check.one_of("level", level, &LEVELS);
        let outcome = check.one_of("outcome", &input.outcome, &OUTCOMES);
        let opinion = check.text("opinion", &input.opinion, true, 2000);
        let decided = check.moment("decided_at", input.decided_at.as_deref(), now).unwrap_or(now);
        if !check.violations.is_empty() {
            return Err(IntakeError::Invalid(check.violations));
        }
        let (id, actor) = (case_id.to_owned(), principal.name.clone());
        let row = self
            .db
            .write(move |c| {
                let case = store::find_case(c, &id)?.ok_or_else(|| IntakeError::NotFound(id.clone()))?;
                let mut row: ReviewRow = petition_reviews::table
                    .find((&id, &level))
                    .select(ReviewRow::as_select())
                    .first(c)
                    .optional()?
                    .ok_or_else(|| IntakeError::NotFound(format!("a {} of case '{id}'", named(&level))))?;
                if let (Some(at), Some(was)) = (row.decided_at, &row.outcome) {
                    return Err(refuse(
                        "review.decided",
                        format!("this {} was already decided ({was}) on {}", named(&level), district_day(at)),
                    ));
                }
                if decided.naive_utc() < row.requested_at {
                    return Err(IntakeError::Invalid(vec![FieldViolation::new(
                        "decided_at",
                        "must not be before the request was received",
                    )]));
                }
                row.decided_at = Some(decided.naive_utc());
                row.outcome = Some(outcome.clone());
                row.opinion = Some(opinion.clone());
                row.decided_by = Some(actor.clone());
                caseflow_runtime::db::kept::update(petition_reviews::table.find((&id, &level)), &row).execute(c)?;
                if level == "re_review" {
                    let head = case.repeat_of.clone().unwrap_or_else(|| case.id.clone());
                    if concluded(c, &head)?.is_none() {
                        diesel::insert_into(concluded_facts::table)
                            .values((
                                concluded_facts::chain_head.eq(&head),
                                concluded_facts::case_id.eq(&id),
                                concluded_facts::concluded_at.eq(decided.naive_utc()),
                            ))
                            .execute(c)?;
                    }
                }
                let event = pb::IntakeEvent {
                    kind: Some(pb::intake_event::Kind::ReviewDecided(pb::ReviewDecided {
                        case_id: id.clone(),
                        level: level.clone(),
                        outcome: outcome.clone(),
                        decided_at: Some(time::to_proto(decided)),
                        due_at: Some(time::to_proto(row.due_at.and_utc())),
                    })),
                };
                event_log::append(c, now, &id, &event)?;
                Ok::<_, IntakeError>(row)
            })
            .await?;
        tracing::info!(case_id = %case_id, level = %row.level, "review decided");
        Ok(ReviewView::of(row, now))
    }

    /// A petition's reviews, 复查 first.
    pub async fn reviews(&self, principal: &Principal, case_id: &str) -> Result<Vec<ReviewView>, IntakeError> {
        principal.require("read reviews", READERS)?;
        let (id, now) = (case_id.to_owned(), self.clock.now());
        let rows = self
            .db
            .read(move |c| {
                if store::find_case(c, &id)?.is_none() {
                    return Err(IntakeError::NotFound(id.clone()));
                }
                let mut rows: Vec<ReviewRow> = petition_reviews::table
                    .filter(petition_reviews::case_id.eq(&id))
                    .select(ReviewRow::as_select())
                    .load(c)?;
                rows.sort_by_key(|r| r.level != "review");
                Ok::<_, IntakeError>(rows)
            })
            .await?;
        Ok(rows.into_iter().map(|r| ReviewView::of(r, now)).collect())
    }
}
