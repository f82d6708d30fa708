//! What the suggester reads from routing's own tables: the matters resolved in a span (each
//! with the unit whose lead dispatch resolved it last: the label), and the matters received in
//! a span with what each could have been sent to first and who finally resolved it.

use std::collections::HashMap;

use caseflow_runtime::db::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::model::Example;
use crate::store::{dispatches, routing_matters};

/// A matter resolved at a moment, as the suggester learns it.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub matter_id: String,
    pub resolved_at: NaiveDateTime,
    pub example: Example,
}

/// A matter received at a moment: what each way of choosing its first unit chose, and who
/// finally resolved it (none while it is not resolved).
#[derive(Debug, Clone)]
pub struct Arrival {
    pub matter_id: String,
    pub received_at: NaiveDateTime,
    /// Its traits; `unit` is its final resolver, empty while unresolved.
    pub example: Example,
    pub named: Option<String>,
    pub catalog: Option<String>,
    /// The unit of its first lead dispatch (a matter still in triage has none and is not read).
    pub first: String,
    /// Lead dispatches it had to its catalog unit, and how many of them the unit handed on
    /// (returned or transferred).
    pub to_catalog_unit: u32,
    pub handed_on_by_catalog_unit: u32,
}

impl Arrival {
    pub fn resolver(&self) -> Option<&str> {
        Some(self.example.unit.as_str()).filter(|u| !u.is_empty())
    }
}

/// One lead dispatch of a matter, with the matter.
#[derive(Debug, Queryable)]
struct Row {
    matter_id: String,
    category: String,
    sub_district: String,
    source: String,
    kind: String,
    summary: String,
    state: String,
    received_at: NaiveDateTime,
    named_unit: Option<String>,
    catalog_unit: Option<String>,
    unit: String,
    dispatch_state: String,
    resolved_at: Option<NaiveDateTime>,
}

impl Row {
    fn example(&self, unit: String) -> Example {
        Example {
            category: self.category.clone(),
            sub_district: self.sub_district.clone(),
            source: self.source.clone(),
            kind: self.kind.clone(),
            summary: self.summary.clone(),
            unit,
        }
    }

    /// This dispatch resolved the matter, and the matter stands resolved.
    fn resolved_it(&self) -> bool {
        self.state == "resolved" && self.resolved_at.is_some()
    }

    /// (a dispatch to the catalog's unit, which that unit handed on).
    fn catalog_unit_held(&self) -> (u32, u32) {
        let to_catalog = self.catalog_unit.as_deref() == Some(self.unit.as_str());
        let handed_on = to_catalog && matches!(self.dispatch_state.as_str(), "returned" | "transferred");
        (u32::from(to_catalog), u32::from(handed_on))
    }
}

/// Matters received in `[from, to)` with their lead dispatches by assignment, or
/// (`resolved_in`) the lead dispatches resolved in it by that moment: one row per lead dispatch.
fn rows(c: &mut AnyConnection, from: NaiveDateTime, to: NaiveDateTime, resolved_in: bool) -> QueryResult<Vec<Row>> {
    let joined = dispatches::table
        .inner_join(routing_matters::table.on(routing_matters::matter_id.eq(dispatches::matter_id)))
        .filter(dispatches::role.eq("lead"))
        .select((
            routing_matters::matter_id,
            routing_matters::category,
            routing_matters::sub_district,
            routing_matters::source,
            routing_matters::kind,
            routing_matters::summary,
            routing_matters::state,
            routing_matters::case_received_at,
            routing_matters::named_unit,
            routing_matters::catalog_unit,
            dispatches::unit,
            dispatches::state,
            dispatches::resolved_at,
        ))
        .into_boxed();
    if resolved_in {
        joined
            .filter(dispatches::resolved_at.ge(from))
            .filter(dispatches::resolved_at.lt(to))
            .filter(routing_matters::state.eq("resolved"))
            .order((dispatches::resolved_at, dispatches::matter_id))
            .load(c)
    } else {
        joined
            .filter(routing_matters::case_received_at.ge(from))
            .filter(routing_matters::case_received_at.lt(to))
            .order((routing_matters::case_received_at, routing_matters::matter_id, dispatches::assignment))
            .load(c)
    }
}

/// The matters resolved (and still resolved) in `[from, to)`, by the moment of their last
/// resolution: a matter re-handled and resolved again is learned once, from its last resolver.
pub fn resolved_between(c: &mut AnyConnection, from: NaiveDateTime, to: NaiveDateTime) -> QueryResult<Vec<Resolved>> {
    let rows = rows(c, from, to, true)?;
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        last.insert(row.matter_id.as_str(), i);
    }
    // The rows come by resolution: keeping each matter's last keeps that order.
    Ok(rows
        .iter()
        .enumerate()
        .filter(|(i, row)| last.get(row.matter_id.as_str()) == Some(i))
        .filter_map(|(_, row)| {
            Some(Resolved {
                matter_id: row.matter_id.clone(),
                resolved_at: row.resolved_at?,
                example: row.example(row.unit.clone()),
            })
        })
        .collect())
}

/// The matters received in `[from, to)`, by the moment of receipt.
pub fn received_between(c: &mut AnyConnection, from: NaiveDateTime, to: NaiveDateTime) -> QueryResult<Vec<Arrival>> {
    let mut out: Vec<Arrival> = Vec::new();
    for row in rows(c, from, to, false)? {
        let (to_catalog, handed_on) = row.catalog_unit_held();
        match out.last_mut().filter(|a| a.matter_id == row.matter_id) {
            Some(a) => {
                a.to_catalog_unit += to_catalog;
                a.handed_on_by_catalog_unit += handed_on;
                // A matter's rows come by assignment: the last that resolved it is its resolver.
                if row.resolved_it() {
                    a.example.unit = row.unit.clone();
                }
            }
            None => out.push(Arrival {
                to_catalog_unit: to_catalog,
                handed_on_by_catalog_unit: handed_on,
                example: row.example(if row.resolved_it() { row.unit.clone() } else { String::new() }),
                first: row.unit.clone(),
                matter_id: row.matter_id,
                received_at: row.received_at,
                named: row.named_unit,
                catalog: row.catalog_unit,
            }),
        }
    }
    Ok(out)
}
