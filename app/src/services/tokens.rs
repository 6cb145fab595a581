//! Keeping tokens alive: refresh on demand and in the background, at most
//! once per connection at a time across every server process sharing the
//! database, and health checks of long-lived tokens.
//!
//! **The lease.** A refresh first takes the connection's lease with one
//! conditional `UPDATE … WHERE lease_owner IS NULL OR lease_until < now`: the
//! database decides who refreshes, so there is no need for Redis or advisory
//! locks, and a lease left by a process that died is taken over once it
//! expires. The holder re-reads the connection (another process may have
//! refreshed meanwhile), calls the provider, and stores the new access token,
//! the rotated refresh token and the expiry in one transaction that also
//! releases the lease — only while it still holds it. Everyone else waits a
//! bounded time for the holder's result instead of calling the provider.
//!
//! **Failures.** A rejected grant (`invalid_grant`, `invalid_client`,
//! `unauthorized_client`) makes the connection `needs_reauthorization`, after
//! re-reading it in case another process rotated the token meanwhile.
//! Anything else (5xx, 429, timeouts, network) is transient: the next attempt
//! waits an exponential backoff with jitter, at least the provider's
//! `Retry-After`; an access token that is still valid keeps being served;
//! after `failures_before_error` failures in a row the connection shows
//! `error`, and the next success makes it `active` again.

use crate::{
    domain::connections::ConnectionView,
    domain::provider_configs::ConfigStatus,
    infra::crypto::{Aad, Keyring},
    infra::db::{new_id, now_ms, Db},
    services::oauth::{self, ClientCredentials, IdentityError, ProviderProfile, TokenError},
    store::connections::{self as store, record_event, Event},
    store::provider_configs::{self as configs},
    web::state::AppState,
};
use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;
use std::{sync::Arc, time::Duration};

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
            lease_ms: 60 * 1000,
            wait_ms: 20 * 1000,
            backoff_ms: 30 * 1000,
            failures_before_error: 5,
            health_check_interval_ms: 6 * 60 * 60 * 1000,
            worker_interval_ms: 10 * 1000,
            refresh_concurrency: 32,
        }
    }
}

/// Why no usable token can be served.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CareError {
    #[error("the connection needs to be authorized again")]
    NeedsReauthorization,
    #[error("the connection was revoked")]
    Revoked,
    #[error("the provider is unavailable; retry later")]
    Unavailable { retry_after_ms: Option<i64> },
    #[error("{0}")]
    Internal(String),
}

fn internal(e: impl std::fmt::Display) -> CareError {
    CareError::Internal(e.to_string())
}

/// A token ready to use.
pub struct Usable {
    pub access_token: SecretString,
    pub token_type: String,
    pub expires_at: Option<i64>,
    /// The token changed on the way (here or in another process): the
    /// connection's granted scopes may have too.
    pub refreshed: bool,
}

impl Usable {
    fn after_refresh(mut self) -> Self {
        self.refreshed = true;
        self
    }
}

/// The parts of a connection the engine works with.
#[derive(Debug, Clone)]
struct TokenRow {
    id: String,
    app_id: String,
    provider_config_id: String,
    end_user_id: String,
    status: String,
    access_token: Option<Vec<u8>>,
    refresh_token: Option<Vec<u8>>,
    token_type: String,
    expires_at: Option<i64>,
    last_refreshed_at: Option<i64>,
    version: i64,
    failure_count: i64,
    first_failure_at: Option<i64>,
    next_attempt_at: Option<i64>,
    granted_scopes: Option<String>,
}

async fn load(db: &Db, id: &str) -> Result<Option<TokenRow>, sqlx::Error> {
    sqlx::query(
        "SELECT id, app_id, provider_config_id, end_user_id, status, access_token, refresh_token, token_type, expires_at, \
         last_refreshed_at, version, failure_count, first_failure_at, next_attempt_at, granted_scopes FROM connections WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    .map(|r| TokenRow::from_row(&r))
    .transpose()
}

/// A connection as its app sees it, and its sealed tokens, read together.
pub struct Loaded {
    pub connection: ConnectionView,
    row: TokenRow,
    /// `last_used_at` as this process last wrote it (the cached copy of
    /// the connection is not rewritten).
    last_used_at: std::sync::atomic::AtomicI64,
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

/// The token API's read: the connection and its token row, from the
/// short-lived cache or in a single query. Another app's id is `None`.
pub async fn load_for_app(
    state: &AppState,
    app_id: &str,
    id: &str,
) -> Result<Option<Arc<Loaded>>, sqlx::Error> {
    let cache = &state.caches.connections;
    if let Some(hit) = cache.get(id) {
        return Ok((hit.row.app_id == app_id).then_some(hit));
    }
    let generation = cache.generation();
    let loaded = read_for_app(state, app_id, id).await?.map(Arc::new);
    if let Some(l) = &loaded {
        cache.insert(l.row.id.clone(), l.clone(), generation);
    }
    Ok(loaded)
}

async fn read_for_app(
    state: &AppState,
    app_id: &str,
    id: &str,
) -> Result<Option<Loaded>, sqlx::Error> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        let with_tokens = store::SELECT.replacen(
            " FROM connections c",
            ", c.access_token, c.refresh_token, c.version, c.failure_count, c.first_failure_at, c.next_attempt_at FROM connections c",
            1,
        );
        format!("{with_tokens} WHERE c.app_id = $1 AND c.id = $2")
    });
    sqlx::query(sql)
        .bind(app_id)
        .bind(id)
        .fetch_optional(state.db.pool())
        .await?
        .map(|r| {
            let connection = store::view(&r, &state.catalogue)?;
            Ok(Loaded {
                last_used_at: connection.last_used_at.unwrap_or(0).into(),
                connection,
                row: TokenRow::from_row(&r)?,
            })
        })
        .transpose()
}

impl TokenRow {
    fn from_row(r: &sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            app_id: r.try_get("app_id")?,
            provider_config_id: r.try_get("provider_config_id")?,
            end_user_id: r.try_get("end_user_id")?,
            status: r.try_get("status")?,
            access_token: r.try_get("access_token")?,
            refresh_token: r.try_get("refresh_token")?,
            token_type: r.try_get("token_type")?,
            expires_at: r.try_get("expires_at")?,
            last_refreshed_at: r.try_get("last_refreshed_at")?,
            version: r.try_get("version")?,
            failure_count: r.try_get("failure_count")?,
            first_failure_at: r.try_get("first_failure_at")?,
            next_attempt_at: r.try_get("next_attempt_at")?,
            granted_scopes: r.try_get("granted_scopes")?,
        })
    }

    /// Refresh when closer to expiry than this.
    fn margin(&self, care: &TokenCare) -> i64 {
        let lifetime = match (self.expires_at, self.last_refreshed_at) {
            (Some(e), Some(r)) if e > r => e - r,
            _ => 0,
        };
        care.refresh_margin_ms.max(lifetime / 10)
    }

    fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }

    fn due(&self, care: &TokenCare, now: i64) -> bool {
        self.expires_at
            .is_some_and(|e| e - now <= self.margin(care))
    }

    /// An event of this connection's history.
    fn event<'a>(&'a self, kind: &'a str, message: &'a str) -> Event<'a> {
        Event {
            app_id: &self.app_id,
            connection_id: Some(&self.id),
            provider_config_id: Some(&self.provider_config_id),
            end_user_id: Some(&self.end_user_id),
            kind,
            message,
        }
    }

    fn check_status(&self) -> Result<(), CareError> {
        match self.status.as_str() {
            "needs_reauthorization" => Err(CareError::NeedsReauthorization),
            "revoked" => Err(CareError::Revoked),
            _ => Ok(()),
        }
    }

    fn usable(&self, keys: &Keyring) -> Result<Usable, CareError> {
        let sealed = self.access_token.as_ref().ok_or(CareError::Revoked)?;
        let token = keys
            .decrypt_string(sealed, Aad::new("connections", "access_token", &self.id))
            .map_err(internal)?;
        Ok(Usable {
            access_token: token,
            token_type: self.token_type.clone(),
            expires_at: self.expires_at,
            refreshed: false,
        })
    }
}

/// A usable access token for connection `id` (whose ownership the caller
/// checked): the stored one while it is fresh, else a refreshed one.
/// `force` refreshes even a fresh token (where a refresh token exists).
pub async fn usable_token(state: &AppState, id: &str, force: bool) -> Result<Usable, CareError> {
    let row = load(&state.db, id)
        .await
        .map_err(internal)?
        .ok_or(CareError::Revoked)?;
    usable_from(state, row, force).await
}

/// [`usable_token`] for a connection read with [`load_for_app`].
pub async fn usable_loaded(
    state: &AppState,
    loaded: &Loaded,
    force: bool,
) -> Result<Usable, CareError> {
    let row = &loaded.row;
    let now = now_ms();
    let served_as_read = !force
        && row.check_status().is_ok()
        && if row.refresh_token.is_some() {
            !row.due(&state.settings.token_care, now)
        } else {
            !row.expired(now)
        };
    if served_as_read {
        return row.usable(&state.keyring);
    }
    // Anything else may change the row: the next read goes to the database.
    let result = usable_from(state, row.clone(), force).await;
    state.caches.connection_changed(&row.id);
    result
}

async fn usable_from(state: &AppState, row: TokenRow, force: bool) -> Result<Usable, CareError> {
    let care = &state.settings.token_care;
    row.check_status()?;
    let now = now_ms();
    if row.refresh_token.is_none() {
        if row.expired(now) {
            mark_needs_reauthorization(
                state,
                &row,
                "The access token expired and the provider gave no refresh token",
            )
            .await?;
            return Err(CareError::NeedsReauthorization);
        }
        return row.usable(&state.keyring);
    }
    if !force && !row.due(care, now) {
        return row.usable(&state.keyring);
    }
    refresh(state, row).await
}

/// Refreshes under the lease, or waits for whoever holds it.
async fn refresh(state: &AppState, row: TokenRow) -> Result<Usable, CareError> {
    let care = &state.settings.token_care;
    let start_version = row.version;
    let deadline = now_ms() + care.wait_ms;
    let mut current = row;
    loop {
        let now = now_ms();
        // Backing off after failures: serve what is still valid.
        if let Some(next) = current.next_attempt_at.filter(|n| *n > now) {
            return if current.expired(now) {
                Err(CareError::Unavailable {
                    retry_after_ms: Some(next - now),
                })
            } else {
                current.usable(&state.keyring)
            };
        }
        let owner = new_id("lease");
        if take_lease(&state.db, &current.id, &owner, care.lease_ms)
            .await
            .map_err(internal)?
        {
            // Another process may have refreshed between our read and the lease.
            let fresh = load(&state.db, &current.id)
                .await
                .map_err(internal)?
                .ok_or(CareError::Revoked)?;
            if fresh.version != start_version || fresh.check_status().is_err() {
                release_lease(&state.db, &fresh.id, &owner)
                    .await
                    .map_err(internal)?;
                fresh.check_status()?;
                return fresh.usable(&state.keyring).map(Usable::after_refresh);
            }
            if fresh.next_attempt_at.is_some_and(|n| n > now_ms()) {
                // another process failed meanwhile and set a backoff: honour it
                release_lease(&state.db, &fresh.id, &owner)
                    .await
                    .map_err(internal)?;
                current = fresh;
                continue;
            }
            return refresh_holding_lease(state, fresh, &owner).await;
        }
        // Someone else refreshes: wait for their result, bounded.
        let jitter = (now % 40) as u64;
        tokio::time::sleep(Duration::from_millis(40 + jitter)).await;
        current = load(&state.db, &current.id)
            .await
            .map_err(internal)?
            .ok_or(CareError::Revoked)?;
        current.check_status()?;
        if current.version != start_version {
            return current.usable(&state.keyring).map(Usable::after_refresh);
        }
        if now_ms() > deadline {
            return if current.expired(now_ms()) {
                Err(CareError::Unavailable {
                    retry_after_ms: Some(1000),
                })
            } else {
                current.usable(&state.keyring)
            };
        }
    }
}

/// What the worker did with one connection it listed as due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listed {
    Refreshed,
    /// Refreshed meanwhile, leased by another process, backing off, or
    /// no longer active: nothing to do.
    Skipped,
    Failed,
}

/// The worker's refresh of a connection it listed: only while it is still
/// due within `horizon_ms` (another process may have refreshed it since the
/// list was read), and only if nobody holds its lease — the worker never
/// waits for another process, it moves on.
async fn refresh_listed(state: &AppState, id: &str, horizon_ms: i64) -> Listed {
    let care = &state.settings.token_care;
    let row = match load(&state.db, id).await {
        Ok(Some(row)) => row,
        Ok(None) => return Listed::Skipped,
        Err(e) => {
            tracing::error!(connection_id = %id, error = %e, "reading a due connection failed");
            return Listed::Failed;
        }
    };
    let now = now_ms();
    let due = row.due(care, now) || row.expires_at.is_some_and(|e| e - now <= horizon_ms);
    if row.check_status().is_err()
        || row.refresh_token.is_none()
        || !due
        || row.next_attempt_at.is_some_and(|n| n > now)
    {
        return Listed::Skipped;
    }
    let owner = new_id("lease");
    // Taken only if the row is still the version just read: no second read.
    let taken = sqlx::query(
        "UPDATE connections SET lease_owner = $1, lease_until = $2 WHERE id = $3 AND version = $4 \
         AND status IN ('active', 'error') AND (lease_owner IS NULL OR lease_until < $5) \
         AND (next_attempt_at IS NULL OR next_attempt_at <= $6)",
    )
    .bind(&owner)
    .bind(now + care.lease_ms)
    .bind(&row.id)
    .bind(row.version)
    .bind(now)
    .bind(now)
    .execute(state.db.pool())
    .await;
    match taken {
        Ok(done) if done.rows_affected() == 1 => {}
        Ok(_) => return Listed::Skipped,
        Err(e) => {
            tracing::error!(connection_id = %id, error = %e, "taking a refresh lease failed");
            return Listed::Failed;
        }
    }
    match refresh_holding_lease(state, row, &owner).await {
        Ok(usable) if usable.refreshed => Listed::Refreshed,
        // a passing failure: the old token is still served, a retry is set
        Ok(_) => Listed::Failed,
        Err(_) => Listed::Failed,
    }
}

async fn take_lease(db: &Db, id: &str, owner: &str, lease_ms: i64) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE connections SET lease_owner = $1, lease_until = $2 WHERE id = $3 AND (lease_owner IS NULL OR lease_until < $4)",
    )
    .bind(owner)
    .bind(now + lease_ms)
    .bind(id)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn release_lease(db: &Db, id: &str, owner: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE connections SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2",
    )
    .bind(id)
    .bind(owner)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A provider configuration ready for calls: its profile and client secret.
#[derive(Debug)]
pub struct ProviderClient {
    config: crate::domain::provider_configs::ConfigView,
    profile: ProviderProfile,
    secret: SecretString,
}

/// The provider configuration's profile and client secret, through the
/// short-lived cache (a refresh backlog calls the same configuration
/// thousands of times).
async fn client_of(
    state: &AppState,
    app_id: &str,
    config_id: &str,
) -> Result<Arc<ProviderClient>, CareError> {
    let cache = &state.caches.provider_clients;
    if let Some(hit) = cache.get(config_id) {
        if hit.config.app_id == app_id {
            return Ok(hit);
        }
    }
    let generation = cache.generation();
    let config = configs::find(&state.db, &state.keyring, app_id, config_id)
        .await
        .map_err(internal)?
        .ok_or(CareError::Revoked)?;
    if config.status != ConfigStatus::Active {
        return Err(CareError::Unavailable {
            retry_after_ms: None,
        });
    }
    let profile = ProviderProfile::of(&config, &state.catalogue)
        .ok_or_else(|| internal("the provider is no longer in the catalogue"))?;
    let secret = configs::client_secret(&state.db, &state.keyring, &config.id)
        .await
        .map_err(internal)?
        .ok_or_else(|| internal("no client secret"))?;
    let client = Arc::new(ProviderClient {
        config,
        profile,
        secret,
    });
    cache.insert(config_id.to_string(), client.clone(), generation);
    Ok(client)
}

async fn refresh_holding_lease(
    state: &AppState,
    row: TokenRow,
    owner: &str,
) -> Result<Usable, CareError> {
    let result = call_provider(state, &row).await;
    match result {
        Ok((tokens, profile)) => store_refreshed(state, &row, owner, tokens, &profile).await,
        Err(Failure::Dead(code)) => {
            // Re-read first: a process whose lease had expired may have
            // rotated the token meanwhile.
            let now_row = load(&state.db, &row.id)
                .await
                .map_err(internal)?
                .ok_or(CareError::Revoked)?;
            if now_row.version != row.version {
                release_lease(&state.db, &row.id, owner)
                    .await
                    .map_err(internal)?;
                return now_row.usable(&state.keyring).map(Usable::after_refresh);
            }
            mark_needs_reauthorization(
                state,
                &row,
                &format!("The provider refused the refresh token ({code})"),
            )
            .await?;
            release_lease(&state.db, &row.id, owner)
                .await
                .map_err(internal)?;
            Err(CareError::NeedsReauthorization)
        }
        Err(Failure::Transient {
            reason,
            retry_after_ms,
        }) => {
            let wait = record_failure(state, &row, &reason, retry_after_ms).await?;
            release_lease(&state.db, &row.id, owner)
                .await
                .map_err(internal)?;
            if row.expired(now_ms()) {
                Err(CareError::Unavailable {
                    retry_after_ms: Some(wait),
                })
            } else {
                row.usable(&state.keyring)
            }
        }
        Err(Failure::Internal(e)) => {
            let _ = release_lease(&state.db, &row.id, owner).await;
            Err(e)
        }
    }
}

enum Failure {
    Dead(String),
    Transient {
        reason: String,
        retry_after_ms: Option<i64>,
    },
    Internal(CareError),
}

async fn call_provider(
    state: &AppState,
    row: &TokenRow,
) -> Result<(oauth::TokenSet, ProviderProfile), Failure> {
    let client = client_of(state, &row.app_id, &row.provider_config_id)
        .await
        .map_err(Failure::Internal)?;
    let (config, profile, secret) = (&client.config, &client.profile, &client.secret);
    let sealed = row
        .refresh_token
        .as_ref()
        .ok_or_else(|| Failure::Internal(internal("no refresh token")))?;
    let refresh_token = state
        .keyring
        .decrypt_string(sealed, Aad::new("connections", "refresh_token", &row.id))
        .map_err(|e| Failure::Internal(internal(e)))?;
    let tokens = oauth::token_request(
        &state.http,
        profile,
        &ClientCredentials {
            client_id: &config.client_id,
            client_secret: secret,
        },
        vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
        ],
    )
    .await;
    match tokens {
        Ok(t) => Ok((t, profile.clone())),
        Err(e) if e.needs_reauthorization() => Err(Failure::Dead(match &e {
            TokenError::Rejected { code } => code.clone(),
            _ => "rejected".into(),
        })),
        Err(e) => {
            let retry_after_ms = match &e {
                TokenError::Unavailable {
                    retry_after_secs, ..
                } => retry_after_secs.map(|s| s as i64 * 1000),
                _ => None,
            };
            Err(Failure::Transient {
                reason: e.to_string(),
                retry_after_ms,
            })
        }
    }
}

/// Stores the refreshed tokens and releases the lease, in one transaction.
async fn store_refreshed(
    state: &AppState,
    row: &TokenRow,
    owner: &str,
    tokens: oauth::TokenSet,
    profile: &ProviderProfile,
) -> Result<Usable, CareError> {
    let now = now_ms();
    let keys = &state.keyring;
    let access = keys
        .encrypt_str(
            tokens.access_token.expose_secret(),
            Aad::new("connections", "access_token", &row.id),
        )
        .map_err(internal)?;
    // No refresh token in the answer: the old one stays.
    let refresh = tokens
        .refresh_token
        .as_ref()
        .map(|t| {
            keys.encrypt_str(
                t.expose_secret(),
                Aad::new("connections", "refresh_token", &row.id),
            )
        })
        .transpose()
        .map_err(internal)?
        .or_else(|| row.refresh_token.clone());
    let expires_at = Some(
        now + tokens
            .expires_in
            .unwrap_or(profile.tokens.fallback_lifetime_secs as i64)
            * 1000,
    );
    let granted = tokens
        .scopes
        .as_ref()
        .map(|s| s.join(" "))
        .or_else(|| row.granted_scopes.clone());
    let recovered = row.failure_count > 0 || row.status == "error";
    let mut tx = state.db.pool().begin().await.map_err(internal)?;
    let done = sqlx::query(
        "UPDATE connections SET access_token = $1, refresh_token = $2, token_type = $3, expires_at = $4, granted_scopes = $5, \
         version = version + 1, last_refreshed_at = $6, updated_at = $7, status = 'active', failure_count = 0, first_failure_at = NULL, \
         next_attempt_at = NULL, last_error = NULL, lease_owner = NULL, lease_until = NULL WHERE id = $8 AND lease_owner = $9",
    )
    .bind(access)
    .bind(refresh)
    .bind(&tokens.token_type)
    .bind(expires_at)
    .bind(granted)
    .bind(now)
    .bind(now)
    .bind(&row.id)
    .bind(owner)
    .execute(&mut *tx)
    .await
    .map_err(internal)?;
    if done.rows_affected() != 1 {
        // The lease ran out under us: whoever holds it now decides.
        tracing::error!(connection_id = %row.id, "refresh lease lost before storing; result dropped");
        return Err(CareError::Unavailable {
            retry_after_ms: Some(1000),
        });
    }
    record_event(&mut tx, row.event("refreshed", "Access token refreshed"))
        .await
        .map_err(internal)?;
    if recovered {
        record_event(
            &mut tx,
            row.event(
                "recovered",
                "The provider answers again; the connection is active",
            ),
        )
        .await
        .map_err(internal)?;
    }
    tx.commit().await.map_err(internal)?;
    state.caches.connection_changed(&row.id);
    tracing::info!(connection_id = %row.id, "access token refreshed");
    Ok(Usable {
        access_token: tokens.access_token,
        token_type: tokens.token_type,
        expires_at,
        refreshed: true,
    })
}

/// Records a transient failure; returns how long until the next attempt.
async fn record_failure(
    state: &AppState,
    row: &TokenRow,
    reason: &str,
    retry_after_ms: Option<i64>,
) -> Result<i64, CareError> {
    let care = &state.settings.token_care;
    let now = now_ms();
    let failures = row.failure_count + 1;
    let exponent = (failures - 1).clamp(0, 16) as u32;
    let backoff = care
        .backoff_ms
        .saturating_mul(1i64 << exponent)
        .min(60 * 60 * 1000);
    // ±20 % jitter so that many connections do not retry in step
    let jitter = backoff / 5;
    let spread = if jitter > 0 {
        (now % (2 * jitter + 1)) - jitter
    } else {
        0
    };
    let wait = (backoff + spread).max(retry_after_ms.unwrap_or(0));
    let to_error = failures >= care.failures_before_error && row.status != "error";
    let mut tx = state.db.pool().begin().await.map_err(internal)?;
    sqlx::query(
        "UPDATE connections SET failure_count = $1, first_failure_at = $2, next_attempt_at = $3, last_error = $4, \
         status = CASE WHEN $5 = 1 THEN 'error' ELSE status END, updated_at = $6 WHERE id = $7",
    )
    .bind(failures)
    .bind(row.first_failure_at.unwrap_or(now))
    .bind(now + wait)
    .bind(reason)
    .bind(i64::from(to_error))
    .bind(now)
    .bind(&row.id)
    .execute(&mut *tx)
    .await
    .map_err(internal)?;
    let message = format!(
        "Refresh failed ({reason}); next attempt in {} s",
        wait / 1000
    );
    record_event(&mut tx, row.event("refresh_failed", &message))
        .await
        .map_err(internal)?;
    if to_error {
        record_event(
            &mut tx,
            row.event("error", &format!("{failures} refresh attempts in a row failed; the connection shows an error until one succeeds")),
        )
        .await
        .map_err(internal)?;
    }
    tx.commit().await.map_err(internal)?;
    state.caches.connection_changed(&row.id);
    tracing::warn!(connection_id = %row.id, failures, "refresh failed; will retry");
    Ok(wait)
}

async fn mark_needs_reauthorization(
    state: &AppState,
    row: &TokenRow,
    why: &str,
) -> Result<(), CareError> {
    let mut tx = state.db.pool().begin().await.map_err(internal)?;
    let done = sqlx::query(
        "UPDATE connections SET status = 'needs_reauthorization', updated_at = $1 WHERE id = $2 AND version = $3 \
         AND status <> 'needs_reauthorization' AND status <> 'revoked'",
    )
    .bind(now_ms())
    .bind(&row.id)
    .bind(row.version)
    .execute(&mut *tx)
    .await
    .map_err(internal)?;
    if done.rows_affected() == 1 {
        record_event(&mut tx, row.event("needs_reauthorization", why))
            .await
            .map_err(internal)?;
    }
    tx.commit().await.map_err(internal)?;
    state.caches.connection_changed(&row.id);
    tracing::warn!(connection_id = %row.id, "connection needs re-authorization");
    Ok(())
}

/// Checks a long-lived token at the provider: a dead token makes the
/// connection `needs_reauthorization`; granted scopes are re-read, and a new
/// shortfall against the configured scopes is recorded.
pub async fn health_check(state: &AppState, id: &str) -> Result<(), CareError> {
    let result = check_health(state, id).await;
    // granted scopes, status or the next check may have changed
    state.caches.connection_changed(id);
    result
}

async fn check_health(state: &AppState, id: &str) -> Result<(), CareError> {
    let care = &state.settings.token_care;
    let row = load(&state.db, id)
        .await
        .map_err(internal)?
        .ok_or(CareError::Revoked)?;
    row.check_status()?;
    let client = client_of(state, &row.app_id, &row.provider_config_id).await?;
    let (config, profile, secret) = (&client.config, &client.profile, &client.secret);
    let token = row.usable(&state.keyring)?;
    let checked = match profile.tokens.health_check {
        crate::catalogue::HealthCheck::None => return Ok(()),
        crate::catalogue::HealthCheck::Identity => match &profile.identity {
            Some(spec) => {
                oauth::identify(&state.http, spec, &token.token_type, &token.access_token).await
            }
            None => return Ok(()),
        },
        crate::catalogue::HealthCheck::Introspection => {
            let Some(url) = profile.oauth.introspection_url.clone() else {
                return Ok(());
            };
            let spec = profile
                .identity
                .clone()
                .unwrap_or(crate::catalogue::IdentitySpec {
                    url: url.clone(),
                    account_id: "sub".into(),
                    account_name: None,
                    account_slug: None,
                    account_picture: None,
                    scopes: Some("scope".into()),
                    active: Some("active".into()),
                });
            let client = ClientCredentials {
                client_id: &config.client_id,
                client_secret: secret,
            };
            match oauth::client_post(
                &state.http,
                &url,
                profile,
                &client,
                vec![("token", token.access_token.expose_secret())],
            )
            .await
            {
                Ok(fetched) => oauth::read_identity(&spec, &fetched),
                Err(e) => Err(IdentityError::Outbound(e)),
            }
        }
    };
    let now = now_ms();
    // spread checks out: ±10 % of the interval
    let spread = care.health_check_interval_ms / 10;
    let next = now
        + care.health_check_interval_ms
        + if spread > 0 {
            (now % (2 * spread + 1)) - spread
        } else {
            0
        };
    match checked {
        Err(IdentityError::Unauthorized) => {
            sqlx::query(
                "UPDATE connections SET last_checked_at = $1, next_check_at = $2 WHERE id = $3",
            )
            .bind(now)
            .bind(next)
            .bind(&row.id)
            .execute(state.db.pool())
            .await
            .map_err(internal)?;
            mark_needs_reauthorization(
                state,
                &row,
                "Health check: the provider no longer accepts the token",
            )
            .await
        }
        Err(e) => {
            // The provider is unwell, not the token: look again sooner.
            tracing::warn!(connection_id = %row.id, error = %e, "health check failed");
            sqlx::query("UPDATE connections SET next_check_at = $1 WHERE id = $2")
                .bind(now + care.health_check_interval_ms.min(15 * 60 * 1000))
                .bind(&row.id)
                .execute(state.db.pool())
                .await
                .map_err(internal)?;
            Ok(())
        }
        Ok(identity) => {
            let definition = profile.definition.as_deref();
            let before = crate::store::connections::missing_scopes(
                &config.scopes,
                row.granted_scopes
                    .as_ref()
                    .map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                    .as_deref(),
                definition,
            );
            let granted = identity.scopes.clone();
            let after = crate::store::connections::missing_scopes(
                &config.scopes,
                granted.as_deref(),
                definition,
            );
            let mut tx = state.db.pool().begin().await.map_err(internal)?;
            sqlx::query(
                "UPDATE connections SET last_checked_at = $1, next_check_at = $2, granted_scopes = COALESCE($3, granted_scopes) WHERE id = $4",
            )
            .bind(now)
            .bind(next)
            .bind(granted.map(|g| g.join(" ")))
            .bind(&row.id)
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
            let new_missing: Vec<&String> = after.iter().filter(|s| !before.contains(s)).collect();
            if !new_missing.is_empty() {
                let message = format!(
                    "Scope mismatch: the provider no longer grants {}",
                    new_missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                record_event(&mut tx, row.event("scope_mismatch", &message))
                    .await
                    .map_err(internal)?;
            }
            tx.commit().await.map_err(internal)?;
            Ok(())
        }
    }
}

/// What one pass of the background worker did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WorkReport {
    pub refreshed: usize,
    pub refresh_failed: usize,
    pub checked: usize,
    pub revocations_settled: usize,
    pub webhooks_delivered: usize,
    pub webhooks_failed: usize,
    /// The pass took a full batch and made progress: run the next at once.
    pub more_due: bool,
}

/// One pass of background work: refresh what is about to expire, health-
/// check long-lived tokens that are due. Each pass takes a bounded batch,
/// the most urgent first; connections backing off after failures wait their
/// turn, so one failing connection cannot starve the others.
pub async fn run_once(state: &AppState) -> Result<WorkReport, CareError> {
    run_pass(state, now_ms()).await
}

/// [`run_once`], leaving out connections refreshed since `burst_start`: a
/// run of back-to-back passes refreshes each connection once at most, even
/// when a provider's tokens live shorter than the refresh horizon.
async fn run_pass(state: &AppState, burst_start: i64) -> Result<WorkReport, CareError> {
    use futures_util::{stream, StreamExt};
    let care = &state.settings.token_care;
    let now = now_ms();
    let concurrency = care.refresh_concurrency.max(1);
    let batch = concurrency * 4;
    let horizon = care.refresh_margin_ms.max(care.worker_interval_ms * 2);
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM connections WHERE status IN ('active', 'error') AND refresh_token IS NOT NULL AND expires_at IS NOT NULL \
         AND expires_at - $1 <= $2 AND (next_attempt_at IS NULL OR next_attempt_at <= $3) AND (lease_owner IS NULL OR lease_until < $4) \
         AND (last_refreshed_at IS NULL OR last_refreshed_at < $5) ORDER BY expires_at LIMIT $6",
    )
    .bind(now)
    .bind(horizon)
    .bind(now)
    .bind(now)
    .bind(burst_start)
    .bind(batch as i64)
    .fetch_all(state.db.pool())
    .await
    .map_err(internal)?;
    let listed = due.len();
    let results: Vec<Listed> = stream::iter(due)
        .map(|id| async move { refresh_listed(state, &id, horizon).await })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let count = |kind: Listed| results.iter().filter(|r| **r == kind).count();
    let mut report = WorkReport {
        refreshed: count(Listed::Refreshed),
        refresh_failed: count(Listed::Failed),
        ..WorkReport::default()
    };
    // A full batch with progress: more are probably due right now.
    report.more_due = listed == batch && report.refreshed > 0;
    let checks: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM connections WHERE status IN ('active', 'error') AND refresh_token IS NULL AND expires_at IS NULL \
         AND COALESCE(next_check_at, COALESCE(last_checked_at, 0) + $1) <= $2 ORDER BY COALESCE(next_check_at, 0) LIMIT $3",
    )
    .bind(care.health_check_interval_ms)
    .bind(now)
    .bind(batch as i64)
    .fetch_all(state.db.pool())
    .await
    .map_err(internal)?;
    let checked: Vec<bool> = stream::iter(checks)
        .map(|id| async move { health_check(state, &id).await.is_ok() })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    // Checks do not continue a burst: a check that cannot run (no check
    // defined) leaves its connection listed, and a pass every interval
    // already covers a 100,000-connection estate well within 6 hours.
    report.checked = checked.len();
    report.revocations_settled = crate::services::revocation::retry_due(state).await?;
    let (delivered, failed) = crate::services::webhooks::deliver_due(state)
        .await
        .map_err(CareError::Internal)?;
    report.webhooks_delivered = delivered;
    report.webhooks_failed = failed;
    Ok(report)
}

/// Runs [`run_once`] every `worker_interval_ms` until `stop` fires.
pub async fn run_worker(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let interval = state.settings.token_care.worker_interval_ms;
    if interval <= 0 {
        return;
    }
    // set while passes run back to back
    let mut burst_start: Option<i64> = None;
    loop {
        let since = *burst_start.get_or_insert_with(now_ms);
        let more_due = match run_pass(&state, since).await {
            Ok(report) if report != WorkReport::default() => {
                tracing::info!(?report, "token care pass");
                report.more_due
            }
            Ok(_) => false,
            Err(e) => {
                tracing::error!(error = %e, "token care pass failed");
                false
            }
        };
        if more_due {
            // a backlog (after downtime, or many tokens expiring together):
            // the next pass starts at once
            if stop.has_changed().unwrap_or(true) {
                return;
            }
            continue;
        }
        burst_start = None;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(interval as u64)) => {}
            _ = stop.changed() => return,
        }
    }
}
