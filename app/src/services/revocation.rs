//! Disconnecting: revoke the grant at the provider (RFC 7009) where the
//! provider offers revocation, then delete the tokens. The connection stays
//! listed as `revoked`, with its history. A revocation the provider could not
//! take right now (5xx, 429, timeout) is kept — sealed — and retried by the
//! background worker until the provider confirms or refuses it.
//!
//! Deleting an app or a provider configuration revokes too: in the deleting
//! transaction, every connection it holds gets a queued revocation that
//! carries all the call needs (endpoint, client authentication, client id,
//! the client secret and the token, sealed and bound to the revocation's
//! row), so it outlives the rows it came from. They are tried right after
//! the commit, and what fails is retried by the worker.
//!
//! A queued revocation that cannot be handled (a sealed value that no
//! longer opens, a broken row) is logged and backed off; the others go on.

use crate::{
    catalogue::ClientAuth,
    domain::apps::AppSummary,
    domain::backoff::Backoff,
    domain::events::EventKind,
    domain::provider_configs::ConfigView,
    infra::crypto::Aad,
    infra::db::{new_id, now_ms},
    infra::outbound::OutboundError,
    infra::tokens::random_u64,
    services::context::Context,
    services::oauth::{self, ClientCredentials, ProviderProfile},
    services::tokens::CareError,
    store::audit::{self as audit, Actor, Entry},
    store::connections::{record_event, Event},
    store::provider_configs as configs,
};
use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;
use std::collections::HashMap;

/// At most this many attempts for a queued revocation.
const MAX_ATTEMPTS: i64 = 10;
/// Queued revocations the worker takes per pass.
const BATCH: i64 = 20;
/// A revocation queued by a deletion is tried right after the commit; the
/// worker takes it over if that try never happened (the process stopped).
const FIRST_TRY_GRACE_MS: i64 = 60_000;
/// Revocations tried at once right after a deletion.
const FIRST_TRY_CONCURRENCY: usize = 8;

use crate::services::tokens::internal;

enum Outcome {
    Done,
    NotOffered,
    Unreadable,
    Refused(u16),
    Later(String),
}

/// Where and how a grant is revoked: the provider's RFC 7009 endpoint and
/// the client's credentials.
struct Endpoint {
    url: String,
    client_auth: ClientAuth,
    client_id: String,
    secret: SecretString,
}

impl Endpoint {
    /// The endpoint of configuration `config_id` of `app_id`, if its
    /// provider offers revocation and its client secret opens.
    async fn of_config(
        state: &Context,
        app_id: &str,
        config_id: &str,
    ) -> Result<Option<Endpoint>, CareError> {
        let config = configs::find(&state.db, &state.keyring, app_id, config_id)
            .await
            .map_err(internal)?;
        Ok(match config {
            Some(config) => Self::of(state, &config).await,
            None => None,
        })
    }

    async fn of(state: &Context, config: &ConfigView) -> Option<Endpoint> {
        let profile = ProviderProfile::of(config, &state.catalogue)?;
        let url = profile.oauth.revocation_url.clone()?;
        let secret = match configs::client_secret(&state.db, &state.keyring, &config.id).await {
            Ok(secret) => secret?,
            Err(e) => {
                tracing::warn!(provider_config_id = %config.id, error = %e, "the client secret cannot be read: no revocation with it");
                return None;
            }
        };
        Some(Endpoint {
            url,
            client_auth: profile.oauth.client_auth,
            client_id: config.client_id.clone(),
            secret,
        })
    }
}

fn auth_name(auth: ClientAuth) -> &'static str {
    match auth {
        ClientAuth::Basic => "basic",
        ClientAuth::Body => "body",
    }
}

fn auth_of(name: &str) -> Option<ClientAuth> {
    match name {
        "basic" => Some(ClientAuth::Basic),
        "body" => Some(ClientAuth::Body),
        _ => None,
    }
}

fn queued_aad<'a>(id: &'a str, column: &'a str) -> Aad<'a> {
    Aad::new("revocations", column, id)
}

async fn revoke_at(
    state: &Context,
    endpoint: &Endpoint,
    token: &SecretString,
    hint: &str,
) -> Outcome {
    let client = ClientCredentials {
        client_id: &endpoint.client_id,
        client_secret: &endpoint.secret,
    };
    let answer = oauth::client_post_as(
        &state.http,
        &endpoint.url,
        endpoint.client_auth,
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
    let endpoint = match (&held.token, held.unreadable) {
        (Some(_), false) => Endpoint::of_config(state, app_id, &held.config_id).await?,
        _ => None,
    };
    let outcome = match (&held.token, &endpoint) {
        _ if held.unreadable => Outcome::Unreadable,
        (Some(token), Some(endpoint)) => revoke_at(state, endpoint, token, held.hint).await,
        _ => Outcome::NotOffered,
    };
    let mut tx = state.db.begin().await.map_err(internal)?;
    if let (Outcome::Later(_), Some(token), Some(endpoint)) = (&outcome, &held.token, &endpoint) {
        let first_wait = Backoff::revocation(state.settings.token_care.backoff_ms).delay_ms(
            1,
            None,
            random_u64(),
        );
        queue(
            &mut tx,
            state,
            &ToQueue {
                app_id,
                connection_id: id,
                config_id: &held.config_id,
                token,
                hint: held.hint,
                endpoint,
                attempts: 1,
                next_attempt_at: now_ms() + first_wait,
            },
        )
        .await?;
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

/// The token that ends a connection's grant: the refresh token where there
/// is one, else the access token; `Some(Err)` if it does not open.
fn grant_token(
    state: &Context,
    id: &str,
    access: Option<Vec<u8>>,
    refresh: Option<Vec<u8>>,
) -> (
    Option<Result<SecretString, crate::infra::crypto::CryptoError>>,
    &'static str,
) {
    let (sealed, column) = match (refresh, access) {
        (Some(r), _) => (Some(r), "refresh_token"),
        (None, a) => (a, "access_token"),
    };
    let token = sealed.as_ref().map(|s| {
        state
            .keyring
            .decrypt_string(s, Aad::new("connections", column, id))
    });
    (token, column)
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
    let (token, hint) = grant_token(
        state,
        id,
        row.try_get("access_token").map_err(internal)?,
        row.try_get("refresh_token").map_err(internal)?,
    );
    Ok(Some(Held {
        status: row.try_get("status").map_err(internal)?,
        config_id: row.try_get("provider_config_id").map_err(internal)?,
        end_user: row.try_get("end_user_id").map_err(internal)?,
        unreadable: matches!(token, Some(Err(_))),
        token: token.and_then(Result::ok),
        hint,
    }))
}

/// A revocation to queue.
struct ToQueue<'a> {
    app_id: &'a str,
    connection_id: &'a str,
    config_id: &'a str,
    token: &'a SecretString,
    hint: &'a str,
    endpoint: &'a Endpoint,
    /// Attempts made already.
    attempts: i64,
    next_attempt_at: i64,
}

/// Queues a revocation with all it needs, the token and the client secret
/// sealed anew and bound to the queued row; returns its id.
async fn queue(
    tx: &mut sqlx::AnyConnection,
    state: &Context,
    q: &ToQueue<'_>,
) -> Result<String, CareError> {
    let rev_id = new_id("rev");
    let token = state
        .keyring
        .encrypt_str(q.token.expose_secret(), queued_aad(&rev_id, "token"))
        .map_err(internal)?;
    let secret = state
        .keyring
        .encrypt_str(
            q.endpoint.secret.expose_secret(),
            queued_aad(&rev_id, "client_secret"),
        )
        .map_err(internal)?;
    sqlx::query(
        "INSERT INTO revocations (id, app_id, connection_id, provider_config_id, token, token_type_hint, revocation_url, client_auth, \
         client_id, client_secret, attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&rev_id)
    .bind(q.app_id)
    .bind(q.connection_id)
    .bind(q.config_id)
    .bind(token)
    .bind(q.hint)
    .bind(&q.endpoint.url)
    .bind(auth_name(q.endpoint.client_auth))
    .bind(&q.endpoint.client_id)
    .bind(secret)
    .bind(q.attempts)
    .bind(q.next_attempt_at)
    .bind(now_ms())
    .execute(&mut *tx)
    .await
    .map_err(internal)?;
    Ok(rev_id)
}

/// Revokes, in the background and as best it can, a grant the vault
/// obtained but did not keep (an authorization that another one of the same
/// connect link beat): nothing is left behind at the provider where it
/// offers revocation.
pub fn revoke_unkept(state: &Context, config: ConfigView, token: SecretString, hint: &'static str) {
    let state = state.clone();
    tokio::spawn(async move {
        let Some(endpoint) = Endpoint::of(&state, &config).await else {
            return;
        };
        match revoke_at(&state, &endpoint, &token, hint).await {
            Outcome::Done => {
                tracing::info!(provider_config_id = %config.id, "a grant that was not kept was revoked at the provider")
            }
            _ => {
                tracing::warn!(provider_config_id = %config.id, "a grant that was not kept could not be revoked at the provider")
            }
        }
    });
}

// ---- deleting an app or a provider configuration ------------------------

/// Deletes app `app` of organisation `org` with its configurations, keys
/// and connections. In the same transaction every connection's grant is
/// queued for revocation at the provider, and revocations already queued
/// for the app are completed so that they outlive it. They are tried right
/// after the commit; what fails, the worker retries. Returns how many
/// revocations were queued.
pub async fn delete_app(
    state: &Context,
    actor: &Actor,
    org: &str,
    app: &AppSummary,
) -> Result<usize, CareError> {
    let endpoints = endpoints(state, &app.id, None).await?;
    let mut tx = state.db.begin().await.map_err(internal)?;
    let queued = queue_before_delete(&mut tx, state, &app.id, None, &endpoints).await?;
    crate::store::apps::delete(&mut tx, actor, org, app, queued.len())
        .await
        .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    let count = queued.len();
    try_soon(state, queued);
    Ok(count)
}

/// Deletes configuration `config_id` of app `app_id` (whose ownership the
/// caller has checked) with its connections, revoking them at the provider
/// as [`delete_app`] does. Returns how many revocations were queued.
pub async fn delete_config(
    state: &Context,
    app_id: &str,
    config_id: &str,
    actor: &Actor,
) -> Result<usize, CareError> {
    let endpoints = endpoints(state, app_id, Some(config_id)).await?;
    let mut tx = state.db.begin().await.map_err(internal)?;
    let queued = queue_before_delete(&mut tx, state, app_id, Some(config_id), &endpoints).await?;
    configs::delete(&mut tx, app_id, config_id, actor, queued.len())
        .await
        .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    let count = queued.len();
    try_soon(state, queued);
    Ok(count)
}

/// The revocation endpoints of the app's configurations (or of the one),
/// by configuration id; a configuration whose provider offers none is
/// missing.
async fn endpoints(
    state: &Context,
    app_id: &str,
    only: Option<&str>,
) -> Result<HashMap<String, Endpoint>, CareError> {
    let mut found = HashMap::new();
    for config in configs::list(&state.db, &state.keyring, app_id)
        .await
        .map_err(internal)?
    {
        if only.is_some_and(|id| id != config.id) {
            continue;
        }
        if let Some(endpoint) = Endpoint::of(state, &config).await {
            found.insert(config.id.clone(), endpoint);
        }
    }
    Ok(found)
}

/// Queues the revocation of every connection of the app (or of its
/// configuration `only`) that holds a token, and completes the app's
/// revocations queued before they carried their endpoint. Returns the ids
/// of the new rows.
async fn queue_before_delete(
    tx: &mut sqlx::AnyConnection,
    state: &Context,
    app_id: &str,
    only: Option<&str>,
    endpoints: &HashMap<String, Endpoint>,
) -> Result<Vec<String>, CareError> {
    let rows = sqlx::query(
        "SELECT id, provider_config_id, access_token, refresh_token FROM connections WHERE app_id = $1 \
         AND ($2 = '' OR provider_config_id = $3) AND status <> 'revoked' \
         AND (access_token IS NOT NULL OR refresh_token IS NOT NULL)",
    )
    .bind(app_id)
    .bind(only.unwrap_or_default())
    .bind(only.unwrap_or_default())
    .fetch_all(&mut *tx)
    .await
    .map_err(internal)?;
    let now = now_ms();
    let mut queued = Vec::new();
    for row in rows {
        let id: String = row.try_get("id").map_err(internal)?;
        let config_id: String = row.try_get("provider_config_id").map_err(internal)?;
        let Some(endpoint) = endpoints.get(&config_id) else {
            continue;
        };
        let (token, hint) = grant_token(
            state,
            &id,
            row.try_get("access_token").map_err(internal)?,
            row.try_get("refresh_token").map_err(internal)?,
        );
        let token = match token {
            Some(Ok(token)) => token,
            Some(Err(e)) => {
                tracing::warn!(connection_id = %id, error = %e, "the token cannot be decrypted, so it is not revoked at the provider");
                continue;
            }
            None => continue,
        };
        let rev_id = queue(
            tx,
            state,
            &ToQueue {
                app_id,
                connection_id: &id,
                config_id: &config_id,
                token: &token,
                hint,
                endpoint,
                attempts: 0,
                next_attempt_at: now + FIRST_TRY_GRACE_MS,
            },
        )
        .await?;
        queued.push(rev_id);
    }
    // queued before revocations carried their endpoint: they would be
    // orphans once the configuration is gone
    let legacy = sqlx::query(
        "SELECT id, provider_config_id FROM revocations WHERE app_id = $1 AND ($2 = '' OR provider_config_id = $3) \
         AND revocation_url IS NULL",
    )
    .bind(app_id)
    .bind(only.unwrap_or_default())
    .bind(only.unwrap_or_default())
    .fetch_all(&mut *tx)
    .await
    .map_err(internal)?;
    for row in legacy {
        let id: String = row.try_get("id").map_err(internal)?;
        let config_id: String = row.try_get("provider_config_id").map_err(internal)?;
        let Some(endpoint) = endpoints.get(&config_id) else {
            continue;
        };
        let secret = state
            .keyring
            .encrypt_str(
                endpoint.secret.expose_secret(),
                queued_aad(&id, "client_secret"),
            )
            .map_err(internal)?;
        sqlx::query(
            "UPDATE revocations SET revocation_url = $1, client_auth = $2, client_id = $3, client_secret = $4 WHERE id = $5",
        )
        .bind(&endpoint.url)
        .bind(auth_name(endpoint.client_auth))
        .bind(&endpoint.client_id)
        .bind(secret)
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
    }
    Ok(queued)
}

/// Tries the revocations `ids` now, in the background; what fails waits
/// for the worker.
fn try_soon(state: &Context, ids: Vec<String>) {
    if ids.is_empty() {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        use futures_util::{stream, StreamExt};
        stream::iter(ids)
            .for_each_concurrent(FIRST_TRY_CONCURRENCY, |id| {
                let state = &state;
                async move {
                    let row = sqlx::query(&format!("{QUEUED_SELECT} WHERE id = $1"))
                        .bind(&id)
                        .fetch_optional(state.db.pool())
                        .await;
                    match row {
                        Ok(Some(row)) => {
                            try_row(state, &row).await;
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::error!(revocation_id = %id, error = %e, "reading a queued revocation failed; the worker retries it");
                        }
                    }
                }
            })
            .await;
    });
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
    // reconnect links made before stop working, for good
    crate::store::connect::withdraw_reconnects(&mut *tx, id)
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

// ---- retrying queued revocations ----------------------------------------

const QUEUED_SELECT: &str =
    "SELECT id, app_id, connection_id, provider_config_id, token, token_type_hint, attempts, \
    revocation_url, client_auth, client_id, client_secret FROM revocations";

/// Retries queued revocations that are due; returns how many were settled.
/// A row that cannot be handled is logged and backed off, and the others
/// go on.
pub async fn retry_due(state: &Context) -> Result<usize, CareError> {
    let rows = sqlx::query(&format!(
        "{QUEUED_SELECT} WHERE next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT {BATCH}"
    ))
    .bind(now_ms())
    .fetch_all(state.db.pool())
    .await
    .map_err(internal)?;
    let mut settled = 0;
    for row in rows {
        if try_row(state, &row).await {
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
    /// Where to send it; `None` for rows queued before revocations carried
    /// their endpoint: the configuration's.
    url: Option<String>,
    client_auth: Option<String>,
    client_id: Option<String>,
    client_secret: Option<Vec<u8>>,
}

impl Queued {
    fn read(row: &sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Queued {
            id: row.try_get("id")?,
            app_id: row.try_get("app_id")?,
            connection_id: row.try_get("connection_id")?,
            config_id: row.try_get("provider_config_id")?,
            sealed: row.try_get("token")?,
            hint: row.try_get("token_type_hint")?,
            attempts: row.try_get("attempts")?,
            url: row.try_get("revocation_url")?,
            client_auth: row.try_get("client_auth")?,
            client_id: row.try_get("client_id")?,
            client_secret: row.try_get("client_secret")?,
        })
    }
}

/// Tries one queued row; true when it is settled. Whatever goes wrong
/// stays with this row: it is logged (never with a secret) and the row
/// backed off.
async fn try_row(state: &Context, row: &sqlx::any::AnyRow) -> bool {
    let id: Option<String> = row.try_get("id").ok();
    let result = match Queued::read(row) {
        Ok(queued) => retry(state, &queued).await,
        Err(e) => Err(internal(e)),
    };
    match result {
        Ok(settled) => settled,
        Err(e) => {
            let id = id.unwrap_or_default();
            tracing::error!(revocation_id = %id, error = %e, "a queued revocation failed; it is backed off");
            let attempts: i64 = row.try_get("attempts").unwrap_or(MAX_ATTEMPTS);
            if let Err(e) = back_off(state, &id, attempts).await {
                tracing::error!(revocation_id = %id, error = %e, "backing off a queued revocation failed");
            }
            false
        }
    }
}

/// Counts a failed try of a row that could not be handled, and sets when
/// the next one is due; after [`MAX_ATTEMPTS`] it is dropped.
async fn back_off(state: &Context, id: &str, attempts: i64) -> Result<(), sqlx::Error> {
    if attempts + 1 >= MAX_ATTEMPTS {
        tracing::error!(revocation_id = %id, "a queued revocation failed {MAX_ATTEMPTS} times; it is dropped");
        sqlx::query("DELETE FROM revocations WHERE id = $1")
            .bind(id)
            .execute(state.db.pool())
            .await?;
        return Ok(());
    }
    let wait = Backoff::revocation(state.settings.token_care.backoff_ms).delay_ms(
        attempts + 1,
        None,
        random_u64(),
    );
    sqlx::query(
        "UPDATE revocations SET attempts = attempts + 1, next_attempt_at = $1 WHERE id = $2",
    )
    .bind(now_ms().saturating_add(wait))
    .bind(id)
    .execute(state.db.pool())
    .await?;
    Ok(())
}

/// Sends the revocation, with the endpoint and client it carries (or, for
/// an older row, its configuration's).
async fn attempt(state: &Context, queued: &Queued) -> Result<Outcome, CareError> {
    let Ok(token) = state
        .keyring
        .decrypt_string(&queued.sealed, queued_aad(&queued.id, "token"))
    else {
        return Ok(Outcome::Unreadable);
    };
    let endpoint = match &queued.url {
        Some(url) => {
            let client = (
                queued.client_auth.as_deref().and_then(auth_of),
                &queued.client_id,
                &queued.client_secret,
            );
            let (Some(client_auth), Some(client_id), Some(sealed)) = client else {
                return Ok(Outcome::Unreadable);
            };
            let Ok(secret) = state
                .keyring
                .decrypt_string(sealed, queued_aad(&queued.id, "client_secret"))
            else {
                return Ok(Outcome::Unreadable);
            };
            Some(Endpoint {
                url: url.clone(),
                client_auth,
                client_id: client_id.clone(),
                secret,
            })
        }
        None => Endpoint::of_config(state, &queued.app_id, &queued.config_id).await?,
    };
    Ok(match endpoint {
        Some(endpoint) => revoke_at(state, &endpoint, &token, &queued.hint).await,
        None => Outcome::NotOffered,
    })
}

/// Tries once more; true when the revocation is settled (done, refused,
/// or given up), false when it waits for the next try.
async fn retry(state: &Context, queued: &Queued) -> Result<bool, CareError> {
    let outcome = attempt(state, queued).await?;
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
            let deleted = sqlx::query("DELETE FROM revocations WHERE id = $1")
                .bind(&queued.id)
                .execute(&mut *tx)
                .await
                .map_err(internal)?;
            // settled once, also when the worker and a first try meet
            if deleted.rows_affected() == 1 {
                record_settled(&mut tx, queued, &message).await?;
            }
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
            .bind(now_ms().saturating_add(wait))
            .bind(&queued.id)
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
        }
    }
    tx.commit().await.map_err(internal)?;
    Ok(settled)
}

/// Records what became of a revocation: in the connection's history where
/// the connection still exists, else (its app or configuration was
/// deleted) in the audit log only.
async fn record_settled(
    tx: &mut sqlx::AnyConnection,
    queued: &Queued,
    message: &str,
) -> Result<(), CareError> {
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM connections WHERE id = $1")
        .bind(&queued.connection_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(internal)?;
    if exists.is_some() {
        let event = Event {
            app_id: &queued.app_id,
            connection_id: Some(&queued.connection_id),
            provider_config_id: Some(&queued.config_id),
            end_user_id: None,
            kind: EventKind::Revocation,
            message,
        };
        return record_event(tx, event).await.map_err(internal);
    }
    let entry = Entry::new(
        EventKind::Revocation
            .audit_action()
            .unwrap_or("connection.revocation"),
    )
    .app(None, &queued.app_id)
    .target("connection", &queued.connection_id)
    .detail(message);
    audit::record(tx, &Actor::system(), entry)
        .await
        .map_err(internal)
}
