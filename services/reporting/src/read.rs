//! Reading the rollups for a period [from, to): whole district days from the rollup tables, the
//! ragged edges from the facts, and, for a report as of a moment, the dispatches that have not
//! settled by then. Plain functions over a connection, so the benchmark and the tests call
//! exactly what the service does.

use std::collections::BTreeMap;

use caseflow_runtime::AnyConnection;
use caseflow_runtime::db::replanned::Replanned;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::rollup::{self, AsOf, DispatchCells, RatingCells, Split, day_start, sum_by_unit};
use crate::store::{
    CaseFact, DispatchFact, report_case_days, report_cases, report_dispatch_days, report_dispatches,
    report_rating_days, report_ratings, report_term_days,
};

/// Keeps `IN (...)` lists well under both backends' bind limits.
const CHUNK: usize = 5_000;

/// The dispatches among `ids` rated unsatisfied. Read by `dispatch_id` alone, the rest judged
/// here: with the status in the query too, SQLite without statistics reads every rated
/// evaluation through the status index rather than the few rows of an `IN` list.
pub(crate) fn unsatisfied_among(
    conn: &mut AnyConnection,
    ids: &[&str],
) -> QueryResult<std::collections::HashSet<String>> {
    let mut out = std::collections::HashSet::new();
    for chunk in ids.chunks(CHUNK) {
        let found: Vec<(Option<String>, String, Option<String>)> =
            Replanned(report_ratings::table.filter(report_ratings::dispatch_id.eq_any(chunk)).select((
                report_ratings::dispatch_id,
                report_ratings::status,
                report_ratings::mapped,
            )))
            .load(conn)?;
        out.extend(
            found
                .into_iter()
                .filter(|(_, status, mapped)| status == "rated" && mapped.as_deref() == Some("unsatisfied"))
                .filter_map(|(id, _, _)| id),
        );
    }
    Ok(out)
}

fn facts_received(
    conn: &mut AnyConnection,
    source: &str,
    (a, b): (NaiveDateTime, NaiveDateTime),
) -> QueryResult<Vec<DispatchFact>> {
    report_dispatches::table
        .filter(report_dispatches::source.eq(source))
        .filter(report_dispatches::received_at.ge(a))
        .filter(report_dispatches::received_at.lt(b))
        .select(DispatchFact::as_select())
        .load(conn)
}

/// Each unit's dispatch cells for `source` cases received in [from, to), as of `as_of`.
///
/// The whole days of the period are read from the rollups at the edge of a *base* day: the end
/// of the day before `as_of`'s, or of `as_of`'s own day, whichever edge is nearer. The rows of
/// the days received by then, less the shifts after the base day, are the cells as of that
/// edge. The hour totals then move the cells to the hour edge nearest `as_of` (when only the
/// period's days changed in those hours: see `hours_apply`), and the dispatches with a moment
/// (`rollup::moments`) between that edge and `as_of` are read one by one and corrected: at most
/// half an hour of them. The ragged ends of the period are read as facts.
pub fn dispatch_cells(
    conn: &mut AnyConnection,
    source: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
    as_of: NaiveDateTime,
) -> QueryResult<BTreeMap<String, DispatchCells>> {
    let split = Split::of(from, to);
    let mut cells: BTreeMap<String, DispatchCells> = BTreeMap::new();
    // The edges, exactly as of `as_of`.
    for range in split.edges() {
        let facts = facts_received(conn, source, range)?;
        let unsatisfied = unsatisfied_among(conn, &facts.iter().map(|f| f.dispatch_id.as_str()).collect::<Vec<_>>())?;
        for f in &facts {
            if let Some(((_, unit, _), c)) =
                rollup::dispatch_cells(f, unsatisfied.contains(&f.dispatch_id), AsOf::At(as_of))
            {
                *cells.entry(unit).or_default() += c;
            }
        }
    }
    if split.first_day >= split.end_day {
        return Ok(cells);
    }
    let day = rollup::district_day(as_of);
    let next = day.succ_opt().unwrap_or(day);
    // The edge nearer to `as_of`: the start of its day (the end of the day before) or its end.
    let (base_day, edge) = if as_of - day_start(day) < day_start(next) - as_of {
        (day.pred_opt().unwrap_or(day), day_start(day))
    } else {
        (day, day_start(next))
    };
    // Whole days received by the edge, as they stand there.
    let received_by = split.end_day.min(base_day.succ_opt().unwrap_or(base_day));
    if split.first_day < received_by && received_by > base_day {
        // Every day of receipt up to the base day, inside the period: the shifts up to it.
        for (unit, c) in received_since(conn, source, split.first_day, base_day, edge)? {
            *cells.entry(unit).or_default() += c;
        }
    } else if split.first_day < received_by {
        // The period ended before the base day: its days as they stand once settled, less what
        // changed after the base day.
        for (unit, c) in dispatch_days(conn, source, (split.first_day, received_by))? {
            *cells.entry(unit).or_default() += c;
        }
        for (unit, c) in shifts_after(conn, source, (split.first_day, received_by), base_day, edge)? {
            *cells.entry(unit).or_default() += DispatchCells::default() - c;
        }
    }
    // From the midnight to the hour edge nearest `as_of`, when the period's days are the only
    // ones of their months that changed in between: every unit's changes in those hours.
    let mut edge = edge;
    let hour = rollup::hour_start(as_of + chrono::Duration::minutes(30));
    if received_by > base_day && hour != edge {
        let (lo, hi) = if hour < edge { (hour, edge) } else { (edge, hour) };
        if hours_apply(conn, source, &split, (lo, hi))? {
            for (unit, c) in hour_shifts(conn, source, rollup::month_start(split.first_day), (lo, hi))? {
                *cells.entry(unit).or_default() += if hour < edge { DispatchCells::default() - c } else { c };
            }
            edge = hour;
        }
    }
    // The dispatches that changed between the edge and `as_of`.
    let (lo, hi) = if as_of < edge { (as_of, edge) } else { (edge, as_of) };
    let moved: Vec<DispatchFact> = moved_between(conn, source, (lo, hi))?
        .into_iter()
        .filter(|f| {
            let received = rollup::district_day(f.received_at);
            received >= split.first_day && received < split.end_day
        })
        .collect();
    let ids: Vec<&str> = moved.iter().map(|f| f.dispatch_id.as_str()).collect();
    let unsatisfied = unsatisfied_among(conn, &ids)?;
    for f in &moved {
        let rated = unsatisfied.contains(&f.dispatch_id);
        let then = rollup::dispatch_cells(f, rated, AsOf::At(as_of));
        let at_edge = rollup::dispatch_cells(f, rated, AsOf::Before(edge));
        if let Some(((_, unit, _), c)) = &then {
            *cells.entry(unit.clone()).or_default() += *c;
        }
        if let Some(((_, unit, _), c)) = &at_edge {
            *cells.entry(unit.clone()).or_default() += DispatchCells::default() - *c;
        }
    }
    Ok(cells)
}

/// The sums per unit of a dispatch rollup's cells, as the database adds them up.
#[derive(QueryableByName)]
struct Summed {
    #[diesel(sql_type = diesel::sql_types::Text)]
    unit: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    received: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    in_progress: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    completed: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    overdue_view: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    overdue_handling: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    unsatisfied: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    on_time: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    late: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    first_resolved: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    elsewhere_secs: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    rehandled: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    first_on_time: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    first_late: i64,
}

/// The cells a rollup table sums, as `CAST(SUM(x) AS BIGINT) AS x` (PostgreSQL sums BIGINT
/// as NUMERIC).
const SUMS: &str = "unit, CAST(SUM(received) AS BIGINT) AS received, CAST(SUM(in_progress) AS BIGINT) AS in_progress, \
     CAST(SUM(completed) AS BIGINT) AS completed, CAST(SUM(overdue_view) AS BIGINT) AS overdue_view, \
     CAST(SUM(overdue_handling) AS BIGINT) AS overdue_handling, CAST(SUM(unsatisfied) AS BIGINT) AS unsatisfied, \
     CAST(SUM(on_time) AS BIGINT) AS on_time, CAST(SUM(late) AS BIGINT) AS late, \
     CAST(SUM(first_resolved) AS BIGINT) AS first_resolved, CAST(SUM(elsewhere_secs) AS BIGINT) AS elsewhere_secs, \
     CAST(SUM(rehandled) AS BIGINT) AS rehandled, CAST(SUM(first_on_time) AS BIGINT) AS first_on_time, \
     CAST(SUM(first_late) AS BIGINT) AS first_late";

fn summed(rows: Vec<Summed>) -> BTreeMap<String, DispatchCells> {
    rows.into_iter()
        .map(|r| {
            let cells = DispatchCells {
                received: r.received,
                in_progress: r.in_progress,
                completed: r.completed,
                overdue_view: r.overdue_view,
                overdue_handling: r.overdue_handling,
                unsatisfied: r.unsatisfied,
                on_time: r.on_time,
                late: r.late,
                first_resolved: r.first_resolved,
                elsewhere_secs: r.elsewhere_secs,
                rehandled: r.rehandled,
                first_on_time: r.first_on_time,
                first_late: r.first_late,
            };
            (r.unit, cells)
        })
        .collect()
}

/// The dispatch rollup rows of `source` received on the days [first, end), summed per unit by
/// the database.
fn dispatch_days(
    conn: &mut AnyConnection,
    source: &str,
    (first, end): (NaiveDate, NaiveDate),
) -> QueryResult<BTreeMap<String, DispatchCells>> {
    use diesel::sql_types::{Date, Text};
    let rows: Vec<Summed> = diesel::sql_query(format!(
        "SELECT {SUMS} FROM report_dispatch_days WHERE source = $1 AND day >= $2 AND day < $3 GROUP BY unit"
    ))
    .bind::<Text, _>(source)
    .bind::<Date, _>(first)
    .bind::<Date, _>(end)
    .load(conn)?;
    Ok(summed(rows))
}

/// No record is older: the lower bound of "every day before".
fn earliest() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default()
}

/// The cells at the end of `base_day` of the dispatches of `source` received from `first` to
/// `base_day`. A shift never falls before its day of receipt, so these are the shifts up to the
/// base day of every day of receipt (`report_shift_totals`, a row per unit and day), less those
/// of the days before `first`: their rows less their shifts after the base day (only the days
/// not settled by `edge` have any). No read grows with the days of the period not yet settled.
fn received_since(
    conn: &mut AnyConnection,
    source: &str,
    first: NaiveDate,
    base_day: NaiveDate,
    edge: NaiveDateTime,
) -> QueryResult<BTreeMap<String, DispatchCells>> {
    use diesel::sql_types::{Date, Text};
    let through: Vec<Summed> = diesel::sql_query(format!(
        "SELECT {SUMS} FROM report_shift_totals WHERE source = $1 AND shift_day <= $2 GROUP BY unit"
    ))
    .bind::<Text, _>(source)
    .bind::<Date, _>(base_day)
    .load(conn)?;
    let mut cells = summed(through);
    for (unit, c) in dispatch_days(conn, source, (earliest(), first))? {
        *cells.entry(unit).or_default() += DispatchCells::default() - c;
    }
    for (unit, c) in shifts_after(conn, source, (earliest(), first), base_day, edge)? {
        *cells.entry(unit).or_default() += c;
    }
    cells.retain(|_, c| !c.is_zero());
    Ok(cells)
}

/// The shifts after `base_day` of the dispatches of `source` received on the days
/// [first, end), summed per unit. Only the days of receipt that had not settled by `edge`
/// (their `settles_by` is later) can have any, so only those are read, and the database adds
/// them up.
fn shifts_after(
    conn: &mut AnyConnection,
    source: &str,
    (first, end): (NaiveDate, NaiveDate),
    base_day: NaiveDate,
    edge: NaiveDateTime,
) -> QueryResult<BTreeMap<String, DispatchCells>> {
    use diesel::sql_types::{Date, Text};
    let mut days: Vec<NaiveDate> = report_dispatch_days::table
        .filter(report_dispatch_days::source.eq(source))
        .filter(report_dispatch_days::day.ge(first))
        .filter(report_dispatch_days::day.lt(end))
        .filter(report_dispatch_days::settles_by.ge(edge))
        .select(report_dispatch_days::day)
        .distinct()
        .load(conn)?;
    days.sort();
    // Consecutive days become one range of receipt.
    let mut ranges: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for day in days {
        let next = day.succ_opt().unwrap_or(day);
        match ranges.last_mut() {
            Some((_, end)) if *end == day => *end = next,
            _ => ranges.push((day, next)),
        }
    }
    let mut out: BTreeMap<String, DispatchCells> = BTreeMap::new();
    for (a, b) in ranges {
        let rows: Vec<Summed> = diesel::sql_query(format!(
            "SELECT {SUMS} FROM report_dispatch_shifts \
             WHERE source = $1 AND day >= $2 AND day < $3 AND shift_day > $4 GROUP BY unit"
        ))
        .bind::<Text, _>(source)
        .bind::<Date, _>(a)
        .bind::<Date, _>(b)
        .bind::<Date, _>(base_day)
        .load(conn)?;
        for (unit, c) in summed(rows) {
            *out.entry(unit).or_default() += c;
        }
    }
    Ok(out)
}

/// Whether the hour rows of [lo, hi) from the month the period starts in are the changes of the
/// period's days alone: no day of that month before the period was still changing at `lo`
/// (none when the period starts on the month's first day), and no day after the period could
/// (its last day ends by `hi`, and nothing changes before its receipt).
fn hours_apply(
    conn: &mut AnyConnection,
    source: &str,
    split: &Split,
    (lo, hi): (NaiveDateTime, NaiveDateTime),
) -> QueryResult<bool> {
    if hi > day_start(split.end_day) {
        return Ok(false);
    }
    let month = rollup::month_start(split.first_day);
    if month == split.first_day {
        return Ok(true);
    }
    let unsettled_before: Option<NaiveDate> = report_dispatch_days::table
        .filter(report_dispatch_days::source.eq(source))
        .filter(report_dispatch_days::day.ge(month))
        .filter(report_dispatch_days::day.lt(split.first_day))
        .filter(report_dispatch_days::settles_by.ge(lo))
        .select(report_dispatch_days::day)
        .first(conn)
        .optional()?;
    Ok(unsettled_before.is_none())
}

/// Every unit's changes of `source` in the hours [lo, hi) of the dispatches received from the
/// month `month` on, summed per unit by the database.
fn hour_shifts(
    conn: &mut AnyConnection,
    source: &str,
    month: NaiveDate,
    (lo, hi): (NaiveDateTime, NaiveDateTime),
) -> QueryResult<BTreeMap<String, DispatchCells>> {
    use diesel::sql_types::{Date, Text, Timestamp};
    let rows: Vec<Summed> = diesel::sql_query(format!(
        "SELECT {SUMS} FROM report_shift_hours \
         WHERE source = $1 AND shift_hour >= $2 AND shift_hour < $3 AND received_month >= $4 GROUP BY unit"
    ))
    .bind::<Text, _>(source)
    .bind::<Timestamp, _>(lo)
    .bind::<Timestamp, _>(hi)
    .bind::<Date, _>(month)
    .load(conn)?;
    Ok(summed(rows))
}

/// The dispatches of `source` with a moment (receipt, deadline, acknowledgement, resolution)
/// in [lo, hi], each once, found through the index on each moment.
fn moved_between(
    conn: &mut AnyConnection,
    source: &str,
    (lo, hi): (NaiveDateTime, NaiveDateTime),
) -> QueryResult<Vec<DispatchFact>> {
    use report_dispatches as d;
    let base = || d::table.filter(d::source.eq(source)).select(DispatchFact::as_select());
    let mut found: BTreeMap<String, DispatchFact> = BTreeMap::new();
    // Planned with their values on each run (`Replanned`): the source leads five indexes of
    // the table, and a plan kept from when it was small can pick one by a tie and read every
    // dispatch of the source.
    let batches = [
        Replanned(base().filter(d::received_at.between(lo, hi))).load(conn)?,
        Replanned(base().filter(d::acknowledge_deadline.between(lo, hi))).load(conn)?,
        Replanned(base().filter(d::acknowledged_at.between(lo, hi))).load(conn)?,
        Replanned(base().filter(d::resolve_deadline.between(lo, hi))).load(conn)?,
        Replanned(base().filter(d::resolved_at.between(lo, hi))).load(conn)?,
    ];
    for f in batches.into_iter().flatten() {
        found.entry(f.dispatch_id.clone()).or_insert(f);
    }
    Ok(found.into_values().collect())
}

/// Each subject's evaluation cells for `source` cases received in [from, to): the units, and
/// `rollup::AGENCY` (petitions) or `rollup::CASE` (hotline).
pub fn rating_cells(
    conn: &mut AnyConnection,
    source: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
    at: NaiveDateTime,
) -> QueryResult<BTreeMap<String, RatingCells>> {
    use report_rating_days as r;
    let split = Split::of(from, to);
    type Row = (String, i64, i64, i64, i64, i64);
    let rows: Vec<Row> = r::table
        .filter(r::source.eq(source))
        .filter(r::day.ge(split.first_day))
        .filter(r::day.lt(split.end_day))
        .select((r::subject, r::due, r::expired, r::satisfied, r::basic, r::unsatisfied))
        .load(conn)?;
    let mut cells = sum_by_unit(rows.into_iter().map(|(subject, due, expired, satisfied, basic, unsatisfied)| {
        (subject, RatingCells { due, expired, satisfied, basic, unsatisfied })
    }));
    for (a, b) in split.edges() {
        let cases = report_cases::table
            .filter(report_cases::source.eq(source))
            .filter(report_cases::received_at.ge(a))
            .filter(report_cases::received_at.lt(b))
            .select(report_cases::case_id);
        let ratings: Vec<(String, String, Option<String>)> = report_ratings::table
            .filter(report_ratings::source.eq(source))
            .filter(report_ratings::case_id.eq_any(cases))
            .select((report_ratings::subject, report_ratings::status, report_ratings::mapped))
            .load(conn)?;
        for (subject, status, mapped) in ratings {
            *cells.entry(subject).or_default() += rollup::rating_cells(&status, mapped.as_deref());
        }
    }
    // Expiry as of `at` follows from the window, as overdue does from the deadline: a due
    // evaluation whose window closed by then is expired (超期未评), recorded by the expiry job
    // or not yet. Only windows not yet recorded as expired are read here, through their index.
    let period_cases = report_cases::table
        .filter(report_cases::source.eq(source))
        .filter(report_cases::received_at.ge(from))
        .filter(report_cases::received_at.lt(to))
        .select(report_cases::case_id);
    let lapsed: Vec<String> = report_ratings::table
        .filter(report_ratings::status.eq("due"))
        .filter(report_ratings::window_ends.lt(at))
        .filter(report_ratings::source.eq(source))
        .filter(report_ratings::case_id.eq_any(period_cases))
        .select(report_ratings::subject)
        .load(conn)?;
    for subject in lapsed {
        cells.entry(subject).or_default().expired += 1;
    }
    Ok(cells)
}

fn cases_received(
    conn: &mut AnyConnection,
    source: &str,
    (a, b): (NaiveDateTime, NaiveDateTime),
) -> QueryResult<Vec<CaseFact>> {
    report_cases::table
        .filter(report_cases::source.eq(source))
        .filter(report_cases::received_at.ge(a))
        .filter(report_cases::received_at.lt(b))
        .select(CaseFact::as_select())
        .load(conn)
}

/// Cases of `source` received in [from, to) per (dimension, value): see `rollup::case_dimensions`.
pub fn case_counts(
    conn: &mut AnyConnection,
    source: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<BTreeMap<(String, String), u64>> {
    use report_case_days as r;
    let split = Split::of(from, to);
    let rows: Vec<(String, String, i64)> = r::table
        .filter(r::source.eq(source))
        .filter(r::day.ge(split.first_day))
        .filter(r::day.lt(split.end_day))
        .select((r::dimension, r::value, r::cases))
        .load(conn)?;
    let mut out: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (dimension, value, n) in rows {
        *out.entry((dimension, value)).or_default() += u64::try_from(n).unwrap_or(0);
    }
    for range in split.edges() {
        for case in cases_received(conn, source, range)? {
            for (dimension, value, n) in rollup::case_dimensions(&case) {
                *out.entry((dimension.to_owned(), value)).or_default() += u64::try_from(n).unwrap_or(0);
            }
        }
    }
    Ok(out)
}

/// Cases of `source` received in [from, to) per word of their matters' summaries.
pub fn term_counts(
    conn: &mut AnyConnection,
    source: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<BTreeMap<String, u64>> {
    use report_term_days as r;
    let split = Split::of(from, to);
    let rows: Vec<(String, i64)> = r::table
        .filter(r::source.eq(source))
        .filter(r::day.ge(split.first_day))
        .filter(r::day.lt(split.end_day))
        .select((r::term, r::cases))
        .load(conn)?;
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    for (term, n) in rows {
        *out.entry(term).or_default() += u64::try_from(n).unwrap_or(0);
    }
    for range in split.edges() {
        for case in cases_received(conn, source, range)? {
            for term in case.terms.split(' ').filter(|t| !t.is_empty()) {
                *out.entry(term.to_owned()).or_default() += 1;
            }
        }
    }
    Ok(out)
}

/// A return: (unit, status, wrongful, days it cost).
pub type ReturnRow = (String, String, bool, Option<f64>);

/// Returns of matters whose case was received in [from, to).
pub fn returns(conn: &mut AnyConnection, from: NaiveDateTime, to: NaiveDateTime) -> QueryResult<Vec<ReturnRow>> {
    use crate::store::report_returns as r;
    r::table
        .filter(r::received_at.ge(from))
        .filter(r::received_at.lt(to))
        .select((r::unit, r::status, r::wrongful, r::days_cost))
        .load(conn)
}

/// A dispatch the suggester warned about: (its unit, its status now).
pub type WarningRow = (String, String);

/// The dispatches the suggester warned about, of matters whose case was received in [from, to).
pub fn history_warnings(
    conn: &mut AnyConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<WarningRow>> {
    use crate::store::{report_dispatches as d, report_history_warnings as w};
    w::table
        .inner_join(d::table)
        .filter(w::received_at.ge(from))
        .filter(w::received_at.lt(to))
        .select((w::unit, d::status))
        .load(conn)
}
