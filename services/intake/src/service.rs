//! Intake's service layer: every call names its principal, and the role check happens here,
//! whichever edge (REST or gRPC) the call came through.

use std::collections::BTreeMap;
use std::sync::Arc;

use caseflow_proto::v1 as pb;
use caseflow_runtime::db::is_unique_violation;
use caseflow_runtime::{
    AnyConnection, Db, DbError, ErrorKind, FieldViolation, Principal, Problem, Role, SharedClock, event_log, time,
};
use chrono::SubsecRound as _;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::citizen::CitizenVault;
use crate::error::IntakeError;
use crate::input::{OrderInput, PetitionInput};
use crate::store::{self, CaseRow, MatterRow, case_units, cases, citizen_reveals};
use crate::taxonomy::Policy;
use crate::validate::{NewCase, Source, differing_fields};
use crate::view::{CaseView, Visibility};

/// Roles that may submit hotline work orders.
const ORDER_SUBMITTERS: &[Role] = &[Role::Integrator, Role::Admin];
/// Roles that may register petitions: the provincial system's integration and the petition
/// bureau's staff.
const PETITION_SUBMITTERS: &[Role] = &[Role::Integrator, Role::Dispatcher, Role::Admin];
/// Roles that may read cases (citizen masked); unit handlers only their units' cases.
const READERS: &[Role] = &[
    Role::Integrator,
    Role::Dispatcher,
    Role::Evaluator,
    Role::EfficiencyOffice,
    Role::Admin,
    Role::Service,
    Role::UnitHandler,
];
/// Roles that may reveal a citizen's clear data, each reveal logged. Unit handlers only for
/// their units' cases, never an accuser and never a hidden identity.
const REVEALERS: &[Role] = &[Role::Admin, Role::Dispatcher, Role::UnitHandler];

/// Intake's policy knobs (`[intake]` in the deployment file).
#[derive(Debug, Clone, Copy)]
pub struct IntakeRules {
    /// A case from the same person about the same matter within this many days is a repeat.
    pub repeat_window_days: i64,
    /// The span of time `received_at` must fall in.
    pub records: caseflow_runtime::time::RecordBounds,
}

#[derive(Clone, Debug)]
pub struct Intake {
    pub(crate) db: Db,
    pub(crate) clock: SharedClock,
    pub(crate) policy: Arc<Policy>,
    pub(crate) vault: Arc<CitizenVault>,
    pub(crate) rules: IntakeRules,
    counts: Option<Counts>,
}

/// What intake counts for `/metrics`.
#[derive(Clone, Debug)]
struct Counts {
    received: caseflow_runtime::metrics::Count,
    retries: caseflow_runtime::metrics::Count,
}

enum Outcome {
    /// The new case as stored, read back in its own transaction.
    Created(Box<(CaseRow, Vec<MatterRow>, Option<store::DecisionRow>)>),
    Existing(Box<CaseRow>),
}

/// Filters of the case list; every one optional.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CaseFilter {
    /// Received at or after, RFC 3339.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Received before, RFC 3339; after `from` when both are given.
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// hotline | petition
    #[param(pattern = "^(hotline|petition)$")]
    pub source: Option<String>,
    /// A hotline or petition channel.
    #[param(pattern = "^(phone|web|app|mini_program|merged_hotline|letter|visit|online_complaint|leader_mailbox)$")]
    pub channel: Option<String>,
    /// A level-2 code, or a level-1 code for all its subcategories.
    pub category: Option<String>,
    /// Hotline kind.
    #[param(pattern = "^(complaint|suggestion|inquiry|help_request)$")]
    pub kind: Option<String>,
    /// received | dispatched | in_triage
    #[param(pattern = "^(received|dispatched|in_triage)$")]
    pub status: Option<String>,
    /// Sub-district code, see GET /v1/taxonomy.
    pub sub_district: Option<String>,
    /// From the previous page's `next_cursor`.
    #[param(pattern = "^[0-9]{1,16}_[0-9a-f-]{1,64}$")]
    pub cursor: Option<String>,
    /// 1 to 500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CasePage {
    pub cases: Vec<CaseView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A citizen's clear data, for a logged reveal.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RevealedCitizen {
    pub case_id: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub id_number: Option<String>,
}

/// One logged reveal.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RevealRecord {
    pub actor: String,
    pub role: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// Roles that may audit who saw a citizen's data.
const AUDITORS: &[Role] = &[Role::Admin, Role::EfficiencyOffice];

/// The 12345 platform's integration reads the hotline's cases only: petitions (accusations among
/// them) are the petition office's.
fn integrator_scope(what: &str) -> Problem {
    Problem::new(ErrorKind::PermissionDenied, format!("the integrator reads hotline cases only; {what}"))
        .with_rule("scope.source")
}

pub const STATUSES: [&str; 7] =
    ["received", "dispatched", "in_triage", "awaiting_decision", "not_accepted", "no_longer_accepted", "forwarded"];

impl Intake {
    pub fn new(db: Db, clock: SharedClock, policy: Arc<Policy>, vault: Arc<CitizenVault>, rules: IntakeRules) -> Self {
        Self { db, clock, policy, vault, rules, counts: None }
    }

    /// Counts cases taken in (by source and kind) and retried inserts on `metrics`.
    pub fn counted(mut self, metrics: &caseflow_runtime::metrics::Metrics) -> Self {
        self.counts = Some(Counts {
            received: metrics.count("caseflow_cases_received", "Cases taken in, by source and kind"),
            retries: metrics.count(
                "caseflow_transaction_retries",
                "Transactions run again after a conflict with a concurrent one, by operation",
            ),
        });
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Takes in a work order exactly once per order number. Returns the case and whether this
    /// call created it.
    #[tracing::instrument(skip_all, fields(caseflow.service = "intake", case_id))]
    pub async fn submit_hotline_order(
        &self,
        principal: &Principal,
        input: OrderInput,
    ) -> Result<(CaseView, bool), IntakeError> {
        principal.require("submit hotline work orders", ORDER_SUBMITTERS)?;
        let case = input.validate(&self.policy, &self.rules.records, self.clock.now()).map_err(IntakeError::Invalid)?;
        self.take_in(principal, case).await
    }

    /// Registers a petition exactly once per petition number.
    #[tracing::instrument(skip_all, fields(caseflow.service = "intake", case_id))]
    pub async fn submit_petition(
        &self,
        principal: &Principal,
        input: PetitionInput,
    ) -> Result<(CaseView, bool), IntakeError> {
        principal.require("register petitions", PETITION_SUBMITTERS)?;
        let case = input.validate(&self.policy, &self.rules.records, self.clock.now()).map_err(IntakeError::Invalid)?;
        self.take_in(principal, case).await
    }

    async fn take_in(&self, principal: &Principal, case: NewCase) -> Result<(CaseView, bool), IntakeError> {
        let now = self.clock.now();
        let fingerprint = case.fingerprint(&self.vault);
        let window = Duration::days(self.rules.repeat_window_days);
        // The same number sent twice at once is settled by the insert (`store::insert_case`: the
        // second waits for the first's commit and answers with its case); any other unique key
        // a concurrent write took first fails the transaction, which runs again with new ids.
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            let (row, matters) = self.rows(&case, &fingerprint, now);
            let actor = principal.name.clone();
            let related = case.related_case_id.clone();
            let decided = case.decision.clone();
            // The same person's hashes under a key being retired (a rotation in progress).
            let previous_keys = (
                case.citizen.phone.as_deref().and_then(|v| self.vault.previous_person_key("phone", v)),
                case.citizen.id_number.as_deref().and_then(|v| self.vault.previous_person_key("id", v)),
            );
            let masked_name = case.citizen.name.as_deref().map(crate::citizen::mask_name).unwrap_or_default();
            let result = self
                .db
                .write(move |c| {
                    // A resend of a number already taken in answers with its case, whatever
                    // else would be said of it now: asked where a rule refuses what the first
                    // send was allowed (its facts concluded since), and otherwise by the insert
                    // itself (`store::insert_case`), so that a new case costs no read for it.
                    let (source, number) = (row.source.clone(), row.external_ref.clone());
                    let resent =
                        |c: &mut AnyConnection, refusal: IntakeError| match store::find_by_ref(c, &source, &number)? {
                            Some(existing) => Ok(Outcome::Existing(Box::new(existing))),
                            None => Err(refusal),
                        };
                    let mut row = row;
                    let first = match related {
                        Some(id) => Some(store::find_case(c, &id)?.ok_or_else(|| {
                            IntakeError::Invalid(vec![FieldViolation::new(
                                "related_case_id",
                                format!("case '{id}' does not exist"),
                            )])
                        })?),
                        None => store::earlier_same_matter(c, &row, &previous_keys, row.received_at - window)?,
                    };
                    if let Some(first) = first {
                        row.repeat_of = Some(first.repeat_of.unwrap_or(first.id));
                        row.is_first = false;
                    }
                    // The facts of a decided 复核 are not accepted again (信访工作条例 第三十六条).
                    let accepted_now = decided.as_ref().is_none_or(|d| d.outcome == "accepted");
                    if row.source == Source::Petition.as_str()
                        && accepted_now
                        && let Some(head) = &row.repeat_of
                        && let Some(concluded) = crate::reviews::concluded(c, head)?
                    {
                        let field = if decided.is_some() { "decision.outcome" } else { "decision" };
                        return resent(
                            c,
                            IntakeError::Invalid(vec![crate::reviews::no_reacceptance(field, &concluded)]),
                        );
                    }
                    let decision = (row.source == Source::Petition.as_str()).then(|| {
                        crate::decisions::at_registration(&row.id, row.received_at.and_utc(), decided.as_ref(), &actor)
                    });
                    if let Some(d) = &decision {
                        row.status = crate::decisions::status_for(&d.outcome).to_owned();
                    }
                    if !store::insert_case(c, &row, &matters)? {
                        let gone = DbError::Unavailable(format!("case number '{number}' is taken and not found"));
                        return resent(c, IntakeError::from(gone));
                    }
                    open_watch_items(c, &row, &actor, now)?;
                    event_log::append(
                        c,
                        now,
                        &row.id,
                        &case_received(&row, &matters, &masked_name, decision.as_ref()),
                    )?;
                    if let Some(d) = &decision {
                        diesel::insert_into(store::petition_decisions::table).values(d).execute(c)?;
                        if d.outcome != "pending" {
                            event_log::append(c, now, &row.id, &crate::decisions::decided_event(d, None))?;
                        }
                    }
                    // The rows as stored: their times are already at the backends' precision
                    // (`rows`), so the answer equals what a later read gives without reading back.
                    Ok::<_, IntakeError>(Outcome::Created(Box::new((row, matters, decision))))
                })
                .await;
            match result {
                Err(IntakeError::Db(DbError::Query(e))) if is_unique_violation(&e) && attempt < 3 => {
                    if let Some(counts) = &self.counts {
                        counts.retries.add_one(&[("operation", "take_in")]);
                    }
                    continue;
                }
                other => break other?,
            }
        };

        match outcome {
            Outcome::Created(created) => {
                let (case_row, matters, decision) = *created;
                let id = case_row.id.clone();
                tracing::Span::current().record("case_id", id.as_str());
                tracing::info!(case_id = %id, source = case.source.as_str(), matters = case.matters.len(), "case taken in");
                if let Some(counts) = &self.counts {
                    counts.received.add_one(&[("source", case.source.as_str()), ("kind", case_row.kind.as_str())]);
                }
                Ok((
                    CaseView::build(case_row, matters, &self.vault, Visibility::Masked)?.with_decision(decision, now),
                    true,
                ))
            }
            Outcome::Existing(existing) => {
                let stored: BTreeMap<String, String> = serde_json::from_str(&existing.fingerprint).unwrap_or_default();
                let mut fields = differing_fields(&stored, &fingerprint);
                // During a key rotation a case not yet rotated holds digests under the old key.
                if let Some(previous) = self.vault.previous().filter(|_| !fields.is_empty()) {
                    let under_previous = differing_fields(&stored, &case.fingerprint(&previous));
                    fields.retain(|f| under_previous.contains(f));
                }
                if !fields.is_empty() {
                    return Err(IntakeError::ChangedResend { number: case.external_ref, case_id: existing.id, fields });
                }
                tracing::Span::current().record("case_id", existing.id.as_str());
                Ok((self.load(&existing.id, Visibility::Masked).await?, false))
            }
        }
    }

    /// A case, as the caller may see it.
    #[tracing::instrument(skip_all, fields(caseflow.service = "intake", case_id = %case_id))]
    pub async fn get_case(&self, principal: &Principal, case_id: &str) -> Result<CaseView, IntakeError> {
        principal.require("read cases", READERS)?;
        let visibility = self.unit_scope(principal, case_id).await?;
        let view = self.load(case_id, visibility).await?;
        if principal.role == Role::Integrator && view.source != "hotline" {
            return Err(integrator_scope(&format!("case '{case_id}' is a {}", view.source)).into());
        }
        Ok(view)
    }

    /// For a unit handler: refuses cases never dispatched to the unit, and hides an accuser.
    async fn unit_scope(&self, principal: &Principal, case_id: &str) -> Result<Visibility, IntakeError> {
        let Some(unit) = principal.unit.clone().filter(|_| principal.role == Role::UnitHandler) else {
            return Ok(Visibility::Masked);
        };
        let id = case_id.to_owned();
        let (dispatched, case) = self
            .db
            .read(move |c| {
                let dispatched = case_units::table
                    .filter(case_units::case_id.eq(&id))
                    .filter(case_units::unit.eq(&unit))
                    .count()
                    .get_result::<i64>(c)?
                    > 0;
                Ok::<_, IntakeError>((dispatched, store::find_case(c, &id)?))
            })
            .await?;
        let case = case.ok_or_else(|| IntakeError::NotFound(case_id.to_owned()))?;
        if !dispatched {
            return Err(Problem::new(
                ErrorKind::PermissionDenied,
                format!(
                    "case '{case_id}' was not dispatched to unit '{}'",
                    principal.unit.as_deref().unwrap_or_default()
                ),
            )
            .with_rule("scope.unit")
            .into());
        }
        Ok(if case.purpose == "accusation" { Visibility::Hidden } else { Visibility::Masked })
    }

    async fn load(&self, case_id: &str, visibility: Visibility) -> Result<CaseView, IntakeError> {
        let id = case_id.to_owned();
        let found = self
            .db
            .read(move |c| {
                let Some(case) = store::find_case(c, &id)? else {
                    return Ok(None);
                };
                let matters = store::matters_of(c, std::slice::from_ref(&id))?;
                let decision = store::decisions_of(c, std::slice::from_ref(&id))?.into_iter().next();
                Ok::<_, IntakeError>(Some((case, matters, decision)))
            })
            .await?;
        let (case, matters, decision) = found.ok_or_else(|| IntakeError::NotFound(case_id.to_owned()))?;
        Ok(CaseView::build(case, matters, &self.vault, visibility)?.with_decision(decision, self.clock.now()))
    }

    /// Cases matching `filter`, oldest first, a page at a time.
    #[tracing::instrument(skip_all, fields(caseflow.service = "intake"))]
    pub async fn list_cases(&self, principal: &Principal, filter: CaseFilter) -> Result<CasePage, IntakeError> {
        principal.require("list cases", READERS)?;
        let mut query = ListQuery::parse(&filter, &self.policy)?;
        if principal.role == Role::Integrator {
            match query.source.as_deref() {
                None | Some("hotline") => query.source = Some("hotline".into()),
                Some(other) => return Err(integrator_scope(&format!("source={other} was asked")).into()),
            }
        }
        let unit = principal.unit.clone().filter(|_| principal.role == Role::UnitHandler);
        let limit = query.limit;
        let is_unit = unit.is_some();
        let (rows, matters, decisions) = self
            .db
            .read(move |c| {
                let mut q = cases::table.select(CaseRow::as_select()).into_boxed();
                if let Some(f) = query.from {
                    q = q.filter(cases::received_at.ge(f));
                }
                if let Some(t) = query.to {
                    q = q.filter(cases::received_at.lt(t));
                }
                if let Some(s) = &query.source {
                    q = q.filter(cases::source.eq(s.clone()));
                }
                if let Some(s) = &query.channel {
                    q = q.filter(cases::channel.eq(s.clone()));
                }
                if let Some(s) = &query.kind {
                    q = q.filter(cases::kind.eq(s.clone()));
                }
                if let Some(s) = &query.status {
                    q = q.filter(cases::status.eq(s.clone()));
                }
                if let Some(s) = &query.sub_district {
                    q = q.filter(cases::sub_district.eq(s.clone()));
                }
                match &query.category {
                    Some(Category::Leaf(code)) => q = q.filter(cases::category.eq(code.clone())),
                    Some(Category::Level1(code)) => q = q.filter(cases::category.like(format!("{code}.%"))),
                    None => {}
                }
                if let Some(unit) = &unit {
                    let ids = case_units::table.filter(case_units::unit.eq(unit.clone())).select(case_units::case_id);
                    q = q.filter(cases::id.eq_any(ids));
                }
                if let Some((t, id)) = &query.after {
                    q = q.filter(cases::received_at.gt(*t).or(cases::received_at.eq(*t).and(cases::id.gt(id.clone()))));
                }
                let rows: Vec<CaseRow> =
                    q.order((cases::received_at.asc(), cases::id.asc())).limit(limit + 1).load(c)?;
                let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
                let matters = store::matters_of(c, &ids)?;
                let decisions = store::decisions_of(c, &ids)?;
                Ok::<_, IntakeError>((rows, matters, decisions))
            })
            .await?;
        let mut decisions: BTreeMap<String, store::DecisionRow> =
            decisions.into_iter().map(|d| (d.case_id.clone(), d)).collect();
        let now = self.clock.now();
        let more = rows.len() as i64 > limit;
        let mut by_case: BTreeMap<String, Vec<MatterRow>> = BTreeMap::new();
        for m in matters {
            by_case.entry(m.case_id.clone()).or_default().push(m);
        }
        let mut cases = Vec::new();
        let mut next_cursor = None;
        for row in rows.into_iter().take(usize::try_from(limit).unwrap_or(usize::MAX)) {
            next_cursor = Some(format!("{}_{}", row.received_at.and_utc().timestamp_micros(), row.id));
            let visibility =
                if is_unit && row.purpose == "accusation" { Visibility::Hidden } else { Visibility::Masked };
            let matters = by_case.remove(&row.id).unwrap_or_default();
            let decision = decisions.remove(&row.id);
            cases.push(CaseView::build(row, matters, &self.vault, visibility)?.with_decision(decision, now));
        }
        Ok(CasePage { cases, next_cursor: next_cursor.filter(|_| more) })
    }

    /// The citizen's clear data, for a role that may see it; logged with who and why.
    #[tracing::instrument(skip_all, fields(caseflow.service = "intake", case_id = %case_id, actor = %principal.name))]
    pub async fn reveal_citizen(
        &self,
        principal: &Principal,
        case_id: &str,
        reason: &str,
    ) -> Result<RevealedCitizen, IntakeError> {
        principal.require("reveal citizen data", REVEALERS)?;
        let reason = reason.trim().to_owned();
        let chars = reason.chars().count();
        if !(4..=500).contains(&chars) {
            return Err(IntakeError::Invalid(vec![FieldViolation::new(
                "reason",
                "is required: say why the citizen's data is needed (4 to 500 characters); every reveal is logged",
            )]));
        }
        if principal.role == Role::UnitHandler {
            let visibility = self.unit_scope(principal, case_id).await?;
            let id = case_id.to_owned();
            let case = self.db.read(move |c| store::find_case(c, &id).map_err(IntakeError::from)).await?;
            if visibility == Visibility::Hidden || case.as_ref().is_some_and(|c| c.hide_identity) {
                return Err(Problem::new(
                    ErrorKind::PermissionDenied,
                    "the citizen's identity is withheld from handling units (hidden identity, or an accuser: 信访工作条例 第三十条)",
                )
                .with_rule("privacy.withheld")
                .into());
            }
        }
        let now = self.clock.now();
        let (id, actor, role, why) = (case_id.to_owned(), principal.name.clone(), principal.role, reason.clone());
        let case = self
            .db
            .write(move |c| {
                let case = store::find_case(c, &id)?.ok_or_else(|| IntakeError::NotFound(id.clone()))?;
                diesel::insert_into(citizen_reveals::table)
                    .values((
                        citizen_reveals::id.eq(uuid::Uuid::now_v7().to_string()),
                        citizen_reveals::case_id.eq(&id),
                        citizen_reveals::actor.eq(&actor),
                        citizen_reveals::role.eq(role.as_str()),
                        citizen_reveals::reason.eq(&why),
                        citizen_reveals::at.eq(now.naive_utc()),
                    ))
                    .execute(c)?;
                Ok::<_, IntakeError>(case)
            })
            .await?;
        tracing::info!(case_id = %case_id, actor = %principal.name, role = %principal.role, "citizen data revealed");
        let open = |v: &Option<String>| v.as_deref().map(|e| self.vault.decrypt(e)).transpose();
        Ok(RevealedCitizen {
            case_id: case.id.clone(),
            name: open(&case.citizen_name_enc)?,
            phone: open(&case.citizen_phone_enc)?,
            id_number: open(&case.citizen_id_enc)?,
        })
    }

    /// Who revealed a case's citizen data, when and why, oldest first.
    pub async fn reveal_log(&self, principal: &Principal, case_id: &str) -> Result<Vec<RevealRecord>, IntakeError> {
        principal.require("audit reveals", AUDITORS)?;
        let id = case_id.to_owned();
        let rows: Vec<(String, String, String, chrono::NaiveDateTime)> = self
            .db
            .read(move |c| {
                store::find_case(c, &id)?.ok_or_else(|| IntakeError::NotFound(format!("case {id}")))?;
                Ok::<_, IntakeError>(
                    citizen_reveals::table
                        .filter(citizen_reveals::case_id.eq(&id))
                        .order((citizen_reveals::at.asc(), citizen_reveals::id.asc()))
                        .select((
                            citizen_reveals::actor,
                            citizen_reveals::role,
                            citizen_reveals::reason,
                            citizen_reveals::at,
                        ))
                        .load(c)?,
                )
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(actor, role, reason, at)| RevealRecord { actor, role, reason, at: at.and_utc() })
            .collect())
    }

    fn rows(
        &self,
        case: &NewCase,
        fingerprint: &BTreeMap<String, String>,
        now: DateTime<Utc>,
    ) -> (CaseRow, Vec<MatterRow>) {
        let id = uuid::Uuid::now_v7().to_string();
        let citizen = &case.citizen;
        let phone_key = citizen.phone.as_deref().map(|v| self.vault.person_key("phone", v));
        let id_key = citizen.id_number.as_deref().map(|v| self.vault.person_key("id", v));
        let row = CaseRow {
            id: id.clone(),
            source: case.source.as_str().to_owned(),
            external_ref: case.external_ref.clone(),
            channel: case.channel.clone(),
            kind: case.kind.clone(),
            purpose: case.purpose.clone(),
            accused_unit: case.accused_unit.clone(),
            category: case.category.clone(),
            content: case.content.clone(),
            sub_district: case.sub_district.clone(),
            address: case.address.clone(),
            latitude: case.coordinates.map(|c| c.0),
            longitude: case.coordinates.map(|c| c.1),
            // Microseconds, as PostgreSQL keeps them (SQLite keeps what it is given): the
            // answer is built from these rows without reading them back.
            received_at: case.received_at.naive_utc().trunc_subsecs(6),
            recorded_at: now.naive_utc().trunc_subsecs(6),
            anonymous: citizen.anonymous,
            hide_identity: citizen.hide_identity,
            citizen_name_enc: citizen.name.as_deref().map(|v| self.vault.encrypt(v)),
            citizen_phone_enc: citizen.phone.as_deref().map(|v| self.vault.encrypt(v)),
            citizen_id_enc: citizen.id_number.as_deref().map(|v| self.vault.encrypt(v)),
            person_key: phone_key.clone().or_else(|| id_key.clone()),
            phone_key,
            id_key,
            visit_batches: case.visit_batches,
            visit_persons: case.visit_persons,
            joint_signers: case.joint_signers,
            collective: case.is_collective_visit(),
            single_visit: case.single_visit,
            is_first: true,
            repeat_of: None,
            status: "received".to_owned(),
            fingerprint: serde_json::to_string(fingerprint).unwrap_or_default(),
        };
        let matters = case
            .matters
            .iter()
            .enumerate()
            .map(|(i, m)| MatterRow {
                id: format!("{id}-m{}", i + 1),
                case_id: id.clone(),
                ordinal: i32::try_from(i + 1).unwrap_or(i32::MAX),
                category: m.category.clone(),
                summary: m.summary.clone(),
                target_unit: m.target_unit.clone(),
            })
            .collect();
        (row, matters)
    }
}

/// Puts collective visits, joint letters and repeat visits on the watch ledger.
fn open_watch_items(
    c: &mut caseflow_runtime::AnyConnection,
    row: &CaseRow,
    actor: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let at = now.naive_utc();
    if row.collective {
        let persons = row.visit_persons.unwrap_or_default();
        store::open_watch_item(c, &row.id, "collective_visit", &format!("集体访: {persons} persons"), actor, at)?;
    }
    if let Some(signers) = row.joint_signers {
        store::open_watch_item(c, &row.id, "joint_letter", &format!("联名信: {signers} signers"), actor, at)?;
    }
    if row.channel == "visit" && !row.is_first {
        store::open_watch_item(c, &row.id, "repeat_visit", "重复访", actor, at)?;
    }
    Ok(())
}

enum Category {
    Leaf(String),
    Level1(String),
}

struct ListQuery {
    from: Option<chrono::NaiveDateTime>,
    to: Option<chrono::NaiveDateTime>,
    source: Option<String>,
    channel: Option<String>,
    kind: Option<String>,
    status: Option<String>,
    sub_district: Option<String>,
    category: Option<Category>,
    after: Option<(chrono::NaiveDateTime, String)>,
    limit: i64,
}

impl ListQuery {
    fn parse(f: &CaseFilter, policy: &Policy) -> Result<Self, IntakeError> {
        let mut errors = Vec::new();
        let mut time = |name: &str, v: &Option<String>| {
            v.as_deref().filter(|s| !s.is_empty()).and_then(|raw| match DateTime::parse_from_rfc3339(raw) {
                Ok(t) => Some(t.with_timezone(&Utc).naive_utc()),
                Err(_) => {
                    errors.push(FieldViolation::new(
                        name,
                        "must be RFC 3339 with offset, e.g. 2020-01-01T00:00:00+08:00",
                    ));
                    None
                }
            })
        };
        let from = time("from", &f.from);
        let to = time("to", &f.to);
        let mut one_of = |name: &str, v: &Option<String>, allowed: &[&str]| {
            let v = v.as_deref().filter(|s| !s.is_empty())?;
            if !allowed.contains(&v) {
                errors.push(FieldViolation::new(name, format!("'{v}' is not one of {}", allowed.join(", "))));
            }
            Some(v.to_owned())
        };
        let source = one_of("source", &f.source, &["hotline", "petition"]);
        let mut channels = crate::validate::HOTLINE_CHANNELS.to_vec();
        channels.extend(crate::validate::PETITION_CHANNELS);
        let channel = one_of("channel", &f.channel, &channels);
        let kind = one_of("kind", &f.kind, &crate::validate::KINDS);
        let status = one_of("status", &f.status, &STATUSES);
        let sub_district = f.sub_district.as_deref().filter(|s| !s.is_empty()).map(|s| {
            if let Err(rule) = policy.check_sub_district(s) {
                errors.push(FieldViolation::new("sub_district", rule));
            }
            s.to_owned()
        });
        let category = f.category.as_deref().filter(|s| !s.is_empty()).map(|code| match policy.check_category(code) {
            Ok(()) => Category::Leaf(code.to_owned()),
            Err(_) if policy.taxonomy.categories.iter().any(|c| c.code == code) => Category::Level1(code.to_owned()),
            Err(rule) => {
                errors.push(FieldViolation::new("category", rule));
                Category::Leaf(code.to_owned())
            }
        });
        let after = f.cursor.as_deref().filter(|s| !s.is_empty()).and_then(|cursor| {
            let parsed = cursor.split_once('_').and_then(|(micros, id)| {
                let t = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
                Some((t.naive_utc(), id.to_owned()))
            });
            if parsed.is_none() {
                errors.push(FieldViolation::new("cursor", "is not a cursor this API returned"));
            }
            parsed
        });
        let limit = f.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            errors.push(FieldViolation::new("limit", "must be 1 to 500"));
        }
        if let (Some(a), Some(b)) = (from, to)
            && a >= b
        {
            errors.push(FieldViolation::new("to", "must be after from (the period is [from, to))"));
        }
        if !errors.is_empty() {
            return Err(IntakeError::Invalid(errors));
        }
        Ok(Self { from, to, source, channel, kind, status, sub_district, category, after, limit })
    }
}

/// The event routing and reporting consume: everything they need, and no clear-text personal
/// data (the person key is a keyed hash).
fn case_received(
    case: &CaseRow,
    matters: &[MatterRow],
    masked_name: &str,
    decision: Option<&store::DecisionRow>,
) -> pb::IntakeEvent {
    let received = match decision {
        Some(d) => case_received_message(case, matters, masked_name, d),
        None => hotline_received(case, matters, masked_name),
    };
    pb::IntakeEvent { kind: Some(pb::intake_event::Kind::CaseReceived(received)) }
}

/// A petition's `CaseReceived`, saying the office's decision at registration.
pub(crate) fn case_received_message(
    case: &CaseRow,
    matters: &[MatterRow],
    masked_name: &str,
    decision: &store::DecisionRow,
) -> pb::CaseReceived {
    pb::CaseReceived { decision: decision.outcome.clone(), ..hotline_received(case, matters, masked_name) }
}

fn hotline_received(case: &CaseRow, matters: &[MatterRow], masked_name: &str) -> pb::CaseReceived {
    let source =
        if case.source == Source::Petition.as_str() { pb::CaseSource::Petition } else { pb::CaseSource::Hotline };
    {
        pb::CaseReceived {
            case_id: case.id.clone(),
            source: source as i32,
            external_ref: case.external_ref.clone(),
            received_at: Some(time::to_proto(case.received_at.and_utc())),
            channel: case.channel.clone(),
            kind: pb::CaseKind::from_code(&case.kind) as i32,
            category: case.category.clone(),
            location: Some(pb::Location {
                sub_district: case.sub_district.clone(),
                address: case.address.clone(),
                lat: case.latitude,
                lon: case.longitude,
            }),
            matters: matters
                .iter()
                .map(|m| pb::ReceivedMatter {
                    matter_id: m.id.clone(),
                    ordinal: m.ordinal,
                    category: m.category.clone(),
                    target_unit: m.target_unit.clone().unwrap_or_default(),
                    summary: m.summary.clone(),
                })
                .collect(),
            anonymous: case.anonymous,
            purpose: case.purpose.clone(),
            accused_unit: case.accused_unit.clone().unwrap_or_default(),
            single_visit: case.single_visit,
            is_first: case.is_first,
            repeat_of: case.repeat_of.clone().unwrap_or_default(),
            person_key: case.person_key.clone().unwrap_or_default(),
            visit_batches: case.visit_batches.unwrap_or_default(),
            visit_persons: case.visit_persons.unwrap_or_default(),
            collective: case.collective,
            joint_signers: case.joint_signers.unwrap_or_default(),
            hide_identity: case.hide_identity,
            citizen_masked_name: if case.anonymous || case.hide_identity {
                String::new()
            } else {
                masked_name.to_owned()
            },
            decision: String::new(),
            accepted_at: None,
        }
    }
}
