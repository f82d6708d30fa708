//! Work a migration leaves for the service to do once, in Rust, when it starts: filling a new
//! rollup from the facts already in the read model, with the same functions the projections
//! use. A migration names the work in `report_backfills`; the service does it and deletes the
//! name in one transaction, before its consumers start, so no event is applied half-counted.

use std::collections::{BTreeMap, HashSet};

use caseflow_runtime::AnyConnection;
use diesel::prelude::*;

use crate::rollup::{self, DispatchCells};
use crate::store::{DispatchFact, report_backfills, report_dispatches, report_ratings, report_shift_hours};

/// Facts read at a time.
const CHUNK: i64 = 10_000;

/// Does the work every migration left, each in the caller's transaction.
pub fn run(conn: &mut AnyConnection) -> QueryResult<()> {
    let pending: Vec<String> = report_backfills::table.select(report_backfills::name).load(conn)?;
    for name in pending {
        match name.as_str() {
            "shift_hours" => shift_hours(conn)?,
            other => {
                tracing::warn!(backfill = other, "a migration named work this version does not know; left as it is");
                continue;
            }
        }
        diesel::delete(report_backfills::table.find(&name)).execute(conn)?;
        tracing::info!(backfill = %name, "backfill done");
    }
    Ok(())
}

/// `report_shift_hours` from every dispatch fact, as the projections would have written it.
/// It starts from an empty table, so doing it twice gives the same rows.
fn shift_hours(conn: &mut AnyConnection) -> QueryResult<()> {
    diesel::delete(report_shift_hours::table).execute(conn)?;
    let unsatisfied: HashSet<String> = report_ratings::table
        .filter(report_ratings::mapped.eq("unsatisfied"))
        .filter(report_ratings::status.eq("rated"))
        .select(report_ratings::dispatch_id)
        .load::<Option<String>>(conn)?
        .into_iter()
        .flatten()
        .collect();
    let mut hours: BTreeMap<rollup::HourKey, DispatchCells> = BTreeMap::new();
    let mut after = String::new();
    loop {
        let facts: Vec<DispatchFact> = report_dispatches::table
            .filter(report_dispatches::dispatch_id.gt(&after))
            .order(report_dispatches::dispatch_id)
            .limit(CHUNK)
            .select(DispatchFact::as_select())
            .load(conn)?;
        let Some(last) = facts.last() else { break };
        after = last.dispatch_id.clone();
        for f in &facts {
            let rated = unsatisfied.contains(&f.dispatch_id);
            let Some((key, _)) = rollup::dispatch_cells(f, rated, rollup::AsOf::End) else { continue };
            for (hour, c) in rollup::dispatch_hour_shifts(f, rated) {
                *hours.entry(rollup::hour_key(&key, hour)).or_default() += c;
            }
        }
    }
    for (key, c) in hours {
        if !c.is_zero() {
            rollup::add_hour_shift(conn, &key, c)?;
        }
    }
    Ok(())
}
