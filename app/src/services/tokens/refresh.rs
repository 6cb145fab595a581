//! Refreshing under the lease: the holder calls the provider and stores
//! the result; everyone else waits for it. Failures are classified here.

use super::lease::{extend_lease, mark_in_flight, release_lease, take_lease};
use super::*;
use crate::{
    domain::backoff::Backoff,
    domain::events::EventKind,
    domain::grants::{expiry_ms, retry_after_ms},
    domain::provider_configs::ConfigStatus,
    infra::crypto::Aad,
    infra::db::{new_id, now_ms},
    infra::tokens::random_u64,
    services::context::Context,
    services::oauth::{self, ClientCredentials, ProviderProfile, TokenError},
    services::InternalError,
    store::connections::record_event,
    store::provider_configs::{self as configs},
};
use secrecy::ExposeSecret;
use std::{sync::Arc, time::Duration};

/// Refreshes under the lease, or waits for whoever holds it.
pub(super) async fn refresh_or_wait(state: &Context, row: TokenRow) -> Result<Usable, CareError> {
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
pub(crate) enum Listed {
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
pub(crate) async fn refresh_listed(state: &Context, id: &str, horizon_ms: i64) -> Listed {
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
    let due = row.due(care, now)
        || row
            .expires_at
            .is_some_and(|e| e.saturating_sub(now) <= horizon_ms);
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

/// The provider configuration's profile and client secret, through the
/// short-lived cache (a refresh backlog calls the same configuration
/// thousands of times).
pub(crate) async fn client_of(
    state: &Context,
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
    let profile = ProviderProfile::of(&config, &state.catalogue).ok_or_else(|| {
        internal(InternalError::Broken(
            "the provider is no longer in the catalogue",
        ))
    })?;
    let secret = configs::client_secret(&state.db, &state.keyring, &config.id)
        .await
        .map_err(internal)?
        .ok_or_else(|| internal(InternalError::Broken("no client secret")))?;
    let client = Arc::new(ProviderClient {
        config,
        profile,
        secret,
    });
    cache.insert(config_id.to_string(), client.clone(), generation);
    Ok(client)
}

#[tracing::instrument(name = "refresh", skip_all, fields(connection_id = %row.id, takeover = row.refresh_started_at.is_some()))]
pub(crate) async fn refresh_holding_lease(
    state: &Context,
    row: TokenRow,
    owner: &str,
) -> Result<Usable, CareError> {
    // a call in flight that nobody finished: its process died meanwhile
    let interrupted = row.refresh_started_at.is_some();
    if interrupted {
        tracing::warn!(connection_id = %row.id, "taking over a refresh that a stopped process had started; retrying it with the stored refresh token");
    }
    mark_in_flight(&state.db, &row.id, owner)
        .await
        .map_err(internal)?;
    let result = renewing_lease(state, &row.id, owner, call_provider(state, &row)).await;
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
            let why = if interrupted {
                metrics::counter!("oauth_vault_refreshes_total",
                    "provider" => provider_of(state, &row).await, "outcome" => "interrupted")
                .increment(1);
                format!("{} ({code})", crate::domain::events::REFRESH_INTERRUPTED)
            } else {
                format!("The provider refused the refresh token ({code})")
            };
            mark_needs_reauthorization(state, &row, &why).await?;
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
            // Something on our side (a token that does not open, the
            // configuration switched off or broken): logged, and the
            // connection waits a while, so that it does not take a place in
            // every pass of the worker.
            tracing::error!(connection_id = %row.id, error = %e, "refresh could not be attempted; backing off");
            let care = &state.settings.token_care;
            let wait = Backoff::refresh(care.backoff_ms).delay_ms(
                row.failure_count + 1,
                None,
                random_u64(),
            );
            let backed_off = sqlx::query(
                "UPDATE connections SET next_attempt_at = $1, lease_owner = NULL, lease_until = NULL, refresh_started_at = NULL WHERE id = $2 AND lease_owner = $3",
            )
            .bind(now_ms().saturating_add(wait))
            .bind(&row.id)
            .bind(owner)
            .execute(state.db.pool())
            .await;
            if backed_off.is_err() {
                let _ = release_lease(&state.db, &row.id, owner).await;
            }
            Err(e)
        }
    }
}

/// Runs `work` while renewing the lease every third of its length, so that
/// it holds as long as the work runs and lapses soon after a crash.
async fn renewing_lease<T>(
    state: &Context,
    id: &str,
    owner: &str,
    work: impl std::future::Future<Output = T>,
) -> T {
    let lease_ms = state.settings.token_care.lease_ms;
    let every = Duration::from_millis((lease_ms / 3).max(100) as u64);
    tokio::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = tokio::time::sleep(every) => {
                if let Err(e) = extend_lease(&state.db, id, owner, lease_ms).await {
                    tracing::warn!(connection_id = %id, error = %e, "renewing a refresh lease failed");
                }
            }
        }
    }
}

/// The provider id of a connection's configuration, for a metric label.
async fn provider_of(state: &Context, row: &TokenRow) -> String {
    client_of(state, &row.app_id, &row.provider_config_id)
        .await
        .map(|c| c.config.provider.clone())
        .unwrap_or_default()
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
    state: &Context,
    row: &TokenRow,
) -> Result<(crate::domain::grants::TokenSet, ProviderProfile), Failure> {
    let client = client_of(state, &row.app_id, &row.provider_config_id)
        .await
        .map_err(Failure::Internal)?;
    let profile = client.profile_for(row).map_err(|_| {
        Failure::Internal(internal(InternalError::Broken(
            "a value the provider's URLs need is missing",
        )))
    })?;
    let (config, profile, secret) = (&client.config, &profile, &client.secret);
    let sealed = row
        .refresh_token
        .as_ref()
        .ok_or_else(|| Failure::Internal(internal(InternalError::Broken("no refresh token"))))?;
    let refresh_token = state
        .keyring
        .decrypt_string(sealed, Aad::new("connections", "refresh_token", &row.id))
        .map_err(|e| Failure::Internal(internal(e)))?;
    let started = std::time::Instant::now();
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
    let outcome = match &tokens {
        Ok(_) => "success",
        Err(e) if e.needs_reauthorization() => "needs_reauthorization",
        Err(_) => "transient_failure",
    };
    metrics::counter!("oauth_vault_refreshes_total",
        "provider" => config.provider.clone(), "outcome" => outcome)
    .increment(1);
    metrics::histogram!("oauth_vault_refresh_duration_seconds", "provider" => config.provider.clone())
        .record(started.elapsed().as_secs_f64());
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
                } => retry_after_secs.map(retry_after_ms),
                _ => None,
            };
            Err(Failure::Transient {
                reason: e.to_string(),
                retry_after_ms,
            })
        }
    }
}

/// The refreshed tokens sealed to the connection's row; without a refresh
/// token in the answer, the old one stays.
fn seal_refreshed(
    keys: &crate::infra::crypto::Keyring,
    row: &TokenRow,
    tokens: &crate::domain::grants::TokenSet,
) -> Result<(Vec<u8>, Option<Vec<u8>>), CareError> {
    let access = keys
        .encrypt_str(
            tokens.access_token.expose_secret(),
            Aad::new("connections", "access_token", &row.id),
        )
        .map_err(internal)?;
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
    Ok((access, refresh))
}

/// Stores the refreshed tokens and releases the lease, in one transaction.
async fn store_refreshed(
    state: &Context,
    row: &TokenRow,
    owner: &str,
    tokens: crate::domain::grants::TokenSet,
    profile: &ProviderProfile,
) -> Result<Usable, CareError> {
    let now = now_ms();
    let (access, refresh) = seal_refreshed(&state.keyring, row, &tokens)?;
    let expires_at = Some(expiry_ms(
        now,
        tokens
            .expires_in
            .unwrap_or_else(|| profile.fallback_lifetime_secs()),
    ));
    let granted = tokens
        .scopes
        .as_ref()
        .map(|s| s.join(" "))
        .or_else(|| row.granted_scopes.clone());
    let recovered = row.failure_count > 0 || row.status == "error";
    let mut tx = state.db.begin().await.map_err(internal)?;
    let done = sqlx::query(
        "UPDATE connections SET access_token = $1, refresh_token = $2, token_type = $3, expires_at = $4, granted_scopes = $5, \
         version = version + 1, last_refreshed_at = $6, updated_at = $7, status = 'active', failure_count = 0, first_failure_at = NULL, \
         next_attempt_at = NULL, last_error = NULL, lease_owner = NULL, lease_until = NULL, refresh_started_at = NULL WHERE id = $8 AND lease_owner = $9",
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
    record_event(
        &mut tx,
        row.event(EventKind::Refreshed, "Access token refreshed"),
    )
    .await
    .map_err(internal)?;
    if recovered {
        record_event(
            &mut tx,
            row.event(
                EventKind::Recovered,
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
    state: &Context,
    row: &TokenRow,
    reason: &str,
    retry_after_ms: Option<i64>,
) -> Result<i64, CareError> {
    let care = &state.settings.token_care;
    let now = now_ms();
    let failures = row.failure_count + 1;
    let wait = Backoff::refresh(care.backoff_ms).delay_ms(failures, retry_after_ms, random_u64());
    let to_error = failures >= care.failures_before_error && row.status != "error";
    let mut tx = state.db.begin().await.map_err(internal)?;
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
    record_event(&mut tx, row.event(EventKind::RefreshFailed, &message))
        .await
        .map_err(internal)?;
    if to_error {
        record_event(
            &mut tx,
            row.event(EventKind::Error, &format!("{failures} refresh attempts in a row failed; the connection shows an error until one succeeds")),
        )
        .await
        .map_err(internal)?;
    }
    tx.commit().await.map_err(internal)?;
    state.caches.connection_changed(&row.id);
    tracing::warn!(connection_id = %row.id, failures, "refresh failed; will retry");
    Ok(wait)
}

pub(crate) async fn mark_needs_reauthorization(
    state: &Context,
    row: &TokenRow,
    why: &str,
) -> Result<(), CareError> {
    let mut tx = state.db.begin().await.map_err(internal)?;
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
        record_event(&mut tx, row.event(EventKind::NeedsReauthorization, why))
            .await
            .map_err(internal)?;
    }
    tx.commit().await.map_err(internal)?;
    state.caches.connection_changed(&row.id);
    tracing::warn!(connection_id = %row.id, "connection needs re-authorization");
    Ok(())
}
