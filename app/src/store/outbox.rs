//! The webhook outbox: messages for the app's endpoint, written in the
//! transaction of the event they report so that none is lost on a crash.
//! Only the delivery service ([`crate::services::webhooks`]) reads it.

use crate::infra::db::{new_id, now_ms};

/// Queues `event_type` with `data` for the app, if it has an endpoint. Runs
/// on the caller's connection, inside its transaction.
pub async fn enqueue(
    conn: &mut sqlx::AnyConnection,
    app_id: &str,
    event_type: &str,
    data: serde_json::Value,
) -> Result<Option<String>, sqlx::Error> {
    let url: Option<Option<String>> =
        sqlx::query_scalar("SELECT webhook_url FROM apps WHERE id = $1")
            .bind(app_id)
            .fetch_optional(&mut *conn)
            .await?;
    if url.flatten().is_none_or(|u| u.is_empty()) {
        return Ok(None);
    }
    let id = new_id("msg");
    let now = now_ms();
    // the connection it is about, for that connection's page
    let connection_id = data
        .get("connection_id")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let payload = serde_json::json!({
        "type": event_type,
        "timestamp": crate::util::time::rfc3339(now),
        "data": data,
    })
    .to_string();
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, app_id, event_type, payload, status, attempts, next_attempt_at, created_at, connection_id) \
         VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $7)",
    )
    .bind(&id)
    .bind(app_id)
    .bind(event_type)
    .bind(payload)
    .bind(now)
    .bind(now)
    .bind(connection_id)
    .execute(&mut *conn)
    .await?;
    Ok(Some(id))
}
