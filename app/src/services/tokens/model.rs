//! What the token engine keeps: its settings, a connection's token row and
//! the values the short-lived caches hold. Depends on nothing of the engine,
//! so that the services' context can hold these caches.

use crate::{
    domain::connections::ConnectionView, infra::db::now_ms, services::oauth::ProviderProfile,
};
use secrecy::SecretString;

/// How the vault looks after tokens; from the configuration.
#[derive(Debug, Clone)]
pub struct TokenCare {
    /// Refresh when a token expires within this, or 10 % of its lifetime if
    /// that is longer.
    pub refresh_margin_ms: i64,
    /// How long a refresh lease holds; longer than any provider call.
    pub lease_ms: i64,
    /// How long a request waits for another process's refresh.
    pub wait_ms: i64,
    /// First backoff after a transient failure; doubles per failure, at most
    /// an hour.
    pub backoff_ms: i64,
    /// Transient failures in a row before the connection shows `error`.
    pub failures_before_error: i64,
    /// How often long-lived tokens are health-checked.
    pub health_check_interval_ms: i64,
    /// How often the background worker runs; 0 switches it off.
    pub worker_interval_ms: i64,
    /// Refreshes the worker runs at once (each mostly waits for the
    /// provider); it lists four times as many per pass.
    pub refresh_concurrency: usize,
}

impl Default for TokenCare {
    fn default() -> Self {
        Self {
            refresh_margin_ms: 5 * 60 * 1000,
            lease_ms: 4 * 1000,
            wait_ms: 20 * 1000,
            backoff_ms: 30 * 1000,
            failures_before_error: 5,
            health_check_interval_ms: 6 * 60 * 60 * 1000,
            worker_interval_ms: 10 * 1000,
            refresh_concurrency: 32,
        }
    }
}

/// The parts of a connection the engine works with.
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub(super) id: String,
    pub(super) app_id: String,
    pub(super) provider_config_id: String,
    pub(super) end_user_id: String,
    pub(super) status: String,
    pub(super) access_token: Option<Vec<u8>>,
    pub(super) refresh_token: Option<Vec<u8>>,
    pub(super) token_type: String,
    pub(super) expires_at: Option<i64>,
    pub(super) last_refreshed_at: Option<i64>,
    pub(super) version: i64,
    pub(super) failure_count: i64,
    pub(super) first_failure_at: Option<i64>,
    pub(super) next_attempt_at: Option<i64>,
    pub(super) granted_scopes: Option<String>,
    /// The end user's parameters and the values the provider returned
    /// (JSON), if any.
    pub(super) parameters: Option<String>,
    /// When a lease holder started calling the provider; set while a call
    /// is in flight (or its process died during one).
    pub(super) refresh_started_at: Option<i64>,
}

/// A connection as its app sees it, and its sealed tokens, read together.
pub struct Loaded {
    pub connection: ConnectionView,
    pub(super) row: TokenRow,
    /// `last_used_at` as this process last wrote it (the cached copy of
    /// the connection is not rewritten).
    pub(super) last_used_at: std::sync::atomic::AtomicI64,
}

impl Loaded {
    pub fn last_used_at(&self) -> i64 {
        self.last_used_at.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// After the caller stamped `last_used_at`.
    pub fn used_now(&self) {
        self.last_used_at
            .fetch_max(now_ms(), std::sync::atomic::Ordering::Relaxed);
    }
}

/// A provider configuration ready for calls: its profile and client secret.
#[derive(Debug)]
pub struct ProviderClient {
    pub(in crate::services::tokens) config: crate::domain::provider_configs::ConfigView,
    pub(in crate::services::tokens) profile: ProviderProfile,
    pub(in crate::services::tokens) secret: SecretString,
}

impl ProviderClient {
    /// The profile with its URLs filled for connection `row`: the
    /// configuration's parameters and the connection's own values.
    pub(in crate::services::tokens) fn profile_for(
        &self,
        row: &TokenRow,
    ) -> Result<ProviderProfile, String> {
        let mut values = self.config.parameters.clone();
        values.extend(crate::domain::parameters::from_json(
            row.parameters.as_deref(),
        ));
        let profile = self.profile.resolved(&values);
        match ProviderProfile::unfilled(&profile.oauth.token_url) {
            Some(missing) => Err(missing),
            None => Ok(profile),
        }
    }
}
