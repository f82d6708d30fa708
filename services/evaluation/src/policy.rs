//! The evaluation policy file (`deploy/policy/evaluation.toml`): windows, the hotline scale and
//! the targets. Built in for the example district.

use std::path::Path;

use serde::Deserialize;

use crate::rates::Targets;

const BUILTIN: &str = include_str!("../../../deploy/policy/evaluation.toml");

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Windows {
    pub hotline_days: u32,
    pub petition_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleLevel {
    pub code: String,
    pub label: String,
    /// satisfied | basic | unsatisfied
    pub maps_to: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationPolicy {
    pub version: String,
    /// The rating windows, with the dates they are in force (`caseflow_runtime::dated`): a case
    /// gets the window in force on the day it was received.
    pub windows: caseflow_runtime::dated::Dated<Windows>,
    pub hotline_scale: Vec<ScaleLevel>,
    pub targets: Targets,
}

/// Petition levels (满意 / 基本满意 / 不满意), fixed by the provincial system.
pub const PETITION_LEVELS: [&str; 3] = ["satisfied", "basic", "unsatisfied"];

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read evaluation policy {path}: {message}")]
    Read { path: String, message: String },
    #[error("evaluation policy: {0}")]
    Invalid(String),
}

impl EvaluationPolicy {
    pub fn load(path: Option<&Path>) -> Result<Self, PolicyError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| PolicyError::Read { path: p.display().to_string(), message: e.to_string() })?,
            None => BUILTIN.to_owned(),
        };
        let policy: Self = toml::from_str(&text).map_err(|e| PolicyError::Invalid(e.to_string()))?;
        if let Some(bad) = policy.hotline_scale.iter().find(|l| !PETITION_LEVELS.contains(&l.maps_to.as_str())) {
            return Err(PolicyError::Invalid(format!(
                "hotline_scale {}: maps_to must be satisfied, basic or unsatisfied",
                bad.code
            )));
        }
        if policy.hotline_scale.is_empty() {
            return Err(PolicyError::Invalid("hotline_scale must not be empty".into()));
        }
        policy.windows.check("windows", true).map_err(PolicyError::Invalid)?;
        Ok(policy)
    }

    /// Maps a level given for `source` to satisfied / basic / unsatisfied, or explains the scale.
    pub fn map_level(&self, source: &str, level: &str) -> Result<&'static str, String> {
        let mapped = if source == "petition" {
            PETITION_LEVELS.iter().find(|l| **l == level).map(|l| l.to_owned())
        } else {
            self.hotline_scale.iter().find(|l| l.code == level).map(|l| l.maps_to.as_str())
        };
        let allowed: Vec<&str> = if source == "petition" {
            PETITION_LEVELS.to_vec()
        } else {
            self.hotline_scale.iter().map(|l| l.code.as_str()).collect()
        };
        mapped
            .and_then(|m| PETITION_LEVELS.iter().copied().find(|p| *p == m))
            .ok_or_else(|| format!("'{level}' is not on the {source} scale: {}", allowed.join(", ")))
    }

    /// The rating window for a case of `source` received on the district day `received_on`.
    pub fn window_days(&self, source: &str, received_on: chrono::NaiveDate) -> u32 {
        // A checked policy has a window every day; 30 days is the petition window of the
        // provincial system, never reached.
        let w = self.windows.on(received_on).unwrap_or(Windows { hotline_days: 30, petition_days: 30 });
        if source == "petition" { w.petition_days } else { w.hotline_days }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hotline_scale_maps_poor_to_unsatisfied() {
        let p = EvaluationPolicy::load(None).expect("built-in policy");
        assert_eq!(p.map_level("hotline", "poor"), Ok("unsatisfied"));
        assert_eq!(p.map_level("hotline", "very_satisfied"), Ok("satisfied"));
        assert_eq!(p.map_level("petition", "basic"), Ok("basic"));
        assert!(
            p.map_level("petition", "poor")
                .expect_err("not a petition level")
                .contains("satisfied, basic, unsatisfied")
        );
        assert_eq!(p.targets.participation, 70.0);
    }
}
