//! Single sign-on through a trusted proxy (`[reporting.console.sso]`), for districts whose staff
//! sign in once at a gateway (统一身份认证, oauth2-proxy, a CAS gateway) rather than with a key.
//!
//! The proxy authenticates the user and names them in `user_header`; it also presents its own
//! secret in `proxy_key_header`, configured by digest, so a request from anything but the proxy
//! that names a user is refused rather than believed. Each user the proxy may name is mapped to
//! a configured key (`auth.keys[].name`) and signs in with that key's role and unit: the rights
//! stay in the one key table. Off unless configured.

use serde::Deserialize;

use caseflow_runtime::Principal;
use caseflow_runtime::auth::{KeyStore, digest_key};

/// `[reporting.console]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Hours a sign-in lasts: a working day by default.
    #[serde(default = "default_session_hours")]
    pub session_hours: u64,
    #[serde(default)]
    pub sso: Option<SsoConfig>,
}

fn default_session_hours() -> u64 {
    9
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self { session_hours: default_session_hours(), sso: None }
    }
}

/// `[reporting.console.sso]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoConfig {
    /// The header the proxy names the signed-in user in, e.g. `x-remote-user`.
    pub user_header: String,
    /// The header the proxy presents its own secret in, e.g. `x-caseflow-proxy-key`.
    pub proxy_key_header: String,
    /// Lower-case hex SHA-256 of that secret (`caseflow hash-key`).
    pub proxy_key_sha256: String,
    /// The users the proxy may name, each with the key whose role and unit they take.
    pub users: Vec<SsoUser>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoUser {
    pub user: String,
    /// The name of a configured key (`auth.keys[].name`).
    pub key: String,
}

/// What a request's headers say about single sign-on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sso {
    /// Not configured, or the request names no user: sign in with a key.
    NotAsked,
    SignedIn(Principal),
    /// It names a user, but the proxy's secret is missing or wrong, or the user has no role.
    Refused(&'static str),
}

impl ConsoleConfig {
    /// Checks the sign-on settings against the key table at start: every header a valid header
    /// name, the digest 64 hex digits, every user mapped to a configured key once.
    pub fn check(&self, keys: &KeyStore) -> Result<(), String> {
        if self.session_hours == 0 || self.session_hours > 24 * 7 {
            return Err("reporting.console.session_hours: must be from 1 to 168".into());
        }
        let Some(sso) = &self.sso else { return Ok(()) };
        for (field, name) in [("user_header", &sso.user_header), ("proxy_key_header", &sso.proxy_key_header)] {
            if axum::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(format!("reporting.console.sso.{field}: '{name}' is not a header name"));
            }
        }
        let mut digest = [0u8; 32];
        if hex::decode_to_slice(sso.proxy_key_sha256.trim(), &mut digest).is_err() {
            return Err("reporting.console.sso.proxy_key_sha256: must be 64 hex digits".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, u) in sso.users.iter().enumerate() {
            if u.user.trim().is_empty() || !seen.insert(u.user.as_str()) {
                return Err(format!("reporting.console.sso.users[{i}]: user '{}' is empty or given twice", u.user));
            }
            if keys.principal_named(&u.key).is_none() {
                return Err(format!("reporting.console.sso.users[{i}]: no key named '{}' in auth.keys", u.key));
            }
        }
        Ok(())
    }

    /// Who the request's proxy headers sign in, if anyone.
    pub fn sso(&self, headers: &axum::http::HeaderMap, keys: &KeyStore) -> Sso {
        let Some(sso) = &self.sso else { return Sso::NotAsked };
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let Some(user) = text(&sso.user_header).filter(|u| !u.is_empty()) else { return Sso::NotAsked };
        let expected = sso.proxy_key_sha256.trim().to_ascii_lowercase();
        let vouched = text(&sso.proxy_key_header)
            .is_some_and(|k| super::session::same_token(&hex::encode(digest_key(k)), &expected));
        if !vouched {
            return Sso::Refused("统一身份认证的请求没有来自受信任的代理，未予登录。");
        }
        match sso.users.iter().find(|u| u.user == user).and_then(|u| keys.principal_named(&u.key)) {
            Some(p) => Sso::SignedIn(Principal { name: format!("{user} ({})", p.name), ..p }),
            None => Sso::Refused("该用户未在本系统登记角色，请联系管理员。"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caseflow_runtime::Role;
    use caseflow_runtime::auth::{ApiKeyConfig, digest_key_hex};

    fn keys() -> KeyStore {
        KeyStore::from_config(&[
            ApiKeyConfig {
                name: "efficiency-office".into(),
                role: Role::EfficiencyOffice,
                unit: None,
                sha256: digest_key_hex("office-key"),
            },
            ApiKeyConfig {
                name: "chengguan-clerk".into(),
                role: Role::UnitHandler,
                unit: Some("chengguan".into()),
                sha256: digest_key_hex("clerk-key"),
            },
        ])
        .expect("keys")
    }

    fn config() -> ConsoleConfig {
        toml::from_str(&format!(
            r#"
            [sso]
            user_header = "x-remote-user"
            proxy_key_header = "x-caseflow-proxy-key"
            proxy_key_sha256 = "{}"
            users = [
              {{ user = "zhang.san", key = "efficiency-office" }},
              {{ user = "li.si", key = "chengguan-clerk" }},
            ]
            "#,
            digest_key_hex("proxy-secret")
        ))
        .expect("config")
    }

    fn headers(pairs: &[(&'static str, &str)]) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header"));
        }
        h
    }

    #[test]
    fn the_proxy_signs_in_a_mapped_user_with_the_keys_role_and_unit() {
        let (c, k) = (config(), keys());
        c.check(&k).expect("valid");
        let h = headers(&[("x-remote-user", "li.si"), ("x-caseflow-proxy-key", "proxy-secret")]);
        let Sso::SignedIn(p) = c.sso(&h, &k) else { panic!("signed in") };
        assert_eq!(
            (p.role, p.unit.as_deref(), p.name.as_str()),
            (Role::UnitHandler, Some("chengguan"), "li.si (chengguan-clerk)")
        );
    }

    #[test]
    fn a_user_named_without_the_proxys_secret_or_without_a_role_is_refused() {
        let (c, k) = (config(), keys());
        for h in [
            headers(&[("x-remote-user", "zhang.san")]),
            headers(&[("x-remote-user", "zhang.san"), ("x-caseflow-proxy-key", "guess")]),
            headers(&[("x-remote-user", "wang.wu"), ("x-caseflow-proxy-key", "proxy-secret")]),
        ] {
            assert!(matches!(c.sso(&h, &k), Sso::Refused(_)), "{h:?}");
        }
        assert_eq!(c.sso(&headers(&[]), &k), Sso::NotAsked, "no user named: the key sign-in");
        assert_eq!(ConsoleConfig::default().sso(&headers(&[("x-remote-user", "zhang.san")]), &k), Sso::NotAsked);
    }

    #[test]
    fn a_user_mapped_to_a_key_that_does_not_exist_stops_the_start() {
        let mut c = config();
        if let Some(s) = c.sso.as_mut() {
            s.users[0].key = "nobody".into();
        }
        assert!(c.check(&keys()).expect_err("refused").contains("no key named 'nobody'"));
    }
}
