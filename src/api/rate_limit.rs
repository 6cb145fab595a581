//! The per-API-key rate limit of `/v1`: `OAUTH_VAULT_API_RATE_LIMIT`
//! requests a minute per key, counted by each server process on its own.
//!
//! It is GCRA (the generic cell rate algorithm), which behaves as a bucket of
//! `limit` requests refilled at `limit` a minute: a key may spend its whole
//! minute's allowance at once, then gets one more request every
//! `60 / limit` seconds, so that over time it never averages more than the
//! limit; unlike a fixed window, a refused client learns the few seconds
//! until its next request rather than the rest of a minute, and no window
//! edge lets every key burst at the same moment. Each key is a single number, the time at which its
//! bucket is full again (its "theoretical arrival time"). A key whose time
//! has passed is exactly a key never seen, so such entries are dropped once
//! a minute: memory holds only the keys used in the last minute or two (and
//! only keys that authenticated reach the limiter).
//!
//! What the answer says (the IETF draft's header names):
//! `RateLimit-Limit` (requests a minute), `RateLimit-Remaining` (requests
//! that may be made now), `RateLimit-Reset` (seconds until the whole
//! allowance is back), and when refused, `Retry-After` (seconds until the
//! next request is allowed).

use axum::http::{HeaderMap, HeaderValue};
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Counts each key's requests of the last minute.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    /// Nanoseconds between two requests at the sustained rate.
    interval: u64,
    /// `limit` × `interval`: how far ahead of now a key's time may run.
    window: u64,
    /// Times are nanoseconds since this instant.
    epoch: Instant,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Each key's time at which its allowance is whole again.
    full_at: HashMap<String, u64>,
    last_sweep: u64,
}

/// The limiter's answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the whole allowance is back.
    pub reset_secs: u64,
    /// When refused: seconds until the next request is allowed.
    pub retry_after_secs: u64,
}

fn secs_ceil(nanos: u64) -> u64 {
    nanos.div_ceil(NANOS_PER_SEC)
}

impl RateLimiter {
    /// A limiter of `per_minute` requests a minute per key; `None` for 0
    /// (no limit).
    pub fn new(per_minute: u32) -> Option<Self> {
        if per_minute == 0 {
            return None;
        }
        let interval = (60 * NANOS_PER_SEC / u64::from(per_minute)).max(1);
        Some(Self {
            limit: per_minute,
            interval,
            window: interval * u64::from(per_minute),
            epoch: Instant::now(),
            state: Mutex::new(State::default()),
        })
    }

    /// Counts a request of `key` now, if the key has allowance left.
    pub fn check(&self, key: &str) -> Decision {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, at: Instant) -> Decision {
        let now =
            u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if now.saturating_sub(state.last_sweep) >= 60 * NANOS_PER_SEC {
            state.full_at.retain(|_, full_at| *full_at > now);
            state.last_sweep = now;
        }
        let full_at = state.full_at.get(key).copied().unwrap_or(now).max(now);
        let next = full_at + self.interval;
        if next - now > self.window {
            return Decision {
                allowed: false,
                limit: self.limit,
                remaining: 0,
                reset_secs: secs_ceil(full_at - now),
                retry_after_secs: secs_ceil(next - self.window - now).max(1),
            };
        }
        match state.full_at.get_mut(key) {
            Some(t) => *t = next,
            None => {
                state.full_at.insert(key.to_string(), next);
            }
        }
        let remaining = (self.window - (next - now)) / self.interval;
        Decision {
            allowed: true,
            limit: self.limit,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset_secs: secs_ceil(next - now),
            retry_after_secs: 0,
        }
    }

    /// Keys the limiter remembers (those used within the last minute or so).
    pub fn tracked_keys(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .full_at
            .len()
    }
}

impl Decision {
    /// Adds the `RateLimit-*` headers (and `Retry-After` when refused).
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("ratelimit-reset", HeaderValue::from(self.reset_secs));
        if !self.allowed {
            headers.insert(
                axum::http::header::RETRY_AFTER,
                HeaderValue::from(self.retry_after_secs),
            );
        }
    }

    /// The wait, for people.
    pub fn retry_after(&self) -> Duration {
        Duration::from_secs(self.retry_after_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_minute: u32) -> (RateLimiter, Instant) {
        let limiter = RateLimiter::new(per_minute).unwrap_or_else(|| panic!("a limit"));
        let start = limiter.epoch;
        (limiter, start)
    }

    #[test]
    fn zero_switches_it_off() {
        assert!(RateLimiter::new(0).is_none());
    }

    #[test]
    fn a_key_may_spend_its_minute_at_once_then_waits() {
        let (l, t0) = limiter(5);
        for left in (0..5).rev() {
            let d = l.check_at("k1", t0);
            assert!(d.allowed);
            assert_eq!(d.remaining, left);
            assert_eq!(d.limit, 5);
        }
        // five spent: the whole allowance is back in 60 s
        let refused = l.check_at("k1", t0);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.reset_secs, 60);
        // one request comes back every 12 s
        assert_eq!(refused.retry_after_secs, 12);
        // another key is not affected
        assert_eq!(l.check_at("k2", t0).remaining, 4);
        // 11.9 s later: still refused; at 12 s: one allowed, none left
        assert!(!l.check_at("k1", t0 + Duration::from_millis(11_900)).allowed);
        let d = l.check_at("k1", t0 + Duration::from_secs(12));
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        assert!(!l.check_at("k1", t0 + Duration::from_secs(12)).allowed);
        // a quiet minute gives the whole allowance back
        let d = l.check_at("k1", t0 + Duration::from_secs(120));
        assert!(d.allowed);
        assert_eq!(d.remaining, 4);
        assert_eq!(d.reset_secs, 12);
    }

    #[test]
    fn over_time_a_key_gets_its_limit_a_minute() {
        let (l, t0) = limiter(1200);
        // 20 a second (the limit) for ten minutes: never refused
        for i in 0..12_000u64 {
            let d = l.check_at("k", t0 + Duration::from_millis(i * 50));
            assert!(d.allowed, "request {i}");
        }
        // 40 a second for two minutes: the full allowance, then 20 a second
        let (l, t0) = limiter(1200);
        let allowed = (0..4_800u64)
            .filter(|i| l.check_at("k", t0 + Duration::from_millis(i * 25)).allowed)
            .count();
        assert!((3_599..=3_601).contains(&allowed), "{allowed}");
    }

    #[test]
    fn idle_keys_are_forgotten() {
        let (l, t0) = limiter(60);
        for i in 0..1000 {
            l.check_at(&format!("key-{i}"), t0);
        }
        assert_eq!(l.tracked_keys(), 1000);
        // a minute and more later, every bucket is full again: forgotten
        l.check_at("fresh", t0 + Duration::from_secs(62));
        assert_eq!(l.tracked_keys(), 1);
    }

    #[test]
    fn headers_name_limit_remaining_reset_and_retry_after() {
        let (l, t0) = limiter(1);
        let mut headers = HeaderMap::new();
        l.check_at("k", t0).write_headers(&mut headers);
        assert_eq!(headers["ratelimit-limit"], "1");
        assert_eq!(headers["ratelimit-remaining"], "0");
        assert_eq!(headers["ratelimit-reset"], "60");
        assert!(headers.get("retry-after").is_none());
        let refused = l.check_at("k", t0 + Duration::from_secs(30));
        let mut headers = HeaderMap::new();
        refused.write_headers(&mut headers);
        assert_eq!(headers["retry-after"], "30");
        assert_eq!(refused.retry_after(), Duration::from_secs(30));
    }
}
