//! The routing policy file (`deploy/policy/routing.toml`): deadlines by source, kind and
//! single-visit flag; return windows, reasons and cap; extension caps; reminder fractions;
//! supervision escalation. Built in for the example district; a deployment may point to its own.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::calendar::{DeadlineSpec, DeadlineUnit};

const BUILTIN_POLICY: &str = include_str!("../../../deploy/policy/routing.toml");

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeadlineSet {
    pub acknowledge: DeadlineSpec,
    pub land: DeadlineSpec,
    pub resolve: DeadlineSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deadlines {
    /// By hotline kind: complaint, suggestion, inquiry, help_request.
    pub hotline: BTreeMap<String, DeadlineSet>,
    pub petition: DeadlineSet,
    pub single_visit: DeadlineSet,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnRules {
    pub hotline_window: DeadlineSpec,
    pub petition_window: DeadlineSpec,
    pub cap: u32,
    pub reason_codes: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionCap {
    pub max_count: u32,
    /// Natural days for petitions, working days for the hotline.
    pub max_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extensions {
    pub hotline: ExtensionCap,
    pub petition: ExtensionCap,
    pub single_visit: ExtensionCap,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reminders {
    pub fractions: Vec<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Supervision {
    pub escalate_after: DeadlineSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingPolicy {
    pub version: String,
    pub deadlines: Deadlines,
    pub returns: ReturnRules,
    pub extensions: Extensions,
    pub reminders: Reminders,
    pub supervision: Supervision,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read routing policy {path}: {message}")]
    Read { path: String, message: String },
    #[error("routing policy: {0}")]
    Invalid(String),
}

/// What a matter is, for choosing its policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatterClass<'a> {
    pub source: &'a str,
    pub kind: &'a str,
    pub single_visit: bool,
}

impl RoutingPolicy {
    pub fn load(path: Option<&Path>) -> Result<Self, PolicyError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| PolicyError::Read { path: p.display().to_string(), message: e.to_string() })?,
            None => BUILTIN_POLICY.to_owned(),
        };
        let policy: Self = toml::from_str(&text).map_err(|e| PolicyError::Invalid(e.to_string()))?;
        for kind in ["complaint", "suggestion", "inquiry", "help_request"] {
            if !policy.deadlines.hotline.contains_key(kind) {
                return Err(PolicyError::Invalid(format!("deadlines.hotline.{kind} is missing")));
            }
        }
        if policy.reminders.fractions.iter().any(|f| !(0.0..1.0).contains(f) || *f <= 0.0) {
            return Err(PolicyError::Invalid("reminders.fractions must lie strictly between 0 and 1".into()));
        }
        if policy.returns.reason_codes.is_empty() {
            return Err(PolicyError::Invalid("returns.reason_codes must not be empty".into()));
        }
        Ok(policy)
    }

    pub fn deadlines(&self, class: MatterClass<'_>) -> DeadlineSet {
        if class.single_visit {
            return self.deadlines.single_visit;
        }
        if class.source == "petition" {
            return self.deadlines.petition;
        }
        self.deadlines
            .hotline
            .get(class.kind)
            .or_else(|| self.deadlines.hotline.get("complaint"))
            .copied()
            .unwrap_or(self.deadlines.petition)
    }

    pub fn return_window(&self, class: MatterClass<'_>) -> DeadlineSpec {
        if class.source == "petition" { self.returns.petition_window } else { self.returns.hotline_window }
    }

    /// The extension cap and the unit its days are counted in.
    pub fn extension_cap(&self, class: MatterClass<'_>) -> (ExtensionCap, DeadlineUnit) {
        if class.single_visit {
            (self.extensions.single_visit, DeadlineUnit::NaturalDays)
        } else if class.source == "petition" {
            (self.extensions.petition, DeadlineUnit::NaturalDays)
        } else {
            (self.extensions.hotline, DeadlineUnit::WorkingDays)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_policy_has_the_bulletins_clocks() {
        let p = RoutingPolicy::load(None).expect("built-in policy");
        let sv = p.deadlines(MatterClass { source: "petition", kind: "", single_visit: true });
        assert_eq!(sv.land, DeadlineSpec { amount: 5, unit: DeadlineUnit::NaturalDays });
        assert_eq!(sv.resolve, DeadlineSpec { amount: 15, unit: DeadlineUnit::NaturalDays });
        let petition = p.deadlines(MatterClass { source: "petition", kind: "", single_visit: false });
        assert_eq!(petition.resolve, DeadlineSpec { amount: 60, unit: DeadlineUnit::NaturalDays });
        let (cap, _) = p.extension_cap(MatterClass { source: "petition", kind: "", single_visit: false });
        assert_eq!((cap.max_count, cap.max_days), (1, 30));
        assert_eq!(p.returns.cap, 2);
        let inquiry = p.deadlines(MatterClass { source: "hotline", kind: "inquiry", single_visit: false });
        assert_eq!(inquiry.resolve.unit, DeadlineUnit::WorkingDays);
    }
}
