//! Routing's service layer: every action names its principal; scope and role are checked here.
//! Each action is one transaction: it reads the dispatch and matter, applies the lifecycle and
//! the rules, saves with a version check, and records one log entry and one event per change.

use std::sync::Arc;

use caseflow_runtime::{AnyConnection, Db, ErrorKind, Principal, Problem, Role, SharedClock};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::dispatching::{Rules, load_dispatch, load_matter, save_dispatch};
use crate::error::RoutingError;
use crate::lifecycle::{self, Action, State};
use crate::record::{Change, record};
use crate::registry::UnitEntry;
use crate::store::{DispatchRow, LogRow, MatterRow, dispatches, routing_log};

pub(crate) const DISPATCHERS: &[Role] = &[Role::Dispatcher, Role::Admin];
const LOG_READERS: &[Role] = &[Role::Dispatcher, Role::Admin, Role::EfficiencyOffice, Role::Service, Role::UnitHandler];

#[derive(Clone, Debug)]
pub struct Routing {
    pub(crate) db: Db,
    pub(crate) clock: SharedClock,
    pub(crate) rules: Arc<Rules>,
    pub(crate) suggester: crate::suggest::Suggester,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Deadlines {
    pub acknowledge: DateTime<Utc>,
    pub land: DateTime<Utc>,
    /// Includes approved extensions.
    pub resolve: DateTime<Utc>,
    /// After this the unit may no longer ask to return the dispatch.
    pub return_window_ends: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct NextDue {
    /// acknowledge | land | resolve
    pub what: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DispatchView {
    pub dispatch_id: String,
    pub case_id: String,
    pub matter_id: String,
    pub assignment: i32,
    pub unit: String,
    /// lead | assist
    pub role: String,
    /// named | catalog | triage | return | transfer | designation | assist
    pub via: String,
    pub state: String,
    pub category: String,
    pub summary: String,
    pub case_received_at: DateTime<Utc>,
    pub dispatched_at: DateTime<Utc>,
    pub deadlines: Deadlines,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub landed_at: Option<DateTime<Utc>>,
    pub replied_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// 逾期查阅, as of now.
    pub overdue_view: bool,
    /// 逾期办理, as of now.
    pub overdue_handling: bool,
    pub allowed_actions: Vec<String>,
    pub next_due: Option<NextDue>,
    /// Set on a dispatch made at receipt to a unit that history says rarely resolves such
    /// matters: what the suggester said, with its model's version, for the dispatcher to weigh.
    pub history_warning: Option<crate::suggest::advice::HistoryNote>,
}

/// A matter as routing sees it: its clock, its state and its return history.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct MatterView {
    pub matter_id: String,
    pub case_id: String,
    /// triage | open | arbitration | resolved
    pub state: String,
    pub case_received_at: DateTime<Utc>,
    pub land_deadline: DateTime<Utc>,
    /// Includes approved extensions.
    pub resolve_deadline: DateTime<Utc>,
    pub extensions: i32,
    pub approved_returns: i32,
    pub designated_unit: Option<String>,
    pub single_visit: bool,
    pub case_analysis_filed: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct LogEntry {
    pub at: DateTime<Utc>,
    pub matter_id: String,
    pub dispatch_id: Option<String>,
    pub unit: Option<String>,
    pub action: String,
    pub from_state: String,
    pub to_state: String,
    pub actor: String,
    pub reason: String,
    /// JSON evidence: contact records, legal basis, landing method.
    pub evidence: String,
}

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

pub(crate) fn view(d: &DispatchRow, m: &MatterRow, now: DateTime<Utc>) -> DispatchView {
    let state = State::parse(&d.state).unwrap_or(State::Dispatched);
    let od = lifecycle::overdue(
        now,
        utc(d.acknowledge_deadline),
        d.acknowledged_at.map(utc),
        utc(m.resolve_deadline),
        d.resolved_at.map(utc).or(d.closed_at.map(utc)),
    );
    let next_due = if !state.is_open() {
        None
    } else if d.acknowledged_at.is_none() {
        Some(NextDue { what: "acknowledge".into(), at: utc(d.acknowledge_deadline) })
    } else if d.landed_at.is_none() {
        Some(NextDue { what: "land".into(), at: utc(m.land_deadline) })
    } else {
        Some(NextDue { what: "resolve".into(), at: utc(m.resolve_deadline) })
    };
    DispatchView {
        dispatch_id: d.id.clone(),
        case_id: d.case_id.clone(),
        matter_id: d.matter_id.clone(),
        assignment: d.assignment,
        unit: d.unit.clone(),
        role: d.role.clone(),
        via: d.via.clone(),
        state: d.state.clone(),
        category: m.category.clone(),
        summary: m.summary.clone(),
        case_received_at: utc(m.case_received_at),
        dispatched_at: utc(d.dispatched_at),
        deadlines: Deadlines {
            acknowledge: utc(d.acknowledge_deadline),
            land: utc(m.land_deadline),
            resolve: utc(m.resolve_deadline),
            return_window_ends: utc(d.return_deadline),
        },
        acknowledged_at: d.acknowledged_at.map(utc),
        landed_at: d.landed_at.map(utc),
        replied_at: d.replied_at.map(utc),
        resolved_at: d.resolved_at.map(utc),
        overdue_view: od.view,
        overdue_handling: od.handling && state != State::Resolved,
        allowed_actions: lifecycle::allowed(state).into_iter().map(str::to_owned).collect(),
        next_due,
        history_warning: d.history_warning.as_deref().and_then(|w| serde_json::from_str(w).ok()),
    }
}

/// Refuses unless `p` is the handler of the dispatch's unit (or an admin).
pub(crate) fn check_unit_scope(p: &Principal, d: &DispatchRow) -> Result<(), RoutingError> {
    match p.role {
        Role::Admin => Ok(()),
        Role::UnitHandler if p.unit.as_deref() == Some(d.unit.as_str()) => Ok(()),
        Role::UnitHandler => Err(Problem::new(
            ErrorKind::PermissionDenied,
            format!(
                "dispatch '{}' belongs to unit '{}', not to '{}'",
                d.id,
                d.unit,
                p.unit.as_deref().unwrap_or_default()
            ),
        )
        .with_rule("scope.unit")
        .into()),
        _ => Err(Problem::new(ErrorKind::PermissionDenied, format!("role '{}' does not act for a unit", p.role))
            .with_rule("auth.role")
            .into()),
    }
}

/// What an action closure gets: the connection, the matter and dispatch read in
/// this transaction, and the moment.
pub(crate) struct Ctx<'a> {
    pub c: &'a mut AnyConnection,
    pub now: DateTime<Utc>,
    pub actor: String,
}

impl Routing {
    pub fn new(db: Db, clock: SharedClock, rules: Arc<Rules>) -> Self {
        Self { db, clock, rules, suggester: crate::suggest::Suggester::default() }
    }

    /// The unit suggester whose model this service's handlers use (shared with the consumer
    /// of intake's stream, which notes its word on triage entries and dispatches).
    pub fn suggester(&self) -> &crate::suggest::Suggester {
        &self.suggester
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The service's database (the gRPC edge keeps idempotency keys in it).
    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// The service's database, for tests that check invariants over the stored rows.
    pub fn db_for_tests(&self) -> &Db {
        &self.db
    }

    /// Runs a lifecycle action on one dispatch: scope or role check, state check, `apply`, save,
    /// one log entry and one event. `apply` fills in the change's reason and evidence and may
    /// refuse by a rule.
    pub(crate) async fn act<F>(
        &self,
        p: &Principal,
        dispatch_id: &str,
        action: Action,
        by_unit: bool,
        apply: F,
    ) -> Result<DispatchView, RoutingError>
    where
        F: FnOnce(&mut Ctx<'_>, &mut MatterRow, &mut DispatchRow) -> Result<Change, RoutingError> + Send + 'static,
    {
        if !by_unit {
            p.require(action.as_str(), DISPATCHERS)?;
        }
        let (now, principal, id) = (self.clock.now(), p.clone(), dispatch_id.to_owned());
        self.db
            .write(move |c| {
                let mut d = load_dispatch(c, &id)?;
                if by_unit {
                    check_unit_scope(&principal, &d)?;
                }
                let mut m = load_matter(c, &d.matter_id)?;
                let from = State::parse(&d.state).unwrap_or(State::Dispatched);
                let to = lifecycle::transition(from, action)?;
                let mut ctx = Ctx { c, now, actor: principal.name.clone() };
                let mut change = apply(&mut ctx, &mut m, &mut d)?;
                d.state = to.as_str().to_owned();
                save_dispatch(c, &mut d)?;
                change.action = action.as_str();
                change.from = from.as_str().to_owned();
                change.to = to.as_str().to_owned();
                change.actor = principal.name.clone();
                record(c, now, &m, Some(&d), change)?;
                Ok(view(&d, &m, now))
            })
            .await
    }

    pub fn units(&self, _principal: &Principal) -> Vec<UnitEntry> {
        self.rules.registry.units().cloned().collect()
    }

    /// Every dispatch of a case, per matter in assignment order.
    #[tracing::instrument(skip_all, fields(caseflow.service = "routing", case_id = %case_id))]
    pub async fn case_dispatches(
        &self,
        principal: &Principal,
        case_id: &str,
    ) -> Result<Vec<DispatchView>, RoutingError> {
        principal.require("read dispatches", LOG_READERS)?;
        let (id, now, unit) = (case_id.to_owned(), self.clock.now(), unit_of(principal));
        self.db
            .read(move |c| {
                let rows: Vec<DispatchRow> = dispatches::table
                    .filter(dispatches::case_id.eq(&id))
                    .order((dispatches::matter_id.asc(), dispatches::assignment.asc(), dispatches::unit.asc()))
                    .select(DispatchRow::as_select())
                    .load(c)?;
                if let Some(unit) = &unit
                    && !rows.iter().any(|d| &d.unit == unit)
                {
                    return Err(Problem::new(
                        ErrorKind::PermissionDenied,
                        format!("case '{id}' was never dispatched to '{unit}'"),
                    )
                    .with_rule("scope.unit")
                    .into());
                }
                let mut out = Vec::new();
                for d in rows {
                    let m = load_matter(c, &d.matter_id)?;
                    out.push(view(&d, &m, now));
                }
                Ok(out)
            })
            .await
    }

    /// One matter's clock and state, for dispatchers and the office.
    pub async fn matter(&self, principal: &Principal, matter_id: &str) -> Result<MatterView, RoutingError> {
        principal.require("read matters", &[Role::Dispatcher, Role::Admin, Role::EfficiencyOffice, Role::Service])?;
        let id = matter_id.to_owned();
        let m = self.db.read(move |c| load_matter(c, &id)).await?;
        Ok(MatterView {
            matter_id: m.matter_id,
            case_id: m.case_id,
            state: m.state,
            case_received_at: utc(m.case_received_at),
            land_deadline: utc(m.land_deadline),
            resolve_deadline: utc(m.resolve_deadline),
            extensions: m.extensions,
            approved_returns: m.approved_returns,
            designated_unit: m.designated_unit,
            single_visit: m.single_visit,
            case_analysis_filed: m.case_analysis.is_some(),
        })
    }

    /// One dispatch, for its unit or a dispatcher.
    pub async fn dispatch(&self, principal: &Principal, dispatch_id: &str) -> Result<DispatchView, RoutingError> {
        let (id, now, p) = (dispatch_id.to_owned(), self.clock.now(), principal.clone());
        self.db
            .read(move |c| {
                let d = load_dispatch(c, &id)?;
                if p.role == Role::UnitHandler {
                    check_unit_scope(&p, &d)?;
                } else {
                    p.require("read dispatches", LOG_READERS)?;
                }
                let m = load_matter(c, &d.matter_id)?;
                Ok(view(&d, &m, now))
            })
            .await
    }

    /// The unit handler's inbox: its unit's open dispatches, most urgent first.
    pub async fn inbox(&self, principal: &Principal) -> Result<Vec<DispatchView>, RoutingError> {
        let Some(unit) = unit_of(principal) else {
            return Err(Problem::new(
                ErrorKind::PermissionDenied,
                "the inbox is a unit handler's; this key is bound to no unit",
            )
            .with_rule("auth.role")
            .into());
        };
        let now = self.clock.now();
        let mut views = self
            .db
            .read(move |c| {
                let rows: Vec<DispatchRow> = dispatches::table
                    .filter(dispatches::unit.eq(&unit))
                    .filter(crate::store::live_dispatch())
                    .select(DispatchRow::as_select())
                    .load(c)?;
                let mut out = Vec::new();
                for d in rows {
                    let m = load_matter(c, &d.matter_id)?;
                    out.push(view(&d, &m, now));
                }
                Ok::<_, RoutingError>(out)
            })
            .await?;
        views.sort_by_key(|v| v.next_due.as_ref().map(|n| n.at));
        Ok(views)
    }

    /// The routing log of a case, oldest first.
    pub async fn case_log(&self, principal: &Principal, case_id: &str) -> Result<Vec<LogEntry>, RoutingError> {
        principal.require("read the routing log", LOG_READERS)?;
        let (id, unit) = (case_id.to_owned(), unit_of(principal));
        self.db
            .read(move |c| {
                let rows: Vec<LogRow> = routing_log::table
                    .filter(routing_log::case_id.eq(&id))
                    .order((routing_log::at.asc(), routing_log::id.asc()))
                    .select(LogRow::as_select())
                    .load(c)?;
                if let Some(unit) = &unit
                    && !rows.iter().any(|r| r.unit.as_deref() == Some(unit.as_str()))
                {
                    return Err(Problem::new(
                        ErrorKind::PermissionDenied,
                        format!("case '{id}' was never dispatched to '{unit}'"),
                    )
                    .with_rule("scope.unit")
                    .into());
                }
                Ok(rows
                    .into_iter()
                    .map(|r| LogEntry {
                        at: utc(r.at),
                        matter_id: r.matter_id,
                        dispatch_id: r.dispatch_id,
                        unit: r.unit,
                        action: r.action,
                        from_state: r.from_state,
                        to_state: r.to_state,
                        actor: r.actor,
                        reason: r.reason,
                        evidence: r.evidence,
                    })
                    .collect())
            })
            .await
    }
}

fn unit_of(p: &Principal) -> Option<String> {
    p.unit.clone().filter(|_| p.role == Role::UnitHandler)
}
