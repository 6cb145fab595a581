//! Deleting an app or a provider configuration: every connection it holds
//! gets a queued revocation in the deleting transaction, tried right after
//! the commit.

use super::{
    auth_name, grant_token, queue, queued_aad,
    retry::{try_row, QUEUED_SELECT},
    Endpoint, ToQueue,
};
use crate::{
    domain::apps::AppSummary,
    infra::db::now_ms,
    services::context::Context,
    services::tokens::{internal, CareError},
    store::audit::Actor,
    store::provider_configs as configs,
};
use secrecy::ExposeSecret;
use sqlx::Row;
use std::collections::HashMap;

/// A revocation queued by a deletion is tried right after the commit; the
/// worker takes it over if that try never happened (the process stopped).
const FIRST_TRY_GRACE_MS: i64 = 60_000;
/// Revocations tried at once right after a deletion.
const FIRST_TRY_CONCURRENCY: usize = 8;

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
            endpoint.bearer,
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
    complete_legacy(tx, state, app_id, only, endpoints).await?;
    Ok(queued)
}

/// Completes the app's revocations queued before revocations carried their
/// endpoint: they would be orphans once the configuration is gone.
async fn complete_legacy(
    tx: &mut sqlx::AnyConnection,
    state: &Context,
    app_id: &str,
    only: Option<&str>,
    endpoints: &HashMap<String, Endpoint>,
) -> Result<(), CareError> {
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
        .bind(auth_name(endpoint))
        .bind(&endpoint.client_id)
        .bind(secret)
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
    }
    Ok(())
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
