//! Reading the rollups for a period [from, to): whole district days from the rollup tables, the
//! ragged edges from the facts, and, for a report as of a moment, the dispatches that have not
//! settled by then. Plain functions over a connection, so the benchmark and the tests call
//! exactly what the service does.

use std::collections::BTreeMap;

use caseflow_runtime::AnyConnection;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::rollup::{self, DispatchCells, RatingCells, Split, day_start, sum_by_unit};
use crate::store::{
    CaseFact, DispatchFact, report_case_days, report_cases, report_dispatch_days, report_dispatches,
    report_rating_days, report_ratings, report_term_days,
};

/// A `report_dispatch_days` row, summed per unit.
#[derive(Queryable)]
struct DispatchDay {
    unit: String,
    received: i64,
    in_progress: i64,
    completed: i64,
    overdue_view: i64,
    overdue_handling: i64,
    unsatisfied: i64,
    on_time: i64,
    late: i64,
    first_resolved: i64,
    elsewhere_secs: i64,
    rehandled: i64,
}

/// Keeps `IN (...)` lists well under both backends' bind limits.
const CHUNK: usize = 5_000;

/// The dispatches among `ids` rated unsatisfied.
fn unsatisfied_among(conn: &mut AnyConnection, ids: &[&str]) -> QueryResult<std::collections::HashSet<String>> {
    let mut out = std::collections::HashSet::new();
    for chunk in ids.chunks(CHUNK) {
        let found: Vec<Option<String>> = report_ratings::table
            .filter(report_ratings::dispatch_id.eq_any(chunk))
            .filter(report_ratings::status.eq("rated"))
            .filter(report_ratings::mapped.eq("unsatisfied"))
            .select(report_ratings::dispatch_id)
            .load(conn)?;
        out.extend(found.into_iter().flatten());
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
pub fn dispatch_cells(
    conn: &mut AnyConnection,
    source: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
    as_of: NaiveDateTime,
) -> QueryResult<BTreeMap<String, DispatchCells>> {
    use report_dispatch_days as r;
    let split = Split::of(from, to);
    let rows: Vec<DispatchDay> = r::table
        .filter(r::source.eq(source))
        .filter(r::day.ge(split.first_day))
        .filter(r::day.lt(split.end_day))
        .select((
            r::unit,
            r::received,
            r::in_progress,
            r::completed,
            r::overdue_view,
            r::overdue_handling,
            r::unsatisfied,
            r::on_time,
            r::late,
            r::first_resolved,
            r::elsewhere_secs,
            r::rehandled,
        ))
        .load(conn)?;
    let mut cells = sum_by_unit(rows.into_iter().map(|d| {
        let cells = DispatchCells {
            received: d.received,
            in_progress: d.in_progress,
            completed: d.completed,
            overdue_view: d.overdue_view,
            overdue_handling: d.overdue_handling,
            unsatisfied: d.unsatisfied,
            on_time: d.on_time,
            late: d.late,
            first_resolved: d.first_resolved,
            elsewhere_secs: d.elsewhere_secs,
            rehandled: d.rehandled,
        };
        (d.unit, cells)
    }));
    // The edges, exactly as of `as_of`.
    for range in split.edges() {
        let facts = facts_received(conn, source, range)?;
        let unsatisfied = unsatisfied_among(conn, &facts.iter().map(|f| f.dispatch_id.as_str()).collect::<Vec<_>>())?;
        for f in &facts {
            if let Some(((_, unit, _), c)) =
                rollup::dispatch_cells(f, unsatisfied.contains(&f.dispatch_id), Some(as_of))
            {
                *cells.entry(unit).or_default() += c;
            }
        }
    }
    // The whole days hold each dispatch as it stands once its deadlines passed; correct the
    // ones that had not settled by `as_of`.
    if split.first_day < split.end_day {
        let unsettled = unsettled(conn, source, (split.first_day, split.end_day), as_of)?;
        let ids: Vec<&str> = unsettled.iter().map(|f| f.dispatch_id.as_str()).collect();
        let unsatisfied = unsatisfied_among(conn, &ids)?;
        for f in &unsettled {
            let rated = unsatisfied.contains(&f.dispatch_id);
            if let (Some(((_, unit, _), then)), Some((_, end))) =
                (rollup::dispatch_cells(f, rated, Some(as_of)), rollup::dispatch_cells(f, rated, None))
            {
                *cells.entry(unit).or_default() += then - end;
            }
        }
    }
    Ok(cells)
}

/// Dispatches of `source` received on the whole days [first_day, end_day) whose figures still
/// change after `as_of`: only the days whose `settles_by` is later are looked at, so a report as
/// of after the period reads no dispatch at all unless one of them is still open.
fn unsettled(
    conn: &mut AnyConnection,
    source: &str,
    (first_day, end_day): (NaiveDate, NaiveDate),
    as_of: NaiveDateTime,
) -> QueryResult<Vec<DispatchFact>> {
    use report_dispatch_days as r;
    let mut days: Vec<NaiveDate> = r::table
        .filter(r::source.eq(source))
        .filter(r::day.ge(first_day))
        .filter(r::day.lt(end_day))
        .filter(r::settles_by.gt(as_of))
        .select(r::day)
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
    let mut out = Vec::new();
    for (a, b) in ranges {
        out.extend(
            report_dispatches::table
                .filter(report_dispatches::source.eq(source))
                .filter(report_dispatches::received_at.ge(day_start(a)))
                .filter(report_dispatches::received_at.lt(day_start(b)))
                .filter(report_dispatches::settles_at.gt(as_of))
                .select(DispatchFact::as_select())
                .load(conn)?,
        );
    }
    Ok(out)
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
            for (dimension, value) in rollup::case_dimensions(&case) {
                *out.entry((dimension.to_owned(), value)).or_default() += 1;
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

/// (person key, masked name, petitions, latest case id).
pub type Repeater = (String, String, i64, Option<String>);

/// Petitioners with more than one petition received in [from, to), most first. Petitions are few (hundreds a half-year), so they are counted directly.
pub fn repeat_petitioners(
    conn: &mut AnyConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<Repeater>> {
    use diesel::dsl::{count_star, max};
    let mut rows: Vec<Repeater> = report_cases::table
        .filter(report_cases::source.eq("petition"))
        .filter(report_cases::received_at.ge(from))
        .filter(report_cases::received_at.lt(to))
        .filter(report_cases::person_key.ne(""))
        .group_by((report_cases::person_key, report_cases::citizen_masked))
        .select((report_cases::person_key, report_cases::citizen_masked, count_star(), max(report_cases::case_id)))
        .load(conn)?;
    rows.retain(|r| r.2 > 1);
    rows.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    Ok(rows)
}

/// Collective visits (集体访) received in [from, to): (batches, persons).
pub fn collective_visits(conn: &mut AnyConnection, from: NaiveDateTime, to: NaiveDateTime) -> QueryResult<(u64, u64)> {
    let persons: Vec<i32> = report_cases::table
        .filter(report_cases::source.eq("petition"))
        .filter(report_cases::collective.eq(true))
        .filter(report_cases::received_at.ge(from))
        .filter(report_cases::received_at.lt(to))
        .select(report_cases::visit_persons)
        .load(conn)?;
    Ok((persons.len() as u64, persons.iter().map(|p| u64::try_from(*p).unwrap_or(0)).sum()))
}

/// The single-visit (最多投一次) cases of the period that a unit resolved, and which of them a
/// repeat case followed.
pub fn single_visit(
    conn: &mut AnyConnection,
    source: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<crate::summary::SingleVisitFacts> {
    let admitted: Vec<String> = report_cases::table
        .filter(report_cases::source.eq(source))
        .filter(report_cases::single_visit.eq(true))
        .filter(report_cases::received_at.ge(from))
        .filter(report_cases::received_at.lt(to))
        .select(report_cases::case_id)
        .load(conn)?;
    let mut facts = crate::summary::SingleVisitFacts::default();
    for chunk in admitted.chunks(CHUNK) {
        let resolved: Vec<(String, NaiveDateTime, Option<NaiveDateTime>)> = report_dispatches::table
            .filter(report_dispatches::case_id.eq_any(chunk))
            .filter(report_dispatches::role.eq("lead"))
            .filter(report_dispatches::status.eq("resolved"))
            .select((report_dispatches::case_id, report_dispatches::received_at, report_dispatches::resolved_at))
            .load(conn)?;
        for (case_id, received, resolved_at) in resolved {
            if let Some(at) = resolved_at {
                facts.resolved.insert(case_id, (received, at));
            }
        }
        let repeated: Vec<Option<String>> = report_cases::table
            .filter(report_cases::repeat_of.eq_any(chunk))
            .select(report_cases::repeat_of)
            .load(conn)?;
        facts.repeated.extend(repeated.into_iter().flatten());
    }
    Ok(facts)
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
