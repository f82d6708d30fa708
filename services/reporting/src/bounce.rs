//! Bounce figures per unit: what the reform is for. No bulletin prints them; they follow from
//! routing's events alone.
//!
//! - first-assignment share: of the matters the unit resolved, those it got first (assignment 1);
//! - returns asked, approved, rejected; wrongful returns (the unit returned a matter it ended up
//!   resolving) and the days they cost;
//! - re-handlings (重办) of the unit's dispatches, from review or after a rating;
//! - days elsewhere: for the matters the unit resolved, the mean days from the case's receipt to
//!   the dispatch that reached the unit (0 when it was the first);
//! - history warnings: matters dispatched to the unit at receipt although the unit suggester's
//!   history said it rarely resolves such matters, and how many of those it handed on
//!   (returned or transferred).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::rollup::DispatchCells;
use crate::units::Units;

#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct BounceRow {
    pub unit: String,
    pub name: String,
    pub resolved: u64,
    pub resolved_on_first_assignment: u64,
    /// Percent, one decimal; absent when the unit resolved nothing.
    pub first_assignment_share: Option<f64>,
    pub returns_asked: u64,
    pub returns_approved: u64,
    pub returns_rejected: u64,
    pub wrongful_returns: u64,
    pub wrongful_days: f64,
    pub rehandlings: u64,
    /// Mean days, one decimal; absent when the unit resolved nothing.
    pub mean_days_elsewhere: Option<f64>,
    /// Dispatches to the unit that carried the suggester's warning, and of them those the
    /// unit handed on (returned or transferred).
    pub history_warnings: u64,
    pub history_warnings_handed_on: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct BounceReport {
    /// "matters" for the resolution figures, "return requests" for the returns.
    pub count_unit: &'static str,
    pub units: Vec<BounceRow>,
}

/// `cells`: each unit's dispatch cells (both sources, as of the end of time); `returns`: (unit,
/// status, wrongful, days cost) of returns of matters in the period; `warnings`: (unit, dispatch
/// status) of the dispatches the suggester warned about, of matters in the period.
pub fn bounce(
    units: &Units,
    cells: &BTreeMap<String, DispatchCells>,
    returns: &[(String, String, bool, Option<f64>)],
    warnings: &[(String, String)],
) -> BounceReport {
    let mut rows: BTreeMap<String, BounceRow> = BTreeMap::new();
    let mut elsewhere: BTreeMap<String, i64> = BTreeMap::new();
    let count = |v: i64| u64::try_from(v).unwrap_or(0);
    for (unit, c) in cells.iter().filter(|(_, c)| c.received > 0) {
        let row = rows.entry(unit.clone()).or_insert_with(|| BounceRow {
            unit: unit.clone(),
            name: units.name(unit),
            ..BounceRow::default()
        });
        row.rehandlings += count(c.rehandled);
        row.resolved += count(c.on_time + c.late);
        row.resolved_on_first_assignment += count(c.first_resolved);
        *elsewhere.entry(unit.clone()).or_default() += c.elsewhere_secs;
    }
    for (unit, status, wrongful, days) in returns {
        let row = rows.entry(unit.clone()).or_insert_with(|| BounceRow {
            unit: unit.clone(),
            name: units.name(unit),
            ..BounceRow::default()
        });
        row.returns_asked += 1;
        match status.as_str() {
            "approved" => row.returns_approved += 1,
            "rejected" => row.returns_rejected += 1,
            _ => {}
        }
        if *wrongful {
            row.wrongful_returns += 1;
            row.wrongful_days += days.unwrap_or(0.0);
        }
    }
    for (unit, status) in warnings {
        let row = rows.entry(unit.clone()).or_insert_with(|| BounceRow {
            unit: unit.clone(),
            name: units.name(unit),
            ..BounceRow::default()
        });
        row.history_warnings += 1;
        if matches!(status.as_str(), "returned" | "transferred") {
            row.history_warnings_handed_on += 1;
        }
    }
    let mut out: Vec<BounceRow> = rows.into_values().collect();
    for row in &mut out {
        row.first_assignment_share =
            caseflow_rates::Rate::of(row.resolved_on_first_assignment, row.resolved).map(|r| r.percent(1));
        row.mean_days_elsewhere = (row.resolved > 0).then(|| {
            let days = elsewhere.get(&row.unit).copied().unwrap_or(0) as f64 / 86_400.0;
            let mean = days / row.resolved as f64;
            (mean * 10.0).round() / 10.0
        });
        row.wrongful_days = (row.wrongful_days * 10.0).round() / 10.0;
    }
    out.sort_by(|a, b| {
        b.wrongful_returns.cmp(&a.wrongful_returns).then_with(|| units.order(&a.unit).cmp(&units.order(&b.unit)))
    });
    BounceReport { count_unit: "matters", units: out }
}
