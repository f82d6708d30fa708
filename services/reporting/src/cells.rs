//! The facts behind a figure: for one cell of an attachment (the report, the column, the unit,
//! the period and the moment), the dispatches or evaluations it counts, paged, with the
//! citizen's data masked as the read model holds it.
//!
//! Each fact is judged by the same functions the figures are summed from
//! (`rollup::dispatch_cells`, `rollup::rating_cells` and the lapsed-window rule of
//! `read::rating_cells`), so a cell and its list cannot disagree: the list has exactly as many
//! rows as the figure says.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use caseflow_runtime::AnyConnection;
use caseflow_runtime::FieldViolation;
use caseflow_runtime::db::replanned::Replanned;

use crate::rollup::{self, AsOf, RatingCells};
use crate::store::{DispatchFact, report_cases, report_dispatches, report_ratings};

/// The largest page a caller may ask for.
pub const MAX_PER_PAGE: u32 = 200;
pub const DEFAULT_PER_PAGE: u32 = 50;

/// Which table a cell is in. Attachment 3's counts are attachment 2's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// 附件1: petition evaluations per subject (unit, or the petition agency).
    Attachment1,
    /// 附件2 (and 附件3): hotline lead dispatches per unit.
    Attachment2,
    /// Cases received (the overview's weekly counts and category shares), of one source.
    Cases,
    /// The bounce figures' counts: matters resolved (on their first assignment), returns asked,
    /// approved, rejected, wrongful. Both sources.
    Bounce,
    /// The moves from one unit (`unit`) straight to another (`next_unit`): the bounce page's flows.
    Moves,
}

/// The columns a count can be followed from, per table (rates are not counts).
pub const ATTACHMENT_1_COLUMNS: &[&str] = &["due", "expired", "satisfied", "basic", "unsatisfied"];
pub const ATTACHMENT_2_COLUMNS: &[&str] =
    &["received", "in_progress", "completed", "overdue_view", "overdue_handling", "unsatisfied"];
pub const ATTACHMENT_3_COLUMNS: &[&str] = &["received", "unsatisfied"];
pub const CASES_COLUMNS: &[&str] = &["received"];
pub const MOVES_COLUMNS: &[&str] = &["moved"];
pub const BOUNCE_COLUMNS: &[&str] = &[
    "resolved",
    "resolved_on_first_assignment",
    "returns_asked",
    "returns_approved",
    "returns_rejected",
    "wrongful_returns",
    "history_warnings",
    "history_warnings_handed_on",
];

/// A checked request for one cell's facts.
#[derive(Debug, Clone)]
pub struct CellQuery {
    pub report: String,
    pub table: Table,
    pub column: String,
    /// The unit (for attachment 1 also `agency`); absent: every unit, the column's total.
    pub unit: Option<String>,
    /// `moves`: the unit the matters went to next.
    pub next_unit: Option<String>,
    /// `cases`: hotline or petition.
    pub source: String,
    /// `cases`: only this category (a top-level code, or a sub-category `a.b`).
    pub category: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub as_of: DateTime<Utc>,
    pub page: u32,
    pub per_page: u32,
}

/// What a drill-down request names besides its period, as given.
#[derive(Debug, Clone, Copy, Default)]
pub struct Asked<'a> {
    pub report: Option<&'a str>,
    pub column: Option<&'a str>,
    pub unit: Option<&'a str>,
    pub next_unit: Option<&'a str>,
    pub source: Option<&'a str>,
    pub category: Option<&'a str>,
    pub page: Option<&'a str>,
    pub per_page: Option<&'a str>,
}

impl CellQuery {
    /// Checks the report, column and paging, naming every bad parameter at once.
    pub fn parse(
        asked: Asked<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        as_of: DateTime<Utc>,
    ) -> Result<Self, Vec<FieldViolation>> {
        let Asked { report, column, unit, next_unit, source, category, page, per_page } = asked;
        let mut errors = Vec::new();
        let (table, columns) = match report.unwrap_or("") {
            "attachment-1" => (Some(Table::Attachment1), ATTACHMENT_1_COLUMNS),
            "attachment-2" => (Some(Table::Attachment2), ATTACHMENT_2_COLUMNS),
            "attachment-3" => (Some(Table::Attachment2), ATTACHMENT_3_COLUMNS),
            "cases" => (Some(Table::Cases), CASES_COLUMNS),
            "bounce" => (Some(Table::Bounce), BOUNCE_COLUMNS),
            "moves" => (Some(Table::Moves), MOVES_COLUMNS),
            "" => {
                errors.push(FieldViolation::new(
                    "report",
                    "is required: attachment-1, attachment-2, attachment-3, cases, bounce or moves",
                ));
                (None, &[][..])
            }
            other => {
                errors.push(FieldViolation::new(
                    "report",
                    format!("'{other}' is not one of attachment-1, attachment-2, attachment-3, cases, bounce, moves"),
                ));
                (None, &[][..])
            }
        };
        let column = column.unwrap_or("").to_owned();
        if table.is_some() && !columns.contains(&column.as_str()) {
            errors.push(FieldViolation::new(
                "column",
                format!("'{column}' is not a count of {}: one of {}", report.unwrap_or(""), columns.join(", ")),
            ));
        }
        let unit = unit.map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned);
        if let Some(u) = &unit
            && (u.len() > 64 || !u.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
        {
            errors.push(FieldViolation::new("unit", "must be a unit code: letters, digits, _ - and ., at most 64"));
        }
        let source = match (table, source.unwrap_or("")) {
            (Some(Table::Cases), s @ ("hotline" | "petition")) => s.to_owned(),
            (Some(Table::Cases), s) => {
                errors.push(FieldViolation::new(
                    "source",
                    format!("'{s}' is not one of hotline, petition (required for cases)"),
                ));
                String::new()
            }
            (_, "") => String::new(),
            (_, _) => {
                errors.push(FieldViolation::new("source", "is read only for report=cases"));
                String::new()
            }
        };
        let category = category.map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned);
        if let Some(c) = &category
            && (c.len() > 64 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.'))
        {
            errors.push(FieldViolation::new("category", "must be a category code (letters, digits, _ and .)"));
        }
        if category.is_some() && table != Some(Table::Cases) {
            errors.push(FieldViolation::new("category", "is read only for report=cases"));
        }
        if unit.is_some() && table == Some(Table::Cases) {
            errors.push(FieldViolation::new("unit", "cases belong to no unit: leave it out for report=cases"));
        }
        let next_unit = next_unit.map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned);
        if let Some(u) = &next_unit
            && (u.len() > 64 || !u.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
        {
            errors
                .push(FieldViolation::new("next_unit", "must be a unit code: letters, digits, _ - and ., at most 64"));
        }
        match (table == Some(Table::Moves), &unit, &next_unit) {
            (true, None, _) => {
                errors.push(FieldViolation::new("unit", "is required for report=moves: where the matters were"))
            }
            (true, _, None) => {
                errors.push(FieldViolation::new("next_unit", "is required for report=moves: where they went next"));
            }
            (false, _, Some(_)) => errors.push(FieldViolation::new("next_unit", "is read only for report=moves")),
            _ => {}
        }
        let mut number = |name: &str, raw: Option<&str>, default: u32, max: u32| match raw {
            None | Some("") => default,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => n,
                _ => {
                    errors.push(FieldViolation::new(name, format!("must be a whole number from 1 to {max}")));
                    default
                }
            },
        };
        let page = number("page", page, 1, 1_000_000);
        let per_page = number("per_page", per_page, DEFAULT_PER_PAGE, MAX_PER_PAGE);
        match table {
            Some(table) if errors.is_empty() => Ok(Self {
                report: report.unwrap_or_default().to_owned(),
                table,
                column,
                unit,
                next_unit,
                source,
                category,
                from,
                to,
                as_of,
                page,
                per_page,
            }),
            _ => Err(errors),
        }
    }
}

/// One fact behind a cell.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CellRow {
    pub case_id: String,
    /// The dispatch (attachment 2, bounce resolutions); for attachment 1, the dispatch the
    /// rating applies to, if any; for bounce returns, the return request.
    pub dispatch_id: Option<String>,
    pub unit: String,
    pub unit_name: String,
    pub received_at: DateTime<Utc>,
    pub category: String,
    pub sub_district: String,
    /// The citizen as the read model holds them: masked (陈**), empty when anonymous.
    pub citizen: String,
    /// The dispatch's status (open, resolved), or the evaluation's (due, rated, expired).
    pub status: String,
    pub acknowledge_deadline: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolve_deadline: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The rating's level (satisfied, basic, unsatisfied), when rated.
    pub rating: Option<String>,
}

/// One page of the facts behind a cell, and how many there are in all (the figure).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CellRows {
    pub report: String,
    pub column: String,
    pub unit: Option<String>,
    pub next_unit: Option<String>,
    pub source: Option<String>,
    pub category: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub as_of: DateTime<Utc>,
    /// Every fact the cell counts: equal to the figure.
    pub count: u64,
    pub page: u32,
    pub per_page: u32,
    pub rows: Vec<CellRow>,
}

fn rated(cells: &RatingCells, column: &str) -> bool {
    let v = match column {
        "due" => cells.due,
        "expired" => cells.expired,
        "satisfied" => cells.satisfied,
        "basic" => cells.basic,
        "unsatisfied" => cells.unsatisfied,
        _ => 0,
    };
    v > 0
}

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

/// A fact that a cell counts, before the case's details are joined to it.
struct Found {
    case_id: String,
    dispatch_id: Option<String>,
    unit: String,
    received_at: NaiveDateTime,
    status: String,
    dispatch: Option<DispatchFact>,
    rating: Option<String>,
}

type Backend = <AnyConnection as diesel::Connection>::Backend;

/// The lead dispatches one column of attachment 2 counts as of the moment, as SQL. These are
/// `rollup::dispatch_cells`'s rules, written as predicates so that the database counts and
/// pages a cell of any size through the unit's index; `tests/drilldown.rs` follows random
/// cells of random event sets and compares each count with the figure the rollups give.
fn hotline_cell(q: &CellQuery) -> report_dispatches::BoxedQuery<'static, Backend> {
    use report_dispatches as d;
    let (from, to, at) = (q.from.naive_utc(), q.to.naive_utc(), q.as_of.naive_utc());
    // A dispatch exists once its case was received; only lead dispatches a unit holds count.
    // One upper bound on the receipt (two would turn SQLite away from the unit's index).
    let mut query = d::table.filter(d::source.eq("hotline")).filter(d::received_at.ge(from)).into_boxed();
    query = if at < to { query.filter(d::received_at.le(at)) } else { query.filter(d::received_at.lt(to)) };
    query = query.filter(d::role.eq("lead")).filter(d::status.eq_any(["open", "resolved"]));
    query = match &q.unit {
        Some(unit) => query.filter(d::unit.eq(unit.clone())),
        None => query.filter(d::unit.is_not_null()),
    };
    // Resolved by then; a deadline passes after its moment.
    let open_then = || d::resolved_at.is_null().or(d::resolved_at.gt(at));
    match q.column.as_str() {
        "received" => query,
        "completed" => query.filter(d::resolved_at.le(at)),
        "overdue_handling" => query.filter(open_then()).filter(d::resolve_deadline.lt(at)),
        "in_progress" => query.filter(open_then()).filter(d::resolve_deadline.is_null().or(d::resolve_deadline.ge(at))),
        // Acknowledged by then but late, or not acknowledged by a deadline that has passed.
        "overdue_view" => query.filter(
            d::acknowledged_at
                .le(at)
                .and(d::acknowledged_at.gt(d::acknowledge_deadline))
                .or(d::acknowledged_at.is_null().or(d::acknowledged_at.gt(at)).and(d::acknowledge_deadline.lt(at))),
        ),
        // Only a rating has a level (due and expired ones have none), and the unsatisfied ones
        // are read from their own partial index: said in so many words so that it serves.
        "unsatisfied" => query.filter(d::resolved_at.le(at)).filter(
            d::dispatch_id.nullable().eq_any(
                report_ratings::table
                    .filter(diesel::dsl::sql::<diesel::sql_types::Bool>("report_ratings.mapped = 'unsatisfied'"))
                    .select(report_ratings::dispatch_id),
            ),
        ),
        _ => query.filter(d::dispatch_id.is_null()),
    }
}

/// How many dispatches a cell of attachment 2 counts (the figure itself, summed from the
/// rollups as the attachment sums it), and the page asked for.
fn hotline_page(conn: &mut AnyConnection, q: &CellQuery) -> QueryResult<(u64, Vec<Found>)> {
    use report_dispatches as d;
    let cells =
        crate::read::dispatch_cells(conn, "hotline", q.from.naive_utc(), q.to.naive_utc(), q.as_of.naive_utc())?;
    let count: i64 = cells
        .iter()
        .filter(|(unit, _)| q.unit.as_ref().is_none_or(|u| u == *unit))
        .map(|(_, c)| match q.column.as_str() {
            "received" => c.received,
            "in_progress" => c.in_progress,
            "completed" => c.completed,
            "overdue_view" => c.overdue_view,
            "overdue_handling" => c.overdue_handling,
            "unsatisfied" => c.unsatisfied,
            _ => 0,
        })
        .sum();
    let skip = i64::from(q.page - 1) * i64::from(q.per_page);
    // Planned with its values on each run (`Replanned`): the unit leads two indexes, and a plan
    // kept from when the table was small could read the unit's open dispatches of every period.
    let facts: Vec<DispatchFact> = Replanned(
        hotline_cell(q)
            .order((d::received_at.asc(), d::case_id.asc(), d::dispatch_id.asc()))
            .limit(i64::from(q.per_page))
            .offset(skip)
            .select(DispatchFact::as_select()),
    )
    .load(conn)?;
    let ids: Vec<&str> = facts.iter().map(|f| f.dispatch_id.as_str()).collect();
    let unsatisfied = crate::read::unsatisfied_among(conn, &ids)?;
    let shown = facts
        .into_iter()
        .map(|f| Found {
            case_id: f.case_id.clone(),
            dispatch_id: Some(f.dispatch_id.clone()),
            unit: f.unit.clone().unwrap_or_default(),
            received_at: f.received_at,
            status: f.status.clone(),
            rating: unsatisfied.contains(&f.dispatch_id).then(|| "unsatisfied".to_owned()),
            dispatch: Some(f),
        })
        .collect();
    Ok((u64::try_from(count).unwrap_or(0), shown))
}

/// Every fact behind the cell, in the order of receipt.
fn found(conn: &mut AnyConnection, q: &CellQuery) -> QueryResult<Vec<Found>> {
    let (from, to, at) = (q.from.naive_utc(), q.to.naive_utc(), q.as_of.naive_utc());
    let mut out = match q.table {
        // Read by `hotline_page`, in SQL.
        Table::Attachment2 => Vec::new(),
        Table::Attachment1 => {
            use report_ratings as r;
            let period_cases = || {
                report_cases::table
                    .filter(report_cases::source.eq("petition"))
                    .filter(report_cases::received_at.ge(from))
                    .filter(report_cases::received_at.lt(to))
            };
            let received: std::collections::HashMap<String, NaiveDateTime> = period_cases()
                .select((report_cases::case_id, report_cases::received_at))
                .load::<(String, NaiveDateTime)>(conn)?
                .into_iter()
                .collect();
            let mut query = r::table
                .filter(r::source.eq("petition"))
                .filter(r::case_id.eq_any(period_cases().select(report_cases::case_id)))
                .select((r::case_id, r::subject, r::dispatch_id, r::status, r::mapped, r::window_ends))
                .into_boxed();
            if let Some(unit) = &q.unit {
                query = query.filter(r::subject.eq(unit.clone()));
            }
            type Row = (String, String, Option<String>, String, Option<String>, Option<NaiveDateTime>);
            let rows: Vec<Row> = query.load(conn)?;
            let mut out = Vec::new();
            for (case_id, subject, dispatch_id, status, mapped, window_ends) in rows {
                let Some(received_at) = received.get(&case_id).copied() else { continue };
                // As `read::rating_cells` counts: an evaluation still due whose window closed
                // by the moment is expired, recorded or not.
                let mut cells = rollup::rating_cells(&status, mapped.as_deref());
                if status == "due" && window_ends.is_some_and(|w| w < at) {
                    cells.expired += 1;
                }
                if rated(&cells, &q.column) {
                    out.push(Found {
                        case_id,
                        dispatch_id,
                        unit: subject,
                        received_at,
                        status,
                        dispatch: None,
                        rating: mapped,
                    });
                }
            }
            out
        }
        Table::Bounce if q.column.starts_with("resolved") => {
            use report_dispatches as d;
            // As `Reports::bounce` reads them: every dispatch of both sources as of the end of
            // time, a matter resolved by the unit that holds it.
            let mut query = d::table
                .filter(d::source.eq_any(["hotline", "petition"]))
                .filter(d::received_at.ge(from))
                .filter(d::received_at.lt(to))
                .select(DispatchFact::as_select())
                .into_boxed();
            if let Some(unit) = &q.unit {
                query = query.filter(d::unit.eq(unit.clone()));
            }
            let facts: Vec<DispatchFact> = query.load(conn)?;
            let mut out = Vec::new();
            for f in facts {
                let Some(((_, unit, _), cells)) = rollup::dispatch_cells(&f, false, AsOf::End) else {
                    continue;
                };
                let counts = match q.column.as_str() {
                    "resolved" => cells.on_time + cells.late > 0,
                    _ => cells.first_resolved > 0,
                };
                if counts {
                    out.push(Found {
                        case_id: f.case_id.clone(),
                        dispatch_id: Some(f.dispatch_id.clone()),
                        unit,
                        received_at: f.received_at,
                        status: f.status.clone(),
                        rating: None,
                        dispatch: Some(f),
                    });
                }
            }
            out
        }
        Table::Moves => {
            use report_dispatches as d;
            // A flow counts the moves to another unit (`views::moves_of`), none from a unit to itself.
            let (Some(before), Some(unit)) = (q.unit.clone(), q.next_unit.clone()) else { return Ok(Vec::new()) };
            if before == unit {
                return Ok(Vec::new());
            }
            let mut query = d::table
                .filter(d::source.eq_any(["hotline", "petition"]))
                .filter(d::received_at.ge(from))
                .filter(d::received_at.lt(to))
                .filter(crate::views::moved())
                .into_boxed();
            query = if before == crate::views::TRIAGE {
                query.filter(d::previous_unit.is_null())
            } else {
                query.filter(d::previous_unit.eq(before))
            };
            query = if unit == crate::views::TRIAGE {
                query.filter(d::unit.is_null())
            } else {
                query.filter(d::unit.eq(unit))
            };
            let facts: Vec<DispatchFact> = query
                .order((d::received_at.asc(), d::case_id.asc(), d::dispatch_id.asc()))
                .select(DispatchFact::as_select())
                .load(conn)?;
            facts
                .into_iter()
                .map(|f| Found {
                    case_id: f.case_id.clone(),
                    dispatch_id: Some(f.dispatch_id.clone()),
                    unit: f.unit.clone().unwrap_or_else(|| crate::views::TRIAGE.to_owned()),
                    received_at: f.received_at,
                    status: f.status.clone(),
                    dispatch: None,
                    rating: None,
                })
                .collect()
        }
        Table::Bounce if q.column.starts_with("history_warnings") => {
            use crate::store::{report_dispatches as d, report_history_warnings as w};
            // As `Reports::bounce` reads them: the warned dispatches of matters received in the
            // period, with their status now.
            let mut query = w::table
                .inner_join(d::table)
                .filter(w::received_at.ge(from))
                .filter(w::received_at.lt(to))
                .select((w::case_id, w::dispatch_id, w::unit, w::received_at, d::status))
                .into_boxed();
            if let Some(unit) = &q.unit {
                query = query.filter(w::unit.eq(unit.clone()));
            }
            if q.column == "history_warnings_handed_on" {
                query = query.filter(d::status.eq_any(["returned", "transferred"]));
            }
            let rows: Vec<(String, String, String, NaiveDateTime, String)> = query.load(conn)?;
            rows.into_iter()
                .map(|(case_id, dispatch_id, unit, received_at, status)| Found {
                    case_id,
                    dispatch_id: Some(dispatch_id),
                    unit,
                    received_at,
                    status,
                    dispatch: None,
                    rating: None,
                })
                .collect()
        }
        Table::Bounce => {
            use crate::store::report_returns as r;
            let mut query = r::table
                .filter(r::received_at.ge(from))
                .filter(r::received_at.lt(to))
                .select((r::return_id, r::unit, r::matter_id, r::status, r::wrongful, r::received_at))
                .into_boxed();
            if let Some(unit) = &q.unit {
                query = query.filter(r::unit.eq(unit.clone()));
            }
            type Row = (String, String, String, String, bool, Option<NaiveDateTime>);
            let rows: Vec<Row> = query.load(conn)?;
            let kept: Vec<Row> = rows
                .into_iter()
                .filter(|(_, _, _, status, wrongful, _)| match q.column.as_str() {
                    "returns_approved" => status == "approved",
                    "returns_rejected" => status == "rejected",
                    "wrongful_returns" => *wrongful,
                    _ => true,
                })
                .collect();
            // Each return's case, through its matter's dispatches.
            let matters: Vec<&str> = kept.iter().map(|r| r.2.as_str()).collect();
            let mut case_of: std::collections::HashMap<String, String> = std::collections::HashMap::new();
            for chunk in matters.chunks(500) {
                let pairs: Vec<(String, String)> = report_dispatches::table
                    .filter(report_dispatches::matter_id.eq_any(chunk))
                    .select((report_dispatches::matter_id, report_dispatches::case_id))
                    .load(conn)?;
                case_of.extend(pairs);
            }
            kept.into_iter()
                .map(|(return_id, unit, matter, status, _, received_at)| Found {
                    case_id: case_of.get(&matter).cloned().unwrap_or_default(),
                    dispatch_id: Some(return_id),
                    unit,
                    received_at: received_at.unwrap_or(from),
                    status,
                    dispatch: None,
                    rating: None,
                })
                .collect()
        }
        Table::Cases => {
            use report_cases as c;
            let mut query = c::table
                .filter(c::source.eq(q.source.clone()))
                .filter(c::received_at.ge(from))
                .filter(c::received_at.lt(to))
                .select((c::case_id, c::received_at))
                .into_boxed();
            if let Some(cat) = &q.category {
                query = if cat.contains('.') {
                    query.filter(c::category.eq(cat.clone()))
                } else {
                    query.filter(c::category.eq(cat.clone()).or(c::category.like(format!("{cat}.%"))))
                };
            }
            let rows: Vec<(String, NaiveDateTime)> = query.load(conn)?;
            rows.into_iter()
                .map(|(case_id, received_at)| Found {
                    case_id,
                    dispatch_id: None,
                    unit: String::new(),
                    received_at,
                    status: "received".to_owned(),
                    dispatch: None,
                    rating: None,
                })
                .collect()
        }
    };
    out.sort_by(|a, b| {
        (a.received_at, &a.case_id, &a.dispatch_id, &a.unit).cmp(&(b.received_at, &b.case_id, &b.dispatch_id, &b.unit))
    });
    Ok(out)
}

/// The page of facts asked for, with the case's details (masked) joined to each.
pub fn page(conn: &mut AnyConnection, units: &crate::units::Units, q: &CellQuery) -> QueryResult<CellRows> {
    let (count, shown) = if q.table == Table::Attachment2 {
        hotline_page(conn, q)?
    } else {
        let all = found(conn, q)?;
        let count = all.len() as u64;
        let skip = usize::try_from(u64::from(q.page - 1) * u64::from(q.per_page)).unwrap_or(usize::MAX);
        (count, all.into_iter().skip(skip).take(q.per_page as usize).collect())
    };
    let ids: Vec<&str> = shown.iter().map(|f| f.case_id.as_str()).collect();
    let cases: Vec<(String, String, String, String)> = report_cases::table
        .filter(report_cases::case_id.eq_any(&ids))
        .select((
            report_cases::case_id,
            report_cases::category,
            report_cases::sub_district,
            report_cases::citizen_masked,
        ))
        .load(conn)?;
    let details: std::collections::HashMap<String, (String, String, String)> =
        cases.into_iter().map(|(id, c, s, m)| (id, (c, s, m))).collect();
    let rows = shown
        .into_iter()
        .map(|f| {
            let (category, sub_district, citizen) = details.get(&f.case_id).cloned().unwrap_or_default();
            let d = f.dispatch.as_ref();
            CellRow {
                unit_name: match f.unit.as_str() {
                    "" => String::new(),
                    rollup::AGENCY => "信访机构".to_owned(),
                    "triage" => "待分拨".to_owned(),
                    u => units.name(u),
                },
                case_id: f.case_id,
                dispatch_id: f.dispatch_id,
                unit: f.unit,
                received_at: utc(f.received_at),
                category,
                sub_district,
                citizen,
                status: f.status,
                acknowledge_deadline: d.and_then(|d| d.acknowledge_deadline).map(utc),
                acknowledged_at: d.and_then(|d| d.acknowledged_at).map(utc),
                resolve_deadline: d.and_then(|d| d.resolve_deadline).map(utc),
                resolved_at: d.and_then(|d| d.resolved_at).map(utc),
                rating: f.rating,
            }
        })
        .collect();
    Ok(CellRows {
        report: q.report.clone(),
        column: q.column.clone(),
        unit: q.unit.clone(),
        next_unit: q.next_unit.clone(),
        source: Some(q.source.clone()).filter(|s| !s.is_empty()),
        category: q.category.clone(),
        from: q.from,
        to: q.to,
        as_of: q.as_of,
        count,
        page: q.page,
        per_page: q.per_page,
        rows,
    })
}
