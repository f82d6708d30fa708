//! The case taxonomy and the district's sub-districts, loaded from policy files. The example
//! district (`deploy/policy/`) is built in; a deployment may point to its own files.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

const BUILTIN_TAXONOMY: &str = include_str!("../../../deploy/policy/taxonomy.toml");
const BUILTIN_DISTRICT: &str = include_str!("../../../deploy/policy/district.toml");

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Subcategory {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Category {
    pub code: String,
    pub name: String,
    pub subcategories: Vec<Subcategory>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxonomyFile {
    pub version: String,
    pub categories: Vec<Category>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubDistrict {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DistrictFile {
    pub code: String,
    pub name: String,
    pub sub_districts: Vec<SubDistrict>,
    /// Where the district's coordinates may fall (WGS 84); absent, any valid coordinates pass.
    #[serde(default)]
    pub bounds: Option<BoundingBox>,
}

/// A WGS 84 box, in degrees.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BoundingBox {
    pub south: f64,
    pub west: f64,
    pub north: f64,
    pub east: f64,
}

impl BoundingBox {
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        (self.south..=self.north).contains(&lat) && (self.west..=self.east).contains(&lon)
    }
}

/// Lookup tables built from the policy files.
#[derive(Debug, Clone)]
pub struct Policy {
    pub taxonomy: TaxonomyFile,
    pub district: DistrictFile,
    /// Full level-2 code ("urban_management.cooking_fume") to its Chinese label.
    leaves: BTreeMap<String, String>,
    level1: BTreeMap<String, String>,
    sub_districts: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{file}: {message}")]
    Invalid { file: &'static str, message: String },
}

impl Policy {
    /// Loads the files given, or the built-in example district for each one not given.
    pub fn load(taxonomy: Option<&Path>, district: Option<&Path>) -> Result<Self, PolicyError> {
        let read = |path: Option<&Path>, builtin: &'static str| -> Result<String, PolicyError> {
            match path {
                Some(p) => std::fs::read_to_string(p)
                    .map_err(|e| PolicyError::Read { path: p.display().to_string(), message: e.to_string() }),
                None => Ok(builtin.to_owned()),
            }
        };
        let taxonomy: TaxonomyFile = toml::from_str(&read(taxonomy, BUILTIN_TAXONOMY)?)
            .map_err(|e| PolicyError::Invalid { file: "taxonomy", message: e.to_string() })?;
        let district: DistrictFile = toml::from_str(&read(district, BUILTIN_DISTRICT)?)
            .map_err(|e| PolicyError::Invalid { file: "district", message: e.to_string() })?;
        Self::new(taxonomy, district)
    }

    pub fn new(taxonomy: TaxonomyFile, district: DistrictFile) -> Result<Self, PolicyError> {
        let mut leaves = BTreeMap::new();
        let mut level1 = BTreeMap::new();
        for c in &taxonomy.categories {
            if level1.insert(c.code.clone(), c.name.clone()).is_some() {
                return Err(PolicyError::Invalid {
                    file: "taxonomy",
                    message: format!("category {} is listed twice", c.code),
                });
            }
            for s in &c.subcategories {
                let code = format!("{}.{}", c.code, s.code);
                if leaves.insert(code.clone(), format!("{}/{}", c.name, s.name)).is_some() {
                    return Err(PolicyError::Invalid {
                        file: "taxonomy",
                        message: format!("subcategory {code} is listed twice"),
                    });
                }
            }
        }
        let sub_districts = district.sub_districts.iter().map(|s| (s.code.clone(), s.name.clone())).collect();
        Ok(Self { taxonomy, district, leaves, level1, sub_districts })
    }

    /// Checks a category code, explaining what is wrong with it.
    pub fn check_category(&self, code: &str) -> Result<(), String> {
        if self.leaves.contains_key(code) {
            return Ok(());
        }
        if self.level1.contains_key(code) {
            return Err(format!(
                "category '{code}' is a level-1 category; name one of its subcategories ('{code}.<sub>'); see GET /v1/taxonomy"
            ));
        }
        Err(format!("category '{code}' is not in the taxonomy; see GET /v1/taxonomy"))
    }

    /// Every level-2 code, in order.
    pub fn leaf_codes(&self) -> impl Iterator<Item = &str> {
        self.leaves.keys().map(String::as_str)
    }

    /// Every level-1 code, in order.
    pub fn level1_codes(&self) -> impl Iterator<Item = &str> {
        self.level1.keys().map(String::as_str)
    }

    /// Every sub-district code, in order.
    pub fn sub_district_codes(&self) -> impl Iterator<Item = &str> {
        self.sub_districts.keys().map(String::as_str)
    }

    pub fn check_sub_district(&self, code: &str) -> Result<(), String> {
        if self.sub_districts.contains_key(code) {
            return Ok(());
        }
        let known: Vec<&str> = self.sub_districts.keys().map(String::as_str).collect();
        Err(format!("sub-district '{code}' is not in district {}; known: {}", self.district.code, known.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_policy_loads_and_checks_codes() {
        let p = Policy::load(None, None).expect("built-in policy");
        assert!(p.check_category("urban_management.cooking_fume").is_ok());
        let err = p.check_category("X99").expect_err("unknown");
        assert!(err.contains("'X99' is not in the taxonomy"), "{err}");
        let err = p.check_category("urban_management").expect_err("level-1");
        assert!(err.contains("level-1"), "{err}");
        assert!(p.check_sub_district("kaiyuan").is_ok());
        assert!(p.check_sub_district("nowhere").is_err());
        assert_eq!(p.district.sub_districts.len(), 8);
    }
}
