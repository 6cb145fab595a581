//! Retrying queued revocations: the worker's pass, and the first try
//! after a deletion.

use super::{auth_of, queued_aad, revoke_at, Endpoint, Outcome, MAX_ATTEMPTS};
use crate::{
    domain::backoff::Backoff,
    domain::events::EventKind,
    infra::db::now_ms,
    infra::tokens::random_u64,
    services::context::Context,
    services::tokens::{internal, CareError},
    store::audit::{self as audit, Actor, Entry},
    store::connections::{record_event, Event},
};
use sqlx::Row;

/// Queued revocations the worker takes per pass.
const BATCH: i64 = 20;

pub(super) const QUEUED_SELECT: &str =
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
pub(super) async fn try_row(state: &Context, row: &sqlx::any::AnyRow) -> bool {
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
            let (Some((client_auth, bearer)), Some(client_id), Some(sealed)) = client else {
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
                bearer,
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
