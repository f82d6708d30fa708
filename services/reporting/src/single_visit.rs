//! The single-visit (最多投一次) figures of the summary, kept per day of receipt like every
//! other rollup: how many of the day's single-visit cases were resolved, how many of those no
//! repeat case followed (一次性办结), and the seconds from receipt to their last resolution.
//!
//! A case's contribution depends on three streams: intake's case (the flag, the receipt) and
//! the repeat cases that name it, and routing's lead dispatches of its matters. Whichever event
//! changes one of them goes through `track`, which adds the difference of the contribution.

use caseflow_runtime::AnyConnection;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::add_row::Key;
use crate::rollup::{Split, cells, district_day};
use crate::store::{report_cases, report_dispatches, report_single_visit_days};

cells!(SingleVisitCells { resolved, once, resolution_secs });

/// Which row a case counts in: (source, day of its receipt).
pub type DayKey = (String, NaiveDate);

/// One single-visit case's contribution, from the (status, resolved at) of its matters' lead
/// dispatches that are not closed elsewhere (open, resolved or waiting in triage): resolved
/// once every one is, at the last resolution; once (一次性办结) when no repeat case followed.
pub fn case_cells(
    received_at: NaiveDateTime,
    leads: &[(String, Option<NaiveDateTime>)],
    repeated: bool,
) -> SingleVisitCells {
    let resolved: Vec<NaiveDateTime> =
        leads.iter().filter(|(status, _)| status == "resolved").filter_map(|(_, at)| *at).collect();
    let Some(last) = resolved.iter().max() else { return SingleVisitCells::default() };
    if resolved.len() != leads.len() {
        return SingleVisitCells::default();
    }
    SingleVisitCells {
        resolved: 1,
        once: i64::from(!repeated),
        resolution_secs: (*last - received_at).num_seconds().max(0),
    }
}

/// The lead dispatches of a case that count for its resolution.
fn leads(conn: &mut AnyConnection, case_id: &str) -> QueryResult<Vec<(String, Option<NaiveDateTime>)>> {
    report_dispatches::table
        .filter(report_dispatches::case_id.eq(case_id))
        .filter(report_dispatches::role.eq("lead"))
        .filter(report_dispatches::status.eq_any(["open", "resolved", "triage"]))
        .select((report_dispatches::status, report_dispatches::resolved_at))
        .load(conn)
}

/// A case's row and contribution; none when the case is not in the read model yet or is not
/// a single-visit case.
fn state(conn: &mut AnyConnection, case_id: &str) -> QueryResult<Option<(DayKey, SingleVisitCells)>> {
    let case: Option<(String, NaiveDateTime, bool)> = report_cases::table
        .find(case_id)
        .select((report_cases::source, report_cases::received_at, report_cases::single_visit))
        .first(conn)
        .optional()?;
    let Some((source, received_at, true)) = case else { return Ok(None) };
    let leads = leads(conn, case_id)?;
    let repeated = report_cases::table
        .filter(report_cases::repeat_of.eq(case_id))
        .select(report_cases::case_id)
        .first::<String>(conn)
        .optional()?
        .is_some();
    Ok(Some(((source, district_day(received_at)), case_cells(received_at, &leads, repeated))))
}

/// Runs `change`, which may add the case, a repeat of it or change one of its dispatches, and
/// moves the case's contribution accordingly.
pub fn track<T>(
    conn: &mut AnyConnection,
    case_id: &str,
    change: impl FnOnce(&mut AnyConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    let before = state(conn, case_id)?;
    let out = change(conn)?;
    let after = state(conn, case_id)?;
    if before != after {
        if let Some((key, cells)) = before {
            add(conn, &key, SingleVisitCells::default() - cells)?;
        }
        if let Some((key, cells)) = after {
            add(conn, &key, cells)?;
        }
    }
    Ok(out)
}

/// Adds `d` to the row `key`.
pub fn add(conn: &mut AnyConnection, (source, day): &DayKey, d: SingleVisitCells) -> QueryResult<()> {
    if d.is_zero() {
        return Ok(());
    }
    crate::add_row::AddRow {
        table: "report_single_visit_days",
        keys: &[("source", Key::Text(source)), ("day", Key::Date(*day))],
        counts: &d.columns(),
        raised: None,
    }
    .run(conn)?;
    Ok(())
}

/// The single-visit figures of `source` cases received in [from, to): whole days from the
/// rollup, the ragged edges case by case.
pub fn read(
    conn: &mut AnyConnection,
    source: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<SingleVisitCells> {
    use report_single_visit_days as t;
    let split = Split::of(from, to);
    let mut total = SingleVisitCells::default();
    // A row per day: a half-year is a few hundred rows, added up here.
    let rows: Vec<(i64, i64, i64)> = t::table
        .filter(t::source.eq(source))
        .filter(t::day.ge(split.first_day))
        .filter(t::day.lt(split.end_day))
        .select((t::resolved, t::once, t::resolution_secs))
        .load(conn)?;
    for (resolved, once, resolution_secs) in rows {
        total += SingleVisitCells { resolved, once, resolution_secs };
    }
    for (a, b) in split.edges() {
        let ids: Vec<String> = report_cases::table
            .filter(report_cases::source.eq(source))
            .filter(report_cases::single_visit.eq(true))
            .filter(report_cases::received_at.ge(a))
            .filter(report_cases::received_at.lt(b))
            .select(report_cases::case_id)
            .load(conn)?;
        for id in ids {
            if let Some((_, cells)) = state(conn, &id)? {
                total += cells;
            }
        }
    }
    Ok(total)
}
