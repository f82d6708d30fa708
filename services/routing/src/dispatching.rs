//! Opening, saving and closing dispatches under the rules that stop bouncing: the accused unit
//! never gets an accusation, a unit that returned a matter never gets it again except by
//! designation, merged units hand over to their successor, and every change is versioned.

use caseflow_runtime::db::native::{Native as _, columns};
use caseflow_runtime::{AnyConnection, gathered};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::calendar::Calendar;
use crate::catalog::Catalog;
use crate::error::RoutingError;
use crate::lifecycle::State;
use crate::policy::{MatterClass, RoutingPolicy};
use crate::record::{Change, Opened, record};
use crate::registry::Registry;
use crate::store::{DispatchRow, MatterRow, dispatches, return_requests, routing_matters, units};

/// Everything the rules are made of.
#[derive(Debug)]
pub struct Rules {
    pub registry: Registry,
    pub catalog: Catalog,
    pub calendar: Calendar,
    pub policy: RoutingPolicy,
}

pub fn class(m: &MatterRow) -> MatterClass<'_> {
    MatterClass {
        source: &m.source,
        kind: &m.kind,
        single_visit: m.single_visit,
        received_on: crate::calendar::district_day(m.case_received_at),
    }
}

/// The unit that now holds `code`'s duties: itself, or its successor after a merger.
pub fn active_unit(c: &mut AnyConnection, code: &str) -> Result<String, RoutingError> {
    let mut current = code.to_owned();
    for _ in 0..16 {
        match registry_entry(c, &current)? {
            None => {
                return Err(RoutingError::field(
                    "unit",
                    format!("'{current}' is not in the unit registry; see GET /v1/units"),
                ));
            }
            Some((status, _)) if status == "active" => return Ok(current),
            Some((_, Some(successor))) => current = successor,
            Some((status, None)) => {
                return Err(RoutingError::rule(
                    "unit.inactive",
                    format!("unit '{current}' is {status} and names no successor"),
                ));
            }
        }
    }
    Err(RoutingError::rule("unit.inactive", format!("unit '{code}' has a successor chain that does not end")))
}

/// The unit's status and successor in the registry, `None` when it is not there. A batch of
/// intake's events reads each unit once (`record::Opened::units`).
fn registry_entry(c: &mut AnyConnection, code: &str) -> QueryResult<Option<(String, Option<String>)>> {
    if let Some(Some(known)) = gathered::with_batch(|o: &mut Opened| o.units.get(code).cloned()) {
        return Ok(known);
    }
    let row: Option<(String, Option<String>)> =
        units::table.find(code).select((units::status, units::successor)).first_native(c)?;
    gathered::with_batch(|o: &mut Opened| o.units.insert(code.to_owned(), row.clone()));
    Ok(row)
}

/// Whether `unit` had a return of this matter approved.
pub fn returned_by(c: &mut AnyConnection, matter_id: &str, unit: &str) -> QueryResult<bool> {
    return_requests::table
        .filter(return_requests::matter_id.eq(matter_id))
        .filter(return_requests::unit.eq(unit))
        .filter(return_requests::status.eq("approved"))
        .count()
        .get_result_native::<i64>(c)
        .map(|n| n > 0)
}

/// Reads a matter and, on PostgreSQL, locks its row until the transaction ends: every action
/// on a matter's dispatches then sees the matter as the last committed action left it, so no
/// event announces a deadline an extension has already moved. (SQLite runs one writer at a
/// time, which gives the same.)
pub fn load_matter(c: &mut AnyConnection, matter_id: &str) -> Result<MatterRow, RoutingError> {
    let found = match c {
        AnyConnection::Postgresql(pg) => {
            routing_matters::table.find(matter_id).select(MatterRow::as_select()).for_update().first(pg).optional()?
        }
        AnyConnection::Sqlite(lite) => {
            routing_matters::table.find(matter_id).select(MatterRow::as_select()).first(lite).optional()?
        }
    };
    found.ok_or_else(|| RoutingError::NotFound(format!("matter '{matter_id}'")))
}

pub fn load_dispatch(c: &mut AnyConnection, dispatch_id: &str) -> Result<DispatchRow, RoutingError> {
    dispatches::table
        .find(dispatch_id)
        .select(columns::<DispatchRow>())
        .first_native(c)?
        .ok_or_else(|| RoutingError::NotFound(format!("dispatch '{dispatch_id}'")))
}

/// Writes `m` if nobody changed it since it was read, and bumps its version.
pub fn save_matter(c: &mut AnyConnection, m: &mut MatterRow) -> Result<(), RoutingError> {
    let read_version = m.version;
    m.version += 1;
    let n = caseflow_runtime::db::kept::update(
        routing_matters::table
            .filter(routing_matters::matter_id.eq(&m.matter_id))
            .filter(routing_matters::version.eq(read_version)),
        &*m,
    )
    .execute_native(c)?;
    if n == 0 {
        return Err(RoutingError::Conflict(format!("matter '{}'", m.matter_id)));
    }
    Ok(())
}

/// Writes `d` if nobody changed it since it was read, and bumps its version.
pub fn save_dispatch(c: &mut AnyConnection, d: &mut DispatchRow) -> Result<(), RoutingError> {
    let read_version = d.version;
    d.version += 1;
    // A changed dispatch is looked at again by the next scan, which works out when next.
    d.scan_at = d.is_open().then_some(d.dispatched_at);
    let n = caseflow_runtime::db::kept::update(
        dispatches::table.filter(dispatches::id.eq(&d.id)).filter(dispatches::version.eq(read_version)),
        &*d,
    )
    .execute_native(c)?;
    if n == 0 {
        return Err(RoutingError::Conflict(format!("dispatch '{}'", d.id)));
    }
    Ok(())
}

/// How a dispatch came to its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Named,
    Catalog,
    Triage,
    Return,
    Transfer,
    Designation,
    Assist,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Named => "named",
            Self::Catalog => "catalog",
            Self::Triage => "triage",
            Self::Return => "return",
            Self::Transfer => "transfer",
            Self::Designation => "designation",
            Self::Assist => "assist",
        }
    }

    fn action(self) -> &'static str {
        match self {
            Self::Designation => "designate",
            Self::Transfer => "transfer",
            Self::Triage => "assign",
            _ => "dispatch",
        }
    }
}

/// Opens a dispatch of `matter` to `unit`, or refuses with the rule that forbids it.
#[allow(clippy::too_many_arguments)]
pub fn open_dispatch(
    c: &mut AnyConnection,
    rules: &Rules,
    matter: &mut MatterRow,
    unit: &str,
    via: Via,
    actor: &str,
    reason: String,
    evidence: String,
    now: DateTime<Utc>,
) -> Result<DispatchRow, RoutingError> {
    let row = plan_dispatch(c, rules, matter, unit, via, now, History::Stored)?;
    if via == Via::Designation {
        matter.designated_unit = Some(row.unit.clone());
    }
    if row.role == "lead" {
        matter.state = "open".into();
    }
    diesel::insert_into(dispatches::table).values(&row).execute_native(c)?;
    save_matter(c, matter)?;
    record_opened(
        c,
        matter,
        &row,
        via,
        Change { actor: actor.to_owned(), reason, evidence, ..Change::default() },
        now,
    )?;
    Ok(row)
}

/// What `plan_dispatch` may know of a matter's past without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// The matter is being made in this transaction: no unit returned it, nothing was
    /// dispatched yet.
    Fresh,
    /// The matter is stored: its returns and assignments are read.
    Stored,
}

/// The dispatch of `matter` to `unit` that the rules allow, not yet written, or the rule that
/// forbids it. Reads only what it must: the unit's registry entry, and for a stored matter its
/// returns and last assignment.
pub fn plan_dispatch(
    c: &mut AnyConnection,
    rules: &Rules,
    matter: &MatterRow,
    unit: &str,
    via: Via,
    now: DateTime<Utc>,
    history: History,
) -> Result<DispatchRow, RoutingError> {
    let unit = active_unit(c, unit)?;
    if matter.accused_unit.as_deref() == Some(unit.as_str()) {
        return Err(RoutingError::rule(
            "dispatch.accused",
            format!(
                "'{unit}' is the accused unit: an accusation is never handled by the unit it accuses (信访工作条例 第三十条)"
            ),
        ));
    }
    let stored = history == History::Stored;
    if stored && via != Via::Designation && returned_by(c, &matter.matter_id, &unit)? {
        return Err(RoutingError::rule(
            "dispatch.no_ping_pong",
            format!("'{unit}' already returned this matter; it can get it again only by designation after arbitration"),
        ));
    }
    let last = if stored {
        dispatches::table
            .filter(dispatches::matter_id.eq(&matter.matter_id))
            .select(diesel::dsl::max(dispatches::assignment))
            .first_native::<Option<i32>>(c)?
            .flatten()
            .unwrap_or(0)
    } else {
        0
    };
    let assignment = last + i32::from(via != Via::Assist);
    let class = class(matter);
    let deadlines = rules.policy.deadlines(class);
    let role = if via == Via::Assist { "assist" } else { "lead" };
    let mut row = DispatchRow {
        id: format!(
            "{}-d{}{}",
            matter.matter_id,
            assignment.max(1),
            if via == Via::Assist { format!("-{unit}") } else { String::new() }
        ),
        case_id: matter.case_id.clone(),
        matter_id: matter.matter_id.clone(),
        assignment: assignment.max(1),
        unit: unit.clone(),
        role: role.to_owned(),
        via: via.as_str().to_owned(),
        state: State::Dispatched.as_str().to_owned(),
        dispatched_at: now.naive_utc(),
        acknowledge_deadline: rules.calendar.deadline(now, deadlines.acknowledge).naive_utc(),
        return_deadline: rules.calendar.deadline(now, rules.policy.return_window(class)).naive_utc(),
        acknowledged_at: None,
        landed_at: None,
        landing_method: None,
        replied_at: None,
        reply: None,
        reviewed_at: None,
        resolved_at: None,
        closed_at: None,
        version: 1,
        scan_at: None,
        history_warning: None,
    };
    if via == Via::Designation {
        // A designated unit cannot return: its window is closed from the start.
        row.return_deadline = row.dispatched_at;
    }
    // Nothing has been sent for a new dispatch: the scanner first looks at it when its first
    // reminder or its deadline falls, which may have passed already (a matter received long ago).
    row.scan_at = crate::scanner::first_look(rules, &row, matter);
    Ok(row)
}

/// Records the opening of `row` (a new dispatch: its history starts here), by `change`'s actor
/// for its reason and with its evidence.
pub fn record_opened(
    c: &mut AnyConnection,
    matter: &MatterRow,
    row: &DispatchRow,
    via: Via,
    change: Change,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let change = Change { action: via.action(), from: String::new(), to: State::Dispatched.as_str().into(), ..change };
    record(c, now, matter, Some(row), change)
}

/// Closes an open dispatch as `state` (returned, transferred, superseded), recording how long
/// its unit held it.
pub fn close_dispatch(
    c: &mut AnyConnection,
    matter: &MatterRow,
    d: &mut DispatchRow,
    state: State,
    actor: &str,
    reason: String,
    now: DateTime<Utc>,
) -> Result<(), RoutingError> {
    let from = d.state.clone();
    d.state = state.as_str().to_owned();
    d.closed_at = Some(now.naive_utc());
    save_dispatch(c, d)?;
    let held = (now.naive_utc() - d.dispatched_at).num_seconds().max(0);
    let action = match state {
        State::Returned => "return_approve",
        State::Transferred => "transfer",
        _ => "supersede",
    };
    record(
        c,
        now,
        matter,
        Some(d),
        Change {
            action,
            from,
            to: d.state.clone(),
            actor: actor.to_owned(),
            reason,
            held_seconds: held,
            ..Change::default()
        },
    )?;
    Ok(())
}
