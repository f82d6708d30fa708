//! Catalog entries that history contradicts, for the office that keeps the catalog (权责清单):
//! an entry whose unit, given such matters, handed most of them on (returned or transferred).
//! Beside each, who did resolve them, so the entry can be mended rather than argued over.

use std::collections::BTreeMap;

use serde::Serialize;

use super::advice::MIN_SUCH;
use super::history::Arrival;
use crate::catalog::{Catalog, MatterFacts};
use crate::registry::Registry;

/// A unit that resolved some of an entry's matters.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Resolver {
    pub unit: String,
    pub unit_name: String,
    pub resolved: u64,
}

/// One catalog entry and what became of the matters it gave its unit.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Contradiction {
    pub entry: String,
    pub category: String,
    pub unit: String,
    pub unit_name: String,
    pub legal_basis: String,
    /// Matters received in the period that the entry named its unit for and that went to it.
    pub matters: u64,
    /// Of them, the matters the unit handed on (returned or transferred).
    pub handed_on: u64,
    /// `handed_on` of `matters`, percent, one decimal.
    pub handed_on_percent: f64,
    /// Of them, resolved by the entry's unit after all.
    pub resolved_by_unit: u64,
    /// Every unit that resolved them, most first.
    pub resolved_by: Vec<Resolver>,
    /// The same, in words.
    pub evidence: String,
}

/// `Contradiction`s, most handed on first.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ContradictionReport {
    pub from: chrono::DateTime<chrono::Utc>,
    pub to: chrono::DateTime<chrono::Utc>,
    /// An entry is listed when its unit had at least this many such matters and handed on more
    /// than half of them.
    pub min_matters: u64,
    pub entries: Vec<Contradiction>,
}

#[derive(Default)]
struct Tally {
    matters: u64,
    handed_on: u64,
    resolved_by: BTreeMap<String, u64>,
}

/// The entries whose unit handed on most of the `arrivals` the entry gave it.
pub fn contradicted(arrivals: &[Arrival], catalog: &Catalog, registry: &Registry) -> Vec<Contradiction> {
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    for a in arrivals.iter().filter(|a| a.to_catalog_unit > 0) {
        let facts = MatterFacts {
            category: &a.example.category,
            summary: &a.example.summary,
            sub_district: &a.example.sub_district,
            on: a.received_at.and_utc().with_timezone(&caseflow_runtime::clock::district_offset()).date_naive(),
        };
        // The entry that named the unit on the day of receipt (one edited since names another).
        let Some(entry) = catalog.responsible(&facts).filter(|e| a.catalog.as_deref() == Some(e.unit.as_str())) else {
            continue;
        };
        let t = tallies.entry(entry.id.as_str()).or_default();
        t.matters += 1;
        t.handed_on += u64::from(a.handed_on_by_catalog_unit > 0);
        if let Some(unit) = a.resolver() {
            *t.resolved_by.entry(unit.to_owned()).or_default() += 1;
        }
    }
    let name = |code: &str| registry.get(code).map_or_else(|| code.to_owned(), |u| u.name.clone());
    let mut out: Vec<Contradiction> = tallies
        .into_iter()
        .filter(|(_, t)| t.matters >= MIN_SUCH && t.handed_on * 2 > t.matters)
        .filter_map(|(id, t)| {
            let entry = catalog.get(id)?;
            let mut resolved_by: Vec<Resolver> = t
                .resolved_by
                .iter()
                .map(|(unit, n)| Resolver { unit: unit.clone(), unit_name: name(unit), resolved: *n })
                .collect();
            resolved_by.sort_by(|a, b| b.resolved.cmp(&a.resolved).then_with(|| a.unit.cmp(&b.unit)));
            let resolved_by_unit = t.resolved_by.get(&entry.unit).copied().unwrap_or(0);
            let unit_name = name(&entry.unit);
            let who =
                resolved_by.iter().map(|r| format!("{} {}", r.unit_name, r.resolved)).collect::<Vec<_>>().join(", ");
            Some(Contradiction {
                evidence: format!(
                    "catalog entry {} gives {} such matters to {unit_name}, which handed on {} of {}; resolved by: {}",
                    entry.id,
                    entry.category,
                    t.handed_on,
                    t.matters,
                    if who.is_empty() { "none yet".to_owned() } else { who }
                ),
                entry: entry.id.clone(),
                category: entry.category.clone(),
                unit: entry.unit.clone(),
                unit_name,
                legal_basis: entry.legal_basis.clone(),
                matters: t.matters,
                handed_on: t.handed_on,
                handed_on_percent: (t.handed_on as f64 * 1000.0 / t.matters as f64).round() / 10.0,
                resolved_by_unit,
                resolved_by,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.handed_on_percent
            .total_cmp(&a.handed_on_percent)
            .then_with(|| b.matters.cmp(&a.matters))
            .then_with(|| a.entry.cmp(&b.entry))
    });
    out
}
