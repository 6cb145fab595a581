//! Webhooks to the developer, signed per the Standard Webhooks
//! specification: `webhook-id`, `webhook-timestamp` and `webhook-signature:
//! v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` under the app's
//! `whsec_…` secret.
//!
//! Events are written to an outbox (`webhook_deliveries`) in the same
//! transaction as the event they report, so none is lost on a crash; the
//! background worker delivers them, retrying failures with growing delays
//! (6 attempts over about 14 hours, [`Backoff::WEBHOOKS`]), and logs every
//! attempt.

use crate::{
    domain::backoff::Backoff,
    infra::crypto::Aad,
    infra::db::{new_id, now_ms},
    infra::tokens::random_u64,
    services::context::Context,
    services::InternalError,
    store::audit::{self as audit, Actor, Entry},
};
use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use hmac::{Hmac, Mac};
use reqwest::{header, Method};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use sqlx::Row;

/// Attempts per message before it is given up; the waits between them
/// follow [`Backoff::WEBHOOKS`].
const MAX_ATTEMPTS: i64 = 6;

/// Why an attempt failed, as its delivery log says.
#[derive(Debug, thiserror::Error)]
enum DeliveryFailure {
    #[error("no signing secret: generate one in the portal")]
    NoSecret,
    #[error("no endpoint configured")]
    NoEndpoint,
    #[error("the signing secret is invalid")]
    BadSecret,
    #[error("{0}")]
    Outbound(#[from] crate::infra::outbound::OutboundError),
}
pub const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: `whsec_` and 24 random bytes, base64.
pub fn generate_secret() -> SecretString {
    use aes_gcm::aead::{rand_core::RngCore, OsRng};
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    SecretString::from(format!("{SECRET_PREFIX}{}", B64.encode(bytes)))
}

/// `v1,<signature>` of a message.
pub fn sign(secret: &SecretString, id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = B64
        .decode(secret.expose_secret().trim_start_matches(SECRET_PREFIX))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Some(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

fn secret_aad(app_id: &str) -> Aad<'_> {
    Aad::new("apps", "webhook_secret", app_id)
}

/// The app's endpoint and secret, if set.
pub async fn endpoint(
    state: &Context,
    app_id: &str,
) -> Result<Option<(String, Option<SecretString>)>, InternalError> {
    let row = sqlx::query("SELECT webhook_url, webhook_secret FROM apps WHERE id = $1")
        .bind(app_id)
        .fetch_optional(state.db.pool())
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let url: Option<String> = row.try_get("webhook_url")?;
    let sealed: Option<Vec<u8>> = row.try_get("webhook_secret")?;
    let secret = sealed
        .map(|s| state.keyring.decrypt_string(&s, secret_aad(app_id)))
        .transpose()?;
    Ok(url.filter(|u| !u.is_empty()).map(|u| (u, secret)))
}

/// Sets the endpoint (None removes it).
pub async fn set_endpoint(
    state: &Context,
    app_id: &str,
    url: Option<&str>,
    actor: &Actor,
) -> Result<(), sqlx::Error> {
    let mut tx = state.db.begin().await?;
    sqlx::query("UPDATE apps SET webhook_url = $1, updated_at = $2 WHERE id = $3")
        .bind(url)
        .bind(now_ms())
        .bind(app_id)
        .execute(&mut *tx)
        .await?;
    let entry = Entry::new("webhook.endpoint_set").app(None, app_id);
    let entry = match url {
        Some(url) => entry.detail(url),
        None => entry.detail("removed"),
    };
    audit::record(&mut tx, actor, entry).await?;
    tx.commit().await
}

/// Makes a new signing secret, stores it sealed and returns it (shown once).
pub async fn rotate_secret(
    state: &Context,
    app_id: &str,
    actor: &Actor,
) -> Result<SecretString, InternalError> {
    let secret = generate_secret();
    let sealed = state
        .keyring
        .encrypt_str(secret.expose_secret(), secret_aad(app_id))?;
    let done = async {
        let mut tx = state.db.begin().await?;
        sqlx::query("UPDATE apps SET webhook_secret = $1, updated_at = $2 WHERE id = $3")
            .bind(sealed)
            .bind(now_ms())
            .bind(app_id)
            .execute(&mut *tx)
            .await?;
        audit::record(
            &mut tx,
            actor,
            Entry::new("webhook.secret_rotated").app(None, app_id),
        )
        .await?;
        tx.commit().await
    }
    .await;
    done?;
    Ok(secret)
}

/// Queues a `test` event, to check the endpoint.
pub async fn send_test(state: &Context, app_id: &str) -> Result<Option<String>, sqlx::Error> {
    let mut conn = state.db.pool().acquire().await?;
    crate::store::outbox::enqueue(
        &mut conn,
        app_id,
        "test",
        serde_json::json!({ "message": "A test event from OAuth Vault" }),
    )
    .await
}

/// Delivers due webhooks; returns (delivered, failed attempts). A message
/// that cannot be handled (its app's secret does not open, its row is
/// broken) is logged, counted as a failed attempt and backed off; the
/// other apps' messages go on.
pub async fn deliver_due(state: &Context) -> Result<(usize, usize), InternalError> {
    let now = now_ms();
    let due = sqlx::query(
        "SELECT id, app_id, payload, attempts FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
         ORDER BY next_attempt_at LIMIT 20",
    )
    .bind(now)
    .fetch_all(state.db.pool())
    .await?;
    let (mut delivered, mut failed) = (0, 0);
    for row in due {
        match deliver(state, &row).await {
            Ok(true) => delivered += 1,
            Ok(false) => failed += 1,
            Err(e) => {
                failed += 1;
                let id: String = row.try_get("id").unwrap_or_default();
                tracing::error!(delivery_id = %id, error = %e, "a webhook delivery failed on our side; it is backed off");
                let attempts: i64 = row.try_get("attempts").unwrap_or(MAX_ATTEMPTS);
                let failure = Err("failed on our side; see the server log".to_string());
                if let Err(e) = record_attempt(state, &id, None, attempts, failure).await {
                    tracing::error!(delivery_id = %id, error = %e, "backing off a webhook delivery failed");
                }
            }
        }
    }
    Ok((delivered, failed))
}

/// One attempt at one message; true when it was delivered.
#[tracing::instrument(name = "webhook.delivery", skip_all, fields(delivery_id = tracing::field::Empty, delivered = tracing::field::Empty))]
async fn deliver(state: &Context, row: &sqlx::any::AnyRow) -> Result<bool, InternalError> {
    let id: String = row.try_get("id")?;
    tracing::Span::current().record("delivery_id", id.as_str());
    let app_id: String = row.try_get("app_id")?;
    let payload: String = row.try_get("payload")?;
    let attempts: i64 = row.try_get("attempts")?;
    let outcome = match endpoint(state, &app_id).await {
        Ok(Some((url, Some(secret)))) => post(state, &url, &secret, &id, &payload).await,
        Ok(Some((_, None))) => Err(DeliveryFailure::NoSecret),
        Ok(None) => Err(DeliveryFailure::NoEndpoint),
        Err(InternalError::Crypto(_)) => Err(DeliveryFailure::BadSecret),
        Err(e) => return Err(e),
    };
    let outcome = match outcome {
        Ok(code) => Ok(code),
        Err(e) => Err(e.to_string()),
    };
    let delivered = record_attempt(state, &id, Some(&app_id), attempts, outcome).await?;
    tracing::Span::current().record("delivered", delivered);
    Ok(delivered)
}

/// Logs attempt `attempts + 1` of message `id` and sets its status and
/// next attempt; true when it was delivered.
async fn record_attempt(
    state: &Context,
    id: &str,
    app_id: Option<&str>,
    attempts: i64,
    outcome: Result<u16, String>,
) -> Result<bool, InternalError> {
    let attempt = attempts + 1;
    let now = now_ms();
    let (code, error) = match outcome {
        Ok(code) => (Some(code), None),
        Err(e) => (None, Some(e)),
    };
    let success = code.is_some_and(|c| (200..300).contains(&c));
    let next_delay =
        (attempt < MAX_ATTEMPTS).then(|| Backoff::WEBHOOKS.delay_ms(attempt, None, random_u64()));
    let status = match (success, next_delay) {
        (true, _) => "delivered",
        (false, Some(_)) => "pending",
        (false, None) => "failed",
    };
    // an attempt: delivered, failed (tried again later) or given up
    let outcome = match status {
        "delivered" => "delivered",
        "pending" => "failed",
        _ => "gave_up",
    };
    metrics::counter!("oauth_vault_webhook_deliveries_total", "outcome" => outcome).increment(1);
    let mut tx = state.db.begin().await?;
    let app_id: Option<String> = match app_id {
        Some(app) => Some(app.to_string()),
        None => {
            sqlx::query_scalar("SELECT app_id FROM webhook_deliveries WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
        }
    };
    if let Some(app_id) = &app_id {
        sqlx::query(
            "INSERT INTO webhook_attempts (id, delivery_id, app_id, attempt, at, status_code, error) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new_id("wa"))
        .bind(id)
        .bind(app_id)
        .bind(attempt)
        .bind(now)
        .bind(code.map(i64::from))
        .bind(error.as_deref())
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, last_status_code = $4, delivered_at = $5 WHERE id = $6",
    )
    .bind(status)
    .bind(attempt)
    .bind(now + next_delay.unwrap_or(0))
    .bind(code.map(i64::from))
    .bind(success.then_some(now))
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(success)
}

async fn post(
    state: &Context,
    url: &str,
    secret: &SecretString,
    id: &str,
    payload: &str,
) -> Result<u16, DeliveryFailure> {
    let timestamp = now_ms() / 1000;
    let signature = sign(secret, id, timestamp, payload).ok_or(DeliveryFailure::BadSecret)?;
    let request = state
        .http
        .request(Method::POST, url)?
        .header(header::CONTENT_TYPE, "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(payload.to_string());
    state
        .http
        .send(request)
        .await
        .map(|f| f.status.as_u16())
        .map_err(DeliveryFailure::from)
}

/// One delivery attempt, for the portal's log.
#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub id: String,
    pub at: i64,
    pub event_type: String,
    pub attempt: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
}

/// Page `page` of an app's delivery attempts, newest first, up to
/// `limit` and whether there are more.
pub async fn recent_attempts(
    state: &Context,
    app_id: &str,
    limit: i64,
    page: &crate::domain::paging::PageAt,
) -> Result<(Vec<AttemptRow>, bool), sqlx::Error> {
    let mut conditions = crate::infra::db::Where::default();
    conditions.text(" AND a.app_id = ?", app_id);
    let order = crate::store::paging::keyset(&mut conditions, page, "a.at", "a.id", limit);
    let sql = format!(
        "SELECT a.id, a.at, d.event_type, a.attempt, a.status_code, a.error FROM webhook_attempts a \
         JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE 1 = 1{}{order}",
        conditions.sql()
    );
    let rows = conditions
        .bind(sqlx::query(&sql))
        .fetch_all(state.db.pool())
        .await?
        .into_iter()
        .map(|r| {
            Ok(AttemptRow {
                id: r.try_get("id")?,
                at: r.try_get("at")?,
                event_type: r.try_get("event_type")?,
                attempt: r.try_get("attempt")?,
                status_code: r.try_get("status_code")?,
                error: r.try_get("error")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(crate::domain::paging::trim(rows, page, limit))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_standard_webhooks() {
        // the example of the Standard Webhooks specification
        let secret = SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string());
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(generate_secret().expose_secret().starts_with("whsec_"));
    }
}
