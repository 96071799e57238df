//! Login rate limiting: a few failed logins per minute per username and per client address.
//!
//! A username or address over its limit is refused with 429 before the password is checked,
//! so guessing costs the attacker time and us no bcrypt work. A successful login clears the
//! username's failures (not the address's). State is in memory: a restart forgets it.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per username within [`WINDOW`].
pub const PER_USER: usize = 5;
/// Failures allowed per client address within [`WINDOW`] (several users may share a NAT).
pub const PER_ADDRESS: usize = 20;
/// The sliding window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Keys remembered at most; beyond that the stalest are forgotten.
const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Address(IpAddr),
}

/// Failed-login bookkeeping, shared by all requests.
pub struct LoginLimiter {
    per_user: usize,
    per_address: usize,
    window: Duration,
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(PER_USER, PER_ADDRESS, WINDOW)
    }
}

impl LoginLimiter {
    pub fn new(per_user: usize, per_address: usize, window: Duration) -> Self {
        Self {
            per_user,
            per_address,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(username: &str, address: Option<IpAddr>) -> impl Iterator<Item = Key> {
        std::iter::once(Key::User(username.to_lowercase())).chain(address.map(Key::Address))
    }

    fn limit(&self, key: &Key) -> usize {
        match key {
            Key::User(_) => self.per_user,
            Key::Address(_) => self.per_address,
        }
    }

    /// `Some(wait)` if `username` or `address` has used up its failures at `now`.
    pub fn check(&self, username: &str, address: Option<IpAddr>, now: Instant) -> Option<Duration> {
        let mut map = self.failures.lock().expect("login limiter lock is never poisoned");
        let mut wait: Option<Duration> = None;
        for key in Self::keys(username, address) {
            let limit = self.limit(&key);
            let Some(times) = map.get_mut(&key) else { continue };
            while times
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
            {
                times.pop_front();
            }
            if times.len() >= limit {
                // The oldest failure that keeps the count at the limit must leave the window.
                let oldest = times[times.len() - limit];
                let left = self.window.saturating_sub(now.saturating_duration_since(oldest));
                wait = Some(wait.map_or(left, |w| w.max(left)));
            }
        }
        wait
    }

    /// Counts a failed login against `username` and `address`.
    pub fn failed(&self, username: &str, address: Option<IpAddr>, now: Instant) {
        let mut map = self.failures.lock().expect("login limiter lock is never poisoned");
        if map.len() >= MAX_KEYS {
            let window = self.window;
            map.retain(|_, times| times.back().is_some_and(|t| now.saturating_duration_since(*t) < window));
            if map.len() >= MAX_KEYS {
                map.clear();
            }
        }
        for key in Self::keys(username, address) {
            map.entry(key).or_default().push_back(now);
        }
    }

    /// Clears the failures of `username` after a successful login.
    pub fn succeeded(&self, username: &str) {
        self.failures
            .lock()
            .expect("login limiter lock is never poisoned")
            .remove(&Key::User(username.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    #[test]
    fn a_username_is_limited_after_its_failures_until_the_window_passes() {
        let limiter = LoginLimiter::new(3, 100, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(limiter.check("admin", addr(1), t0), None, "attempt {i}");
            limiter.failed("admin", addr(i), t0 + Duration::from_secs(u64::from(i)));
        }
        let wait = limiter.check("ADMIN", addr(9), t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(wait, Duration::from_secs(50), "case does not matter, nor the address");
        assert_eq!(limiter.check("someone", addr(9), t0 + Duration::from_secs(10)), None);
        assert_eq!(limiter.check("admin", addr(9), t0 + Duration::from_secs(60)), None);
    }

    #[test]
    fn an_address_is_limited_across_usernames() {
        let limiter = LoginLimiter::new(100, 4, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..4 {
            limiter.failed(&format!("user{i}"), addr(7), t0);
        }
        assert!(limiter.check("fresh", addr(7), t0).is_some());
        assert!(limiter.check("fresh", addr(8), t0).is_none());
        assert!(limiter.check("fresh", None, t0).is_none());
    }

    #[test]
    fn success_clears_the_username_but_not_the_address() {
        let limiter = LoginLimiter::new(2, 3, Duration::from_secs(60));
        let t0 = Instant::now();
        limiter.failed("admin", addr(1), t0);
        limiter.failed("admin", addr(1), t0);
        assert!(limiter.check("admin", addr(2), t0).is_some());
        limiter.succeeded("admin");
        assert!(limiter.check("admin", addr(2), t0).is_none());
        limiter.failed("other", addr(1), t0);
        assert!(
            limiter.check("admin", addr(1), t0).is_some(),
            "the address has 3 failures"
        );
    }
}
