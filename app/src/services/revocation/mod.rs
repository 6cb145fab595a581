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
    domain::backoff::Backoff,
    domain::events::EventKind,
    domain::provider_configs::ConfigView,
    infra::crypto::Aad,
    infra::db::{new_id, now_ms},
    infra::outbound::OutboundError,
    infra::tokens::random_u64,
    services::context::Context,
    services::oauth::{self, ClientCredentials, ProviderProfile},
    services::tokens::{internal, CareError},
    store::audit::{Actor, Entry},
    store::connections::{record_event, Event},
    store::provider_configs as configs,
};
use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;

mod deletion;
mod retry;

pub use deletion::{delete_app, delete_config};
pub use retry::retry_due;

/// At most this many attempts for a queued revocation.
const MAX_ATTEMPTS: i64 = 10;

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
    /// The access token goes as a bearer token, without a body (not RFC
    /// 7009: Dropbox's endpoint).
    bearer: bool,
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
        let bearer = profile.oauth.revocation_auth == crate::catalogue::RevocationAuth::Bearer;
        // the developer's parameters fill the URL; one that needs a
        // connection's own values is not revoked here
        let url = profile.resolved(&config.parameters).oauth.revocation_url?;
        if ProviderProfile::unfilled(&url).is_some() {
            return None;
        }
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
            bearer,
        })
    }
}

/// How an endpoint's revocation authenticates, as a queued row keeps it.
fn auth_name(endpoint: &Endpoint) -> &'static str {
    match (endpoint.bearer, endpoint.client_auth) {
        (true, _) => "bearer",
        (false, ClientAuth::Basic) => "basic",
        (false, ClientAuth::Body) => "body",
    }
}

/// The client authentication of a queued row, and whether it is a bearer
/// revocation.
fn auth_of(name: &str) -> Option<(ClientAuth, bool)> {
    match name {
        "basic" => Some((ClientAuth::Basic, false)),
        "body" => Some((ClientAuth::Body, false)),
        "bearer" => Some((ClientAuth::Body, true)),
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
    let answer = if endpoint.bearer {
        bearer_post(state, &endpoint.url, token).await
    } else {
        oauth::client_post_as(
            &state.http,
            &endpoint.url,
            endpoint.client_auth,
            &client,
            vec![("token", token.expose_secret()), ("token_type_hint", hint)],
        )
        .await
    };
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

/// A revocation with the access token as a bearer token, without a body.
async fn bearer_post(
    state: &Context,
    url: &str,
    token: &SecretString,
) -> Result<crate::infra::outbound::Fetched, OutboundError> {
    let request = state
        .http
        .request(reqwest::Method::POST, url)?
        .bearer_auth(token.expose_secret());
    state.http.send(request).await
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
    let Some(mut held) = held_tokens(state, app_id, id, false).await? else {
        return Ok(false);
    };
    if held.status == "revoked" {
        return Ok(true);
    }
    let endpoint = match (&held.token, held.unreadable) {
        (Some(_), false) => Endpoint::of_config(state, app_id, &held.config_id).await?,
        _ => None,
    };
    if endpoint.as_ref().is_some_and(|e| e.bearer) {
        // a bearer revocation sends the access token
        match held_tokens(state, app_id, id, true).await? {
            Some(again) => held = again,
            None => return Ok(false),
        }
    }
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
    bearer: bool,
) -> (
    Option<Result<SecretString, crate::infra::crypto::CryptoError>>,
    &'static str,
) {
    let (sealed, column) = match (refresh, access) {
        (_, a) if bearer => (a, "access_token"),
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

async fn held_tokens(
    state: &Context,
    app_id: &str,
    id: &str,
    bearer: bool,
) -> Result<Option<Held>, CareError> {
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
        bearer,
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
    .bind(auth_name(q.endpoint))
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
