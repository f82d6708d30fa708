//! The unit registry (承办单位), loaded from a policy file and kept in routing's database.

use std::collections::BTreeMap;
use std::path::Path;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use caseflow_runtime::AnyConnection;

use crate::store::units;

const BUILTIN_UNITS: &str = include_str!("../../../deploy/policy/units.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// 区直部门
    Department,
    /// 街道办事处
    SubDistrict,
    /// 国有企业集团
    Enterprise,
    /// 平台自办
    Platform,
}

impl UnitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Department => "department",
            Self::SubDistrict => "sub_district",
            Self::Enterprise => "enterprise",
            Self::Platform => "platform",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitEntry {
    pub code: String,
    pub name: String,
    pub kind: UnitKind,
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitsFile {
    #[allow(dead_code)]
    version: String,
    units: Vec<UnitEntry>,
}

#[derive(Debug, Clone)]
pub struct Registry {
    by_code: BTreeMap<String, UnitEntry>,
    order: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot read units file {path}: {message}")]
    Read { path: String, message: String },
    #[error("units file: {0}")]
    Invalid(String),
}

impl Registry {
    pub fn load(path: Option<&Path>) -> Result<Self, RegistryError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| RegistryError::Read { path: p.display().to_string(), message: e.to_string() })?,
            None => BUILTIN_UNITS.to_owned(),
        };
        let file: UnitsFile = toml::from_str(&text).map_err(|e| RegistryError::Invalid(e.to_string()))?;
        let mut by_code = BTreeMap::new();
        let mut order = Vec::new();
        for u in file.units {
            let valid = !u.code.is_empty()
                && u.code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
            if !valid {
                return Err(RegistryError::Invalid(format!("unit code {:?}: use a-z, 0-9, '_' and '.'", u.code)));
            }
            order.push(u.code.clone());
            if by_code.insert(u.code.clone(), u).is_some() {
                return Err(RegistryError::Invalid(format!(
                    "unit {} is listed twice",
                    order.last().map(String::as_str).unwrap_or("")
                )));
            }
        }
        Ok(Self { by_code, order })
    }

    pub fn get(&self, code: &str) -> Option<&UnitEntry> {
        self.by_code.get(code)
    }

    /// Units in the file's order (departments, then sub-districts, as the tables print them).
    pub fn units(&self) -> impl Iterator<Item = &UnitEntry> {
        self.order.iter().filter_map(|c| self.by_code.get(c))
    }

    /// Inserts units the database does not have yet and refreshes names and kinds. Statuses
    /// (merged, abolished) are changed through the API and kept.
    pub fn sync(&self, conn: &mut AnyConnection) -> QueryResult<()> {
        for u in self.units() {
            let updated = diesel::update(units::table.find(&u.code))
                .set((units::name.eq(&u.name), units::kind.eq(u.kind.as_str())))
                .execute(conn)?;
            if updated == 0 {
                diesel::insert_into(units::table)
                    .values((
                        units::code.eq(&u.code),
                        units::name.eq(&u.name),
                        units::kind.eq(u.kind.as_str()),
                        units::status.eq("active"),
                    ))
                    .execute(conn)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_district_has_the_bulletins_rows() {
        let r = Registry::load(None).expect("built-in registry");
        let kinds: Vec<UnitKind> = r.units().map(|u| u.kind).collect();
        let sub_districts = kinds.iter().filter(|k| **k == UnitKind::SubDistrict).count();
        assert_eq!(sub_districts, 8);
        assert_eq!(kinds.len() - sub_districts, 29, "29 department-level rows, 平台自办 included");
        assert_eq!(r.get("chengguan").map(|u| u.name.as_str()), Some("区城管局"));
    }
}
