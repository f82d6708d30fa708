//! What the suggester reads from routing's own tables: the matters resolved in a span (each
//! with the unit whose lead dispatch resolved it last: the label), and the matters received in
//! a span with what each could have been sent to first and who finally resolved it.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use caseflow_runtime::db::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::accuracy::Resolutions;
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
#[derive(Debug)]
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

/// Training reads the resolved matters in pages of this many, so that a year of a million
/// matters never sits in memory at once.
pub const PAGE: i64 = 5_000;

/// The matters received in `[from, to)` by receipt, each with its lead dispatches by assignment:
/// the matters through their index on receipt, then their dispatches through theirs by matter,
/// a chunk at a time (one join would let a planner without statistics read every dispatch).
fn received(c: &mut AnyConnection, from: NaiveDateTime, to: NaiveDateTime) -> QueryResult<Vec<Row>> {
    type Matter =
        (String, String, String, String, String, String, String, NaiveDateTime, Option<String>, Option<String>);
    let matters: Vec<Matter> = routing_matters::table
        .filter(routing_matters::case_received_at.ge(from))
        .filter(routing_matters::case_received_at.lt(to))
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
        ))
        .order((routing_matters::case_received_at, routing_matters::matter_id))
        .load(c)?;
    type Lead = (String, i32, String, String, Option<NaiveDateTime>);
    let mut leads: HashMap<String, Vec<Lead>> = HashMap::new();
    for chunk in matters.chunks(500) {
        let ids: Vec<&str> = chunk.iter().map(|m| m.0.as_str()).collect();
        let found: Vec<Lead> = dispatches::table
            .filter(dispatches::matter_id.eq_any(ids))
            .filter(dispatches::role.eq("lead"))
            .select((
                dispatches::matter_id,
                dispatches::assignment,
                dispatches::unit,
                dispatches::state,
                dispatches::resolved_at,
            ))
            .load(c)?;
        for lead in found {
            leads.entry(lead.0.clone()).or_default().push(lead);
        }
    }
    let mut out = Vec::new();
    for (matter_id, category, sub_district, source, kind, summary, state, received_at, named_unit, catalog_unit) in
        matters
    {
        let Some(mut own) = leads.remove(&matter_id) else { continue };
        own.sort_by_key(|l| l.1);
        for (_, _, unit, dispatch_state, resolved_at) in own {
            out.push(Row {
                matter_id: matter_id.clone(),
                category: category.clone(),
                sub_district: sub_district.clone(),
                source: source.clone(),
                kind: kind.clone(),
                summary: summary.clone(),
                state: state.clone(),
                received_at,
                named_unit: named_unit.clone(),
                catalog_unit: catalog_unit.clone(),
                unit,
                dispatch_state,
                resolved_at,
            });
        }
    }
    Ok(out)
}

/// A page of the matters resolved in a span, and where the next page starts (none after the
/// last page).
#[derive(Debug, Default)]
pub struct Page {
    pub resolved: Vec<Resolved>,
    pub next: Option<(NaiveDateTime, String)>,
}

/// The lead dispatches resolved in `[from, to)`, at most `limit` of them after `after` (the
/// previous page's last moment and matter), each with its matter when the matter stands resolved
/// by that very resolution: a matter re-handled and resolved again is learned once, from its last
/// resolver. The dispatches are paged through their index on (moment, matter), the matters read
/// by id; no join, so no planner can choose to read either table whole.
pub fn resolved_page(
    c: &mut AnyConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
    after: Option<&(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Page> {
    // One lower bound only, where the last page ended: given two, SQLite may start the index
    // range at the span's start for every page.
    let start = after.map_or(from, |(at, _)| (*at).max(from));
    let mut query = dispatches::table
        .filter(dispatches::role.eq("lead"))
        .filter(dispatches::resolved_at.ge(start))
        .filter(dispatches::resolved_at.lt(to))
        .select((dispatches::matter_id, dispatches::unit, dispatches::resolved_at))
        .into_boxed();
    if let Some((at, matter)) = after {
        query = query.filter(
            dispatches::resolved_at
                .gt(*at)
                .or(dispatches::resolved_at.eq(*at).and(dispatches::matter_id.gt(matter.clone()))),
        );
    }
    let leads: Vec<(String, String, Option<NaiveDateTime>)> =
        query.order((dispatches::resolved_at, dispatches::matter_id)).limit(limit).load(c)?;
    let next =
        leads.last().filter(|_| leads.len() as i64 == limit).and_then(|(matter, _, at)| Some(((*at)?, matter.clone())));
    type Matter = (String, String, String, String, String, String, String, Option<NaiveDateTime>);
    let mut matters: HashMap<String, Matter> = HashMap::new();
    for chunk in leads.chunks(500) {
        let ids: Vec<&str> = chunk.iter().map(|l| l.0.as_str()).collect();
        let found: Vec<Matter> = routing_matters::table
            .filter(routing_matters::matter_id.eq_any(ids))
            .select((
                routing_matters::matter_id,
                routing_matters::category,
                routing_matters::sub_district,
                routing_matters::source,
                routing_matters::kind,
                routing_matters::summary,
                routing_matters::state,
                routing_matters::resolved_at,
            ))
            .load(c)?;
        matters.extend(found.into_iter().map(|m| (m.0.clone(), m)));
    }
    let resolved = leads
        .into_iter()
        .filter_map(|(matter_id, unit, at)| {
            let at = at?;
            let (_, category, sub_district, source, kind, summary, state, matter_resolved_at) =
                matters.get(&matter_id)?;
            (state == "resolved" && *matter_resolved_at == Some(at)).then(|| Resolved {
                resolved_at: at,
                example: Example {
                    category: category.clone(),
                    sub_district: sub_district.clone(),
                    source: source.clone(),
                    kind: kind.clone(),
                    summary: summary.clone(),
                    unit,
                },
                matter_id,
            })
        })
        .collect();
    Ok(Page { resolved, next })
}

/// The matters resolved (and still resolved) in `[from, to)`, by the moment of their last
/// resolution, all at once.
pub fn resolved_between(c: &mut AnyConnection, from: NaiveDateTime, to: NaiveDateTime) -> QueryResult<Vec<Resolved>> {
    let mut out: Vec<Resolved> = Vec::new();
    let mut after = None;
    loop {
        let page = resolved_page(c, from, to, after.as_ref(), PAGE)?;
        out.extend(page.resolved);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out),
        }
    }
}

/// The matters received in `[from, to)`, by the moment of receipt.
pub fn received_between(c: &mut AnyConnection, from: NaiveDateTime, to: NaiveDateTime) -> QueryResult<Vec<Arrival>> {
    let mut out: Vec<Arrival> = Vec::new();
    for row in received(c, from, to)? {
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

/// The matters resolved in `[from, to)`, read a page at a time as they are taken, in order of
/// resolution. Two of these share one connection (the accuracy report learns from one and
/// forgets from the other).
pub struct Pages<'a, 'c> {
    conn: &'a RefCell<&'c mut AnyConnection>,
    from: NaiveDateTime,
    to: NaiveDateTime,
    after: Option<(NaiveDateTime, String)>,
    buffer: VecDeque<Resolved>,
    exhausted: bool,
}

impl<'a, 'c> Pages<'a, 'c> {
    pub fn new(conn: &'a RefCell<&'c mut AnyConnection>, from: NaiveDateTime, to: NaiveDateTime) -> Self {
        Self { conn, from, to, after: None, buffer: VecDeque::new(), exhausted: false }
    }
}

impl Resolutions for Pages<'_, '_> {
    type Error = diesel::result::Error;

    fn take_before(&mut self, moment: NaiveDateTime) -> QueryResult<Option<Resolved>> {
        // A page may keep none of its dispatches (each superseded by a later resolution).
        while self.buffer.is_empty() && !self.exhausted {
            let mut conn = self.conn.borrow_mut();
            let page = resolved_page(&mut conn, self.from, self.to, self.after.as_ref(), PAGE)?;
            self.exhausted = page.next.is_none();
            self.after = page.next;
            self.buffer.extend(page.resolved);
        }
        match self.buffer.front() {
            Some(r) if r.resolved_at < moment => Ok(self.buffer.pop_front()),
            _ => Ok(None),
        }
    }
}
