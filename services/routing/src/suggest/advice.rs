//! What the suggester says where a person decides, worded for the dispatcher: the units history
//! ranks first for a matter (triage), a warning when a matter goes to a unit that rarely
//! resolved such matters (a dispatch at receipt), and what history says of the unit a return
//! request proposes. Each carries the number of the model it came from, and goes into the
//! routing log and the event as it was shown.

use caseflow_proto::v1 as pb;
use serde::{Deserialize, Serialize};

use super::features::Traits;
use super::model::Such;
use super::{Trained, WINDOW_DAYS};
use crate::registry::Registry;

/// A warning needs at least this many such matters resolved: fewer say nothing.
pub const MIN_SUCH: u64 = 5;
/// A unit that resolved under this share (percent) of such matters "rarely" resolves them.
pub const RARELY_PERCENT: u64 = 20;

/// A unit history points to for a matter.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Suggestion {
    pub unit: String,
    pub unit_name: String,
    /// The unit's share of the model's belief over all units, 0 to 1 (0 when not ranked).
    pub score: f64,
    /// Such matters (same category) the unit resolved, out of all such matters resolved, in
    /// the model's window: in the matter's sub-district (`scope` sub_district) when there were
    /// any there, else in the district.
    pub resolved: u64,
    pub of: u64,
    /// sub_district | district
    pub scope: String,
    /// The same, in words.
    pub evidence: String,
}

/// What history says of one unit for a matter, and the unit it ranks first instead.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct HistoryNote {
    pub model_version: i32,
    /// The unit the dispatch or the return request is about.
    pub unit: Suggestion,
    /// The unit history ranks first for the matter, when it is another.
    pub likely: Option<Suggestion>,
    /// Set when `unit` rarely resolved such matters: under 20 % of at least 5.
    pub warning: Option<String>,
}

/// Words for a unit and a matter's place, from the registry.
struct Names<'a> {
    registry: &'a Registry,
}

impl Names<'_> {
    fn unit(&self, code: &str) -> String {
        self.registry.get(code).map_or_else(|| code.to_owned(), |u| u.name.clone())
    }

    fn place(&self, m: &Traits<'_>, here: bool) -> String {
        if !here {
            return "the district".to_owned();
        }
        self.registry
            .get(m.sub_district)
            .map(|u| u.aliases.first().cloned().unwrap_or_else(|| u.name.clone()))
            .unwrap_or_else(|| m.sub_district.to_owned())
    }

    fn suggestion(&self, m: &Traits<'_>, unit: &str, score: f64, such: Such) -> Suggestion {
        let unit_name = self.unit(unit);
        Suggestion {
            evidence: format!(
                "{unit_name} resolved {} of {} such matters ({}) in {} in the last {WINDOW_DAYS} days",
                such.resolved,
                such.of,
                m.category,
                self.place(m, such.here)
            ),
            unit: unit.to_owned(),
            unit_name,
            score: (score * 1000.0).round() / 1000.0,
            resolved: such.resolved,
            of: such.of,
            scope: if such.here { "sub_district" } else { "district" }.to_owned(),
        }
    }
}

/// The `n` units history ranks first for `m`, best first.
pub fn suggestions(model: &Trained, m: &Traits<'_>, registry: &Registry, n: usize) -> Vec<Suggestion> {
    let names = Names { registry };
    model
        .counts
        .rank(m, n)
        .into_iter()
        .map(|r| names.suggestion(m, &r.unit, r.score, Such { resolved: r.resolved, of: r.of, here: r.here }))
        .collect()
}

/// What history says of `unit` for `m`, with a warning when the unit rarely resolved such
/// matters and history ranks another unit first.
pub fn about(model: &Trained, m: &Traits<'_>, registry: &Registry, unit: &str) -> HistoryNote {
    let names = Names { registry };
    let such = model.counts.history_of(m, unit);
    let top = model.counts.rank(m, 1).into_iter().next();
    let score = top.as_ref().filter(|t| t.unit == unit).map_or(0.0, |t| t.score);
    let this = names.suggestion(m, unit, score, such);
    let likely = top
        .filter(|t| t.unit != unit)
        .map(|t| names.suggestion(m, &t.unit, t.score, Such { resolved: t.resolved, of: t.of, here: t.here }));
    let warning = match &likely {
        Some(other) if rarely(such) => Some(format!(
            "history says {} rarely resolves such matters: {}; {} resolved {} of them",
            this.unit_name, this.evidence, other.unit_name, other.resolved
        )),
        _ => None,
    };
    HistoryNote { model_version: model.version, unit: this, likely, warning }
}

/// `about`, when it warns: a dispatch at receipt asks this of every matter, so the unit's own
/// counts are looked at first and the ranking (the summary's words cut) only when they are low.
pub fn warning(model: &Trained, m: &Traits<'_>, registry: &Registry, unit: &str) -> Option<HistoryNote> {
    let such = model.counts.history_of(m, unit);
    if !rarely(such) {
        return None;
    }
    Some(about(model, m, registry, unit)).filter(|note| note.warning.is_some())
}

fn rarely(such: Such) -> bool {
    such.of >= MIN_SUCH && such.resolved * 100 < such.of * RARELY_PERCENT
}

fn unit_history(s: &Suggestion) -> pb::UnitHistory {
    pb::UnitHistory { unit: s.unit.clone(), score: s.score, resolved: s.resolved, of: s.of, scope: s.scope.clone() }
}

/// The triage entry's note: the units history ranks first.
pub fn triage_note(model_version: i32, ranked: &[Suggestion]) -> pb::SuggesterNote {
    pb::SuggesterNote { model_version, units: ranked.iter().map(unit_history).collect(), warning: String::new() }
}

impl HistoryNote {
    pub fn to_proto(&self) -> pb::SuggesterNote {
        pb::SuggesterNote {
            model_version: self.model_version,
            units: std::iter::once(&self.unit).chain(self.likely.as_ref()).map(unit_history).collect(),
            warning: self.warning.clone().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Utc;

    use super::*;
    use crate::suggest::model::{Counts, Example};

    fn example(category: &str, summary: &str, unit: &str) -> Example {
        Example {
            category: category.into(),
            sub_district: "kaiyuan".into(),
            source: "hotline".into(),
            kind: "complaint".into(),
            summary: summary.into(),
            unit: unit.into(),
        }
    }

    fn trained(counts: Counts) -> Arc<Trained> {
        let now = Utc::now();
        Arc::new(Trained { version: 7, trained_at: now, resolved_from: now, resolved_to: now, counts })
    }

    #[test]
    fn a_unit_that_rarely_resolved_such_matters_is_warned_about_and_one_that_did_is_not() {
        let registry = Registry::load(None).expect("the built-in registry loads");
        let mut counts = Counts::default();
        for _ in 0..9 {
            counts.add(&example("urban_management.cooking_fume", "餐馆油烟检测超标", "shengtaihuanjing"));
        }
        counts.add(&example("urban_management.cooking_fume", "餐馆油烟检测超标", "chengguan"));
        let model = trained(counts);
        let m = example("urban_management.cooking_fume", "饭店油烟超标", "");
        let note = about(&model, &m.traits(), &registry, "chengguan");
        assert_eq!((note.unit.resolved, note.unit.of, note.model_version), (1, 10, 7));
        assert_eq!(note.likely.as_ref().map(|l| l.unit.as_str()), Some("shengtaihuanjing"));
        let said = note.warning.clone().expect("1 of 10 is rare");
        assert!(said.contains("1 of 10"), "{said}");
        assert!(about(&model, &m.traits(), &registry, "shengtaihuanjing").warning.is_none());
        // What a dispatch at receipt asks: the same answer, the ranking skipped when it need not.
        assert_eq!(warning(&model, &m.traits(), &registry, "chengguan"), Some(note.clone()));
        assert_eq!(warning(&model, &m.traits(), &registry, "shengtaihuanjing"), None);
        let proto = note_units(&about(&model, &m.traits(), &registry, "chengguan"));
        assert_eq!(proto, ["chengguan", "shengtaihuanjing"], "the unit first, then the likely one");
    }

    #[test]
    fn too_few_such_matters_warn_of_nothing() {
        let registry = Registry::load(None).expect("the built-in registry loads");
        let mut counts = Counts::default();
        for _ in 0..(MIN_SUCH - 1) {
            counts.add(&example("ecology.noise", "商铺音响噪音", "shengtaihuanjing"));
        }
        let model = trained(counts);
        let m = example("ecology.noise", "商铺音响噪音", "");
        let note = about(&model, &m.traits(), &registry, "chengguan");
        assert_eq!((note.unit.resolved, note.unit.of), (0, MIN_SUCH - 1));
        assert!(note.warning.is_none(), "{note:?}");
    }

    fn note_units(n: &HistoryNote) -> Vec<String> {
        n.to_proto().units.into_iter().map(|u| u.unit).collect()
    }
}
