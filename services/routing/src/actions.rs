//! Routing's actions: the unit handler's (acknowledge, land, reply, ask to return or extend,
//! file the case analysis) and the dispatcher's (review, resolve, decide returns and
//! extensions, designate, transfer, assign from triage, add assisting units, supervise), plus
//! re-handling after an unsatisfied rating and unit succession.

use caseflow_runtime::{FieldViolation, Principal, Role};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::calendar::{DeadlineSpec, days_between};
use crate::catalog::MatterFacts;
use crate::dispatching::{
    Via, active_unit, class, close_dispatch, load_dispatch, load_matter, open_dispatch, save_dispatch, save_matter,
};
use crate::error::RoutingError;
use crate::inputs::{
    Decision, ExtensionInput, LandInput, ReturnInput, ReviewInput, TextInput, UnitChoice, UnitSuccession,
};
use crate::lifecycle::{self, Action, CONTACT_METHODS, ReturnFacts, State};
use crate::record::{Change, record, with_field};
use crate::service::{DISPATCHERS, DispatchView, Routing, view};
use crate::store::{
    DispatchRow, ExtensionRow, MatterRow, ReturnRow, SupervisionRow, dispatches, extensions, return_requests,
    supervisions, units,
};
use crate::suggest::advice::{self, HistoryNote};
use crate::suggest::features::Traits;

const REHANDLE_REQUESTERS: &[Role] = &[Role::Service, Role::Dispatcher, Role::Admin];
const UNIT_ADMINS: &[Role] = &[Role::Admin];

fn text(field: &str, v: &str, max: usize) -> Result<String, RoutingError> {
    let t = v.trim();
    let n = t.chars().count();
    if n == 0 || n > max {
        return Err(RoutingError::field(field, format!("is required, 1 to {max} characters")));
    }
    Ok(t.to_owned())
}

fn instant(field: &str, raw: &str) -> Result<DateTime<Utc>, RoutingError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| RoutingError::field(field, "must be RFC 3339 with offset, e.g. 2020-03-02T10:00:00+08:00"))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReturnView {
    pub return_id: String,
    pub dispatch_id: String,
    pub matter_id: String,
    pub unit: String,
    pub proposed_unit: String,
    pub reason_code: String,
    /// pending | approved | rejected
    pub status: String,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    pub wrongful: bool,
    pub days_cost: Option<f64>,
    /// After an approval: the dispatch the matter went to.
    pub next_dispatch: Option<DispatchView>,
    /// What history said of the proposed unit when the return was asked (from the suggester's
    /// model then in use; absent before any model was trained or when no unit was proposed).
    pub proposed_unit_history: Option<HistoryNote>,
}

fn return_view(r: &ReturnRow, next: Option<DispatchView>) -> ReturnView {
    ReturnView {
        return_id: r.id.clone(),
        dispatch_id: r.dispatch_id.clone(),
        matter_id: r.matter_id.clone(),
        unit: r.unit.clone(),
        proposed_unit: r.proposed_unit.clone(),
        reason_code: r.reason_code.clone(),
        status: r.status.clone(),
        decided_by: r.decided_by.clone(),
        decision_reason: r.decision_reason.clone(),
        wrongful: r.wrongful,
        days_cost: r.days_cost,
        next_dispatch: next,
        proposed_unit_history: r.proposed_history.as_deref().and_then(|h| serde_json::from_str(h).ok()),
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExtensionView {
    pub extension_id: String,
    pub dispatch_id: String,
    pub days: i32,
    /// pending | approved | refused
    pub status: String,
    pub resolve_deadline: DateTime<Utc>,
}

enum Outcome<T> {
    Done(T),
    /// Committed, and still a refusal for the caller (the cap sent the matter to arbitration).
    Refused(RoutingError),
}

impl Routing {
    // ---- the unit handler ----

    pub async fn acknowledge(&self, p: &Principal, dispatch_id: &str) -> Result<DispatchView, RoutingError> {
        self.act(p, dispatch_id, Action::Acknowledge, true, |ctx, _m, d| {
            d.acknowledged_at = Some(ctx.now.naive_utc());
            Ok(Change { reason: "viewed by the unit".into(), ..Change::default() })
        })
        .await
    }

    pub async fn land(&self, p: &Principal, dispatch_id: &str, input: LandInput) -> Result<DispatchView, RoutingError> {
        let at = instant("at", &input.at)?;
        if !CONTACT_METHODS.contains(&input.method.as_str()) {
            return Err(RoutingError::field(
                "method",
                format!("'{}' is not one of {}", input.method, CONTACT_METHODS.join(", ")),
            ));
        }
        self.act(p, dispatch_id, Action::Land, true, move |ctx, _m, d| {
            if at > ctx.now || at.naive_utc() < d.dispatched_at {
                return Err(RoutingError::field("at", "must lie between the dispatch and now"));
            }
            d.landed_at = Some(at.naive_utc());
            d.landing_method = Some(input.method.clone());
            let evidence =
                serde_json::json!({"at": at.to_rfc3339(), "method": input.method, "note": input.note}).to_string();
            Ok(Change { reason: format!("landed by {}", input.method), evidence, ..Change::default() })
        })
        .await
    }

    pub async fn reply(
        &self,
        p: &Principal,
        dispatch_id: &str,
        input: TextInput,
    ) -> Result<DispatchView, RoutingError> {
        let reply = text("text", &input.text, 4000)?;
        self.act(p, dispatch_id, Action::Reply, true, move |ctx, _m, d| {
            d.replied_at = Some(ctx.now.naive_utc());
            d.reply = Some(reply);
            Ok(Change {
                reason: if d.role == "assist" {
                    "assisting unit's input to the lead".into()
                } else {
                    "reply to the citizen".into()
                },
                ..Change::default()
            })
        })
        .await
    }

    /// 一事一分析: the analysis a single-visit matter needs before it can be resolved.
    pub async fn file_case_analysis(
        &self,
        p: &Principal,
        dispatch_id: &str,
        input: TextInput,
    ) -> Result<DispatchView, RoutingError> {
        let analysis = text("text", &input.text, 4000)?;
        self.act(p, dispatch_id, Action::FileCaseAnalysis, true, move |ctx, m, _d| {
            m.case_analysis = Some(analysis);
            save_matter(ctx.c, m)?;
            Ok(Change { reason: "case analysis (一事一分析) filed".into(), ..Change::default() })
        })
        .await
    }

    /// Asks to return a dispatch. Refused outside the window, without evidence, for a designated
    /// unit, or past the cap (which sends the matter to arbitration); rejected at once when the
    /// catalog names the returning unit.
    pub async fn request_return(
        &self,
        p: &Principal,
        dispatch_id: &str,
        input: ReturnInput,
    ) -> Result<ReturnView, RoutingError> {
        let (rules, now, principal, id) = (self.rules.clone(), self.clock.now(), p.clone(), dispatch_id.to_owned());
        let return_id = caseflow_runtime::idempotency::record_id("return");
        let model = self.suggester.current();
        let outcome = self
            .db
            .write(move |c| -> Result<Outcome<ReturnView>, RoutingError> {
                let d = load_dispatch(c, &id)?;
                crate::service::check_unit_scope(&principal, &d)?;
                let mut m = load_matter(c, &d.matter_id)?;
                let state = State::parse(&d.state).unwrap_or(State::Dispatched);
                lifecycle::transition(state, Action::RequestReturn)?;
                let pending = return_requests::table
                    .filter(return_requests::dispatch_id.eq(&d.id))
                    .filter(return_requests::status.eq("pending"))
                    .count()
                    .get_result::<i64>(c)?
                    > 0;
                let facts = ReturnFacts {
                    now,
                    dispatched_at: d.dispatched_at.and_utc(),
                    window_ends: d.return_deadline.and_utc(),
                    designated: d.via == "designation",
                    role_is_lead: d.role == "lead",
                    anonymous: m.anonymous,
                    approved_returns: m.approved_returns,
                    cap: rules.policy.returns.cap,
                    pending_request: pending,
                };
                if let Err(problem) = lifecycle::check_return_allowed(&facts) {
                    if problem.rule.as_deref() == Some("return.cap") && m.state != "arbitration" {
                        // Rule 5: past the cap the matter goes to arbitration; the refusal stands.
                        let from = std::mem::replace(&mut m.state, "arbitration".into());
                        save_matter(c, &mut m)?;
                        // A change of the matter, not of the dispatch: logged without one.
                        record(
                            c,
                            now,
                            &m,
                            None,
                            Change {
                                action: "arbitration",
                                from,
                                to: "arbitration".into(),
                                actor: principal.name.clone(),
                                reason: format!("return cap of {} reached; a dispatcher designates the unit", rules.policy.returns.cap),
                                ..Change::default()
                            },
                        )?;
                        return Ok(Outcome::Refused(problem.into()));
                    }
                    return Err(problem.into());
                }
                let evidence = check_evidence(c, &rules, &m, &d, &input, now)?;
                let facts_for_catalog = MatterFacts {
                    category: &m.category,
                    summary: &m.summary,
                    sub_district: &m.sub_district,
                    on: m.case_received_at.and_utc().with_timezone(&caseflow_runtime::clock::district_offset()).date_naive(),
                };
                let owner = rules.catalog.responsible(&facts_for_catalog).filter(|e| e.unit == d.unit).map(|e| e.id.clone());
                let mut row = ReturnRow {
                    id: return_id,
                    dispatch_id: d.id.clone(),
                    matter_id: m.matter_id.clone(),
                    unit: d.unit.clone(),
                    reason_code: input.reason_code.clone(),
                    reason: input.reason.trim().to_owned(),
                    proposed_unit: input.proposed_unit.trim().to_owned(),
                    basis: evidence.basis.clone(),
                    contact: evidence.contact.clone(),
                    requested_at: now.naive_utc(),
                    status: "pending".into(),
                    decided_by: None,
                    decided_at: None,
                    decision_reason: None,
                    wrongful: false,
                    days_cost: None,
                    proposed_history: None,
                };
                let mut evidence_json = serde_json::json!({"basis": evidence.basis, "contact": serde_json::from_str::<serde_json::Value>(&evidence.contact).unwrap_or_default()}).to_string();
                // The dispatcher who decides sees what history says of the proposed unit.
                let proposed = model.as_deref().filter(|_| !row.proposed_unit.is_empty()).map(|model| {
                    advice::about(model, &Traits::of(&m), &rules.registry, &row.proposed_unit)
                });
                if let Some(note) = &proposed {
                    row.proposed_history = serde_json::to_string(note).ok();
                    evidence_json = with_field(&evidence_json, "proposed_unit_history", note);
                }
                record(
                    c,
                    now,
                    &m,
                    Some(&d),
                    Change {
                        action: "return_request",
                        from: d.state.clone(),
                        to: d.state.clone(),
                        actor: principal.name.clone(),
                        reason: format!("{}: {}", row.reason_code, row.reason),
                        evidence: evidence_json,
                        return_id: row.id.clone(),
                        proposed_unit: row.proposed_unit.clone(),
                        suggester: proposed.as_ref().map(HistoryNote::to_proto),
                        ..Change::default()
                    },
                )?;
                if let Some(entry) = owner {
                    // Rule 3: the catalog names the returning unit, so the return is rejected.
                    row.status = "rejected".into();
                    row.decided_by = Some("system:routing".into());
                    row.decided_at = Some(now.naive_utc());
                    row.decision_reason = Some(format!("catalog entry {entry} names {} for this matter", d.unit));
                    record(
                        c,
                        now,
                        &m,
                        Some(&d),
                        Change {
                            action: "return_reject",
                            from: d.state.clone(),
                            to: d.state.clone(),
                            actor: "system:routing".into(),
                            reason: row.decision_reason.clone().unwrap_or_default(),
                            return_id: row.id.clone(),
                            proposed_unit: row.proposed_unit.clone(),
                            ..Change::default()
                        },
                    )?;
                }
                diesel::insert_into(return_requests::table).values(&row).execute(c)?;
                Ok(Outcome::Done(return_view(&row, None)))
            })
            .await?;
        match outcome {
            Outcome::Done(v) => Ok(v),
            Outcome::Refused(e) => Err(e),
        }
    }

    pub async fn request_extension(
        &self,
        p: &Principal,
        dispatch_id: &str,
        input: ExtensionInput,
    ) -> Result<ExtensionView, RoutingError> {
        let reason = text("reason", &input.reason, 1000)?;
        let progress = text("progress", &input.progress, 2000)?;
        let extension_id = caseflow_runtime::idempotency::record_id("extension");
        let (rules, now, principal, id) = (self.rules.clone(), self.clock.now(), p.clone(), dispatch_id.to_owned());
        self.db
            .write(move |c| {
                let d = load_dispatch(c, &id)?;
                crate::service::check_unit_scope(&principal, &d)?;
                let m = load_matter(c, &d.matter_id)?;
                lifecycle::transition(State::parse(&d.state).unwrap_or(State::Dispatched), Action::RequestExtension)?;
                let (cap, _) = rules.policy.extension_cap(class(&m));
                if m.extensions >= i32::try_from(cap.max_count).unwrap_or(i32::MAX) {
                    return Err(RoutingError::rule(
                        "extension.cap",
                        format!(
                            "extension refused: this matter may be extended {} time(s) and was extended {}",
                            cap.max_count, m.extensions
                        ),
                    ));
                }
                if input.days < 1 || input.days > i32::try_from(cap.max_days).unwrap_or(i32::MAX) {
                    return Err(RoutingError::field("days", format!("must be 1 to {} for this matter", cap.max_days)));
                }
                if now >= m.resolve_deadline.and_utc() {
                    return Err(RoutingError::rule(
                        "extension.late",
                        "extension refused: it must be asked before the deadline passes",
                    ));
                }
                let pending = extensions::table
                    .filter(extensions::matter_id.eq(&m.matter_id))
                    .filter(extensions::status.eq("pending"))
                    .count()
                    .get_result::<i64>(c)?
                    > 0;
                if pending {
                    return Err(RoutingError::rule("extension.pending", "an extension request is already pending"));
                }
                let row = ExtensionRow {
                    id: extension_id,
                    dispatch_id: d.id.clone(),
                    matter_id: m.matter_id.clone(),
                    days: input.days,
                    reason: reason.clone(),
                    progress: progress.clone(),
                    requested_at: now.naive_utc(),
                    status: "pending".into(),
                    decided_by: None,
                    decided_at: None,
                    decision_reason: None,
                };
                diesel::insert_into(extensions::table).values(&row).execute(c)?;
                record(
                    c,
                    now,
                    &m,
                    Some(&d),
                    Change {
                        action: "extension_request",
                        from: d.state.clone(),
                        to: d.state.clone(),
                        actor: principal.name.clone(),
                        reason,
                        evidence: serde_json::json!({"progress": progress}).to_string(),
                        extension_days: input.days,
                        ..Change::default()
                    },
                )?;
                Ok(ExtensionView {
                    extension_id: row.id,
                    dispatch_id: d.id,
                    days: row.days,
                    status: row.status,
                    resolve_deadline: m.resolve_deadline.and_utc(),
                })
            })
            .await
    }

    /// A matter's return requests, oldest first, with their outcome (wrongful ones included).
    pub async fn matter_returns(&self, p: &Principal, matter_id: &str) -> Result<Vec<ReturnView>, RoutingError> {
        p.require("read return requests", &[Role::Dispatcher, Role::Admin, Role::EfficiencyOffice, Role::Service])?;
        let id = matter_id.to_owned();
        self.db
            .read(move |c| {
                load_matter(c, &id)?;
                let rows: Vec<ReturnRow> = return_requests::table
                    .filter(return_requests::matter_id.eq(&id))
                    .order((return_requests::requested_at.asc(), return_requests::id.asc()))
                    .select(ReturnRow::as_select())
                    .load(c)?;
                Ok(rows.iter().map(|r| return_view(r, None)).collect())
            })
            .await
    }

    // ---- the dispatcher ----

    pub async fn review(
        &self,
        p: &Principal,
        dispatch_id: &str,
        input: ReviewInput,
    ) -> Result<DispatchView, RoutingError> {
        let action = if input.accept { Action::ReviewAccept } else { Action::ReviewSendBack };
        let reason = if input.accept { input.reason.trim().to_owned() } else { text("reason", &input.reason, 1000)? };
        self.act(p, dispatch_id, action, false, move |ctx, _m, d| {
            if d.role != "lead" {
                return Err(RoutingError::rule("review.lead", "only the lead unit's combined reply is reviewed"));
            }
            if input.accept {
                d.reviewed_at = Some(ctx.now.naive_utc());
            }
            Ok(Change { reason: if reason.is_empty() { "reply accepted".into() } else { reason }, ..Change::default() })
        })
        .await
    }

    /// Resolves the matter with the lead's reviewed reply. A single-visit matter needs its case
    /// analysis first. Returns the resolving unit made earlier are judged wrongful (rule 7).
    pub async fn resolve(&self, p: &Principal, dispatch_id: &str) -> Result<DispatchView, RoutingError> {
        self.act(p, dispatch_id, Action::Resolve, false, |ctx, m, d| {
            if d.role != "lead" {
                return Err(RoutingError::rule("resolve.lead", "only the lead unit's dispatch resolves the matter"));
            }
            if m.single_visit && m.case_analysis.is_none() {
                return Err(RoutingError::rule(
                    "resolve.case_analysis",
                    "a single-visit (最多投一次) matter cannot be resolved before its case analysis (一事一分析) is filed",
                ));
            }
            d.resolved_at = Some(ctx.now.naive_utc());
            m.state = "resolved".into();
            m.resolved_at = Some(ctx.now.naive_utc());
            save_matter(ctx.c, m)?;
            // The assisting units' part ends with the lead's.
            let assists: Vec<DispatchRow> = dispatches::table
                .filter(dispatches::matter_id.eq(&m.matter_id))
                .filter(dispatches::role.eq("assist"))
                .filter(dispatches::closed_at.is_null())
                .select(DispatchRow::as_select())
                .load(ctx.c)?;
            for mut a in assists {
                let from = a.state.clone();
                a.state = State::Resolved.as_str().into();
                a.resolved_at = Some(ctx.now.naive_utc());
                save_dispatch(ctx.c, &mut a)?;
                record(
                    ctx.c,
                    ctx.now,
                    m,
                    Some(&a),
                    Change { action: "resolve", from, to: a.state.clone(), actor: ctx.actor.clone(), reason: "resolved with the lead's reply".into(), ..Change::default() },
                )?;
            }
            let wrongful = judge_wrongful_returns(ctx.c, m, d)?;
            let held = (ctx.now.naive_utc() - d.dispatched_at).num_seconds().max(0);
            Ok(Change { reason: "resolved".into(), held_seconds: held, wrongful_returns: wrongful, ..Change::default() })
        })
        .await
    }

    /// Re-opens a resolved dispatch for re-handling (重办), after an unsatisfied rating.
    pub async fn rehandle(
        &self,
        p: &Principal,
        dispatch_id: &str,
        input: TextInput,
    ) -> Result<DispatchView, RoutingError> {
        p.require("ask for re-handling", REHANDLE_REQUESTERS)?;
        let reason = text("text", &input.text, 1000)?;
        let principal = Principal { role: Role::Dispatcher, ..p.clone() };
        self.act(&principal, dispatch_id, Action::Rehandle, false, move |ctx, m, d| {
            if d.role != "lead" {
                return Err(RoutingError::rule("rehandle.lead", "re-handling re-opens the lead unit's dispatch"));
            }
            d.resolved_at = None;
            d.reviewed_at = None;
            m.state = "open".into();
            m.resolved_at = None;
            save_matter(ctx.c, m)?;
            Ok(Change { reason, ..Change::default() })
        })
        .await
    }

    pub async fn decide_return(
        &self,
        p: &Principal,
        return_id: &str,
        decision: Decision,
    ) -> Result<ReturnView, RoutingError> {
        p.require("decide returns", DISPATCHERS)?;
        let reason = text("reason", &decision.reason, 1000)?;
        let (rules, now, actor, id) = (self.rules.clone(), self.clock.now(), p.name.clone(), return_id.to_owned());
        self.db
            .write(move |c| {
                let mut r: ReturnRow = return_requests::table
                    .find(&id)
                    .select(ReturnRow::as_select())
                    .first(c)
                    .optional()?
                    .ok_or_else(|| RoutingError::NotFound(format!("return request '{id}'")))?;
                if r.status != "pending" {
                    return Err(RoutingError::rule(
                        "return.decided",
                        format!("return request '{id}' was already {}", r.status),
                    ));
                }
                let mut d = load_dispatch(c, &r.dispatch_id)?;
                let mut m = load_matter(c, &r.matter_id)?;
                r.decided_by = Some(actor.clone());
                r.decided_at = Some(now.naive_utc());
                r.decision_reason = Some(reason.clone());
                if !decision.approve {
                    r.status = "rejected".into();
                    decide_pending_return(c, &r)?;
                    record(
                        c,
                        now,
                        &m,
                        Some(&d),
                        Change {
                            action: "return_reject",
                            from: d.state.clone(),
                            to: d.state.clone(),
                            actor,
                            reason,
                            return_id: r.id.clone(),
                            proposed_unit: r.proposed_unit.clone(),
                            ..Change::default()
                        },
                    )?;
                    return Ok(return_view(&r, None));
                }
                if !State::parse(&d.state).is_some_and(State::is_open) {
                    return Err(RoutingError::rule(
                        "return.closed",
                        format!("dispatch '{}' is {} and can no longer be returned", d.id, d.state),
                    ));
                }
                let target =
                    decision.unit.clone().filter(|u| !u.trim().is_empty()).unwrap_or_else(|| r.proposed_unit.clone());
                r.status = "approved".into();
                decide_pending_return(c, &r)?;
                m.approved_returns += 1;
                close_dispatch(c, &m, &mut d, State::Returned, &actor, reason.clone(), now)?;
                let next = open_dispatch(
                    c,
                    &rules,
                    &mut m,
                    &target,
                    Via::Return,
                    &actor,
                    format!("after {}'s approved return: {reason}", r.unit),
                    serde_json::json!({"return_id": r.id}).to_string(),
                    now,
                )?;
                Ok(return_view(&r, Some(view(&next, &m, now))))
            })
            .await
    }

    /// Arbitration: a dispatcher designates the unit, with the reason and the basis. The
    /// designated unit cannot return the matter, and may be one that returned it before.
    pub async fn designate(
        &self,
        p: &Principal,
        matter_id: &str,
        choice: UnitChoice,
    ) -> Result<DispatchView, RoutingError> {
        p.require("designate units", DISPATCHERS)?;
        let reason = text("reason", &choice.reason, 1000)?;
        let basis = text("basis", &choice.basis, 1000)?;
        let (rules, now, actor, id) = (self.rules.clone(), self.clock.now(), p.name.clone(), matter_id.to_owned());
        self.db
            .write(move |c| {
                let mut m = load_matter(c, &id)?;
                if m.state != "arbitration" {
                    return Err(RoutingError::rule(
                        "designate.arbitration",
                        format!(
                            "matter '{id}' is {}; designation settles arbitration only (transfer or assign instead)",
                            m.state
                        ),
                    ));
                }
                let open: Vec<DispatchRow> = dispatches::table
                    .filter(dispatches::matter_id.eq(&id))
                    .filter(dispatches::closed_at.is_null())
                    .filter(dispatches::state.ne(State::Resolved.as_str()))
                    .select(DispatchRow::as_select())
                    .load(c)?;
                for mut d in open {
                    close_dispatch(
                        c,
                        &m,
                        &mut d,
                        State::Superseded,
                        &actor,
                        format!("superseded by designation: {reason}"),
                        now,
                    )?;
                }
                let d = open_dispatch(
                    c,
                    &rules,
                    &mut m,
                    &choice.unit,
                    Via::Designation,
                    &actor,
                    reason,
                    serde_json::json!({"basis": basis}).to_string(),
                    now,
                )?;
                Ok(view(&d, &m, now))
            })
            .await
    }

    /// A dispatcher moves an open matter to another unit. Units never forward to each other.
    pub async fn transfer(
        &self,
        p: &Principal,
        dispatch_id: &str,
        choice: UnitChoice,
    ) -> Result<DispatchView, RoutingError> {
        p.require("transfer dispatches", DISPATCHERS)?;
        let reason = text("reason", &choice.reason, 1000)?;
        let (rules, now, actor, id) = (self.rules.clone(), self.clock.now(), p.name.clone(), dispatch_id.to_owned());
        self.db
            .write(move |c| {
                let mut d = load_dispatch(c, &id)?;
                lifecycle::transition(State::parse(&d.state).unwrap_or(State::Dispatched), Action::Transfer)?;
                if d.role != "lead" {
                    return Err(RoutingError::rule(
                        "transfer.lead",
                        "transfer moves the lead dispatch; release an assisting unit instead",
                    ));
                }
                let mut m = load_matter(c, &d.matter_id)?;
                if active_unit(c, &choice.unit)? == d.unit {
                    return Err(RoutingError::field("unit", "is the unit that already holds the dispatch"));
                }
                close_dispatch(c, &m, &mut d, State::Transferred, &actor, reason.clone(), now)?;
                let next =
                    open_dispatch(c, &rules, &mut m, &choice.unit, Via::Transfer, &actor, reason, String::new(), now)?;
                Ok(view(&next, &m, now))
            })
            .await
    }

    /// Takes a matter out of the triage queue to a unit.
    pub async fn assign(
        &self,
        p: &Principal,
        matter_id: &str,
        choice: UnitChoice,
    ) -> Result<DispatchView, RoutingError> {
        p.require("assign from triage", DISPATCHERS)?;
        let reason = text("reason", &choice.reason, 1000)?;
        let (rules, now, actor, id) = (self.rules.clone(), self.clock.now(), p.name.clone(), matter_id.to_owned());
        self.db
            .write(move |c| {
                let mut m = load_matter(c, &id)?;
                if m.state != "triage" {
                    return Err(RoutingError::rule(
                        "assign.triage",
                        format!("matter '{id}' is {}, not waiting in triage", m.state),
                    ));
                }
                let d =
                    open_dispatch(c, &rules, &mut m, &choice.unit, Via::Triage, &actor, reason, String::new(), now)?;
                Ok(view(&d, &m, now))
            })
            .await
    }

    /// Adds an assisting unit (协办) to an open matter; the lead gives one combined reply.
    pub async fn add_assist(
        &self,
        p: &Principal,
        matter_id: &str,
        choice: UnitChoice,
    ) -> Result<DispatchView, RoutingError> {
        p.require("add assisting units", DISPATCHERS)?;
        let reason = text("reason", &choice.reason, 1000)?;
        let (rules, now, actor, id) = (self.rules.clone(), self.clock.now(), p.name.clone(), matter_id.to_owned());
        self.db
            .write(move |c| {
                let mut m = load_matter(c, &id)?;
                if m.state != "open" {
                    return Err(RoutingError::rule(
                        "assist.open",
                        format!("matter '{id}' is {}; assisting units join open matters", m.state),
                    ));
                }
                let unit = active_unit(c, &choice.unit)?;
                // The units holding the matter now (a few rows, by the matter's index alone:
                // asking for the unit too let a plan made on a small table read the unit's
                // dispatches instead, `tests/plans.rs`).
                let holding: Vec<String> = dispatches::table
                    .filter(dispatches::matter_id.eq(&id))
                    .filter(dispatches::closed_at.is_null())
                    .select(dispatches::unit)
                    .load(c)?;
                let taken = holding.contains(&unit);
                if taken {
                    return Err(RoutingError::field("unit", format!("'{unit}' already holds this matter")));
                }
                let d = open_dispatch(c, &rules, &mut m, &unit, Via::Assist, &actor, reason, String::new(), now)?;
                Ok(view(&d, &m, now))
            })
            .await
    }

    pub async fn decide_extension(
        &self,
        p: &Principal,
        extension_id: &str,
        decision: Decision,
    ) -> Result<ExtensionView, RoutingError> {
        p.require("decide extensions", DISPATCHERS)?;
        let reason = text("reason", &decision.reason, 1000)?;
        let (rules, now, actor, id) = (self.rules.clone(), self.clock.now(), p.name.clone(), extension_id.to_owned());
        self.db
            .write(move |c| {
                let mut e: ExtensionRow = extensions::table
                    .find(&id)
                    .select(ExtensionRow::as_select())
                    .first(c)
                    .optional()?
                    .ok_or_else(|| RoutingError::NotFound(format!("extension request '{id}'")))?;
                if e.status != "pending" {
                    return Err(RoutingError::rule(
                        "extension.decided",
                        format!("extension request '{id}' was already {}", e.status),
                    ));
                }
                let d = load_dispatch(c, &e.dispatch_id)?;
                let mut m = load_matter(c, &e.matter_id)?;
                e.decided_by = Some(actor.clone());
                e.decided_at = Some(now.naive_utc());
                e.decision_reason = Some(reason.clone());
                let mut granted = 0;
                if decision.approve {
                    granted = decision.days.unwrap_or(e.days);
                    if granted < 1 || granted > e.days {
                        return Err(RoutingError::field("days", format!("must be 1 to the {} days asked", e.days)));
                    }
                    let (_, unit) = rules.policy.extension_cap(class(&m));
                    let old = m.resolve_deadline.and_utc();
                    let spec = DeadlineSpec { amount: u32::try_from(granted).unwrap_or(0), unit };
                    m.resolve_deadline = rules.calendar.deadline(old - Duration::seconds(1), spec).naive_utc();
                    m.extensions += 1;
                    save_matter(c, &mut m)?;
                    e.status = "approved".into();
                } else {
                    e.status = "refused".into();
                }
                decide_pending_extension(c, &e)?;
                record(
                    c,
                    now,
                    &m,
                    Some(&d),
                    Change {
                        action: if decision.approve { "extension_approve" } else { "extension_refuse" },
                        from: d.state.clone(),
                        to: d.state.clone(),
                        actor,
                        reason,
                        extension_days: granted,
                        ..Change::default()
                    },
                )?;
                Ok(ExtensionView {
                    extension_id: e.id,
                    dispatch_id: d.id,
                    days: e.days,
                    status: e.status,
                    resolve_deadline: m.resolve_deadline.and_utc(),
                })
            })
            .await
    }

    /// Opens a supervision item (督办) on a dispatch.
    pub async fn supervise(
        &self,
        p: &Principal,
        dispatch_id: &str,
        input: TextInput,
    ) -> Result<DispatchView, RoutingError> {
        p.require("supervise dispatches", DISPATCHERS)?;
        let reason = text("text", &input.text, 1000)?;
        let (now, actor, id) = (self.clock.now(), p.name.clone(), dispatch_id.to_owned());
        self.db
            .write(move |c| {
                let d = load_dispatch(c, &id)?;
                let m = load_matter(c, &d.matter_id)?;
                open_supervision(c, &m, &d, 1, &reason, &actor, now)?;
                Ok(view(&d, &m, now))
            })
            .await
    }

    /// A unit merged or abolished: its open dispatches move to the successor, each with a log
    /// entry (信访工作条例 第二十四条第二款).
    pub async fn succeed_unit(&self, p: &Principal, code: &str, input: UnitSuccession) -> Result<usize, RoutingError> {
        p.require("change the unit registry", UNIT_ADMINS)?;
        if input.status != "merged" && input.status != "abolished" {
            return Err(RoutingError::field("status", "must be merged or abolished"));
        }
        let reason = text("reason", &input.reason, 1000)?;
        let (now, actor, code) = (self.clock.now(), p.name.clone(), code.to_owned());
        self.db
            .write(move |c| {
                // The unit in the path is the record acted on: unknown, it is not found. The
                // successor is a field of the request.
                let known = units::table.find(&code).count().get_result::<i64>(c)? > 0;
                if !known {
                    return Err(RoutingError::NotFound(format!("unit '{code}'")));
                }
                active_unit(c, &code)?;
                let successor = active_unit(c, &input.successor).map_err(|e| e.for_field("successor"))?;
                if successor == code {
                    return Err(RoutingError::field("successor", "must be another unit"));
                }
                caseflow_runtime::db::kept::update(
                    units::table.find(&code),
                    (units::status.eq(&input.status), units::successor.eq(Some(&successor))),
                )
                .execute(c)?;
                let open: Vec<DispatchRow> = dispatches::table
                    .filter(dispatches::unit.eq(&code))
                    .filter(crate::store::live_dispatch())
                    .select(DispatchRow::as_select())
                    .load(c)?;
                let moved = open.len();
                for mut d in open {
                    let m = load_matter(c, &d.matter_id)?;
                    d.unit = successor.clone();
                    save_dispatch(c, &mut d)?;
                    record(
                        c,
                        now,
                        &m,
                        Some(&d),
                        Change {
                            action: "move_to_successor",
                            from: d.state.clone(),
                            to: d.state.clone(),
                            actor: actor.clone(),
                            reason: format!("{code} {}: {reason}", input.status),
                            ..Change::default()
                        },
                    )?;
                }
                Ok(moved)
            })
            .await
    }
}

/// Writes a decision on a return request only if it is still pending, so two dispatchers
/// deciding at once cannot both win (the second gets a refusal).
fn decide_pending_return(c: &mut caseflow_runtime::AnyConnection, r: &ReturnRow) -> Result<(), RoutingError> {
    let n = caseflow_runtime::db::kept::update(
        return_requests::table.filter(return_requests::id.eq(&r.id)).filter(return_requests::status.eq("pending")),
        r,
    )
    .execute(c)?;
    if n == 0 {
        return Err(RoutingError::rule(
            "return.decided",
            format!("return request '{}' was decided by someone else first", r.id),
        ));
    }
    Ok(())
}

fn decide_pending_extension(c: &mut caseflow_runtime::AnyConnection, e: &ExtensionRow) -> Result<(), RoutingError> {
    let n = caseflow_runtime::db::kept::update(
        extensions::table.filter(extensions::id.eq(&e.id)).filter(extensions::status.eq("pending")),
        e,
    )
    .execute(c)?;
    if n == 0 {
        return Err(RoutingError::rule(
            "extension.decided",
            format!("extension request '{}' was decided by someone else first", e.id),
        ));
    }
    Ok(())
}

struct Evidence {
    basis: String,
    contact: String,
}

/// Rule 2: reason code, proposed unit with catalog entry or legal basis, and a contact record
/// unless the case is anonymous. Every missing piece is named at once.
fn check_evidence(
    c: &mut caseflow_runtime::AnyConnection,
    rules: &crate::dispatching::Rules,
    m: &MatterRow,
    d: &DispatchRow,
    input: &ReturnInput,
    now: DateTime<Utc>,
) -> Result<Evidence, RoutingError> {
    let mut missing = Vec::new();
    let codes = &rules.policy.returns.reason_codes;
    if input.reason_code.trim().is_empty() {
        missing.push(FieldViolation::new("reason_code", format!("is required; one of {}", codes.join(", "))));
    } else if !codes.contains(&input.reason_code) {
        missing.push(FieldViolation::new(
            "reason_code",
            format!("'{}' is not one of {}", input.reason_code, codes.join(", ")),
        ));
    }
    if input.reason.trim().is_empty() {
        missing.push(FieldViolation::new("reason", "is required: say why the matter is not this unit's"));
    }
    let proposed = input.proposed_unit.trim();
    if proposed.is_empty() {
        missing.push(FieldViolation::new("proposed_unit", "is required: the unit believed responsible"));
    } else if proposed == d.unit {
        missing.push(FieldViolation::new("proposed_unit", "must be another unit than the one returning"));
    } else if let Err(e) = active_unit(c, proposed) {
        missing.push(FieldViolation::new("proposed_unit", caseflow_runtime::Problem::from(e).detail.clone()));
    }
    let basis = match (
        input.catalog_entry.as_deref().filter(|s| !s.is_empty()),
        input.legal_basis.as_deref().map(str::trim).filter(|s| !s.is_empty()),
    ) {
        (Some(entry), _) => match rules.catalog.get(entry) {
            Some(e) if e.unit == proposed => format!("catalog entry {}: {}", e.id, e.legal_basis),
            Some(e) => {
                missing.push(FieldViolation::new(
                    "catalog_entry",
                    format!("entry {} names {}, not {proposed}", e.id, e.unit),
                ));
                String::new()
            }
            None => {
                missing.push(FieldViolation::new(
                    "catalog_entry",
                    format!("'{entry}' is not in the responsibility catalog; see GET /v1/catalog"),
                ));
                String::new()
            }
        },
        (None, Some(basis)) => format!("legal basis: {basis}"),
        (None, None) => {
            missing.push(FieldViolation::new(
                "catalog_entry",
                "is required, or legal_basis: the rule that makes the proposed unit responsible",
            ));
            String::new()
        }
    };
    let contact = match (&input.contact, m.anonymous) {
        (_, true) => "anonymous case: no contact possible".to_owned(),
        (None, false) => {
            missing.push(FieldViolation::new(
                "contact",
                "is required: a record of calling the citizen or visiting the site (at, method, learned); a return on the text alone is refused",
            ));
            String::new()
        }
        (Some(rec), false) => {
            match DateTime::parse_from_rfc3339(rec.at.trim()).map(|t| t.with_timezone(&Utc)) {
                Ok(at) if at > now => missing.push(FieldViolation::new("contact.at", "must not be in the future")),
                Ok(at) if at.naive_utc() < d.dispatched_at => {
                    missing.push(FieldViolation::new("contact.at", "must be after the dispatch reached this unit"))
                }
                Ok(_) => {}
                Err(_) => missing.push(FieldViolation::new("contact.at", "must be RFC 3339 with offset")),
            }
            if !CONTACT_METHODS.contains(&rec.method.as_str()) {
                missing.push(FieldViolation::new(
                    "contact.method",
                    format!("'{}' is not one of {}", rec.method, CONTACT_METHODS.join(", ")),
                ));
            }
            if rec.learned.trim().is_empty() {
                missing.push(FieldViolation::new("contact.learned", "is required: what the contact established"));
            }
            serde_json::to_string(rec).unwrap_or_default()
        }
    };
    if !missing.is_empty() {
        let mut p = caseflow_runtime::Problem::invalid(missing);
        p.detail = format!("return refused, evidence missing: {}", p.detail);
        return Err(p.with_rule("return.evidence").into());
    }
    Ok(Evidence { basis, contact })
}

/// Rule 7: the matter is resolved by `d`'s unit; its earlier approved returns were wrongful,
/// each costing the days from its approval until the matter came back to the unit.
fn judge_wrongful_returns(
    c: &mut caseflow_runtime::AnyConnection,
    m: &MatterRow,
    d: &DispatchRow,
) -> Result<Vec<caseflow_proto::v1::WrongfulReturn>, RoutingError> {
    let returns: Vec<ReturnRow> = return_requests::table
        .filter(return_requests::matter_id.eq(&m.matter_id))
        .filter(return_requests::unit.eq(&d.unit))
        .filter(return_requests::status.eq("approved"))
        .select(ReturnRow::as_select())
        .load(c)?;
    let mut out = Vec::new();
    for mut r in returns {
        let approved_at = r.decided_at.unwrap_or(r.requested_at).and_utc();
        let cost = (days_between(approved_at, d.dispatched_at.and_utc()) * 10.0).round() / 10.0;
        r.wrongful = true;
        r.days_cost = Some(cost);
        caseflow_runtime::db::kept::update(return_requests::table.find(&r.id), &r).execute(c)?;
        out.push(caseflow_proto::v1::WrongfulReturn { return_id: r.id.clone(), unit: r.unit.clone(), days_cost: cost });
    }
    Ok(out)
}

pub(crate) fn open_supervision(
    c: &mut caseflow_runtime::AnyConnection,
    m: &MatterRow,
    d: &DispatchRow,
    level: i32,
    reason: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), RoutingError> {
    diesel::insert_into(supervisions::table)
        .values(SupervisionRow {
            id: uuid::Uuid::now_v7().to_string(),
            dispatch_id: d.id.clone(),
            level,
            reason: reason.to_owned(),
            opened_at: now.naive_utc(),
            opened_by: actor.to_owned(),
            escalated_at: None,
            closed_at: None,
        })
        .execute(c)?;
    record(
        c,
        now,
        m,
        Some(d),
        Change {
            action: "supervise",
            from: d.state.clone(),
            to: d.state.clone(),
            actor: actor.to_owned(),
            reason: reason.to_owned(),
            ..Change::default()
        },
    )?;
    Ok(())
}
