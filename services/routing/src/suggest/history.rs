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

/// What the suggester reads of a matter.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = routing_matters)]
struct Matter {
    matter_id: String,
    category: String,
    sub_district: String,
    source: String,
    kind: String,
    summary: String,
    state: String,
    case_received_at: NaiveDateTime,
    resolved_at: Option<NaiveDateTime>,
    named_unit: Option<String>,
    catalog_unit: Option<String>,
}

impl Matter {
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

    /// The matter stands resolved, and `lead` gave it that resolution: its last resolver.
    fn resolved_by(&self, lead: &Lead) -> bool {
        self.state == "resolved" && lead.resolved_at.is_some() && self.resolved_at == lead.resolved_at
    }
}

/// What the suggester reads of a lead dispatch.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = dispatches)]
struct Lead {
    matter_id: String,
    assignment: i32,
    unit: String,
    state: String,
    resolved_at: Option<NaiveDateTime>,
}

/// Chunks of ids read with one `IN`.
const CHUNK: usize = 500;

/// The matters with these ids, by id.
fn matters_by_id<'a>(
    c: &mut AnyConnection,
    ids: impl Iterator<Item = &'a str>,
) -> QueryResult<HashMap<String, Matter>> {
    let ids: Vec<&str> = ids.collect();
    let mut out = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let found: Vec<Matter> = routing_matters::table
            .filter(routing_matters::matter_id.eq_any(chunk))
            .select(Matter::as_select())
            .load(c)?;
        out.extend(found.into_iter().map(|m| (m.matter_id.clone(), m)));
    }
    Ok(out)
}

/// Training reads the resolved matters in pages of this many, so that a year of a million
/// matters never sits in memory at once.
pub const PAGE: i64 = 5_000;

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
        .select(Lead::as_select())
        .into_boxed();
    if let Some((at, matter)) = after {
        query = query.filter(
            dispatches::resolved_at
                .gt(*at)
                .or(dispatches::resolved_at.eq(*at).and(dispatches::matter_id.gt(matter.clone()))),
        );
    }
    let leads: Vec<Lead> = query.order((dispatches::resolved_at, dispatches::matter_id)).limit(limit).load(c)?;
    let next =
        leads.last().filter(|_| leads.len() as i64 == limit).and_then(|l| Some((l.resolved_at?, l.matter_id.clone())));
    let matters = matters_by_id(c, leads.iter().map(|l| l.matter_id.as_str()))?;
    let resolved = leads
        .into_iter()
        .filter_map(|lead| {
            let matter = matters.get(&lead.matter_id).filter(|m| m.resolved_by(&lead))?;
            Some(Resolved {
                resolved_at: lead.resolved_at?,
                example: matter.example(lead.unit),
                matter_id: lead.matter_id,
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

/// The matters received in `[from, to)` with a lead dispatch, by the moment of receipt: the
/// matters through their index on receipt, then their lead dispatches through theirs by matter,
/// a chunk at a time (one join would let a planner without statistics read every dispatch).
pub fn received_between(c: &mut AnyConnection, from: NaiveDateTime, to: NaiveDateTime) -> QueryResult<Vec<Arrival>> {
    let matters: Vec<Matter> = routing_matters::table
        .filter(routing_matters::case_received_at.ge(from))
        .filter(routing_matters::case_received_at.lt(to))
        .select(Matter::as_select())
        .order((routing_matters::case_received_at, routing_matters::matter_id))
        .load(c)?;
    let mut leads: HashMap<String, Vec<Lead>> = HashMap::new();
    for chunk in matters.chunks(CHUNK) {
        let ids: Vec<&str> = chunk.iter().map(|m| m.matter_id.as_str()).collect();
        let found: Vec<Lead> = dispatches::table
            .filter(dispatches::matter_id.eq_any(ids))
            .filter(dispatches::role.eq("lead"))
            .select(Lead::as_select())
            .load(c)?;
        for lead in found {
            leads.entry(lead.matter_id.clone()).or_default().push(lead);
        }
    }
    let mut out = Vec::new();
    for matter in matters {
        let Some(mut own) = leads.remove(&matter.matter_id) else { continue };
        own.sort_by_key(|l| l.assignment);
        let Some(first) = own.first().map(|l| l.unit.clone()) else { continue };
        // By assignment: the last lead that resolved it is its resolver.
        let resolver = own.iter().rev().find(|l| matter.resolved_by(l)).map(|l| l.unit.clone()).unwrap_or_default();
        let to_catalog = |l: &&Lead| matter.catalog_unit.as_deref() == Some(l.unit.as_str());
        let handed_on = |l: &&Lead| matches!(l.state.as_str(), "returned" | "transferred");
        out.push(Arrival {
            to_catalog_unit: own.iter().filter(to_catalog).count() as u32,
            handed_on_by_catalog_unit: own.iter().filter(to_catalog).filter(handed_on).count() as u32,
            example: matter.example(resolver),
            first,
            matter_id: matter.matter_id,
            received_at: matter.case_received_at,
            named: matter.named_unit,
            catalog: matter.catalog_unit,
        });
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
    page: i64,
    after: Option<(NaiveDateTime, String)>,
    buffer: VecDeque<Resolved>,
    exhausted: bool,
}

impl<'a, 'c> Pages<'a, 'c> {
    /// Reads pages of `page` matters (`PAGE` in the service).
    pub fn new(conn: &'a RefCell<&'c mut AnyConnection>, from: NaiveDateTime, to: NaiveDateTime, page: i64) -> Self {
        Self { conn, from, to, page, after: None, buffer: VecDeque::new(), exhausted: false }
    }
}

impl Resolutions for Pages<'_, '_> {
    type Error = diesel::result::Error;

    fn take_before(&mut self, moment: NaiveDateTime) -> QueryResult<Option<Resolved>> {
        // A page may keep none of its dispatches (each superseded by a later resolution).
        while self.buffer.is_empty() && !self.exhausted {
            let mut conn = self.conn.borrow_mut();
            let page = resolved_page(&mut conn, self.from, self.to, self.after.as_ref(), self.page)?;
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
