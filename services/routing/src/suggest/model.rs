//! The scorer: multinomial naive Bayes over a matter's features (`features.rs`), with add-one
//! smoothing, learned from counts that a resolved matter adds to and can take away again (so
//! that the accuracy report slides its training window one matter at a time, exactly). It is
//! explainable: beside each unit's score it says how many such matters (same category, same
//! sub-district) the unit resolved, out of how many were resolved.
//!
//! Naive Bayes was chosen over a logistic regression (linfa) because it trains in one pass of
//! counting, can forget a matter as exactly as it learned it, and its evidence is the counts
//! themselves; measured against the catalog in `accuracy.rs`.

use std::collections::HashMap;

use super::features::{Traits, features};

/// A matter the suggester learns from: what it was and who finally resolved it.
#[derive(Debug, Clone)]
pub struct Example {
    pub category: String,
    pub sub_district: String,
    pub source: String,
    pub kind: String,
    pub summary: String,
    /// The unit of the lead dispatch that resolved it last.
    pub unit: String,
}

impl Example {
    pub fn traits(&self) -> Traits<'_> {
        Traits {
            category: &self.category,
            sub_district: &self.sub_district,
            source: &self.source,
            kind: &self.kind,
            summary: &self.summary,
        }
    }
}

#[derive(Debug, Default, Clone)]
struct UnitCounts {
    code: String,
    matters: u64,
    /// Features seen with this unit, counted once per matter.
    tokens: u64,
    per_feature: HashMap<u32, u64>,
}

/// Counts learned from resolved matters.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    feature_ids: HashMap<String, u32>,
    /// Matters learned with each feature, by id; a feature no learned matter has any more is
    /// out of the vocabulary again.
    feature_totals: Vec<u64>,
    vocabulary: u64,
    units: Vec<UnitCounts>,
    unit_ids: HashMap<String, usize>,
    matters: u64,
    /// (category, sub-district) → resolved per unit index; and the category alone.
    such_here: HashMap<(String, String), HashMap<usize, u64>>,
    such: HashMap<String, HashMap<usize, u64>>,
}

/// One unit the history points to, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub unit: String,
    /// The unit's share of the posterior over all units the history knows (0..1).
    pub score: f64,
    /// Such matters (same category) this unit resolved, and how many were resolved in all:
    /// in the matter's sub-district when there were any there, else in the whole district.
    pub resolved: u64,
    pub of: u64,
    pub here: bool,
}

impl Counts {
    /// Matters learned (added and not taken away).
    pub fn matters(&self) -> u64 {
        self.matters
    }

    pub fn add(&mut self, e: &Example) {
        self.apply(e, true);
    }

    /// Forgets a matter added before (the window slid past it).
    pub fn remove(&mut self, e: &Example) {
        self.apply(e, false);
    }

    fn apply(&mut self, e: &Example, add: bool) {
        let step = |n: &mut u64| {
            if add {
                *n += 1;
            } else {
                *n = n.saturating_sub(1);
            }
        };
        let u = match self.unit_ids.get(&e.unit) {
            Some(u) => *u,
            None if add => {
                self.units.push(UnitCounts { code: e.unit.clone(), ..UnitCounts::default() });
                self.unit_ids.insert(e.unit.clone(), self.units.len() - 1);
                self.units.len() - 1
            }
            None => return,
        };
        step(&mut self.matters);
        step(&mut self.units[u].matters);
        for f in features(&e.traits()) {
            let next = self.feature_ids.len() as u32;
            let id = *self.feature_ids.entry(f).or_insert(next);
            if id as usize == self.feature_totals.len() {
                self.feature_totals.push(0);
            }
            let total = &mut self.feature_totals[id as usize];
            let was = *total;
            step(total);
            match (was, *total) {
                (0, 1) => self.vocabulary += 1,
                (1, 0) => self.vocabulary -= 1,
                _ => {}
            }
            step(&mut self.units[u].tokens);
            step(self.units[u].per_feature.entry(id).or_default());
        }
        step(self.such_here.entry((e.category.clone(), e.sub_district.clone())).or_default().entry(u).or_default());
        step(self.such.entry(e.category.clone()).or_default().entry(u).or_default());
    }

    /// The `n` units the history ranks first for `m`, best first; empty before any matter was
    /// learned. Units that resolved nothing in the window are not ranked.
    pub fn rank(&self, m: &Traits<'_>, n: usize) -> Vec<Ranked> {
        let live: Vec<usize> = (0..self.units.len()).filter(|u| self.units[*u].matters > 0).collect();
        if live.is_empty() || n == 0 {
            return Vec::new();
        }
        let ids: Vec<u32> = features(m)
            .iter()
            .filter_map(|f| self.feature_ids.get(f).copied())
            .filter(|id| self.feature_totals[*id as usize] > 0)
            .collect();
        let vocabulary = self.vocabulary.max(1) as f64;
        let total = self.matters as f64;
        let logs: Vec<(usize, f64)> = live
            .iter()
            .map(|&u| {
                let c = &self.units[u];
                let prior = ((c.matters as f64) + 1.0) / (total + live.len() as f64);
                let denominator = c.tokens as f64 + vocabulary;
                let likelihood: f64 = ids
                    .iter()
                    .map(|id| ((c.per_feature.get(id).copied().unwrap_or(0) as f64 + 1.0) / denominator).ln())
                    .sum();
                (u, prior.ln() + likelihood)
            })
            .collect();
        let best = logs.iter().map(|(_, l)| *l).fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = logs.iter().map(|(_, l)| (l - best).exp()).sum();
        let mut ranked: Vec<(usize, f64)> = logs.into_iter().map(|(u, l)| (u, (l - best).exp() / sum)).collect();
        // Ties (equal scores) go to the unit code, so that the same history always ranks alike.
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| self.units[a.0].code.cmp(&self.units[b.0].code)));
        let such = self.such_as(m);
        ranked
            .into_iter()
            .take(n)
            .map(|(u, score)| Ranked {
                unit: self.units[u].code.clone(),
                score,
                resolved: such.of_unit(u),
                of: such.of,
                here: such.here,
            })
            .collect()
    }

    /// Such matters as `m` (same category) that `unit` resolved, out of all such matters
    /// resolved: in `m`'s sub-district when there were any there, else in the district.
    pub fn history_of(&self, m: &Traits<'_>, unit: &str) -> Such {
        let such = self.such_as(m);
        let resolved = self.unit_ids.get(unit).map_or(0, |u| such.of_unit(*u));
        Such { resolved, of: such.of, here: such.here }
    }

    fn such_as(&self, m: &Traits<'_>) -> SuchCounts<'_> {
        let here = self.such_here.get(&(m.category.to_owned(), m.sub_district.to_owned()));
        let (per_unit, here) = match here.filter(|h| h.values().any(|n| *n > 0)) {
            Some(h) => (Some(h), true),
            None => (self.such.get(m.category), false),
        };
        SuchCounts { per_unit, of: per_unit.map_or(0, |h| h.values().sum()), here }
    }
}

/// How a unit fared with such matters: it resolved `resolved` of the `of` resolved, in the
/// matter's sub-district (`here`) or in the district.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Such {
    pub resolved: u64,
    pub of: u64,
    pub here: bool,
}

struct SuchCounts<'a> {
    per_unit: Option<&'a HashMap<usize, u64>>,
    of: u64,
    here: bool,
}

impl SuchCounts<'_> {
    fn of_unit(&self, u: usize) -> u64 {
        self.per_unit.and_then(|h| h.get(&u)).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(category: &str, sub: &str, summary: &str, unit: &str) -> Example {
        Example {
            category: category.into(),
            sub_district: sub.into(),
            source: "hotline".into(),
            kind: "complaint".into(),
            summary: summary.into(),
            unit: unit.into(),
        }
    }

    #[test]
    fn the_unit_that_resolved_such_matters_ranks_first_with_its_count() {
        let mut c = Counts::default();
        for _ in 0..8 {
            c.add(&example("urban_management.cooking_fume", "kaiyuan", "烧烤店油烟扰民", "chengguan"));
        }
        for _ in 0..3 {
            c.add(&example("urban_management.cooking_fume", "kaiyuan", "餐馆油烟检测超标", "shengtaihuanjing"));
        }
        c.add(&example("labour.wage_arrears", "kaiyuan", "拖欠工资", "renshe"));
        let m = example("urban_management.cooking_fume", "kaiyuan", "烧烤油烟", "");
        let ranked = c.rank(&m.traits(), 3);
        assert_eq!(ranked[0].unit, "chengguan");
        assert_eq!((ranked[0].resolved, ranked[0].of, ranked[0].here), (8, 11, true));
        assert!(ranked[0].score > ranked[1].score);
        let total: f64 = c.rank(&m.traits(), 10).iter().map(|r| r.score).sum();
        assert!((total - 1.0).abs() < 1e-9, "scores share the whole: {total}");
        // The words move it: a measurement of fume levels is the environment bureau's.
        let measured = example("urban_management.cooking_fume", "kaiyuan", "餐馆油烟检测超标", "");
        assert_eq!(c.rank(&measured.traits(), 1)[0].unit, "shengtaihuanjing");
    }

    #[test]
    fn forgetting_a_matter_undoes_learning_it() {
        let mut c = Counts::default();
        let a = example("ecology.noise", "haibin", "商铺音响噪音", "shengtaihuanjing");
        let b = example("ecology.noise", "haibin", "广场舞噪音", "haibin");
        c.add(&a);
        let before = c.rank(&a.traits(), 3);
        c.add(&b);
        c.remove(&b);
        assert_eq!(c.rank(&a.traits(), 3), before);
        assert_eq!(c.matters(), 1);
        c.remove(&a);
        assert!(c.rank(&a.traits(), 3).is_empty(), "nothing learned: nothing to suggest");
    }
}
