//! The responsibility catalog (权责清单): which unit owns a kind of matter, on which legal
//! basis, and when. Entries may be narrowed by keywords in the matter's summary and by
//! sub-district; the most specific entry in force wins. Entries that could both match the same
//! matter are reported, so the office settles the overlap instead of units bouncing it.

use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

const BUILTIN_CATALOG: &str = include_str!("../../../deploy/policy/catalog.toml");

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    pub id: String,
    /// Level-2 taxonomy code.
    pub category: String,
    /// The entry applies only when the matter's summary mentions one of these.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// The entry applies only in this sub-district.
    #[serde(default)]
    pub sub_district: Option<String>,
    pub unit: String,
    pub legal_basis: String,
    pub valid_from: NaiveDate,
    #[serde(default)]
    pub valid_to: Option<NaiveDate>,
}

impl CatalogEntry {
    fn in_force(&self, on: NaiveDate) -> bool {
        self.valid_from <= on && self.valid_to.is_none_or(|to| on < to)
    }

    fn matches(&self, m: &MatterFacts<'_>) -> bool {
        self.category == m.category
            && self.in_force(m.on)
            && self.sub_district.as_deref().is_none_or(|s| s == m.sub_district)
            && (self.keywords.is_empty() || self.keywords.iter().any(|k| m.summary.contains(k.as_str())))
    }

    /// Higher is more specific: keywords and a sub-district narrow an entry.
    fn specificity(&self) -> u8 {
        u8::from(!self.keywords.is_empty()) + u8::from(self.sub_district.is_some())
    }
}

/// What the catalog is asked about.
#[derive(Debug, Clone, Copy)]
pub struct MatterFacts<'a> {
    pub category: &'a str,
    pub summary: &'a str,
    pub sub_district: &'a str,
    pub on: NaiveDate,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[allow(dead_code)]
    version: String,
    entries: Vec<CatalogEntry>,
}

/// Two entries that can both claim the same matter.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Overlap {
    pub category: String,
    pub first: String,
    pub second: String,
    pub first_unit: String,
    pub second_unit: String,
    /// True when the more specific entry settles it (it wins); false when neither is more
    /// specific and the office must decide.
    pub settled_by_specificity: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entries: Vec<CatalogEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read catalog {path}: {message}")]
    Read { path: String, message: String },
    #[error("catalog: {0}")]
    Invalid(String),
}

impl Catalog {
    pub fn load(path: Option<&Path>) -> Result<Self, CatalogError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| CatalogError::Read { path: p.display().to_string(), message: e.to_string() })?,
            None => BUILTIN_CATALOG.to_owned(),
        };
        let file: CatalogFile = toml::from_str(&text).map_err(|e| CatalogError::Invalid(e.to_string()))?;
        let mut ids = std::collections::BTreeSet::new();
        for e in &file.entries {
            if !ids.insert(e.id.clone()) {
                return Err(CatalogError::Invalid(format!("entry {} is listed twice", e.id)));
            }
            if e.valid_to.is_some_and(|to| to <= e.valid_from) {
                return Err(CatalogError::Invalid(format!("entry {}: valid_to must be after valid_from", e.id)));
            }
        }
        Ok(Self { entries: file.entries })
    }

    pub fn entries(&self) -> &[CatalogEntry] {
        &self.entries
    }

    pub fn get(&self, id: &str) -> Option<&CatalogEntry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// The entry that owns the matter: the most specific one in force. Ties between equally
    /// specific entries naming different units are unresolved (None): the dispatcher decides.
    pub fn responsible(&self, m: &MatterFacts<'_>) -> Option<&CatalogEntry> {
        let mut matching: Vec<&CatalogEntry> = self.entries.iter().filter(|e| e.matches(m)).collect();
        matching.sort_by_key(|e| std::cmp::Reverse(e.specificity()));
        match matching.as_slice() {
            [] => None,
            [only] => Some(only),
            [best, next, ..] if best.specificity() > next.specificity() || best.unit == next.unit => Some(best),
            _ => None,
        }
    }

    /// Every pair of entries whose conditions can hold at once for the same matter.
    pub fn overlaps(&self) -> Vec<Overlap> {
        let mut out = Vec::new();
        for (i, a) in self.entries.iter().enumerate() {
            for b in &self.entries[i + 1..] {
                let periods_meet =
                    a.valid_to.is_none_or(|to| b.valid_from < to) && b.valid_to.is_none_or(|to| a.valid_from < to);
                let places_meet = match (&a.sub_district, &b.sub_district) {
                    (Some(x), Some(y)) => x == y,
                    _ => true,
                };
                let words_meet =
                    a.keywords.is_empty() || b.keywords.is_empty() || a.keywords.iter().any(|k| b.keywords.contains(k));
                if a.category == b.category && a.unit != b.unit && periods_meet && places_meet && words_meet {
                    out.push(Overlap {
                        category: a.category.clone(),
                        first: a.id.clone(),
                        second: b.id.clone(),
                        first_unit: a.unit.clone(),
                        second_unit: b.unit.clone(),
                        settled_by_specificity: a.specificity() != b.specificity(),
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(category: &'a str, summary: &'a str) -> MatterFacts<'a> {
        MatterFacts {
            category,
            summary,
            sub_district: "kaiyuan",
            on: NaiveDate::from_ymd_opt(2020, 3, 2).expect("date"),
        }
    }

    #[test]
    fn the_most_specific_entry_in_force_wins() {
        let c = Catalog::load(None).expect("built-in catalog");
        // The reform left cooking fumes with two equally specific owners: no single answer.
        assert!(c.responsible(&facts("urban_management.cooking_fume", "餐饮店油烟直排")).is_none());
        assert_eq!(
            c.responsible(&facts("construction.housing_safety", "危房")).map(|e| e.unit.as_str()),
            Some("zhujian")
        );
        assert_eq!(c.responsible(&facts("ecology.air", "工厂废气")).map(|e| e.unit.as_str()), Some("shengtaihuanjing"));
        assert_eq!(c.responsible(&facts("ecology.air", "楼下餐饮油烟")).map(|e| e.unit.as_str()), Some("chengguan"));
        // Not yet in force before the epidemic entry's date.
        let before = MatterFacts {
            on: NaiveDate::from_ymd_opt(2020, 1, 1).expect("date"),
            ..facts("health.mask_supply", "口罩")
        };
        assert!(c.responsible(&before).is_none());
    }

    #[test]
    fn overlapping_duties_are_reported() {
        let c = Catalog::load(None).expect("built-in catalog");
        let overlaps = c.overlaps();
        assert!(
            overlaps.iter().any(|o| o.first == "con-renovation" && o.second == "con-renovation-penalty"),
            "{overlaps:?}"
        );
        assert!(overlaps.iter().any(|o| o.category == "ecology.air" && o.settled_by_specificity));
        assert!(overlaps.iter().any(|o| o.category == "urban_management.cooking_fume" && !o.settled_by_specificity));
        assert!(overlaps.iter().all(|o| o.first_unit != o.second_unit));
    }
}
