//! The console's sessions: a signed-in principal behind an opaque cookie.
//!
//! Signing in checks the key once, against the same key table the API uses; the browser then
//! holds only a random session id (244 bits from the OS, through UUID v4) in an HttpOnly,
//! SameSite=Strict cookie, Secure when the page came over TLS, with the session's lifetime as
//! its Max-Age. The server keeps the session (keyed by the id's digest, so a memory dump shows
//! no cookie), its CSRF token and its expiry; signing out removes it at once. Sessions live in
//! the replica that signed the user in: behind several replicas the ingress keeps a browser on
//! one (cookie affinity, deploy/README.md), and a restart signs everyone out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use caseflow_runtime::Principal;
use caseflow_runtime::auth::digest_key;

/// The cookie's name. `__Host-` would forbid a Domain and require Secure; it is used when the
/// page came over TLS.
pub const COOKIE: &str = "caseflow_console";
pub const COOKIE_TLS: &str = "__Host-caseflow_console";

/// At most this many sessions are kept; past it the one closest to expiry goes first.
const MAX_SESSIONS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    /// The token every form that changes something carries back.
    pub csrf: String,
    expires: Instant,
}

#[derive(Debug, Clone)]
pub struct Sessions {
    inner: Arc<Mutex<HashMap<[u8; 32], Session>>>,
    ttl: Duration,
}

fn random_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

impl Sessions {
    pub fn new(ttl: Duration) -> Self {
        Self { inner: Arc::new(Mutex::new(HashMap::new())), ttl }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        // A panic while holding the lock leaves the map consistent (every change is one insert
        // or remove), so a poisoned lock is taken over.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens a session for `principal`; answers the cookie value.
    pub fn open(&self, principal: Principal) -> String {
        let id = random_token();
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(digest_key(&id), Session { principal, csrf: random_token(), expires: now + self.ttl });
        id
    }

    /// The live session the cookie names, if any.
    pub fn get(&self, id: &str) -> Option<Session> {
        let key = digest_key(id);
        let mut map = self.lock();
        match map.get(&key) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    pub fn close(&self, id: &str) {
        self.lock().remove(&digest_key(id));
    }
}

/// The `Set-Cookie` value that holds `id`, or (with `None`) removes the cookie.
pub fn set_cookie(id: Option<&str>, tls: bool, ttl: Duration) -> String {
    let name = if tls { COOKIE_TLS } else { COOKIE };
    let secure = if tls { "; Secure" } else { "" };
    match id {
        Some(id) => format!("{name}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}", ttl.as_secs()),
        None => format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// The session id the request's cookies carry.
pub fn cookie_id(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE || *name == COOKIE_TLS)
        .map(|(_, value)| value.to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether the request came over TLS: directly, or through the trusted proxy in front
/// (`X-Forwarded-Proto: https`). Only decides the cookie's Secure flag and name.
pub fn over_tls(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use caseflow_runtime::Role;

    fn office() -> Principal {
        Principal { name: "office".into(), role: Role::EfficiencyOffice, unit: None }
    }

    #[test]
    fn a_session_is_found_by_its_cookie_until_it_is_closed() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let id = sessions.open(office());
        let s = sessions.get(&id).expect("open");
        assert_eq!(s.principal, office());
        assert_eq!(s.csrf.len(), 64);
        assert!(sessions.get(&"0".repeat(64)).is_none(), "another id opens nothing");
        sessions.close(&id);
        assert!(sessions.get(&id).is_none());
    }

    #[test]
    fn an_expired_session_is_gone() {
        let sessions = Sessions::new(Duration::from_millis(0));
        let id = sessions.open(office());
        assert!(sessions.get(&id).is_none());
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_tls() {
        let c = set_cookie(Some("ab"), true, Duration::from_secs(3600));
        assert!(c.starts_with("__Host-caseflow_console=ab;"));
        for part in ["HttpOnly", "SameSite=Strict", "Max-Age=3600", "Secure", "Path=/"] {
            assert!(c.contains(part), "{c}");
        }
        assert!(!set_cookie(Some("ab"), false, Duration::from_secs(1)).contains("Secure"));
        assert!(set_cookie(None, false, Duration::from_secs(1)).contains("Max-Age=0"));
    }

    #[test]
    fn only_a_well_formed_cookie_is_read() {
        let mut h = axum::http::HeaderMap::new();
        let id = "a".repeat(64);
        h.insert(axum::http::header::COOKIE, format!("other=1; caseflow_console={id}").parse().expect("header"));
        assert_eq!(cookie_id(&h), Some(id));
        h.insert(axum::http::header::COOKIE, "caseflow_console=<script>".parse().expect("header"));
        assert_eq!(cookie_id(&h), None);
    }
}
