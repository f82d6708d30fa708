//! Rules with the dates they are in force, like the catalog's entries: a policy value written
//! as a plain table is in force always; as an array of tables, each entry is one version with
//! `valid_from` and `valid_to` (exclusive) district dates, so replayed history is judged by the
//! rules of its time and a new rule can be written down before the day it starts.

use chrono::NaiveDate;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};

/// One version of a rule, with the days it is in force: [valid_from, valid_to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version<T> {
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
    pub rule: T,
}

/// A rule's versions over time: a plain table (always in force) or an array of dated tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dated<T> {
    Always(T),
    Versions(Vec<Version<T>>),
}

/// Read by hand rather than with `flatten`: the rule's own type then sees every other key of
/// a version and refuses the ones it does not know (a misspelt key is an error, not ignored).
impl<'de, T: DeserializeOwned> Deserialize<'de> for Dated<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let rule = |v: toml::Value| T::deserialize(v).map_err(D::Error::custom);
        let date = |table: &mut toml::Table, key: &str| -> Result<Option<NaiveDate>, D::Error> {
            match table.remove(key) {
                None => Ok(None),
                Some(v) => {
                    let text = match &v {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                        .map(Some)
                        .map_err(|_| D::Error::custom(format!("{key}: '{text}' is not a date YYYY-MM-DD")))
                }
            }
        };
        match toml::Value::deserialize(d)? {
            toml::Value::Array(items) => {
                let mut versions = Vec::with_capacity(items.len());
                for item in items {
                    let toml::Value::Table(mut table) = item else {
                        return Err(D::Error::custom("each version of a rule is a table"));
                    };
                    let valid_from = date(&mut table, "valid_from")?;
                    let valid_to = date(&mut table, "valid_to")?;
                    versions.push(Version { valid_from, valid_to, rule: rule(toml::Value::Table(table))? });
                }
                Ok(Self::Versions(versions))
            }
            other => rule(other).map(Self::Always),
        }
    }
}

impl<T: Clone> Dated<T> {
    /// The version in force on `on`, if any.
    pub fn on(&self, on: NaiveDate) -> Option<T> {
        match self {
            Self::Always(rule) => Some(rule.clone()),
            Self::Versions(versions) => versions
                .iter()
                .find(|v| v.valid_from.is_none_or(|from| from <= on) && v.valid_to.is_none_or(|to| on < to))
                .map(|v| v.rule.clone()),
        }
    }

    /// Refuses versions that end before they start or overlap another, and, when
    /// `every_day`, versions that leave a day with no rule; the message names the rule.
    pub fn check(&self, name: &str, every_day: bool) -> Result<(), String> {
        let Self::Versions(versions) = self else { return Ok(()) };
        if versions.is_empty() {
            return Err(format!("{name}: no version"));
        }
        for (i, a) in versions.iter().enumerate() {
            if let (Some(from), Some(to)) = (a.valid_from, a.valid_to)
                && to <= from
            {
                return Err(format!("{name}: valid_to {to} is not after valid_from {from}"));
            }
            for b in &versions[i + 1..] {
                let a_before_b_ends = b.valid_to.is_none_or(|to| a.valid_from.is_none_or(|from| from < to));
                let b_before_a_ends = a.valid_to.is_none_or(|to| b.valid_from.is_none_or(|from| from < to));
                if a_before_b_ends && b_before_a_ends {
                    return Err(format!("{name}: two versions are in force on the same day"));
                }
            }
        }
        if every_day && !covers_every_day(versions) {
            return Err(format!(
                "{name}: its versions leave days without a rule (the first must have no valid_from, the last no valid_to, and each start where the one before ends)"
            ));
        }
        Ok(())
    }
}

/// Whether the versions, in order of valid_from, leave no day uncovered.
fn covers_every_day<T>(versions: &[Version<T>]) -> bool {
    let mut sorted: Vec<&Version<T>> = versions.iter().collect();
    sorted.sort_by_key(|v| v.valid_from);
    // None: nothing yet; Some(None): covered to the end of time; Some(Some(d)): up to d.
    let mut reached: Option<Option<NaiveDate>> = None;
    for v in sorted {
        match reached {
            None if v.valid_from.is_some() => return false,
            Some(Some(end)) if v.valid_from != Some(end) => return false,
            Some(None) => return false,
            _ => {}
        }
        reached = Some(v.valid_to);
    }
    reached == Some(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
    #[serde(deny_unknown_fields)]
    struct Window {
        days: u32,
    }

    #[derive(Debug, Deserialize)]
    struct File {
        window: Dated<Window>,
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn a_plain_table_is_always_in_force_and_versions_by_their_dates() {
        let plain: File = toml::from_str("[window]\ndays = 7").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plain.window.on(day("1999-01-01")), Some(Window { days: 7 }));
        let dated: File = toml::from_str(
            "[[window]]\nvalid_to = \"2020-01-01\"\ndays = 7\n[[window]]\nvalid_from = \"2020-01-01\"\ndays = 10",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(dated.window.on(day("2019-12-31")), Some(Window { days: 7 }));
        assert_eq!(dated.window.on(day("2020-01-01")), Some(Window { days: 10 }));
        assert_eq!(dated.window.check("window", true), Ok(()));
    }

    #[test]
    fn gaps_overlaps_and_unknown_keys_are_refused() {
        let gap: File = toml::from_str(
            "[[window]]\nvalid_to = \"2020-01-01\"\ndays = 7\n[[window]]\nvalid_from = \"2020-02-01\"\ndays = 10",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(gap.window.check("window", true).is_err_and(|m| m.contains("without a rule")));
        assert_eq!(gap.window.check("window", false), Ok(()));
        let overlap: File = toml::from_str("[[window]]\ndays = 7\n[[window]]\nvalid_from = \"2020-02-01\"\ndays = 10")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(overlap.window.check("window", false).is_err_and(|m| m.contains("same day")));
        assert!(toml::from_str::<File>("[[window]]\ndays = 7\nweeks = 1").is_err());
    }
}
