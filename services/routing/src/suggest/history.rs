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
    /// The unit of its first lead dispatch (none while it waits in triage).
    pub first: Option<String>,
}

impl Arrival {
    pub fn resolver(&self) -> Option<&str> {
        Some(self.example.unit.as_str()).filter(|u| !u.is_empty())
    }
}

type Row = (String, String, String, String, String, String, String, i32, String, Option<NaiveDateTime>);

/// Matters received in `[from, to)` with their lead dispatches, or (`resolved_in`) the lead
/// dispatches resolved in it: one row per lead dispatch.
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
            dispatches::assignment,
            dispatches::unit,
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
            .order((routing_matters::matter_id, dispatches::assignment))
            .load(c)
    }
}

fn example(row: &Row, unit: String) -> Example {
    Example {
        category: row.1.clone(),
        sub_district: row.2.clone(),
        source: row.3.clone(),
        kind: row.4.clone(),
        summary: row.5.clone(),
        unit,
    }
}

/// The matters resolved (and still resolved) in `[from, to)`, by the moment of their last
/// resolution: a matter re-handled and resolved again is learned once, from its last resolver.
pub fn resolved_between(c: &mut AnyConnection, from: NaiveDateTime, to: NaiveDateTime) -> QueryResult<Vec<Resolved>> {
    let rows = rows(c, from, to, true)?;
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        last.insert(row.0.as_str(), i);
    }
    let mut out: Vec<Resolved> = rows
        .iter()
        .enumerate()
        .filter(|(i, row)| last.get(row.0.as_str()) == Some(i))
        .filter_map(|(_, row)| {
            Some(Resolved { matter_id: row.0.clone(), resolved_at: row.9?, example: example(row, row.8.clone()) })
        })
        .collect();
    out.sort_by(|a, b| a.resolved_at.cmp(&b.resolved_at).then_with(|| a.matter_id.cmp(&b.matter_id)));
    Ok(out)
}

/// The matters received in `[from, to)`, by the moment of receipt.
pub fn received_between(c: &mut AnyConnection, from: NaiveDateTime, to: NaiveDateTime) -> QueryResult<Vec<Arrival>> {
    let rows = rows(c, from, to, false)?;
    let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let mut choices: HashMap<String, (NaiveDateTime, Option<String>, Option<String>)> = HashMap::new();
    for chunk in ids.chunks(500) {
        let found: Vec<(String, NaiveDateTime, Option<String>, Option<String>)> = routing_matters::table
            .filter(routing_matters::matter_id.eq_any(chunk))
            .select((
                routing_matters::matter_id,
                routing_matters::case_received_at,
                routing_matters::named_unit,
                routing_matters::catalog_unit,
            ))
            .load(c)?;
        choices.extend(found.into_iter().map(|(id, at, named, catalog)| (id, (at, named, catalog))));
    }
    let mut out: Vec<Arrival> = Vec::new();
    for row in &rows {
        let resolved = row.6 == "resolved";
        match out.last_mut().filter(|a| a.matter_id == row.0) {
            Some(a) => {
                // Rows of a matter come by assignment: the last resolved lead is its resolver.
                if resolved && row.9.is_some() {
                    a.example.unit = row.8.clone();
                }
            }
            None => {
                let Some((received_at, named, catalog)) = choices.get(&row.0).cloned() else { continue };
                let unit = if resolved && row.9.is_some() { row.8.clone() } else { String::new() };
                out.push(Arrival {
                    matter_id: row.0.clone(),
                    received_at,
                    example: example(row, unit),
                    named,
                    catalog,
                    first: Some(row.8.clone()),
                });
            }
        }
    }
    out.sort_by(|a, b| a.received_at.cmp(&b.received_at).then_with(|| a.matter_id.cmp(&b.matter_id)));
    Ok(out)
}
