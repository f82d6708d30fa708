//! What an operator watches in evaluation, read when `/metrics` is scraped: evaluations waiting
//! for the citizen (due, invited to rate again, waiting for re-handling), by source, through the
//! `evaluation_parts_status` index (the open ones only, however many were rated before).

use caseflow_runtime::db::replanned::Replanned;
use caseflow_runtime::metrics::{KeyValue, Metrics};
use caseflow_runtime::{Db, DbError};
use diesel::prelude::*;

use crate::store::evaluation_parts;

/// The statuses that still wait for something.
pub const WAITING: [&str; 3] = ["due", "re_rating_invited", "awaiting_rehandling"];

/// Registers evaluation's gauges on `metrics`.
pub fn observe(metrics: &Metrics, db: &Db) {
    let family = metrics.gauge_family(
        "caseflow_evaluations_waiting",
        "Evaluations waiting, by status (due, re_rating_invited, awaiting_rehandling) and source",
    );
    let db = db.clone();
    metrics.on_scrape(move || {
        let (db, family) = (db.clone(), family.clone());
        Box::pin(async move {
            match db.read(|c| read(c).map_err(DbError::from)).await {
                Ok(rows) => family.set(
                    rows.into_iter()
                        .map(|(status, source, n)| {
                            (vec![KeyValue::new("status", status), KeyValue::new("source", source)], n as f64)
                        })
                        .collect(),
                ),
                Err(e) => tracing::warn!(error = %e, "metrics: reading evaluation's gauges failed"),
            }
        })
    });
}

/// The sources an evaluation has.
const SOURCES: [&str; 2] = ["hotline", "petition"];

/// (status, source, evaluations) for every waiting status and source, zeros included (a panel
/// or an alert then sees 0, not nothing).
pub fn read(c: &mut caseflow_runtime::AnyConnection) -> QueryResult<Vec<(String, String, i64)>> {
    // Once a scrape: planned for the table as it is then, not kept from when it was small.
    let counted: Vec<(String, String, i64)> = Replanned(
        evaluation_parts::table
            .filter(evaluation_parts::status.eq_any(WAITING))
            .group_by((evaluation_parts::status, evaluation_parts::source))
            .select((evaluation_parts::status, evaluation_parts::source, diesel::dsl::count_star())),
    )
    .load(c)?;
    let mut grid: std::collections::BTreeMap<(String, String), i64> = WAITING
        .iter()
        .flat_map(|status| SOURCES.iter().map(move |source| (((*status).to_owned(), (*source).to_owned()), 0)))
        .collect();
    for (status, source, n) in counted {
        grid.insert((status, source), n);
    }
    Ok(grid.into_iter().map(|((status, source), n)| (status, source, n)).collect())
}
