//! Rollups kept as events arrive: per district day and unit, the counts every half-year table
//! needs, so a report reads a few thousand rows and not every dispatch.
//!
//! Each fact (a dispatch with its rating, a petition evaluation with its case, a case) has a
//! *contribution* to one rollup row. A projection that changes a fact goes through `track_*`,
//! which takes the contribution before and after the change and adds the difference. The same
//! contribution functions compute the edges of a period that does not start or end at midnight
//! and the full scan that the tests compare against, so the two paths cannot drift apart.
//!
//! Dispatch rows are kept as they stand once every deadline has passed ("as of the end of
//! time"). A report as of an earlier moment corrects them with the dispatches that have not
//! settled by then (`DispatchFact::settles_at` after it): few, for a report as of now.

use std::collections::BTreeMap;
use std::ops::AddAssign;

use caseflow_runtime::AnyConnection;
use caseflow_runtime::db::native::{Native as _, columns};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::add_row::{AddRow, Key};
use crate::store::{DispatchFact, report_cases, report_dispatches, report_ratings};

/// The district's calendar day (UTC+8) of a UTC timestamp.
pub fn district_day(t: NaiveDateTime) -> NaiveDate {
    (t + chrono::Duration::hours(8)).date()
}

/// The UTC moment the district day `day` starts.
pub fn day_start(day: NaiveDate) -> NaiveDateTime {
    day.and_hms_opt(0, 0, 0).unwrap_or_default() - chrono::Duration::hours(8)
}

macro_rules! cells {
    ($name:ident { $($field:ident),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $name {
            $(pub $field: i64,)+
        }

        impl std::ops::AddAssign for $name {
            fn add_assign(&mut self, o: Self) {
                $(self.$field += o.$field;)+
            }
        }

        impl std::ops::Sub for $name {
            type Output = Self;
            fn sub(self, o: Self) -> Self {
                Self { $($field: self.$field - o.$field,)+ }
            }
        }

        impl $name {
            pub fn is_zero(&self) -> bool {
                *self == Self::default()
            }

            /// Each cell with its column's name (the rollup tables name their columns so).
            pub fn columns(&self) -> Vec<(&'static str, i64)> {
                vec![$((stringify!($field), self.$field),)+]
            }
        }
    };
}
pub(crate) use cells;

cells!(DispatchCells {
    received,
    in_progress,
    completed,
    overdue_view,
    overdue_handling,
    unsatisfied,
    on_time,
    late,
    first_resolved,
    elsewhere_secs,
    rehandled,
    first_on_time,
    first_late,
});
cells!(RatingCells { due, expired, satisfied, basic, unsatisfied });

/// Which rating rollup row an evaluation counts in: (source, subject, day of the case's receipt).
pub type RatingKey = (String, String, NaiveDate);

/// Which dispatch rollup row a dispatch counts in: (source, unit, day of the case's receipt).
pub type DispatchKey = (String, String, NaiveDate);

/// The moment a dispatch's cells are taken at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// Once every deadline has passed: how the rollup rows hold it.
    End,
    /// As of this moment: what was recorded by then, deadlines passed before it.
    At(NaiveDateTime),
    /// An instant before this moment, later than anything earlier: the cells as of the end of
    /// the day that ends at it (`day_start` of the next day).
    Before(NaiveDateTime),
}

impl AsOf {
    /// Whether a thing done at `t` (received, acknowledged, resolved) is done by then.
    fn has(self, t: NaiveDateTime) -> bool {
        match self {
            Self::End => true,
            Self::At(at) => t <= at,
            Self::Before(at) => t < at,
        }
    }

    /// Whether `deadline` has passed by then (a deadline passes after its moment).
    fn passed(self, deadline: NaiveDateTime) -> bool {
        match self {
            Self::End => true,
            Self::At(at) => at > deadline,
            Self::Before(at) => deadline < at,
        }
    }
}

/// A dispatch's contribution as of `as_of`. Only lead dispatches a unit holds count: one it
/// returned, or that was transferred or superseded, moved on and counts where it landed
/// (FIGURES.md, attachment 2). As of a moment before its case was received it does not exist.
pub fn dispatch_cells(d: &DispatchFact, rated_unsatisfied: bool, as_of: AsOf) -> Option<(DispatchKey, DispatchCells)> {
    let unit = d.unit.as_ref()?;
    if d.role != "lead" || !matches!(d.status.as_str(), "open" | "resolved") || !as_of.has(d.received_at) {
        return None;
    }
    let mut c = DispatchCells { received: 1, ..DispatchCells::default() };
    if d.resolved_at.is_some_and(|t| as_of.has(t)) {
        c.completed = 1;
        c.unsatisfied = i64::from(rated_unsatisfied);
    } else if d.resolve_deadline.is_some_and(|t| as_of.passed(t)) {
        c.overdue_handling = 1;
    } else {
        c.in_progress = 1;
    }
    let late_view = match (d.acknowledged_at, d.acknowledge_deadline) {
        (Some(t), Some(dl)) if as_of.has(t) => t > dl,
        (_, Some(dl)) => as_of.passed(dl),
        _ => false,
    };
    c.overdue_view = i64::from(late_view);
    c.rehandled = i64::from(d.rehandled);
    // 按期办结: resolved by its deadline (as of the end of time, like the summary reads it); the
    // bounce figures of the resolved ones.
    if d.status == "resolved" {
        c.first_resolved = i64::from(d.assignment == 1);
        c.elsewhere_secs = (d.dispatched_at - d.received_at).num_seconds().max(0);
        match (d.resolved_at, d.resolve_deadline) {
            (Some(at), Some(deadline)) if at > deadline => c.late = 1,
            _ => c.on_time = 1,
        }
        // The first cases' (初信初访件) own completion, the bulletin's 按期办结率 of petitions.
        if d.first_case {
            (c.first_on_time, c.first_late) = (c.on_time, c.late);
        }
    }
    Some(((d.source.clone(), unit.clone(), district_day(d.received_at)), c))
}

/// The moments at which a dispatch's cells may change: its receipt, deadlines,
/// acknowledgement and resolution. Between two of them (and after the last) they stay put.
pub fn moments(d: &DispatchFact) -> impl Iterator<Item = NaiveDateTime> {
    [Some(d.received_at), d.acknowledge_deadline, d.acknowledged_at, d.resolve_deadline, d.resolved_at]
        .into_iter()
        .flatten()
}

/// The moment after which `dispatch_cells(d, _, AsOf::At(t))` equals the end-of-time contribution.
pub fn settles_at(d: &DispatchFact) -> Option<NaiveDateTime> {
    [d.acknowledge_deadline, d.acknowledged_at, d.resolve_deadline, d.resolved_at].into_iter().flatten().max()
}

/// How a dispatch's cells change day by day: for each district day on which one of its
/// `moments` falls, its cells as of that day's end minus those as of the previous such day's
/// end (nothing before its receipt). They add up to its end-of-time contribution.
pub fn dispatch_shifts(d: &DispatchFact, rated_unsatisfied: bool) -> Vec<(NaiveDate, DispatchCells)> {
    shifts_by(d, rated_unsatisfied, |t| {
        let day = district_day(t);
        (day, day_start(day.succ_opt().unwrap_or(day)))
    })
}

/// How a dispatch's cells change hour by hour, as `dispatch_shifts` does day by day: keyed by
/// the hour's start. The district's offset is a whole number of hours, so its hours are UTC's.
pub fn dispatch_hour_shifts(d: &DispatchFact, rated_unsatisfied: bool) -> Vec<(NaiveDateTime, DispatchCells)> {
    shifts_by(d, rated_unsatisfied, |t| {
        let hour = hour_start(t);
        (hour, hour + chrono::Duration::hours(1))
    })
}

/// The start of the hour `t` falls in.
pub fn hour_start(t: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    t.date().and_hms_opt(t.hour(), 0, 0).unwrap_or(t)
}

/// The changes of a dispatch's cells per bucket of time: `bucket` gives the bucket a moment
/// falls in and the moment that bucket ends.
fn shifts_by<K: Ord + Copy>(
    d: &DispatchFact,
    rated_unsatisfied: bool,
    bucket: impl Fn(NaiveDateTime) -> (K, NaiveDateTime),
) -> Vec<(K, DispatchCells)> {
    let mut buckets: Vec<(K, NaiveDateTime)> = moments(d).map(bucket).collect();
    buckets.sort();
    buckets.dedup();
    let mut before = DispatchCells::default();
    let mut out = Vec::new();
    for (key, end) in buckets {
        let now = dispatch_cells(d, rated_unsatisfied, AsOf::Before(end)).map(|(_, c)| c).unwrap_or_default();
        if now != before {
            out.push((key, now - before));
            before = now;
        }
    }
    out
}

/// One evaluation of one subject: due, and expired or rated at a level.
pub fn rating_cells(status: &str, mapped: Option<&str>) -> RatingCells {
    let mut c = RatingCells { due: 1, ..RatingCells::default() };
    match (status, mapped) {
        ("expired", _) => c.expired = 1,
        ("rated", Some("satisfied")) => c.satisfied = 1,
        ("rated", Some("basic")) => c.basic = 1,
        ("rated", Some(_)) => c.unsatisfied = 1,
        _ => {}
    }
    c
}

/// The subjects of a petition that are not handling units: the petition agency (信访机构).
pub const AGENCY: &str = "agency";
/// The hotline case's own rating, counted per case.
pub const CASE: &str = "case";

/// The dimensions a case counts under in `report_case_days`, each with what it adds: one case,
/// or for `collective_persons` the persons of a collective visit (集体访).
pub fn case_dimensions(case: &crate::store::CaseFact) -> Vec<(&'static str, String, i64)> {
    let mut v = vec![
        ("total", String::new(), 1),
        ("channel", case.channel.clone(), 1),
        ("category", case.category.split('.').next().unwrap_or_default().to_owned(), 1),
        ("subcategory", case.category.clone(), 1),
    ];
    if !case.kind.is_empty() {
        v.push(("kind", case.kind.clone(), 1));
    }
    if case.is_first {
        v.push(("first", String::new(), 1));
    }
    if case.single_visit {
        v.push(("single_visit", String::new(), 1));
    }
    if case.collective {
        v.push(("collective", String::new(), 1));
        v.push(("collective_persons", String::new(), i64::from(case.visit_persons.max(0))));
    }
    v
}

/// Serializes the three projections' batches (PostgreSQL; SQLite has one writer): a rating and
/// the dispatch or case it joins must not pass each other unseen, and two batches must not lock
/// the same rollup rows in opposite orders. Taken once per batch, before any event is applied.
pub fn lock_projections(conn: &mut AnyConnection) -> QueryResult<()> {
    if let AnyConnection::Postgresql(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.reporting-projections'))")
            .execute(pg)?;
    }
    Ok(())
}

// ---- maintenance ----

/// Whether a rating of the dispatch stands unsatisfied. Read by `dispatch_id` alone (a few rows)
/// and judged here: with the status and the mapping in the query too, a plan made while the
/// table was small could go through the status index instead and read every rating of that
/// status (`tests/plans.rs`).
fn rated_unsatisfied(conn: &mut AnyConnection, dispatch_id: &str) -> QueryResult<bool> {
    if crate::known::dispatch_rated(dispatch_id) == Some(false) {
        return Ok(false);
    }
    let ratings: Vec<(String, Option<String>)> = report_ratings::table
        .filter(report_ratings::dispatch_id.eq(dispatch_id))
        .select((report_ratings::status, report_ratings::mapped))
        .load_native(conn)?;
    Ok(ratings.iter().any(|(status, mapped)| status == "rated" && mapped.as_deref() == Some("unsatisfied")))
}

/// A dispatch's rollup row, its cells there, when it settles, and its day-by-day shifts.
#[derive(Debug, PartialEq)]
struct DispatchState {
    key: DispatchKey,
    cells: DispatchCells,
    settles: Option<NaiveDateTime>,
    shifts: Vec<(NaiveDate, DispatchCells)>,
    hours: Vec<(NaiveDateTime, DispatchCells)>,
}

fn dispatch_state(conn: &mut AnyConnection, dispatch_id: &str) -> QueryResult<Option<DispatchState>> {
    let Some(fact) = report_dispatches::table.find(dispatch_id).select(columns::<DispatchFact>()).first_native(conn)?
    else {
        return Ok(None);
    };
    let unsatisfied = rated_unsatisfied(conn, dispatch_id)?;
    Ok(state_of(&fact, unsatisfied))
}

fn state_of(fact: &DispatchFact, unsatisfied: bool) -> Option<DispatchState> {
    dispatch_cells(fact, unsatisfied, AsOf::End).map(|(key, cells)| DispatchState {
        key,
        cells,
        settles: settles_at(fact),
        shifts: dispatch_shifts(fact, unsatisfied),
        hours: dispatch_hour_shifts(fact, unsatisfied),
    })
}

/// Like `track_dispatch`, for a write of the dispatch's whole fact by a caller that has it as it
/// stood before (`None`: the write creates it) and as it will stand: only its rating is read,
/// which the write does not change. On PostgreSQL each read is a round trip; this saves three.
pub fn track_dispatch_write<T>(
    conn: &mut AnyConnection,
    before: Option<&DispatchFact>,
    after: &DispatchFact,
    change: impl FnOnce(&mut AnyConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    let unsatisfied = rated_unsatisfied(conn, &after.dispatch_id)?;
    let before = before.and_then(|f| state_of(f, unsatisfied));
    let out = change(conn)?;
    move_dispatch(conn, before, state_of(after, unsatisfied))?;
    Ok(out)
}

/// Runs `change`, which may create, update or delete the dispatch's fact or its rating, and
/// moves the dispatch's contribution in the rollups accordingly.
pub fn track_dispatch<T>(
    conn: &mut AnyConnection,
    dispatch_id: &str,
    change: impl FnOnce(&mut AnyConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    let before = dispatch_state(conn, dispatch_id)?;
    let out = change(conn)?;
    let after = dispatch_state(conn, dispatch_id)?;
    move_dispatch(conn, before, after)?;
    Ok(out)
}

/// Moves a dispatch's contribution in the rollups from `before` to `after`.
fn move_dispatch(
    conn: &mut AnyConnection,
    before: Option<DispatchState>,
    after: Option<DispatchState>,
) -> QueryResult<()> {
    if before == after {
        return Ok(());
    }
    // Only the rows whose figures move are written.
    let mut shifts: BTreeMap<(DispatchKey, NaiveDate), DispatchCells> = BTreeMap::new();
    let mut hours: BTreeMap<HourKey, DispatchCells> = BTreeMap::new();
    if let Some(b) = &before {
        if after.as_ref().is_none_or(|a| a.key != b.key || a.cells != b.cells) {
            add_dispatch(conn, &b.key, DispatchCells::default() - b.cells, None)?;
        }
        for (day, c) in &b.shifts {
            *shifts.entry((b.key.clone(), *day)).or_default() += DispatchCells::default() - *c;
        }
        for (hour, c) in &b.hours {
            *hours.entry(hour_key(&b.key, *hour)).or_default() += DispatchCells::default() - *c;
        }
    }
    if let Some(a) = &after {
        let moved = before.as_ref().is_none_or(|b| a.key != b.key || a.cells != b.cells);
        add_dispatch(conn, &a.key, if moved { a.cells } else { DispatchCells::default() }, a.settles)?;
        for (day, c) in &a.shifts {
            *shifts.entry((a.key.clone(), *day)).or_default() += *c;
        }
        for (hour, c) in &a.hours {
            *hours.entry(hour_key(&a.key, *hour)).or_default() += *c;
        }
    }
    for ((key, day), c) in shifts {
        if !c.is_zero() {
            add_shift(conn, &key, day, c)?;
        }
    }
    for (key, c) in hours {
        if !c.is_zero() {
            add_hour_shift(conn, &key, c)?;
        }
    }
    Ok(())
}

/// Adds `d` to the shifts of the row `key` on `shift_day`, and to that day's shift totals.
pub fn add_shift(
    conn: &mut AnyConnection,
    key: &DispatchKey,
    shift_day: NaiveDate,
    d: DispatchCells,
) -> QueryResult<()> {
    let (source, unit, day) = key;
    let counts = d.columns();
    AddRow {
        table: "report_dispatch_shifts",
        keys: &[
            ("source", Key::Text(source)),
            ("day", Key::Date(*day)),
            ("shift_day", Key::Date(shift_day)),
            ("unit", Key::Text(unit)),
        ],
        counts: &counts,
        raised: None,
    }
    .run(conn)?;
    AddRow {
        table: "report_shift_totals",
        keys: &[("source", Key::Text(source)), ("shift_day", Key::Date(shift_day)), ("unit", Key::Text(unit))],
        counts: &counts,
        raised: None,
    }
    .run(conn)?;
    Ok(())
}

/// A row of `report_shift_hours`: source, unit, the month of receipt (its first day) and the
/// hour the changes happened in.
pub type HourKey = (String, String, NaiveDate, NaiveDateTime);

/// The hour row of a change at `hour` of a dispatch counted in the day row `key`.
pub fn hour_key((source, unit, day): &DispatchKey, hour: NaiveDateTime) -> HourKey {
    (source.clone(), unit.clone(), month_start(*day), hour)
}

/// The first day of `day`'s month.
pub fn month_start(day: NaiveDate) -> NaiveDate {
    use chrono::Datelike;
    day.with_day(1).unwrap_or(day)
}

/// Adds `d` to the changes in an hour of a unit's dispatches of a source received in a month.
pub fn add_hour_shift(
    conn: &mut AnyConnection,
    (source, unit, month, hour): &HourKey,
    d: DispatchCells,
) -> QueryResult<()> {
    AddRow {
        table: "report_shift_hours",
        keys: &[
            ("source", Key::Text(source)),
            ("shift_hour", Key::Time(*hour)),
            ("received_month", Key::Date(*month)),
            ("unit", Key::Text(unit)),
        ],
        counts: &d.columns(),
        raised: None,
    }
    .run(conn)
}

/// Adds `d` to the row `key`, and raises its `settles_by` to `settles` when later.
pub fn add_dispatch(
    conn: &mut AnyConnection,
    key: &DispatchKey,
    d: DispatchCells,
    settles: Option<NaiveDateTime>,
) -> QueryResult<()> {
    let (source, unit, day) = key;
    AddRow {
        table: "report_dispatch_days",
        keys: &[("source", Key::Text(source)), ("day", Key::Date(*day)), ("unit", Key::Text(unit))],
        counts: &d.columns(),
        raised: Some(("settles_by", settles)),
    }
    .run(conn)?;
    Ok(())
}

/// Whether a case is a first case (初信初访件); false while the case has not reached the read
/// model, which then marks the dispatches that came before it (`mark_first_case`).
pub fn is_first_case(conn: &mut AnyConnection, case_id: &str) -> QueryResult<bool> {
    if let Some(first) = crate::known::is_first(case_id) {
        return Ok(first);
    }
    let first: Option<bool> = report_cases::table.find(case_id).select(report_cases::is_first).first_native(conn)?;
    Ok(first.unwrap_or(false))
}

/// Marks the dispatches of a first case that reached the read model before the case did.
pub fn mark_first_case(conn: &mut AnyConnection, case_id: &str) -> QueryResult<()> {
    if crate::known::case_has_unmarked(case_id) == Some(false) {
        return Ok(());
    }
    let earlier: Vec<String> = report_dispatches::table
        .filter(report_dispatches::case_id.eq(case_id))
        .filter(report_dispatches::first_case.eq(false))
        .select(report_dispatches::dispatch_id)
        .load_native(conn)?;
    for id in earlier {
        track_dispatch(conn, &id, |c| {
            caseflow_runtime::db::kept::update(
                report_dispatches::table.find(&id),
                report_dispatches::first_case.eq(true),
            )
            .execute_native(c)
        })?;
    }
    Ok(())
}

/// An evaluation of one subject: its rollup key and cells, once both the rating and its case
/// are in the read model.
fn rating_state(
    conn: &mut AnyConnection,
    case_id: &str,
    subject: &str,
) -> QueryResult<Option<(RatingKey, RatingCells)>> {
    let Some((source, status, mapped)) = report_ratings::table
        .find((case_id, subject))
        .select((report_ratings::source, report_ratings::status, report_ratings::mapped))
        .first_native::<(String, String, Option<String>)>(conn)?
    else {
        return Ok(None);
    };
    let received: Option<NaiveDateTime> =
        report_cases::table.find(case_id).select(report_cases::received_at).first_native(conn)?;
    Ok(received.map(|r| ((source, subject.to_owned(), district_day(r)), rating_cells(&status, mapped.as_deref()))))
}

/// Like `track_dispatch`, for the evaluation of one subject of a case.
pub fn track_rating<T>(
    conn: &mut AnyConnection,
    case_id: &str,
    subject: &str,
    change: impl FnOnce(&mut AnyConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    let before = rating_state(conn, case_id, subject)?;
    let out = change(conn)?;
    let after = rating_state(conn, case_id, subject)?;
    if before != after {
        if let Some((key, cells)) = before {
            add_rating(conn, &key, RatingCells::default() - cells)?;
        }
        if let Some((key, cells)) = after {
            add_rating(conn, &key, cells)?;
        }
    }
    Ok(out)
}

pub fn add_rating(conn: &mut AnyConnection, (source, subject, day): &RatingKey, d: RatingCells) -> QueryResult<()> {
    if d.is_zero() {
        return Ok(());
    }
    AddRow {
        table: "report_rating_days",
        keys: &[("source", Key::Text(source)), ("day", Key::Date(*day)), ("subject", Key::Text(subject))],
        counts: &d.columns(),
        raised: None,
    }
    .run(conn)?;
    Ok(())
}

/// Adds `n` to a `report_case_days` row.
fn add_count(
    conn: &mut AnyConnection,
    source: &str,
    day: NaiveDate,
    (dimension, value): (&str, &str),
    n: i64,
) -> QueryResult<()> {
    AddRow {
        table: "report_case_days",
        keys: &[
            ("source", Key::Text(source)),
            ("day", Key::Date(day)),
            ("dimension", Key::Text(dimension)),
            ("value", Key::Text(value)),
        ],
        counts: &[("cases", n)],
        raised: None,
    }
    .run(conn)?;
    Ok(())
}

fn add_term(conn: &mut AnyConnection, source: &str, day: NaiveDate, term: &str) -> QueryResult<()> {
    AddRow {
        table: "report_term_days",
        keys: &[("source", Key::Text(source)), ("day", Key::Date(day)), ("term", Key::Text(term))],
        counts: &[("cases", 1)],
        raised: None,
    }
    .run(conn)?;
    Ok(())
}

/// Counts the petition office's decision on a case received on `day`: its outcome (with the
/// legal channel when not accepted), and whether it came after it was due.
pub fn decision_recorded(
    conn: &mut AnyConnection,
    source: &str,
    day: NaiveDate,
    value: &str,
    late: bool,
) -> QueryResult<()> {
    add_count(conn, source, day, ("decision", value), 1)?;
    if late {
        add_count(conn, source, day, ("decision_late", ""), 1)?;
    }
    Ok(())
}

/// Counts a newly received case and the words of its matters' summaries, and the evaluations
/// of it that arrived before it did.
pub fn case_arrived(conn: &mut AnyConnection, case: &crate::store::CaseFact) -> QueryResult<()> {
    let day = district_day(case.received_at);
    for (dimension, value, n) in case_dimensions(case) {
        add_count(conn, &case.source, day, (dimension, &value), n)?;
    }
    for term in case.terms.split(' ').filter(|t| !t.is_empty()) {
        add_term(conn, &case.source, day, term)?;
    }
    if crate::known::case_rated(&case.case_id) == Some(false) {
        return Ok(());
    }
    let earlier: Vec<(String, String, String, Option<String>)> = report_ratings::table
        .filter(report_ratings::case_id.eq(&case.case_id))
        .select((report_ratings::source, report_ratings::subject, report_ratings::status, report_ratings::mapped))
        .load_native(conn)?;
    for (source, subject, status, mapped) in earlier {
        add_rating(conn, &(source, subject, day), rating_cells(&status, mapped.as_deref()))?;
    }
    Ok(())
}

// ---- reading ----

/// Full district days inside [from, to), and the partial edges before and after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Whole days [first_day, end_day).
    pub first_day: NaiveDate,
    pub end_day: NaiveDate,
    /// [from, day_start(first_day)) and [day_start(end_day), to); empty when from/to are midnights.
    pub head: (NaiveDateTime, NaiveDateTime),
    pub tail: (NaiveDateTime, NaiveDateTime),
}

impl Split {
    pub fn of(from: NaiveDateTime, to: NaiveDateTime) -> Self {
        let mut first_day = district_day(from);
        if day_start(first_day) < from {
            first_day = first_day.succ_opt().unwrap_or(first_day);
        }
        let end_day = district_day(to);
        if end_day < first_day {
            // The whole period lies inside one day.
            return Self { first_day, end_day: first_day, head: (from, to), tail: (to, to) };
        }
        Self {
            first_day,
            end_day,
            head: (from, day_start(first_day).min(to)),
            tail: (day_start(end_day).max(from), to),
        }
    }

    /// The edge ranges that are not empty.
    pub fn edges(&self) -> impl Iterator<Item = (NaiveDateTime, NaiveDateTime)> {
        [self.head, self.tail].into_iter().filter(|(a, b)| a < b)
    }
}

/// Sums rollup rows and edge facts per unit.
pub fn sum_by_unit<C: AddAssign + Default + Copy>(rows: impl IntoIterator<Item = (String, C)>) -> BTreeMap<String, C> {
    let mut out: BTreeMap<String, C> = BTreeMap::new();
    for (unit, c) in rows {
        *out.entry(unit).or_default() += c;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        chrono::DateTime::parse_from_rfc3339(s).map(|t| t.naive_utc()).unwrap_or_default()
    }

    fn dispatch(received: &str) -> DispatchFact {
        let r = at(received);
        DispatchFact {
            dispatch_id: "d1".into(),
            case_id: "c1".into(),
            matter_id: "m1".into(),
            unit: Some("区城管局".into()),
            role: "lead".into(),
            assignment: 1,
            source: "hotline".into(),
            received_at: r,
            dispatched_at: r,
            acknowledge_deadline: Some(r + chrono::Duration::hours(2)),
            acknowledged_at: Some(r + chrono::Duration::hours(3)),
            resolve_deadline: Some(r + chrono::Duration::days(7)),
            resolved_at: Some(r + chrono::Duration::days(9)),
            status: "resolved".into(),
            closed_at: None,
            rehandled: 0,
            settles_at: None,
            first_case: false,
            previous_unit: None,
        }
    }

    #[test]
    fn before_its_case_was_received_a_dispatch_counts_nowhere() {
        let d = dispatch("2020-03-02T23:00:00+08:00");
        assert_eq!(dispatch_cells(&d, false, AsOf::At(at("2020-03-02T22:59:59+08:00"))), None);
        let (_, c) = dispatch_cells(&d, false, AsOf::At(d.received_at)).unwrap_or_default();
        assert_eq!((c.received, c.in_progress), (1, 1));
    }

    #[test]
    fn the_hour_shifts_add_up_hour_by_hour_to_the_dispatch_as_it_stands_at_each_hour_end() {
        let d = dispatch("2020-03-02T23:10:00+08:00");
        let shifts = dispatch_hour_shifts(&d, true);
        // Received at 23:10, late to acknowledge after 01:10, acknowledged at 02:10 (no change:
        // already late), overdue after the 9th 23:10, resolved on the 11th at 23:10.
        let hours: Vec<String> = shifts.iter().map(|(h, _)| (*h + chrono::Duration::hours(8)).to_string()).collect();
        assert_eq!(hours, ["2020-03-02 23:00:00", "2020-03-03 01:00:00", "2020-03-09 23:00:00", "2020-03-11 23:00:00"]);
        let mut total = DispatchCells::default();
        for (hour, c) in &shifts {
            total += *c;
            let end = *hour + chrono::Duration::hours(1);
            let (_, expected) = dispatch_cells(&d, true, AsOf::Before(end)).unwrap_or_default();
            assert_eq!(total, expected, "as of the end of the hour from {hour}");
        }
        assert_eq!(Some(total), dispatch_cells(&d, true, AsOf::End).map(|(_, c)| c));
    }

    #[test]
    fn the_shifts_add_up_day_by_day_to_the_dispatch_as_it_stands_at_each_day_end() {
        let d = dispatch("2020-03-02T23:00:00+08:00");
        let shifts = dispatch_shifts(&d, true);
        // Received and late to acknowledge on the 2nd/3rd, overdue on the 9th, resolved on the 11th.
        let days: Vec<String> = shifts.iter().map(|(day, _)| day.to_string()).collect();
        assert_eq!(days, ["2020-03-02", "2020-03-03", "2020-03-09", "2020-03-11"]);
        let mut total = DispatchCells::default();
        for (day, c) in &shifts {
            total += *c;
            let end = day_start(day.succ_opt().unwrap_or(*day));
            let (_, expected) = dispatch_cells(&d, true, AsOf::Before(end)).unwrap_or_default();
            assert_eq!(total, expected, "as of the end of {day}");
        }
        let (_, end) = dispatch_cells(&d, true, AsOf::End).unwrap_or_default();
        assert_eq!(total, end);
        assert_eq!((end.completed, end.unsatisfied, end.late, end.overdue_view), (1, 1, 1, 1));
    }

    #[test]
    fn a_deadline_passes_after_its_moment_and_a_resolution_counts_at_it() {
        let d = dispatch("2020-03-02T10:00:00+08:00");
        let deadline = d.resolve_deadline.unwrap_or_default();
        let (_, on) = dispatch_cells(&d, false, AsOf::At(deadline)).unwrap_or_default();
        assert_eq!(on.in_progress, 1);
        let (_, after) =
            dispatch_cells(&d, false, AsOf::At(deadline + chrono::Duration::seconds(1))).unwrap_or_default();
        assert_eq!(after.overdue_handling, 1);
        let resolved = d.resolved_at.unwrap_or_default();
        let (_, at_it) = dispatch_cells(&d, false, AsOf::At(resolved)).unwrap_or_default();
        assert_eq!(at_it.completed, 1);
        let (_, before) = dispatch_cells(&d, false, AsOf::Before(resolved)).unwrap_or_default();
        assert_eq!(before.completed, 0);
    }

    #[test]
    fn a_period_of_whole_days_has_no_edges() {
        let s = Split::of(at("2020-01-01T00:00:00+08:00"), at("2020-07-01T00:00:00+08:00"));
        assert_eq!(s.first_day, NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or_default());
        assert_eq!(s.end_day, NaiveDate::from_ymd_opt(2020, 7, 1).unwrap_or_default());
        assert_eq!(s.edges().count(), 0);
    }

    #[test]
    fn a_period_inside_one_day_is_all_edge() {
        let (f, t) = (at("2020-03-02T09:00:00+08:00"), at("2020-03-02T17:00:00+08:00"));
        let s = Split::of(f, t);
        assert_eq!(s.first_day, s.end_day);
        let edges: Vec<_> = s.edges().collect();
        assert_eq!(edges, [(f, t)]);
    }

    #[test]
    fn ragged_ends_become_edges_around_whole_days() {
        let (f, t) = (at("2020-03-02T09:00:00+08:00"), at("2020-03-05T17:00:00+08:00"));
        let s = Split::of(f, t);
        assert_eq!(s.first_day, NaiveDate::from_ymd_opt(2020, 3, 3).unwrap_or_default());
        assert_eq!(s.end_day, NaiveDate::from_ymd_opt(2020, 3, 5).unwrap_or_default());
        let edges: Vec<_> = s.edges().collect();
        assert_eq!(edges, [(f, at("2020-03-03T00:00:00+08:00")), (at("2020-03-05T00:00:00+08:00"), t)]);
    }

    #[test]
    fn adjacent_ragged_ends_leave_no_whole_day() {
        let (f, t) = (at("2020-03-02T09:00:00+08:00"), at("2020-03-03T08:00:00+08:00"));
        let s = Split::of(f, t);
        assert_eq!(s.first_day, s.end_day);
        let covered: i64 = s.edges().map(|(a, b)| (b - a).num_minutes()).sum();
        assert_eq!(covered, (t - f).num_minutes());
    }
}

#[cfg(test)]
mod decomposition {
    //! The as-of decomposition `read::dispatch_cells` uses, checked in memory against the
    //! dispatches' own cells for random dispatches and moments (deadlines at midnight, things
    //! done before their deadline and after, on the day of the moment asked and around it).
    use super::*;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn at(day: i64, minutes: i64) -> NaiveDateTime {
        day_start(NaiveDate::from_ymd_opt(2020, 3, 1).unwrap_or_default())
            + chrono::Duration::days(day)
            + chrono::Duration::minutes(minutes)
    }

    fn random(rng: &mut Rng, i: usize) -> DispatchFact {
        let mut m = |rng: &mut Rng| {
            // A moment on one of ten days, often exactly at a midnight.
            let minutes = if rng.below(3) == 0 { 0 } else { i64::try_from(rng.below(24 * 60)).unwrap_or(0) };
            at(i64::try_from(rng.below(10)).unwrap_or(0), minutes)
        };
        let received = m(rng);
        let later = |rng: &mut Rng, m: &mut dyn FnMut(&mut Rng) -> NaiveDateTime| {
            let t = m(rng);
            if t < received { received } else { t }
        };
        let acknowledge_deadline = Some(later(rng, &mut m));
        let acknowledged_at = (rng.below(2) == 0).then(|| later(rng, &mut m));
        let resolve_deadline = Some(later(rng, &mut m));
        let resolved_at = (rng.below(2) == 0).then(|| later(rng, &mut m));
        DispatchFact {
            dispatch_id: format!("d{i}"),
            case_id: format!("c{i}"),
            matter_id: format!("m{i}"),
            unit: Some(["a", "b"][usize::try_from(rng.below(2)).unwrap_or(0)].into()),
            role: "lead".into(),
            assignment: 1,
            source: "hotline".into(),
            received_at: received,
            dispatched_at: received,
            acknowledge_deadline,
            acknowledged_at,
            resolve_deadline,
            resolved_at,
            status: if resolved_at.is_some() { "resolved".into() } else { "open".into() },
            closed_at: None,
            rehandled: 0,
            settles_at: None,
            first_case: false,
            previous_unit: None,
        }
    }

    #[test]
    fn rollups_less_later_shifts_plus_the_moved_ones_are_the_cells_as_of_any_moment() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..300 {
            let facts: Vec<DispatchFact> = (0..20).map(|i| random(&mut rng, i)).collect();
            let minutes = if rng.below(3) == 0 { 0 } else { i64::try_from(rng.below(24 * 60)).unwrap_or(0) };
            let as_of = at(i64::try_from(rng.below(12)).unwrap_or(0), minutes);
            // The truth.
            let mut truth: BTreeMap<String, DispatchCells> = BTreeMap::new();
            for f in &facts {
                if let Some(((_, unit, _), c)) = dispatch_cells(f, false, AsOf::At(as_of)) {
                    *truth.entry(unit).or_default() += c;
                }
            }
            // The decomposition, over the whole days of all facts.
            let day = district_day(as_of);
            let next = day.succ_opt().unwrap_or(day);
            let (base_day, edge) = if as_of - day_start(day) < day_start(next) - as_of {
                (day.pred_opt().unwrap_or(day), day_start(day))
            } else {
                (day, day_start(next))
            };
            let mut got: BTreeMap<String, DispatchCells> = BTreeMap::new();
            for f in &facts {
                let Some(((_, unit, received_day), end)) = dispatch_cells(f, false, AsOf::End) else { continue };
                if received_day <= base_day {
                    *got.entry(unit.clone()).or_default() += end;
                    for (shift_day, c) in dispatch_shifts(f, false) {
                        if shift_day > base_day {
                            *got.entry(unit.clone()).or_default() += DispatchCells::default() - c;
                        }
                    }
                }
                let (lo, hi) = if as_of < edge { (as_of, edge) } else { (edge, as_of) };
                if moments(f).any(|m| m >= lo && m <= hi) {
                    if let Some(((_, u, _), c)) = dispatch_cells(f, false, AsOf::At(as_of)) {
                        *got.entry(u).or_default() += c;
                    }
                    if let Some(((_, u, _), c)) = dispatch_cells(f, false, AsOf::Before(edge)) {
                        *got.entry(u).or_default() += DispatchCells::default() - c;
                    }
                }
            }
            got.retain(|_, c| !c.is_zero());
            truth.retain(|_, c| !c.is_zero());
            assert_eq!(got, truth, "round {round}, as of {as_of}");
        }
    }
}
