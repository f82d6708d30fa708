//! Unit names and groups for the tables, from the same registry file routing uses
//! (`deploy/policy/units.toml`): departments (with enterprises and the platform) first, then
//! sub-districts, in the file's order, as the bulletin prints them.

use std::path::Path;

use serde::Deserialize;

const BUILTIN_UNITS: &str = include_str!("../../../deploy/policy/units.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct UnitRow {
    pub code: String,
    pub name: String,
    pub kind: String,
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct UnitsFile {
    #[allow(dead_code)]
    version: String,
    units: Vec<UnitRow>,
}

#[derive(Debug, Clone)]
pub struct Units {
    rows: Vec<UnitRow>,
}

impl Units {
    pub fn load(path: Option<&Path>) -> Result<Self, String> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
            None => BUILTIN_UNITS.to_owned(),
        };
        let file: UnitsFile = toml::from_str(&text).map_err(|e| format!("units file: {e}"))?;
        Ok(Self { rows: file.units })
    }

    pub fn name(&self, code: &str) -> String {
        self.rows.iter().find(|u| u.code == code).map_or_else(|| code.to_owned(), |u| u.name.clone())
    }

    /// "sub_district" for 街道, else "department" (区直部门, enterprises and the platform).
    pub fn group(&self, code: &str) -> &'static str {
        match self.rows.iter().find(|u| u.code == code) {
            Some(u) if u.kind == "sub_district" => "sub_district",
            _ => "department",
        }
    }

    /// Position in the registry, for a stable order of units with equal figures.
    pub fn order(&self, code: &str) -> usize {
        self.rows.iter().position(|u| u.code == code).unwrap_or(usize::MAX)
    }

    /// The code of the unit a printed table row names (its name or an alias).
    pub fn code_for(&self, printed: &str) -> Option<&str> {
        let p = printed.trim();
        self.rows.iter().find(|u| u.name == p || u.aliases.iter().any(|a| a == p)).map(|u| u.code.as_str())
    }

    pub fn all(&self) -> &[UnitRow] {
        &self.rows
    }
}
