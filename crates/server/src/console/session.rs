//! Console sessions: sign-in with an access key, the session cookie, and the
//! CSRF token of every form.
//!
//! Invariants: a session is made only for a key id and secret the API accepts
//! (the secret compared in constant time); its token and CSRF token are 256
//! random bits each, and the cookie holding the token is `HttpOnly` and
//! `SameSite=Strict`; a session ends at sign-out or after [`IDLE`] without a
//! request, on the server's clock; every POST must carry the session's CSRF
//! token, and one whose `Origin` names another host is refused; at most
//! [`MAX_SESSIONS`] live at once (the oldest goes first); after
//! [`FREE_FAILURES`] failed sign-ins from one address, its next attempt waits
//! a time that doubles with each failure (at most [`MAX_WAIT_MS`]), and one that
//! comes sooner is refused before any secret is compared.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use axum::http::{header, HeaderMap};
use rand::RngCore;
use subtle::ConstantTimeEq;
use tablesafe_common::Clock;

use crate::keys::AccessKey;
use crate::roles::{KeyRoles, Role};

/// The cookie that holds a session's token.
pub const COOKIE: &str = "tablesafe_console";

/// How long a session lives without a request.
pub const IDLE_MS: i64 = 12 * 60 * 60 * 1000;

/// Sessions kept at once.
pub const MAX_SESSIONS: usize = 10_000;

/// Failed sign-ins from one address that cost nothing.
pub const FREE_FAILURES: u32 = 10;

/// The longest wait after failed sign-ins.
pub const MAX_WAIT_MS: i64 = 15 * 60 * 1000;

/// Failures older than this (since the last one) are forgotten.
const FORGET_MS: i64 = 60 * 60 * 1000;

/// Addresses whose failures are kept at once (the longest quiet go first).
const MAX_ADDRESSES: usize = 10_000;

/// Failed sign-ins by client address (`None`: a request whose address is not
/// known, as in tests that call the router directly). Behind a proxy every
/// client has the proxy's address: its failures then slow every sign-in.
#[derive(Debug, Default)]
pub struct SignInThrottle {
    failures: Mutex<HashMap<Option<IpAddr>, Failures>>,
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last_ms: i64,
}

impl Failures {
    /// How long after the last failure the next attempt may come.
    fn wait_ms(self) -> i64 {
        if self.count < FREE_FAILURES {
            return 0;
        }
        let doublings = (self.count - FREE_FAILURES).min(20);
        (1000i64 << doublings).min(MAX_WAIT_MS)
    }
}

impl SignInThrottle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Option<IpAddr>, Failures>> {
        self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `Err(ms)` when a sign-in from `from` must wait `ms` more.
    pub fn admit(&self, from: Option<IpAddr>, now_ms: i64) -> Result<(), i64> {
        let left = self.lock().get(&from).map_or(0, |failures| failures.wait_ms() - (now_ms - failures.last_ms));
        if left > 0 {
            Err(left)
        } else {
            Ok(())
        }
    }

    /// Counts a failed sign-in from `from`.
    pub fn failed(&self, from: Option<IpAddr>, now_ms: i64) {
        let mut failures = self.lock();
        failures.retain(|_, f| now_ms - f.last_ms < FORGET_MS);
        if failures.len() >= MAX_ADDRESSES && !failures.contains_key(&from) {
            if let Some(quietest) = failures.iter().min_by_key(|(_, f)| f.last_ms).map(|(a, _)| *a) {
                failures.remove(&quietest);
            }
        }
        let entry = failures.entry(from).or_insert(Failures { count: 0, last_ms: now_ms });
        entry.count = entry.count.saturating_add(1);
        entry.last_ms = now_ms;
    }

    /// Forgets the failures of `from` after it signed in.
    pub fn succeeded(&self, from: Option<IpAddr>) {
        self.lock().remove(&from);
    }
}

/// A signed-in key.
#[derive(Clone, Debug)]
pub struct Session {
    /// The key's id.
    pub key_id: String,
    /// The key's role, fixed at sign-in.
    pub role: Role,
    /// The token every form of this session carries.
    pub csrf: String,
    last_used_ms: i64,
}

/// The live sessions by token.
#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Session>>,
}

/// 256 random bits as hex.
fn token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Whether `a` and `b` are equal, in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Signs in with `id` and `secret`: the new session's token, or `None` when
    /// no accepted key has that id and secret.
    pub fn sign_in(
        &self,
        keys: &[AccessKey],
        roles: &KeyRoles,
        clock: &dyn Clock,
        id: &str,
        secret: &str,
    ) -> Option<(String, Session)> {
        // Every key is compared, so the time taken does not say which ids exist.
        let mut found = false;
        for key in keys {
            found |= same(&key.id, id) & same(&key.secret, secret);
        }
        if !found {
            return None;
        }
        let now = clock.now_millis();
        let session = Session { key_id: id.to_owned(), role: roles.role_of(id), csrf: token(), last_used_ms: now };
        let token = token();
        let mut live = self.lock();
        live.retain(|_, s| now - s.last_used_ms < IDLE_MS);
        if live.len() >= MAX_SESSIONS {
            if let Some(oldest) = live.iter().min_by_key(|(_, s)| s.last_used_ms).map(|(t, _)| t.clone()) {
                live.remove(&oldest);
            }
        }
        live.insert(token.clone(), session.clone());
        Some((token, session))
    }

    /// The session of the request's cookie, if it is live (which keeps it so).
    pub fn of_request(&self, headers: &HeaderMap, clock: &dyn Clock) -> Option<(String, Session)> {
        let token = cookie(headers, COOKIE)?;
        let now = clock.now_millis();
        let mut live = self.lock();
        let session = live.get_mut(&token)?;
        if now - session.last_used_ms >= IDLE_MS {
            live.remove(&token);
            return None;
        }
        session.last_used_ms = now;
        Some((token, session.clone()))
    }

    /// Ends the session of `token`.
    pub fn sign_out(&self, token: &str) {
        self.lock().remove(token);
    }
}

/// Whether `sent` is the session's CSRF token.
pub fn csrf_matches(session: &Session, sent: Option<&str>) -> bool {
    sent.is_some_and(|sent| same(&session.csrf, sent))
}

/// Whether a POST's `Origin` (when the browser sends one) is the console's own
/// host: a page elsewhere cannot post into a session even before the token check.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else { return false };
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    origin_host == host
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// The `Set-Cookie` value that gives the browser `token`.
pub fn set_cookie(token: &str) -> String {
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}", IDLE_MS / 1000)
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    #[derive(Debug, Default)]
    struct Manual(AtomicI64);
    impl Clock for Manual {
        fn now_millis(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn keys() -> Vec<AccessKey> {
        vec![
            AccessKey { id: "admin".into(), secret: "s3cret-admin".into() },
            AccessKey { id: "reader".into(), secret: "s3cret-reader".into() },
        ]
    }

    fn headers(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, format!("other=1; {COOKIE}={token}").parse().unwrap());
        headers
    }

    #[test]
    fn only_an_accepted_key_signs_in_and_a_session_ends_when_idle_or_signed_out() {
        let sessions = Sessions::default();
        let clock = Manual::default();
        let roles = KeyRoles::new([("reader".to_owned(), Role::ReadOnly)]);
        assert!(sessions.sign_in(&keys(), &roles, &clock, "admin", "s3cret-reader").is_none());
        assert!(sessions.sign_in(&keys(), &roles, &clock, "nobody", "s3cret-admin").is_none());
        assert!(sessions.sign_in(&keys(), &roles, &clock, "admin", "").is_none());
        let (token, session) = sessions.sign_in(&keys(), &roles, &clock, "reader", "s3cret-reader").unwrap();
        assert_eq!((session.key_id.as_str(), session.role), ("reader", Role::ReadOnly));
        assert_eq!(token.len(), 64);
        assert_ne!(token, session.csrf);

        clock.0.store(IDLE_MS - 1, Ordering::SeqCst);
        let (_, found) = sessions.of_request(&headers(&token), &clock).unwrap();
        assert!(csrf_matches(&found, Some(&session.csrf)));
        assert!(!csrf_matches(&found, Some("0")));
        assert!(!csrf_matches(&found, None));
        // Used just now, so it lives another IDLE_MS from here.
        clock.0.store(2 * IDLE_MS - 2, Ordering::SeqCst);
        assert!(sessions.of_request(&headers(&token), &clock).is_some());
        clock.0.store(3 * IDLE_MS, Ordering::SeqCst);
        assert!(sessions.of_request(&headers(&token), &clock).is_none());

        let (token, _) = sessions.sign_in(&keys(), &roles, &clock, "admin", "s3cret-admin").unwrap();
        assert!(sessions.of_request(&headers(&token), &clock).is_some());
        sessions.sign_out(&token);
        assert!(sessions.of_request(&headers(&token), &clock).is_none());
        assert!(sessions.of_request(&headers("not-a-token"), &clock).is_none());
    }

    #[test]
    fn failed_sign_ins_from_one_address_make_its_next_ones_wait() {
        let throttle = SignInThrottle::default();
        let attacker: Option<IpAddr> = Some("192.0.2.7".parse().expect("address"));
        let other: Option<IpAddr> = Some("192.0.2.8".parse().expect("address"));
        let mut now = 1_000_000;
        for _ in 0..FREE_FAILURES - 1 {
            throttle.failed(attacker, now);
            assert_eq!(throttle.admit(attacker, now), Ok(()), "the first failures cost nothing");
        }
        throttle.failed(attacker, now);
        assert_eq!(throttle.admit(attacker, now), Err(1000));
        assert_eq!(throttle.admit(other, now), Ok(()), "another address is not slowed");
        now += 1000;
        assert_eq!(throttle.admit(attacker, now), Ok(()));
        throttle.failed(attacker, now);
        assert_eq!(throttle.admit(attacker, now + 500), Err(1500), "each failure doubles the wait");
        for _ in 0..30 {
            throttle.failed(attacker, now);
        }
        assert_eq!(throttle.admit(attacker, now), Err(MAX_WAIT_MS));
        throttle.succeeded(attacker);
        assert_eq!(throttle.admit(attacker, now), Ok(()));
        throttle.failed(other, now);
        now += FORGET_MS;
        throttle.failed(attacker, now);
        assert_eq!(throttle.lock().len(), 1, "failures an hour old are forgotten");
    }

    #[test]
    fn a_post_from_another_origin_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:8801".parse().unwrap());
        assert!(same_origin(&headers), "no Origin: a same-origin form in older browsers");
        headers.insert(header::ORIGIN, "http://127.0.0.1:8801".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&headers));
    }
}
