//! Typed configuration: one TOML file, then environment overrides, then strict deserialization.
//!
//! Every struct read from config uses `#[serde(deny_unknown_fields)]`, so a misspelt key is an
//! error at start-up, never a silently ignored setting. An environment variable
//! `CASEFLOW__A__B=value` overrides key `b` of table `a`; the value is read as a TOML value when
//! it parses as one (`8`, `true`, `[..]`, `{..}`) and as a string otherwise. An override of a key
//! that no struct knows is rejected like a misspelt key in the file.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The prefix of environment overrides.
pub const ENV_PREFIX: &str = "CASEFLOW__";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("environment override {var}: {message}")]
    Env { var: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Reads `path` (when given), applies overrides from `vars`, and deserializes into `T`.
pub fn load<T: DeserializeOwned>(
    path: Option<&Path>,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let mut root = match path {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
            text.parse::<toml::Table>()
                .map_err(|e| ConfigError::Syntax { path: path.to_owned(), message: e.to_string() })?
        }
        None => toml::Table::new(),
    };
    let mut overrides: Vec<(String, String)> = vars.into_iter().filter(|(k, _)| k.starts_with(ENV_PREFIX)).collect();
    overrides.sort();
    for (var, raw) in overrides {
        apply_override(&mut root, &var, &raw)?;
    }
    T::deserialize(toml::Value::Table(root)).map_err(|e| ConfigError::Invalid(e.to_string()))
}

fn apply_override(root: &mut toml::Table, var: &str, raw: &str) -> Result<(), ConfigError> {
    let keys: Vec<String> = var[ENV_PREFIX.len()..].split("__").map(|k| k.to_ascii_lowercase()).collect();
    if keys.iter().any(String::is_empty) {
        return Err(ConfigError::Env {
            var: var.to_owned(),
            message: "expected CASEFLOW__SECTION__KEY with no empty segment".into(),
        });
    }
    let value = parse_env_value(raw);
    let (last, parents) =
        keys.split_last().ok_or_else(|| ConfigError::Env { var: var.to_owned(), message: "names no key".into() })?;
    let mut table = root;
    for key in parents {
        let entry = table.entry(key.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry.as_table_mut().ok_or_else(|| ConfigError::Env {
            var: var.to_owned(),
            message: format!("`{key}` is not a table in the config file"),
        })?;
    }
    table.insert(last.clone(), value);
    Ok(())
}

fn parse_env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

/// A secret read from config. It never appears in `Debug` output or logs.
#[derive(Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used, never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        port: u16,
        #[serde(default)]
        key: Option<Secret>,
    }

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), text).expect("write config");
        file
    }

    #[test]
    fn env_overrides_the_file() {
        let file = write("name = 'a'\n[inner]\nport = 1\n");
        let cfg: Sample = load(
            Some(file.path()),
            [("CASEFLOW__INNER__PORT".to_owned(), "8081".to_owned()), ("OTHER".into(), "x".into())],
        )
        .expect("loads");
        assert_eq!(cfg.name, "a");
        assert_eq!(cfg.inner.port, 8081);
    }

    #[test]
    fn unknown_key_in_file_is_rejected_by_name() {
        let file = write("name = 'a'\n[inner]\nport = 1\nprot = 2\n");
        let err = load::<Sample>(Some(file.path()), []).expect_err("unknown key");
        assert!(err.to_string().contains("prot"), "{err}");
    }

    #[test]
    fn unknown_key_from_env_is_rejected_by_name() {
        let file = write("name = 'a'\n[inner]\nport = 1\n");
        let err = load::<Sample>(Some(file.path()), [("CASEFLOW__INNER__PROTT".to_owned(), "3".to_owned())])
            .expect_err("unknown key");
        assert!(err.to_string().contains("prott"), "{err}");
    }

    #[test]
    fn secrets_do_not_print() {
        let file = write("name = 'a'\n[inner]\nport = 1\nkey = 'hunter2'\n");
        let cfg: Sample = load(Some(file.path()), []).expect("loads");
        let printed = format!("{cfg:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert_eq!(cfg.inner.key.as_ref().map(Secret::expose), Some("hunter2"));
    }
}
