//! What a projection's batch would read for each of its events, read once for the batch.
//!
//! The three streams reach the read model in any order, so a case or dispatch arriving reads
//! what may have come before it from the other streams: the ratings of the case
//! (`rollup::case_arrived`) and its dispatches not yet marked as a first case's
//! (`rollup::mark_first_case`); whether the dispatch's case is the first of its chain
//! (`rollup::is_first_case`) and the dispatch's ratings (`rollup::rated_unsatisfied`). In the
//! usual order most of these reads find nothing, and on PostgreSQL each was a round trip, four
//! for every case. A batch of intake's or routing's events now reads them for all its cases or
//! dispatches in one query each ([`reading`]), and each event's read is answered from that.
//!
//! The answers hold for the whole batch: it reads them after taking the projections' lock
//! (`rollup::lock_projections`), so no other projection's batch changes them before it commits,
//! and its own events do not write what they answer (a case's dispatches are marked only by its
//! own `CaseReceived`, which comes once). A question about a case or dispatch the batch did not
//! read is asked of the database as before. SQLite reads in the process, with no round trip to
//! save: it reads nothing ahead.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use caseflow_proto::v1 as pb;
use caseflow_runtime::db::arrays::{Arrays, Column};
use caseflow_runtime::{AnyConnection, event_log};
use diesel::QueryResult;

/// What one batch read ahead.
#[derive(Debug, Default)]
struct Known {
    /// The cases arriving in a batch of intake's events, and of those: with a rating; with a
    /// dispatch not marked as its first case's.
    arriving: HashSet<String>,
    rated_cases: HashSet<String>,
    unmarked_cases: HashSet<String>,
    /// The cases of a batch of routing's dispatches, and the `is_first` of those in the read
    /// model.
    dispatched: HashSet<String>,
    first: HashMap<String, bool>,
    /// The dispatches of a batch of routing's events, and of those the ones with a rating.
    dispatches: HashSet<String>,
    rated_dispatches: HashSet<String>,
}

thread_local! {
    /// The batch being applied on this (blocking) thread.
    static KNOWN: RefCell<Option<Known>> = const { RefCell::new(None) };
}

/// Runs a batch of intake's events (`events`, applied by `f`) with the ratings and unmarked
/// dispatches of the cases they bring read ahead, on PostgreSQL.
pub fn cases_arriving<T, E>(
    conn: &mut AnyConnection,
    events: &[&pb::EventEnvelope],
    f: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    let case = |e: &pb::EventEnvelope| match event_log::decode::<pb::IntakeEvent>(e).ok()?.kind? {
        pb::intake_event::Kind::CaseReceived(case) => Some(case.case_id),
        _ => None,
    };
    reading(
        conn,
        events,
        case,
        |pg, cases, known| {
            let ids = Column::Text(cases.iter().map(String::as_str).collect());
            known.rated_cases = ids_of(pg, RATED_CASES, ids.clone())?;
            known.unmarked_cases = ids_of(pg, UNMARKED_CASES, ids)?;
            known.arriving = cases.into_iter().collect();
            Ok(())
        },
        f,
    )
}

/// Runs a batch of routing's events (`events`, applied by `f`) with, for the dispatches they
/// concern, their cases' `is_first` and their ratings read ahead, on PostgreSQL.
pub fn dispatches_arriving<T, E>(
    conn: &mut AnyConnection,
    events: &[&pb::EventEnvelope],
    f: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    let dispatch = |e: &pb::EventEnvelope| match event_log::decode::<pb::RoutingEvent>(e).ok()?.kind? {
        pb::routing_event::Kind::DispatchChanged(d) if !d.dispatch_id.is_empty() => Some((d.case_id, d.dispatch_id)),
        _ => None,
    };
    reading(
        conn,
        events,
        dispatch,
        |pg, dispatched, known| {
            let cases = Column::Text(dispatched.iter().map(|(c, _)| c.as_str()).collect());
            let firsts: Vec<CaseFirst> = Arrays::replanned(FIRST_CASES, vec![cases]).load(pg)?;
            known.first = firsts.into_iter().map(|f| (f.case_id, f.is_first)).collect();
            let dispatches = Column::Text(dispatched.iter().map(|(_, d)| d.as_str()).collect());
            known.rated_dispatches = ids_of(pg, RATED_DISPATCHES, dispatches)?;
            (known.dispatched, known.dispatches) = dispatched.into_iter().unzip();
            Ok(())
        },
        f,
    )
}

/// Whether the case has a rating in the read model, when the batch read it ahead.
pub fn case_rated(case_id: &str) -> Option<bool> {
    ask(|k| k.arriving.contains(case_id).then(|| k.rated_cases.contains(case_id)))
}

/// Whether the case has dispatches not yet marked as a first case's, when the batch read it ahead.
pub fn case_has_unmarked(case_id: &str) -> Option<bool> {
    ask(|k| k.arriving.contains(case_id).then(|| k.unmarked_cases.contains(case_id)))
}

/// Whether the case is the first of its chain (false when it is not in the read model), when
/// the batch read it ahead.
pub fn is_first(case_id: &str) -> Option<bool> {
    ask(|k| k.dispatched.contains(case_id).then(|| k.first.get(case_id).copied().unwrap_or(false)))
}

/// Whether the dispatch has a rating in the read model, when the batch read it ahead.
pub fn dispatch_rated(dispatch_id: &str) -> Option<bool> {
    ask(|k| k.dispatches.contains(dispatch_id).then(|| k.rated_dispatches.contains(dispatch_id)))
}

const RATED_CASES: &[&str] = &["SELECT DISTINCT case_id AS id FROM report_ratings WHERE case_id = ANY(", "::text[])"];
const UNMARKED_CASES: &[&str] =
    &["SELECT DISTINCT case_id AS id FROM report_dispatches WHERE case_id = ANY(", "::text[]) AND NOT first_case"];
const FIRST_CASES: &[&str] = &["SELECT case_id, is_first FROM report_cases WHERE case_id = ANY(", "::text[])"];
const RATED_DISPATCHES: &[&str] =
    &["SELECT DISTINCT dispatch_id AS id FROM report_ratings WHERE dispatch_id = ANY(", "::text[])"];

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

#[derive(diesel::QueryableByName)]
struct CaseFirst {
    #[diesel(sql_type = diesel::sql_types::Text)]
    case_id: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    is_first: bool,
}

/// The ids a query over an array of ids returns. Planned with its values on every run
/// (`Arrays::replanned`).
fn ids_of(
    pg: &mut diesel::PgConnection,
    sql: &'static [&'static str],
    ids: Column<'_>,
) -> QueryResult<HashSet<String>> {
    let rows: Vec<Id> = Arrays::replanned(sql, vec![ids]).load(pg)?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// On PostgreSQL, reads ahead with `read` for what the batch's events are about (`about`, for
/// each event that concerns the batch), runs `f` with what it read known, and forgets it
/// however `f` ends. On SQLite, or for a batch about nothing, it decodes and reads nothing and
/// only runs `f`.
fn reading<I, T, E>(
    conn: &mut AnyConnection,
    events: &[&pb::EventEnvelope],
    about: impl Fn(&pb::EventEnvelope) -> Option<I>,
    read: impl FnOnce(&mut diesel::PgConnection, Vec<I>, &mut Known) -> QueryResult<()>,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    /// Forgets what the batch read however it ends.
    struct Reading;
    impl Drop for Reading {
        fn drop(&mut self) {
            KNOWN.with(|k| k.borrow_mut().take());
        }
    }
    let AnyConnection::Postgresql(pg) = conn else { return f(conn) };
    let items: Vec<I> = events.iter().filter_map(|e| about(e)).collect();
    if items.is_empty() {
        return f(conn);
    }
    let mut known = Known::default();
    read(pg, items, &mut known)?;
    let reading = Reading;
    KNOWN.with(|k| *k.borrow_mut() = Some(known));
    let out = f(conn);
    drop(reading);
    out
}

fn ask(question: impl FnOnce(&Known) -> Option<bool>) -> Option<bool> {
    KNOWN.with(|k| k.borrow().as_ref().and_then(question))
}
