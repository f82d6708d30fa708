//! The routing policy file (`deploy/policy/routing.toml`): deadlines by source, kind and
//! single-visit flag; return windows, reasons and cap; extension caps; reminder fractions;
//! supervision escalation. Built in for the example district; a deployment may point to its own.
//!
//! Deadline sets and extension caps carry the dates they are in force (`valid_from`, and
//! `valid_to` exclusive), like the catalog's entries: a matter is judged by the rules in force
//! on the district day its case was received, so replayed history keeps the rules of its time.
//! A set written as a plain table is in force always; as an array of tables, each entry is one
//! version, and the versions of one rule must not overlap.

use std::collections::BTreeMap;
use std::path::Path;

use caseflow_runtime::dated::Dated;
use chrono::NaiveDate;
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
    pub hotline: BTreeMap<String, Dated<DeadlineSet>>,
    pub petition: Dated<DeadlineSet>,
    /// 最多投一次: petitions taken in under the single-visit rule, while it is in force; before
    /// (or after) it, they follow the petition deadlines.
    pub single_visit: Dated<DeadlineSet>,
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
    pub hotline: Dated<ExtensionCap>,
    pub petition: Dated<ExtensionCap>,
    /// Like the single-visit deadlines: the petition cap applies when none is in force.
    pub single_visit: Dated<ExtensionCap>,
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
    /// The district day its case was received: the rules in force that day apply.
    pub received_on: NaiveDate,
}

impl RoutingPolicy {
    pub fn load(path: Option<&Path>) -> Result<Self, PolicyError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| PolicyError::Read { path: p.display().to_string(), message: e.to_string() })?,
            None => BUILTIN_POLICY.to_owned(),
        };
        Self::parse(&text)
    }

    /// A policy from its text, checked.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let policy: Self = toml::from_str(text).map_err(|e| PolicyError::Invalid(e.to_string()))?;
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
        // Versions of a rule neither overlap nor run backwards; the general deadline sets cover
        // every day (single-visit rules may be in force for a time only).
        for (kind, set) in &policy.deadlines.hotline {
            set.check(&format!("deadlines.hotline.{kind}"), true).map_err(PolicyError::Invalid)?;
        }
        policy.deadlines.petition.check("deadlines.petition", true).map_err(PolicyError::Invalid)?;
        policy.deadlines.single_visit.check("deadlines.single_visit", false).map_err(PolicyError::Invalid)?;
        policy.extensions.hotline.check("extensions.hotline", true).map_err(PolicyError::Invalid)?;
        policy.extensions.petition.check("extensions.petition", true).map_err(PolicyError::Invalid)?;
        policy.extensions.single_visit.check("extensions.single_visit", false).map_err(PolicyError::Invalid)?;
        Ok(policy)
    }

    pub fn deadlines(&self, class: MatterClass<'_>) -> DeadlineSet {
        let on = class.received_on;
        let petition = || self.deadlines.petition.on(on).unwrap_or(FALLBACK);
        if class.single_visit
            && let Some(set) = self.deadlines.single_visit.on(on)
        {
            return set;
        }
        if class.source == "petition" {
            return petition();
        }
        self.deadlines
            .hotline
            .get(class.kind)
            .or_else(|| self.deadlines.hotline.get("complaint"))
            .and_then(|set| set.on(on))
            .unwrap_or_else(petition)
    }

    pub fn return_window(&self, class: MatterClass<'_>) -> DeadlineSpec {
        if class.source == "petition" { self.returns.petition_window } else { self.returns.hotline_window }
    }

    /// The extension cap and the unit its days are counted in.
    pub fn extension_cap(&self, class: MatterClass<'_>) -> (ExtensionCap, DeadlineUnit) {
        let on = class.received_on;
        let none = ExtensionCap { max_count: 0, max_days: 0 };
        let petition = || self.extensions.petition.on(on).unwrap_or(none);
        if class.single_visit
            && let Some(cap) = self.extensions.single_visit.on(on)
        {
            (cap, DeadlineUnit::NaturalDays)
        } else if class.source == "petition" {
            (petition(), DeadlineUnit::NaturalDays)
        } else {
            (self.extensions.hotline.on(on).unwrap_or(none), DeadlineUnit::WorkingDays)
        }
    }
}

/// Never used by a checked policy (its general sets cover every day); what a matter would get
/// if one did not: the regulation's petition clocks.
const FALLBACK: DeadlineSet = DeadlineSet {
    acknowledge: DeadlineSpec { amount: 3, unit: DeadlineUnit::WorkingDays },
    land: DeadlineSpec { amount: 15, unit: DeadlineUnit::NaturalDays },
    resolve: DeadlineSpec { amount: 60, unit: DeadlineUnit::NaturalDays },
};
