//! Disconnecting: revoke the grant at the provider (RFC 7009) where the
//! provider offers revocation, then delete the tokens. The connection stays
//! listed as `revoked`, with its history. A revocation the provider could not
//! take right now (5xx, 429, timeout) is kept — sealed — and retried by the
//! background worker until the provider confirms or refuses it.

use crate::{
    domain::backoff::Backoff,
    domain::events::EventKind,
    infra::crypto::Aad,
    infra::db::{new_id, now_ms},
    infra::outbound::OutboundError,
    infra::tokens::random_u64,
    services::context::Context,
    services::oauth::{self, ClientCredentials, ProviderProfile},
    services::tokens::CareError,
    store::audit::{Actor, Entry},
    store::connections::{record_event, Event},
    store::provider_configs as configs,
};
use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;

/// At most this many attempts for a queued revocation.
const MAX_ATTEMPTS: i64 = 10;

use crate::services::tokens::internal;

enum Outcome {
    Done,
    NotOffered,
    Unreadable,
    Refused(u16),
    Later(String),
}

async fn revoke_at_provider(
    state: &Context,
    profile: &ProviderProfile,
    client_id: &str,
    secret: &SecretString,
    token: &SecretString,
    hint: &str,
) -> Outcome {
    let Some(url) = profile.oauth.revocation_url.clone() else {
        return Outcome::NotOffered;
    };
    let client = ClientCredentials {
        client_id,
        client_secret: secret,
    };
    let answer = oauth::client_post(
        &state.http,
        &url,
        profile,
        &client,
        vec![("token", token.expose_secret()), ("token_type_hint", hint)],
    )
    .await;
    match answer {
        Ok(f) if f.status.is_success() => Outcome::Done,
        Ok(f) if f.status.is_server_error() || f.status.as_u16() == 429 => {
            Outcome::Later(format!("HTTP {}", f.status.as_u16()))
        }
        Ok(f) => Outcome::Refused(f.status.as_u16()),
        Err(OutboundError::Refused(_)) => Outcome::Refused(0),
        Err(e) => Outcome::Later(e.to_string()),
    }
}

/// Disconnects connection `id` of `app_id`: false if there is none. A
/// connection already revoked stays as it is. Its token is revoked at the
/// provider where the definition allows (RFC 7009), or queued for a later
/// try; the tokens are deleted, the connection kept as `revoked` with its
/// history, in one transaction with its event and audit entry.
pub async fn disconnect(
    state: &Context,
    app_id: &str,
    id: &str,
    actor: &Actor,
    reason: Option<&str>,
) -> Result<bool, CareError> {
    let Some(held) = held_tokens(state, app_id, id).await? else {
        return Ok(false);
    };
    if held.status == "revoked" {
        return Ok(true);
    }
    let outcome = if held.unreadable {
        Outcome::Unreadable
    } else {
        revoke_now(state, app_id, &held).await?
    };
    let mut tx = state.db.begin().await.map_err(internal)?;
    if let (Outcome::Later(_), Some(token)) = (&outcome, &held.token) {
        queue_retry(&mut tx, state, app_id, id, &held, token).await?;
    }
    let summary = summary(&outcome);
    mark_revoked(&mut tx, app_id, id, &held, actor, &summary, reason).await?;
    tx.commit().await.map_err(internal)?;
    state.caches.connection_changed(id);
    tracing::info!(connection_id = %id, "connection disconnected");
    Ok(true)
}

/// A connection's status and the token that ends its grant.
struct Held {
    status: String,
    config_id: String,
    end_user: String,
    /// The refresh token where there is one: revoking it ends the whole
    /// grant (RFC 7009 §2.1); else the access token.
    token: Option<SecretString>,
    hint: &'static str,
    /// The sealed token could not be opened (a lost key): it cannot be
    /// revoked at the provider, but must not keep the vault from deleting it.
    unreadable: bool,
}

async fn held_tokens(state: &Context, app_id: &str, id: &str) -> Result<Option<Held>, CareError> {
    let row = sqlx::query(
        "SELECT provider_config_id, end_user_id, status, access_token, refresh_token FROM connections WHERE app_id = $1 AND id = $2",
    )
    .bind(app_id)
    .bind(id)
    .fetch_optional(state.db.pool())
    .await
    .map_err(internal)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let access: Option<Vec<u8>> = row.try_get("access_token").map_err(internal)?;
    let refresh: Option<Vec<u8>> = row.try_get("refresh_token").map_err(internal)?;
    let (sealed, column, hint) = match (refresh, access) {
        (Some(r), _) => (Some(r), "refresh_token", "refresh_token"),
        (None, a) => (a, "access_token", "access_token"),
    };
    let token = sealed.as_ref().map(|s| {
        state
            .keyring
            .decrypt_string(s, Aad::new("connections", column, id))
    });
    Ok(Some(Held {
        status: row.try_get("status").map_err(internal)?,
        config_id: row.try_get("provider_config_id").map_err(internal)?,
        end_user: row.try_get("end_user_id").map_err(internal)?,
        unreadable: matches!(token, Some(Err(_))),
        token: token.and_then(Result::ok),
        hint,
    }))
}

/// Revokes the held token at the provider, if its definition offers it.
async fn revoke_now(state: &Context, app_id: &str, held: &Held) -> Result<Outcome, CareError> {
    let config = configs::find(&state.db, &state.keyring, app_id, &held.config_id)
        .await
        .map_err(internal)?;
    let profile = config
        .as_ref()
        .and_then(|c| ProviderProfile::of(c, &state.catalogue));
    let secret = configs::client_secret(&state.db, &state.keyring, &held.config_id)
        .await
        .ok()
        .flatten();
    Ok(match (&held.token, &config, &profile, &secret) {
        (Some(token), Some(config), Some(profile), Some(secret)) => {
            revoke_at_provider(state, profile, &config.client_id, secret, token, held.hint).await
        }
        _ => Outcome::NotOffered,
    })
}

/// Queues the token, sealed anew, for the worker to revoke later.
async fn queue_retry(
    tx: &mut sqlx::AnyConnection,
    state: &Context,
    app_id: &str,
    id: &str,
    held: &Held,
    token: &SecretString,
) -> Result<(), CareError> {
    let rev_id = new_id("rev");
    let sealed = state
        .keyring
        .encrypt_str(
            token.expose_secret(),
            Aad::new("revocations", "token", &rev_id),
        )
        .map_err(internal)?;
    let now = now_ms();
    let first_wait =
        Backoff::revocation(state.settings.token_care.backoff_ms).delay_ms(1, None, random_u64());
    sqlx::query(
        "INSERT INTO revocations (id, app_id, connection_id, provider_config_id, token, token_type_hint, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8)",
    )
    .bind(&rev_id)
    .bind(app_id)
    .bind(id)
    .bind(&held.config_id)
    .bind(sealed)
    .bind(held.hint)
    .bind(now + first_wait)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(internal)?;
    Ok(())
}

/// What became of the revocation, for the history and the audit log.
fn summary(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Done => "revoked at the provider".to_string(),
        Outcome::NotOffered => "the provider offers no revocation".to_string(),
        Outcome::Unreadable => {
            "the token could not be decrypted, so it was not revoked at the provider".to_string()
        }
        Outcome::Refused(0) => {
            "the revocation endpoint is refused by the outbound rules".to_string()
        }
        Outcome::Refused(code) => format!("the provider refused the revocation (HTTP {code})"),
        Outcome::Later(why) => {
            format!("revocation at the provider failed ({why}) and will be retried")
        }
    }
}

/// Deletes the tokens and records the disconnect, in the caller's
/// transaction.
async fn mark_revoked(
    tx: &mut sqlx::AnyConnection,
    app_id: &str,
    id: &str,
    held: &Held,
    actor: &Actor,
    summary: &str,
    reason: Option<&str>,
) -> Result<(), CareError> {
    let now = now_ms();
    sqlx::query(
        "UPDATE connections SET status = 'revoked', access_token = NULL, refresh_token = NULL, revoked_at = $1, updated_at = $2, \
         lease_owner = NULL, lease_until = NULL, next_attempt_at = NULL, version = version + 1 WHERE id = $3",
    )
    .bind(now)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(internal)?;
    let by = actor.label.clone().unwrap_or_else(|| match actor.kind {
        "api_key" => "the API".to_string(),
        other => other.replace('_', " "),
    });
    record_event(
        &mut *tx,
        Event {
            app_id,
            connection_id: Some(id),
            provider_config_id: Some(&held.config_id),
            end_user_id: Some(&held.end_user),
            kind: EventKind::Revoked,
            message: &format!("Disconnected by {by}: {summary}; tokens deleted"),
        },
    )
    .await
    .map_err(internal)?;
    let mut entry = Entry::new("connection.revoked")
        .app(None, app_id)
        .target("connection", id)
        .detail(summary);
    if let Some(reason) = reason {
        entry = entry.reason(reason);
    }
    crate::store::audit::record(&mut *tx, actor, entry)
        .await
        .map_err(internal)?;
    Ok(())
}

/// Retries queued revocations that are due; returns how many were settled.
pub async fn retry_due(state: &Context) -> Result<usize, CareError> {
    let rows = sqlx::query(
        "SELECT id, app_id, connection_id, provider_config_id, token, token_type_hint, attempts FROM revocations \
         WHERE next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT 20",
    )
    .bind(now_ms())
    .fetch_all(state.db.pool())
    .await
    .map_err(internal)?;
    let mut settled = 0;
    for row in rows {
        let queued = Queued {
            id: row.try_get("id").map_err(internal)?,
            app_id: row.try_get("app_id").map_err(internal)?,
            connection_id: row.try_get("connection_id").map_err(internal)?,
            config_id: row.try_get("provider_config_id").map_err(internal)?,
            sealed: row.try_get("token").map_err(internal)?,
            hint: row.try_get("token_type_hint").map_err(internal)?,
            attempts: row.try_get("attempts").map_err(internal)?,
        };
        if retry(state, &queued).await? {
            settled += 1;
        }
    }
    Ok(settled)
}

/// A revocation waiting for another try.
struct Queued {
    id: String,
    app_id: String,
    connection_id: String,
    config_id: String,
    sealed: Vec<u8>,
    hint: String,
    /// Attempts made so far.
    attempts: i64,
}

/// Tries once more; true when the revocation is settled (done, refused,
/// or given up), false when it waits for the next try.
async fn retry(state: &Context, queued: &Queued) -> Result<bool, CareError> {
    let token = state
        .keyring
        .decrypt_string(&queued.sealed, Aad::new("revocations", "token", &queued.id))
        .map_err(internal)?;
    let config = configs::find(&state.db, &state.keyring, &queued.app_id, &queued.config_id)
        .await
        .map_err(internal)?;
    let secret = configs::client_secret(&state.db, &state.keyring, &queued.config_id)
        .await
        .map_err(internal)?;
    let profile = config
        .as_ref()
        .and_then(|c| ProviderProfile::of(c, &state.catalogue).map(|p| (c, p)));
    let outcome = match (profile, secret) {
        (Some((config, profile)), Some(secret)) => {
            revoke_at_provider(
                state,
                &profile,
                &config.client_id,
                &secret,
                &token,
                &queued.hint,
            )
            .await
        }
        _ => Outcome::NotOffered,
    };
    let message = match &outcome {
        Outcome::Done => Some("Revoked at the provider (retry succeeded)".to_string()),
        Outcome::Refused(code) => {
            Some(format!("The provider refused the revocation (HTTP {code})"))
        }
        Outcome::NotOffered => Some("The provider no longer offers revocation".to_string()),
        Outcome::Unreadable => {
            Some("The token could not be decrypted; not revoked at the provider".to_string())
        }
        Outcome::Later(_) if queued.attempts + 1 >= MAX_ATTEMPTS => Some(format!(
            "Revocation at the provider gave up after {MAX_ATTEMPTS} attempts"
        )),
        Outcome::Later(_) => None,
    };
    let mut tx = state.db.begin().await.map_err(internal)?;
    let settled = message.is_some();
    match message {
        Some(message) => {
            sqlx::query("DELETE FROM revocations WHERE id = $1")
                .bind(&queued.id)
                .execute(&mut *tx)
                .await
                .map_err(internal)?;
            let event = Event {
                app_id: &queued.app_id,
                connection_id: Some(&queued.connection_id),
                provider_config_id: Some(&queued.config_id),
                end_user_id: None,
                kind: EventKind::Revocation,
                message: &message,
            };
            record_event(&mut tx, event).await.map_err(internal)?;
        }
        None => {
            // `attempts` failed so far; this one makes one more
            let wait = Backoff::revocation(state.settings.token_care.backoff_ms).delay_ms(
                queued.attempts + 1,
                None,
                random_u64(),
            );
            sqlx::query(
                "UPDATE revocations SET attempts = attempts + 1, next_attempt_at = $1 WHERE id = $2",
            )
            .bind(now_ms() + wait)
            .bind(&queued.id)
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
        }
    }
    tx.commit().await.map_err(internal)?;
    Ok(settled)
}
