//! Identity: API keys, principals and roles.
//!
//! Keys are configured by their SHA-256 digest, never in the clear (`caseflow hash-key` prints
//! the digest of a new key). Keys are long random tokens, not passwords, so a fast digest is the
//! right tool: there is nothing to brute-force that a slow hash would protect.
//!
//! The edge (REST extractor, gRPC interceptor) only *authenticates*: it turns the presented key
//! into a [`Principal`] or answers 401 / `Unauthenticated`. What a principal may do is decided in
//! each service's service layer with [`Principal::require`], so a new edge cannot skip a check.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{ErrorKind, Problem};

/// The roles of the design. A key maps to exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The 12345 platform's integration: submits work orders, posts rating callbacks.
    Integrator,
    /// Platform dispatcher (派单员): triage, transfers, return decisions, reviews.
    Dispatcher,
    /// A handling unit's clerk, bound to one unit.
    UnitHandler,
    /// The petition desk: records ratings and follow-ups.
    Evaluator,
    /// The efficiency office (效能办): reads reports.
    EfficiencyOffice,
    /// Operators: everything, including revealing citizen data (logged).
    Admin,
    /// Another Caseflow service: reads event streams, calls internal APIs.
    Service,
    /// `caseflow import`: replays history. It acts as another role (`x-caseflow-act-as`), under
    /// that role's rules, and is the only role that says when an event happened
    /// (`x-caseflow-event-time`).
    Importer,
}

/// The importer names the role it acts as: `dispatcher`, `integrator`, `evaluator`, or
/// `unit_handler:<unit code>`.
pub const ACT_AS_HEADER: &str = "x-caseflow-act-as";
/// When the imported event happened, RFC 3339 with offset.
pub const EVENT_TIME_HEADER: &str = "x-caseflow-event-time";

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Integrator => "integrator",
            Self::Dispatcher => "dispatcher",
            Self::UnitHandler => "unit_handler",
            Self::Evaluator => "evaluator",
            Self::EfficiencyOffice => "efficiency_office",
            Self::Admin => "admin",
            Self::Service => "service",
            Self::Importer => "importer",
        }
    }
}

impl Role {
    /// The role named as in the configuration ("admin", "unit_handler" ...).
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Integrator,
            Self::Dispatcher,
            Self::UnitHandler,
            Self::Evaluator,
            Self::EfficiencyOffice,
            Self::Admin,
            Self::Service,
            Self::Importer,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's configured name, for logs and the routing log ("who").
    pub name: String,
    pub role: Role,
    /// Set for unit handlers only: the unit code they act for.
    pub unit: Option<String>,
}

impl Principal {
    /// The principal a service uses for its own background work (consumers, scanners).
    pub fn system(service: &str) -> Self {
        Self { name: format!("system:{service}"), role: Role::Service, unit: None }
    }

    /// Refuses with `PermissionDenied` unless the principal has one of `roles`.
    pub fn require(&self, action: &str, roles: &[Role]) -> Result<(), Problem> {
        if roles.contains(&self.role) {
            return Ok(());
        }
        let allowed: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
        Err(Problem::new(
            ErrorKind::PermissionDenied,
            format!("role '{}' may not {action}; allowed roles: {}", self.role, allowed.join(", ")),
        )
        .with_rule("auth.role"))
    }
}

/// One configured key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    pub name: String,
    pub role: Role,
    /// Required for `unit_handler`, refused for every other role.
    #[serde(default)]
    pub unit: Option<String>,
    /// Lower-case hex SHA-256 of the key.
    pub sha256: String,
}

/// The key table, indexed by digest.
#[derive(Debug, Clone, Default)]
pub struct KeyStore {
    by_digest: Arc<HashMap<[u8; 32], Principal>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyConfigError {
    #[error("auth.keys[{index}] ({name}): sha256 must be 64 hex digits")]
    BadDigest { index: usize, name: String },
    #[error("auth.keys[{index}] ({name}): role unit_handler needs `unit`")]
    MissingUnit { index: usize, name: String },
    #[error("auth.keys[{index}] ({name}): only unit_handler keys are bound to a unit")]
    UnexpectedUnit { index: usize, name: String },
    #[error("auth.keys[{index}] ({name}): the same key digest is configured twice")]
    Duplicate { index: usize, name: String },
}

/// The digest under which a key is configured.
pub fn digest_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Lower-case hex digest, as written in config.
pub fn digest_key_hex(key: &str) -> String {
    hex::encode(digest_key(key))
}

impl KeyStore {
    pub fn from_config(keys: &[ApiKeyConfig]) -> Result<Self, KeyConfigError> {
        let mut by_digest = HashMap::new();
        for (index, key) in keys.iter().enumerate() {
            let name = key.name.clone();
            let mut digest = [0u8; 32];
            hex::decode_to_slice(key.sha256.trim(), &mut digest)
                .map_err(|_| KeyConfigError::BadDigest { index, name: name.clone() })?;
            match (key.role, &key.unit) {
                (Role::UnitHandler, None) => {
                    return Err(KeyConfigError::MissingUnit { index, name });
                }
                (Role::UnitHandler, Some(_)) | (_, None) => {}
                (_, Some(_)) => return Err(KeyConfigError::UnexpectedUnit { index, name }),
            }
            let principal = Principal { name: name.clone(), role: key.role, unit: key.unit.clone() };
            if by_digest.insert(digest, principal).is_some() {
                return Err(KeyConfigError::Duplicate { index, name });
            }
        }
        Ok(Self { by_digest: Arc::new(by_digest) })
    }

    /// The principal of the key configured under `name` (`auth.keys[].name`), for a sign-in
    /// that a trusted proxy vouches for instead of a presented key.
    pub fn principal_named(&self, name: &str) -> Option<Principal> {
        self.by_digest.values().find(|p| p.name == name).cloned()
    }

    /// Looks up a presented key. Missing and unknown keys are both `Unauthenticated`.
    pub fn authenticate(&self, presented: Option<&str>) -> Result<Principal, Problem> {
        let key = presented.map(str::trim).filter(|k| !k.is_empty()).ok_or_else(|| {
            Problem::new(
                ErrorKind::Unauthenticated,
                "missing API key: send `Authorization: Bearer <key>` or `x-api-key: <key>`",
            )
            .with_rule("auth.key")
        })?;
        self.by_digest
            .get(&digest_key(key))
            .cloned()
            .ok_or_else(|| Problem::new(ErrorKind::Unauthenticated, "unknown API key").with_rule("auth.key"))
    }

    /// Reads the key from `Authorization: Bearer` or `x-api-key` and authenticates it; for the
    /// importer, the role it acts as. Only the importer may send the import headers.
    pub fn authenticate_headers(&self, headers: &http::HeaderMap) -> Result<Principal, Problem> {
        let principal = self.authenticate(presented_key(headers))?;
        let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
        let (act_as, event_time) = (header(ACT_AS_HEADER), header(EVENT_TIME_HEADER));
        if principal.role != Role::Importer {
            if act_as.is_some() || event_time.is_some() {
                return Err(Problem::new(
                    ErrorKind::PermissionDenied,
                    "only the importer acts for another role or says when an event happened (x-caseflow-act-as, x-caseflow-event-time)",
                )
                .with_rule("import.only"));
            }
            return Ok(principal);
        }
        if let Some(t) = event_time {
            event_time_of(t)?;
        }
        match act_as {
            None => Ok(principal),
            Some(as_role) => {
                let (role, unit) = match as_role.split_once(':') {
                    Some(("unit_handler", unit)) if !unit.is_empty() => (Role::UnitHandler, Some(unit.to_owned())),
                    _ => match Role::parse(as_role) {
                        Some(r @ (Role::Integrator | Role::Dispatcher | Role::Evaluator)) => (r, None),
                        _ => {
                            return Err(Problem::field(
                                ACT_AS_HEADER,
                                format!(
                                    "'{as_role}' is not one of integrator, dispatcher, evaluator, unit_handler:<unit>"
                                ),
                            ));
                        }
                    },
                };
                Ok(Principal { name: format!("{} as {as_role}", principal.name), role, unit })
            }
        }
    }
}

/// The moment an importer's `x-caseflow-event-time` names.
pub fn event_time_of(raw: &str) -> Result<chrono::DateTime<chrono::Utc>, Problem> {
    chrono::DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| Problem::field(EVENT_TIME_HEADER, "must be RFC 3339 with offset, e.g. 2020-03-02T09:30:00+08:00"))
}

/// The key a request presents, if any.
pub fn presented_key(headers: &http::HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return Some(v.strip_prefix("Bearer ").unwrap_or(v));
    }
    headers.get("x-api-key").and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> KeyStore {
        KeyStore::from_config(&[
            ApiKeyConfig {
                name: "platform".into(),
                role: Role::Integrator,
                unit: None,
                sha256: digest_key_hex("k-integrator"),
            },
            ApiKeyConfig {
                name: "cgj-clerk".into(),
                role: Role::UnitHandler,
                unit: Some("qu.chengguan".into()),
                sha256: digest_key_hex("k-clerk"),
            },
        ])
        .expect("valid keys")
    }

    #[test]
    fn a_callers_old_and_new_keys_both_work_while_it_moves_to_the_new_one() {
        let entry = |key: &str| ApiKeyConfig {
            name: "12345-platform".into(),
            role: Role::Integrator,
            unit: None,
            sha256: digest_key_hex(key),
        };
        let keys = KeyStore::from_config(&[entry("old-key"), entry("new-key")]).expect("two digests, one caller");
        for key in ["old-key", "new-key"] {
            assert_eq!(keys.authenticate(Some(key)).expect("accepted").name, "12345-platform");
        }
        // The same key twice is a mistake, not a rotation.
        assert!(KeyStore::from_config(&[entry("old-key"), entry("old-key")]).is_err());
    }

    #[test]
    fn known_key_is_its_principal() {
        let p = store().authenticate(Some("k-clerk")).expect("known");
        assert_eq!(p.role, Role::UnitHandler);
        assert_eq!(p.unit.as_deref(), Some("qu.chengguan"));
    }

    #[test]
    fn missing_and_unknown_keys_are_unauthenticated() {
        for presented in [None, Some(""), Some("nope")] {
            let err = store().authenticate(presented).expect_err("refused");
            assert_eq!(err.kind, ErrorKind::Unauthenticated);
        }
    }

    #[test]
    fn wrong_role_is_permission_denied_naming_the_roles() {
        let p = store().authenticate(Some("k-integrator")).expect("known");
        let err = p.require("read reports", &[Role::EfficiencyOffice, Role::Admin]).expect_err("denied");
        assert_eq!(err.kind, ErrorKind::PermissionDenied);
        assert!(err.detail.contains("efficiency_office"), "{}", err.detail);
    }

    #[test]
    fn unit_binding_is_checked_at_load() {
        let err = KeyStore::from_config(&[ApiKeyConfig {
            name: "x".into(),
            role: Role::UnitHandler,
            unit: None,
            sha256: digest_key_hex("k"),
        }])
        .expect_err("unit required");
        assert_eq!(err, KeyConfigError::MissingUnit { index: 0, name: "x".into() });
    }
}
