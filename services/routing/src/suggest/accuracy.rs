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

/// Matters resolved, in order of resolution, handed out one at a time.
pub trait Resolutions {
    type Error;
    /// The next matter if it was resolved before `moment`.
    fn take_before(&mut self, moment: NaiveDateTime) -> Result<Option<Resolved>, Self::Error>;
}

/// Resolutions held in memory.
pub struct InMemory<'a> {
    items: &'a [Resolved],
    next: usize,
}

impl<'a> InMemory<'a> {
    pub fn new(items: &'a [Resolved]) -> Self {
        Self { items, next: 0 }
    }
}

impl Resolutions for InMemory<'_> {
    type Error = std::convert::Infallible;

    fn take_before(&mut self, moment: NaiveDateTime) -> Result<Option<Resolved>, Self::Error> {
        match self.items.get(self.next) {
            Some(r) if r.resolved_at < moment => {
                self.next += 1;
                Ok(Some(r.clone()))
            }
            _ => Ok(None),
        }
    }
}

/// Measures `arrivals` (in order of receipt, as `history` reads them) against the matters
/// resolved from at least `window` before the first arrival, in order of resolution: `learn`
/// and `forget` hand out that same sequence, the one to learn from, the other to forget as the
/// window slides (so the history is read twice, never held). Each arrival is ranked by a model
/// that has learned exactly the matters resolved in `[received - window, received)`.
pub fn measure<R: Resolutions>(
    learn: &mut R,
    forget: &mut R,
    arrivals: &[Arrival],
    window: Duration,
) -> Result<Figures, R::Error> {
    let mut counts = Counts::default();
    let mut tallies = [(0u64, 0u64); 5];
    let mut measured = 0u64;
    for a in arrivals {
        let Some(resolver) = a.resolver() else { continue };
        let now: NaiveDateTime = a.received_at;
        while let Some(r) = learn.take_before(now)? {
            counts.add(&r.example);
        }
        // The same sequence, behind: what it hands out was learned already.
        while let Some(r) = forget.take_before(now - window)? {
            counts.remove(&r.example);
        }
        measured += 1;
        let ranked = counts.rank(&a.example.traits(), 3);
        let choices: [Option<bool>; 5] = [
            a.named.as_deref().map(|u| u == resolver),
            a.catalog.as_deref().map(|u| u == resolver),
            Some(a.first == resolver),
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
    Ok(Figures {
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suggest::model::Example;

    fn at(day: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2020, 1, day).and_then(|d| d.and_hms_opt(9, 0, 0)).expect("day")
    }

    fn fume(unit: &str) -> Example {
        Example {
            category: "urban_management.cooking_fume".into(),
            sub_district: "kaiyuan".into(),
            source: "hotline".into(),
            kind: "complaint".into(),
            summary: "烧烤店油烟扰民".into(),
            unit: unit.into(),
        }
    }

    fn resolved(day: u32, unit: &str) -> Resolved {
        Resolved { matter_id: format!("m-{day}"), resolved_at: at(day), example: fume(unit) }
    }

    fn arrival(day: u32) -> Arrival {
        Arrival {
            matter_id: format!("a-{day}"),
            received_at: at(day),
            example: fume("chengguan"),
            named: None,
            catalog: None,
            first: "shichangjianguan".into(),
            to_catalog_unit: 0,
            handed_on_by_catalog_unit: 0,
        }
    }

    fn measure(training: &[Resolved], arrivals: &[Arrival], window: Duration) -> Figures {
        let Ok(f) = super::measure(&mut InMemory::new(training), &mut InMemory::new(training), arrivals, window);
        f
    }

    fn suggester(f: &Figures) -> (u64, u64) {
        let m = f.methods.iter().find(|m| m.method == "suggester_top1").expect("top1");
        (m.answered, m.right)
    }

    #[test]
    fn a_matter_is_judged_only_by_what_was_resolved_before_it_arrived_within_the_window() {
        let training = [resolved(5, "chengguan"), resolved(20, "shengtaihuanjing")];
        // On the 10th only the 5th's resolution is known; on the 3rd nothing is.
        let f = measure(&training, &[arrival(3), arrival(10)], Duration::days(365));
        assert_eq!(f.measured, 2);
        assert_eq!(suggester(&f), (1, 1), "the 3rd knows nothing; the 10th learned the 5th");
        // On the 25th, with a 10-day window, the 5th is forgotten and only the 20th remains.
        let f = measure(&training, &[arrival(25)], Duration::days(10));
        assert_eq!(suggester(&f), (1, 0), "only the 20th's resolver (the wrong unit) is in the window");
        let f = measure(&training, &[arrival(25)], Duration::days(365));
        assert_eq!(f.methods.iter().find(|m| m.method == "suggester_top3").map(|m| m.right), Some(1));
        assert_eq!(
            f.methods.iter().find(|m| m.method == "first_dispatch").map(|m| (m.answered, m.right)),
            Some((1, 0))
        );
    }
}
