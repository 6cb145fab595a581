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
//! The lease is short (`OAUTH_VAULT_REFRESH_LEASE_SECS`, 4 s by default)
//! and its holder renews it while the provider call runs, so that the lease
//! of a process that died is taken over within seconds. The row records
//! when the provider call started (`refresh_started_at`); a lease taken over
//! while it is set belonged to a process that died mid-refresh, after which
//! the provider may already have rotated the refresh token. The new holder
//! retries once with the stored token (providers with a grace period for
//! the previous token accept it); if the provider refuses it, the
//! connection needs re-authorization and its event and webhook say that a
//! restart interrupted the refresh.
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
    domain::events::EventKind,
    infra::crypto::{Aad, Keyring},
    infra::db::{now_ms, Db},
    services::context::Context,
    services::InternalError,
    store::connections::{self as store, Event},
};
use secrecy::SecretString;
use sqlx::Row;
use std::sync::Arc;

mod health;
mod lease;
pub mod model;
mod refresh;

pub use health::health_check;
use model::TokenRow;
pub use model::{Loaded, ProviderClient, TokenCare};
pub(crate) use refresh::{refresh_listed, Listed};

/// Why no usable token can be served.
#[derive(Debug, thiserror::Error, Clone)]
pub enum CareError {
    #[error("the connection needs to be authorized again")]
    NeedsReauthorization,
    #[error("the connection was revoked")]
    Revoked,
    #[error("the provider is unavailable; retry later")]
    Unavailable { retry_after_ms: Option<i64> },
    /// Shared: a refresh's waiters all receive the holder's result.
    #[error("{0}")]
    Internal(std::sync::Arc<InternalError>),
}

pub(crate) fn internal(e: impl Into<InternalError>) -> CareError {
    CareError::Internal(std::sync::Arc::new(e.into()))
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

async fn load(db: &Db, id: &str) -> Result<Option<TokenRow>, sqlx::Error> {
    sqlx::query(
        "SELECT id, app_id, provider_config_id, end_user_id, status, access_token, refresh_token, token_type, expires_at, \
         last_refreshed_at, version, failure_count, first_failure_at, next_attempt_at, granted_scopes, parameters, refresh_started_at FROM connections WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    .map(|r| TokenRow::from_row(&r))
    .transpose()
}

/// The token API's read: the connection and its token row, from the
/// short-lived cache or in a single query. Another app's id is `None`.
pub async fn load_for_app(
    state: &Context,
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

/// Connections in the cache that are in use are read again before they
/// expire, [`RENEW_CHUNK`] to a query, every quarter of the cache's TTL,
/// until `stop`; the token API then rarely finds one expired and reads it
/// alone (see [`crate::infra::cache`]).
pub async fn renew_cached_connections(
    state: Context,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let cache = &state.caches.connections;
    if !cache.enabled() {
        return;
    }
    let ttl = cache.ttl();
    let every = (ttl / 4).max(std::time::Duration::from_millis(10));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        // expiring before the next round, or the one after (slack for slow reads)
        for chunk in cache.renewable(every * 2).chunks(RENEW_CHUNK) {
            let generation = cache.generation();
            let read_at = std::time::Instant::now();
            match read_many(&state, chunk).await {
                Ok(loaded) => {
                    for l in loaded {
                        cache.renew(l.row.id.clone(), Arc::new(l), generation, read_at);
                    }
                }
                Err(e) => {
                    // the entries expire as usual and are read one by one
                    tracing::warn!(error = %e, "renewing cached connections failed");
                    break;
                }
            }
        }
    }
}

/// Connections read again together by [`renew_cached_connections`].
const RENEW_CHUNK: usize = 64;

fn select_with_tokens() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        store::SELECT.replacen(
            " FROM connections c",
            ", c.access_token, c.refresh_token, c.version, c.failure_count, c.first_failure_at, c.next_attempt_at, c.parameters, c.refresh_started_at FROM connections c",
            1,
        )
    })
}

fn loaded_from_row(state: &Context, r: &sqlx::any::AnyRow) -> Result<Loaded, sqlx::Error> {
    let connection = store::view(r, &state.catalogue)?;
    Ok(Loaded {
        last_used_at: connection.last_used_at.unwrap_or(0).into(),
        connection,
        row: TokenRow::from_row(r)?,
    })
}

async fn read_many(state: &Context, ids: &[String]) -> Result<Vec<Loaded>, sqlx::Error> {
    let params: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "{} WHERE c.id IN ({})",
        select_with_tokens(),
        params.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for id in ids {
        query = query.bind(id.as_str());
    }
    query
        .fetch_all(state.db.pool())
        .await?
        .iter()
        .map(|r| loaded_from_row(state, r))
        .collect()
}

async fn read_for_app(
    state: &Context,
    app_id: &str,
    id: &str,
) -> Result<Option<Loaded>, sqlx::Error> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql =
        SQL.get_or_init(|| format!("{} WHERE c.app_id = $1 AND c.id = $2", select_with_tokens()));
    sqlx::query(sql)
        .bind(app_id)
        .bind(id)
        .fetch_optional(state.db.pool())
        .await?
        .map(|r| loaded_from_row(state, &r))
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
            parameters: r.try_get("parameters")?,
            refresh_started_at: r.try_get("refresh_started_at")?,
        })
    }

    /// Refresh when closer to expiry than this.
    fn margin(&self, care: &TokenCare) -> i64 {
        let lifetime = match (self.expires_at, self.last_refreshed_at) {
            (Some(e), Some(r)) if e > r => e.saturating_sub(r),
            _ => 0,
        };
        care.refresh_margin_ms.max(lifetime / 10)
    }

    fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }

    fn due(&self, care: &TokenCare, now: i64) -> bool {
        self.expires_at
            .is_some_and(|e| e.saturating_sub(now) <= self.margin(care))
    }

    /// An event of this connection's history.
    fn event<'a>(&'a self, kind: EventKind, message: &'a str) -> Event<'a> {
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
pub async fn usable_token(state: &Context, id: &str, force: bool) -> Result<Usable, CareError> {
    let row = load(&state.db, id)
        .await
        .map_err(internal)?
        .ok_or(CareError::Revoked)?;
    usable_from(state, row, force).await
}

/// [`usable_token`] for a connection read with [`load_for_app`].
pub async fn usable_loaded(
    state: &Context,
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

async fn usable_from(state: &Context, row: TokenRow, force: bool) -> Result<Usable, CareError> {
    let care = &state.settings.token_care;
    row.check_status()?;
    let now = now_ms();
    if row.refresh_token.is_none() {
        if row.expired(now) {
            refresh::mark_needs_reauthorization(
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
    refresh::refresh_or_wait(state, row).await
}
