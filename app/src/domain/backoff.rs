//! One retry policy for everything that retries: refreshes after a
//! transient failure, revocations at the provider and webhook deliveries.
//! Each use names its own parameters (see [`Backoff::refresh`],
//! [`Backoff::revocation`] and [`Backoff::WEBHOOKS`]).

/// Exponential backoff with a cap, jitter and a `Retry-After` floor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub base_ms: i64,
    /// Each further failure multiplies the wait by this.
    pub factor: i64,
    /// The wait never exceeds this (before jitter).
    pub cap_ms: i64,
    /// The wait is spread by up to ± this percentage, so that many
    /// retries started together do not stay in step.
    pub jitter_percent: i64,
}

impl Backoff {
    /// Refresh after a transient failure (5xx, 429, timeout): the
    /// configured base (`OAUTH_VAULT_REFRESH_BACKOFF_SECS`, 30 s by
    /// default), doubling, at most an hour, ±20 %.
    pub fn refresh(base_ms: i64) -> Self {
        Self {
            base_ms,
            factor: 2,
            cap_ms: 60 * 60 * 1000,
            jitter_percent: 20,
        }
    }

    /// Revocation at the provider that failed for a transient reason: the
    /// refresh base, doubling, at most 6 hours, ±20 %.
    pub fn revocation(base_ms: i64) -> Self {
        Self {
            cap_ms: 6 * 60 * 60 * 1000,
            ..Self::refresh(base_ms)
        }
    }

    /// Webhook deliveries: 5 s, then ×10 (50 s, about 8 min, 83 min), at
    /// most 12 hours, ±10 %: six attempts span about 14 hours.
    pub const WEBHOOKS: Self = Self {
        base_ms: 5_000,
        factor: 10,
        cap_ms: 12 * 60 * 60 * 1000,
        jitter_percent: 10,
    };

    /// The wait before the next attempt after `failures` failures in a row
    /// (1 for the first), without jitter.
    pub fn nominal_ms(&self, failures: i64) -> i64 {
        let mut wait = self.base_ms.max(0);
        for _ in 1..failures.clamp(1, 64) {
            if wait >= self.cap_ms {
                break;
            }
            wait = wait.saturating_mul(self.factor.max(1));
        }
        wait.min(self.cap_ms)
    }

    /// The wait before the next attempt: [`Self::nominal_ms`] spread by the
    /// jitter (`seed` picks where in the range: any number, e.g. random),
    /// and never shorter than the provider's `Retry-After`.
    pub fn delay_ms(&self, failures: i64, retry_after_ms: Option<i64>, seed: u64) -> i64 {
        let nominal = self.nominal_ms(failures);
        let jitter = nominal / 100 * self.jitter_percent.clamp(0, 100);
        let spread = if jitter > 0 {
            (seed % (2 * jitter as u64 + 1)) as i64 - jitter
        } else {
            0
        };
        (nominal + spread).max(retry_after_ms.unwrap_or(0)).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Backoff = Backoff {
        base_ms: 1_000,
        factor: 2,
        cap_ms: 10_000,
        jitter_percent: 20,
    };

    #[test]
    fn starts_at_the_base_and_grows_by_the_factor_up_to_the_cap() {
        let waits: Vec<i64> = (1..=6).map(|n| POLICY.nominal_ms(n)).collect();
        assert_eq!(waits, [1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
        assert_eq!(POLICY.nominal_ms(0), 1_000, "no failure counts as one");
        assert_eq!(POLICY.nominal_ms(1_000), 10_000, "no overflow");
    }

    #[test]
    fn jitter_stays_within_its_percentage_and_varies_with_the_seed() {
        let delays: Vec<i64> = (0..1_000u64)
            .map(|s| POLICY.delay_ms(2, None, s * 7919))
            .collect();
        assert!(
            delays.iter().all(|d| (1_600..=2_400).contains(d)),
            "{delays:?}"
        );
        assert!(delays.iter().any(|d| *d < 1_900) && delays.iter().any(|d| *d > 2_100));
        let none = Backoff {
            jitter_percent: 0,
            ..POLICY
        };
        assert_eq!(none.delay_ms(2, None, 12_345), 2_000);
    }

    #[test]
    fn retry_after_is_a_floor() {
        assert_eq!(POLICY.delay_ms(1, Some(60_000), 3), 60_000);
        let short = POLICY.delay_ms(1, Some(10), 3);
        assert!((800..=1_200).contains(&short), "{short}");
    }

    #[test]
    fn the_documented_policies() {
        let refresh = Backoff::refresh(30_000);
        assert_eq!(refresh.nominal_ms(1), 30_000);
        assert_eq!(refresh.nominal_ms(2), 60_000);
        assert_eq!(refresh.nominal_ms(20), 60 * 60 * 1000);
        let revocation = Backoff::revocation(30_000);
        assert_eq!(revocation.nominal_ms(20), 6 * 60 * 60 * 1000);
        let webhooks: Vec<i64> = (1..=5).map(|n| Backoff::WEBHOOKS.nominal_ms(n)).collect();
        assert_eq!(webhooks, [5_000, 50_000, 500_000, 5_000_000, 43_200_000]);
        let total: i64 = webhooks.iter().sum();
        assert!((13 * 3_600_000..15 * 3_600_000).contains(&total), "{total}");
    }
}
