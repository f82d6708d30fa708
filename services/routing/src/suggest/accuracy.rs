//! First-assignment accuracy: for the matters received in a period and since resolved, the
//! share whose first unit would have been the unit that finally resolved them, for each way of
//! choosing it: the platform's (the unit it named), the catalog's (the unit its entry in force
//! named), what was done (the first lead dispatch), and the suggester's first and first three,
//! trained for each matter only on matters resolved before it arrived (within the window).

use chrono::{Duration, NaiveDateTime};
use serde::Serialize;

use super::history::{Arrival, Resolved};
use super::model::Counts;

/// One way of choosing the first unit, and how often it chose the final resolver.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct MethodAccuracy {
    /// platform | catalog | first_dispatch | suggester_top1 | suggester_top3
    pub method: String,
    /// Matters for which it chose a unit at all (the platform names none for some; the catalog
    /// has no single owner for others; the suggester knows nothing before its first matter).
    pub answered: u64,
    /// Matters whose final resolver it chose (for `suggester_top3`: among its three).
    pub right: u64,
    /// `right` out of all measured matters, in percent, to one decimal.
    pub percent: f64,
}

/// The figures of the accuracy report.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Figures {
    /// Matters received in the period and resolved by the moment of the report: the base of
    /// every share.
    pub measured: u64,
    pub methods: Vec<MethodAccuracy>,
}

fn percent(right: u64, of: u64) -> f64 {
    if of == 0 { 0.0 } else { (right as f64 * 1000.0 / of as f64).round() / 10.0 }
}

/// Measures `arrivals` (by receipt) against `training` (by resolution, starting at least
/// `window` before the first arrival): each arrival is ranked by a model that has learned
/// exactly the matters resolved in `[received - window, received)`.
pub fn measure(training: &[Resolved], arrivals: &[Arrival], window: Duration) -> Figures {
    let mut counts = Counts::default();
    let (mut learned, mut forgotten) = (0usize, 0usize);
    let mut tallies = [(0u64, 0u64); 5];
    let mut measured = 0u64;
    let mut arrivals: Vec<&Arrival> = arrivals.iter().collect();
    arrivals.sort_by_key(|a| a.received_at);
    for a in arrivals {
        let Some(resolver) = a.resolver() else { continue };
        let now: NaiveDateTime = a.received_at;
        while learned < training.len() && training[learned].resolved_at < now {
            counts.add(&training[learned].example);
            learned += 1;
        }
        while forgotten < learned && training[forgotten].resolved_at < now - window {
            counts.remove(&training[forgotten].example);
            forgotten += 1;
        }
        measured += 1;
        let ranked = counts.rank(&a.example.traits(), 3);
        let choices: [Option<bool>; 5] = [
            a.named.as_deref().map(|u| u == resolver),
            a.catalog.as_deref().map(|u| u == resolver),
            a.first.as_deref().map(|u| u == resolver),
            ranked.first().map(|r| r.unit == resolver),
            (!ranked.is_empty()).then(|| ranked.iter().any(|r| r.unit == resolver)),
        ];
        for (tally, choice) in tallies.iter_mut().zip(choices) {
            if let Some(right) = choice {
                tally.0 += 1;
                tally.1 += u64::from(right);
            }
        }
    }
    let names = ["platform", "catalog", "first_dispatch", "suggester_top1", "suggester_top3"];
    Figures {
        measured,
        methods: names
            .iter()
            .zip(tallies)
            .map(|(name, (answered, right))| MethodAccuracy {
                method: (*name).to_owned(),
                answered,
                right,
                percent: percent(right, measured),
            })
            .collect(),
    }
}
