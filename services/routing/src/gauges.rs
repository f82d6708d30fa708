//! What an on-call operator is paged for, read from routing's tables when `/metrics` is scraped:
//! open and overdue dispatches per unit, return requests waiting for a dispatcher, matters by
//! unresolved state. Each read goes through an index on the open rows, so its cost follows the
//! work in progress, not the history (`tests/plans.rs` checks the plans). They run once a scrape,
//! planned for the tables as they are then ([`Replanned`]), not with a plan kept from when the
//! tables were small.

use caseflow_runtime::db::replanned::Replanned;
use caseflow_runtime::metrics::{Family, KeyValue, Metrics};
use caseflow_runtime::{Db, DbError, SharedClock};
use diesel::prelude::*;

use crate::lifecycle::State;
use crate::store::{dispatches, return_requests, routing_matters};

struct Families {
    open: Family,
    overdue: Family,
    returns: Family,
    matters: Family,
}

/// One scrape's figures.
#[derive(Debug, Default, PartialEq)]
pub struct Snapshot {
    /// (unit, open dispatches)
    pub open: Vec<(String, i64)>,
    /// (unit, kind, overdue dispatches): kind "view" (not acknowledged in time, 逾期查阅) or
    /// "handling" (not resolved by the matter's deadline, 逾期办理).
    pub overdue: Vec<(String, &'static str, i64)>,
    pub returns_pending: i64,
    /// (state, matters) for triage, open and arbitration.
    pub matters: Vec<(String, i64)>,
}

/// Registers routing's gauges on `metrics`, read at scrape time through `db`.
pub fn observe(metrics: &Metrics, db: &Db, clock: SharedClock) {
    let families = std::sync::Arc::new(Families {
        open: metrics.gauge_family("caseflow_dispatches_open", "Dispatches still with their unit, by unit"),
        overdue: metrics.gauge_family(
            "caseflow_dispatches_overdue",
            "Open dispatches past a deadline now, by unit and kind (view: not acknowledged; handling: not resolved)",
        ),
        returns: metrics.gauge_family("caseflow_return_requests_pending", "Return requests waiting for a dispatcher"),
        matters: metrics
            .gauge_family("caseflow_matters_unresolved", "Matters by unresolved state (triage, open, arbitration)"),
    });
    let db = db.clone();
    metrics.on_scrape(move || {
        let (db, clock, families) = (db.clone(), clock.clone(), families.clone());
        Box::pin(async move {
            let now = clock.now().naive_utc();
            match db.read(move |c| read(c, now).map_err(DbError::from)).await {
                Ok(s) => {
                    let unit = |u: &str| KeyValue::new("unit", u.to_owned());
                    families.open.set(s.open.iter().map(|(u, n)| (vec![unit(u)], *n as f64)).collect());
                    families.overdue.set(
                        s.overdue
                            .iter()
                            .map(|(u, k, n)| (vec![unit(u), KeyValue::new("kind", *k)], *n as f64))
                            .collect(),
                    );
                    families.returns.set(vec![(vec![], s.returns_pending as f64)]);
                    families.matters.set(
                        s.matters.iter().map(|(st, n)| (vec![KeyValue::new("state", st.clone())], *n as f64)).collect(),
                    );
                }
                Err(e) => tracing::warn!(error = %e, "metrics: reading routing's gauges failed"),
            }
        })
    });
}

/// The states of a matter not yet resolved.
const UNRESOLVED: [&str; 3] = ["arbitration", "open", "triage"];

fn open_states() -> Vec<&'static str> {
    State::ALL.into_iter().filter(|s| s.is_open()).map(State::as_str).collect()
}

/// Reads the figures as of `now`.
pub fn read(c: &mut caseflow_runtime::AnyConnection, now: chrono::NaiveDateTime) -> QueryResult<Snapshot> {
    let open: Vec<(String, i64)> = Replanned(
        dispatches::table
            .filter(dispatches::state.eq_any(open_states()))
            .filter(dispatches::closed_at.is_null())
            .group_by(dispatches::unit)
            .select((dispatches::unit, diesel::dsl::count_star()))
            .order(dispatches::unit),
    )
    .load(c)?;
    let view: Vec<(String, i64)> = Replanned(
        dispatches::table
            .filter(dispatches::state.eq_any(open_states()))
            .filter(dispatches::closed_at.is_null())
            .filter(dispatches::acknowledged_at.is_null())
            .filter(dispatches::acknowledge_deadline.lt(now))
            .group_by(dispatches::unit)
            .select((dispatches::unit, diesel::dsl::count_star()))
            .order(dispatches::unit),
    )
    .load(c)?;
    let handling: Vec<(String, i64)> = Replanned(
        dispatches::table
            .inner_join(routing_matters::table.on(routing_matters::matter_id.eq(dispatches::matter_id)))
            .filter(dispatches::state.eq_any(open_states()))
            .filter(dispatches::closed_at.is_null())
            .filter(routing_matters::resolve_deadline.lt(now))
            .group_by(dispatches::unit)
            .select((dispatches::unit, diesel::dsl::count_star()))
            .order(dispatches::unit),
    )
    .load(c)?;
    let returns_pending =
        Replanned(return_requests::table.filter(return_requests::status.eq("pending")).count()).get_result(c)?;
    let counted: Vec<(String, i64)> = Replanned(
        routing_matters::table
            .filter(routing_matters::state.eq_any(UNRESOLVED))
            .group_by(routing_matters::state)
            .select((routing_matters::state, diesel::dsl::count_star())),
    )
    .load(c)?;
    // Every unresolved state, zeros included.
    let matters = UNRESOLVED
        .iter()
        .map(|state| {
            let n = counted.iter().find(|(s, _)| s == state).map_or(0, |(_, n)| *n);
            ((*state).to_owned(), n)
        })
        .collect();
    let overdue = view
        .into_iter()
        .map(|(u, n)| (u, "view", n))
        .chain(handling.into_iter().map(|(u, n)| (u, "handling", n)))
        .collect();
    Ok(Snapshot { open, overdue, returns_pending, matters })
}
