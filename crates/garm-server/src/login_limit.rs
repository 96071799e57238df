//! Login throttling that slows a guesser without locking the account's owner out.
//!
//! Failed logins are counted under three keys, each over a sliding [`Limits::window`]:
//! - **the pair (username, client address)**: [`Limits::per_pair`] failures lock that pair
//!   only; the right password from another address still works;
//! - **the client address**, across usernames: [`Limits::per_address`] failures lock the
//!   address (one client guessing many accounts);
//! - **the username**, across addresses: [`Limits::per_user`] failures (a distributed guess
//!   at one account) refuse that username from every address that has not logged in as it
//!   successfully before ([`Limits::trusted_for`]); addresses the owner used keep working.
//!
//! A pair or address lock lasts one window and doubles with each lock that follows without a
//! success in between, up to [`Limits::max_lock`]: an attacker who keeps guessing slows only
//! itself. A locked key is refused with 429 before the password is looked at, so refused
//! attempts cost no bcrypt work and do not extend the lock. State is in memory and bounded
//! ([`MAX_KEYS`]); a restart forgets it.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per (username, address) within the window.
pub const PER_PAIR: usize = 5;
/// Failures allowed per client address within the window (several users may share a NAT).
pub const PER_ADDRESS: usize = 20;
/// Failures allowed per username from all addresses within the window, before addresses
/// that never logged in as that user are refused.
pub const PER_USER: usize = 100;
/// The sliding window failures are counted in, and the first lock's length.
pub const WINDOW: Duration = Duration::from_secs(60);
/// The longest a doubling lock gets.
pub const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// How long a successful login makes its address trusted for that username.
pub const TRUSTED_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// Keys remembered at most; beyond that the stalest are forgotten.
const MAX_KEYS: usize = 20_000;

/// The throttle's numbers.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_pair: usize,
    pub per_address: usize,
    pub per_user: usize,
    pub window: Duration,
    pub max_lock: Duration,
    pub trusted_for: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_pair: PER_PAIR,
            per_address: PER_ADDRESS,
            per_user: PER_USER,
            window: WINDOW,
            max_lock: MAX_LOCK,
            trusted_for: TRUSTED_FOR,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, Option<IpAddr>),
    Address(IpAddr),
    User(String),
}

/// Failures of one key, and its lock.
#[derive(Debug, Default)]
struct Track {
    failures: VecDeque<Instant>,
    locked_until: Option<Instant>,
    /// Locks in a row without a success; each doubles the next lock.
    strikes: u32,
    last: Option<Instant>,
}

impl Track {
    fn forget_old(&mut self, now: Instant, window: Duration) {
        while self
            .failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            self.failures.pop_front();
        }
    }

    fn lock_left(&self, now: Instant) -> Option<Duration> {
        self.locked_until.filter(|until| *until > now).map(|until| until - now)
    }
}

#[derive(Default)]
struct State {
    tracks: HashMap<Key, Track>,
    /// (username, address) pairs that logged in successfully, and when.
    trusted: HashMap<(String, IpAddr), Instant>,
}

/// Failed-login bookkeeping, shared by all requests.
pub struct LoginLimiter {
    limits: Limits,
    state: Mutex<State>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl LoginLimiter {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            state: Mutex::new(State::default()),
        }
    }

    fn pair(username: &str, address: Option<IpAddr>) -> Key {
        Key::Pair(username.to_lowercase(), address)
    }

    /// `Some(wait)` if a login for `username` from `address` is refused at `now`.
    pub fn check(&self, username: &str, address: Option<IpAddr>, now: Instant) -> Option<Duration> {
        let mut state = self.state.lock().expect("login limiter lock is never poisoned");
        let mut wait = None::<Duration>;
        let mut longest = |left: Duration| wait = Some(wait.map_or(left, |w| w.max(left)));
        if let Some(left) = state
            .tracks
            .get(&Self::pair(username, address))
            .and_then(|t| t.lock_left(now))
        {
            longest(left);
        }
        if let Some(left) = address
            .and_then(|a| state.tracks.get(&Key::Address(a)))
            .and_then(|t| t.lock_left(now))
        {
            longest(left);
        }
        let user = username.to_lowercase();
        let trusted = address
            .and_then(|a| state.trusted.get(&(user.clone(), a)))
            .is_some_and(|at| now.saturating_duration_since(*at) < self.limits.trusted_for);
        if !trusted {
            let window = self.limits.window;
            if let Some(track) = state.tracks.get_mut(&Key::User(user)) {
                track.forget_old(now, window);
                if track.failures.len() >= self.limits.per_user {
                    let oldest = track.failures[track.failures.len() - self.limits.per_user];
                    longest(window.saturating_sub(now.saturating_duration_since(oldest)));
                }
            }
        }
        wait
    }

    /// Counts a failed login against `username` from `address`.
    pub fn failed(&self, username: &str, address: Option<IpAddr>, now: Instant) {
        let mut state = self.state.lock().expect("login limiter lock is never poisoned");
        self.bound(&mut state, now);
        let limits = self.limits;
        let mut keys = vec![(Self::pair(username, address), Some(limits.per_pair))];
        if let Some(a) = address {
            keys.push((Key::Address(a), Some(limits.per_address)));
        }
        // The username's count never locks by itself; `check` reads it.
        keys.push((Key::User(username.to_lowercase()), None));
        for (key, lock_at) in keys {
            let track = state.tracks.entry(key).or_default();
            // A long quiet spell forgives earlier locks.
            if track
                .last
                .is_some_and(|t| now.saturating_duration_since(t) >= limits.max_lock * 2)
            {
                track.strikes = 0;
            }
            track.last = Some(now);
            track.forget_old(now, limits.window);
            track.failures.push_back(now);
            if lock_at.is_none() && track.failures.len() > limits.per_user {
                // `check` reads only the newest `per_user` failures.
                track.failures.pop_front();
            }
            if lock_at.is_some_and(|limit| track.failures.len() >= limit) {
                let factor = 2u32.saturating_pow(track.strikes);
                let lock = limits.window.saturating_mul(factor).min(limits.max_lock);
                track.locked_until = Some(now + lock);
                track.strikes = track.strikes.saturating_add(1);
                track.failures.clear();
            }
        }
    }

    /// A successful login: clears the pair's failures and locks and trusts the address for
    /// this username. The address's own count is kept (it may be guessing other accounts).
    pub fn succeeded(&self, username: &str, address: Option<IpAddr>, now: Instant) {
        let mut state = self.state.lock().expect("login limiter lock is never poisoned");
        state.tracks.remove(&Self::pair(username, address));
        if let Some(a) = address {
            state.trusted.insert((username.to_lowercase(), a), now);
        }
    }

    /// Keeps memory bounded: forgets keys with no recent failure and no lock, then, if still
    /// too many, the trusted addresses' oldest half.
    fn bound(&self, state: &mut State, now: Instant) {
        if state.tracks.len() >= MAX_KEYS {
            let window = self.limits.window;
            state.tracks.retain(|_, track| {
                track.lock_left(now).is_some() || track.last.is_some_and(|t| now.saturating_duration_since(t) < window)
            });
            if state.tracks.len() >= MAX_KEYS {
                // Usernames' counts stay: wiping them is what a flood of addresses would want.
                state
                    .tracks
                    .retain(|key, track| matches!(key, Key::User(_)) || track.lock_left(now).is_some());
            }
        }
        if state.trusted.len() >= MAX_KEYS {
            let mut times: Vec<Instant> = state.trusted.values().copied().collect();
            times.sort_unstable();
            let cut = times[times.len() / 2];
            state.trusted.retain(|_, at| *at > cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    fn limits() -> Limits {
        Limits {
            per_pair: 3,
            per_address: 10,
            per_user: 8,
            window: Duration::from_secs(60),
            max_lock: Duration::from_secs(300),
            trusted_for: Duration::from_secs(3600),
        }
    }

    #[test]
    fn a_guesser_locks_only_its_own_pair_and_the_owner_elsewhere_gets_in() {
        let limiter = LoginLimiter::new(limits());
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(limiter.check("admin", addr(1), t0), None, "attempt {i}");
            limiter.failed("admin", addr(1), t0 + Duration::from_secs(i));
        }
        let at = t0 + Duration::from_secs(10);
        let wait = limiter.check("ADMIN", addr(1), at).expect("the guesser is locked");
        assert_eq!(wait, Duration::from_secs(52), "one window from the lock");
        assert_eq!(limiter.check("admin", addr(2), at), None, "another address is not");
        assert_eq!(limiter.check("someone", addr(1), at), None, "nor another user");
        assert_eq!(limiter.check("admin", addr(1), t0 + Duration::from_secs(62)), None);
    }

    #[test]
    fn each_further_lock_lasts_twice_as_long_up_to_the_cap() {
        let limiter = LoginLimiter::new(limits());
        let mut now = Instant::now();
        let mut locks = Vec::new();
        for _ in 0..5 {
            for _ in 0..3 {
                limiter.failed("admin", addr(1), now);
            }
            let lock = limiter.check("admin", addr(1), now).unwrap();
            locks.push(lock.as_secs());
            now += lock;
            assert_eq!(limiter.check("admin", addr(1), now), None);
        }
        assert_eq!(locks, vec![60, 120, 240, 300, 300]);
        // A success clears the pair: the next lock is one window again.
        limiter.succeeded("admin", addr(1), now);
        for _ in 0..3 {
            limiter.failed("admin", addr(1), now);
        }
        assert_eq!(limiter.check("admin", addr(1), now).unwrap().as_secs(), 60);
    }

    #[test]
    fn an_address_guessing_many_usernames_is_locked_for_all_of_them() {
        let limiter = LoginLimiter::new(limits());
        let t0 = Instant::now();
        for i in 0..10 {
            limiter.failed(&format!("user{i}"), addr(7), t0);
        }
        assert!(limiter.check("fresh", addr(7), t0).is_some());
        assert!(limiter.check("fresh", addr(8), t0).is_none());
        assert!(limiter.check("fresh", None, t0).is_none());
    }

    #[test]
    fn a_distributed_guess_refuses_new_addresses_but_not_the_owners() {
        let limiter = LoginLimiter::new(limits());
        let t0 = Instant::now();
        limiter.succeeded("admin", addr(200), t0);
        // Eight addresses, one failure each: no pair or address reaches its own limit.
        for i in 0..8 {
            limiter.failed("admin", addr(i), t0 + Duration::from_secs(1));
        }
        let at = t0 + Duration::from_secs(2);
        assert!(
            limiter.check("admin", addr(100), at).is_some(),
            "an unknown address is refused"
        );
        assert_eq!(
            limiter.check("admin", addr(200), at),
            None,
            "the owner's address is not"
        );
        assert_eq!(limiter.check("other", addr(100), at), None, "other users are not");
        assert_eq!(limiter.check("admin", addr(100), t0 + Duration::from_secs(61)), None);
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_addresses() {
        let limiter = LoginLimiter::new(limits());
        let now = Instant::now();
        for i in 0..(MAX_KEYS as u32 + 5_000) {
            let ip = IpAddr::from(i.to_be_bytes());
            limiter.failed("admin", Some(ip), now);
        }
        {
            let state = limiter.state.lock().unwrap();
            assert!(state.tracks.len() <= MAX_KEYS + 3, "{}", state.tracks.len());
            let admin = &state.tracks[&Key::User("admin".into())];
            assert_eq!(
                admin.failures.len(),
                limits().per_user,
                "the username's count is kept, bounded"
            );
        }
        assert!(
            limiter.check("admin", addr(99), now).is_some(),
            "the flood did not wipe the username's count"
        );
    }
}
