//! Counts of stored state for the metrics: connections by status, the
//! refresh backlog, the webhook outbox and pending revocations.

use crate::{domain::connections::ConnectionStatus, infra::db::Db};
use sqlx::Row;

/// One sample.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stored {
    /// `(status, count)` for every status, zero included: a gauge of a
    /// status that has emptied must fall to 0, not keep its last count.
    pub connections: Vec<(&'static str, i64)>,
    /// Connections whose refresh is due now.
    pub refresh_due: i64,
    /// How long the longest-waiting due refresh has waited (ms).
    pub oldest_due_ms: i64,
    /// Webhook deliveries still to be sent.
    pub outbox: i64,
    /// Revocations at providers still to be sent.
    pub revocations: i64,
}

/// Samples the stored state at `now`; a refresh is due `margin_ms` before
/// its token expires (as the refresh engine sees it).
pub async fn sample(db: &Db, now: i64, margin_ms: i64) -> Result<Stored, sqlx::Error> {
    let pool = db.pool();
    let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM connections GROUP BY status")
        .fetch_all(pool)
        .await?;
    let mut connections: Vec<(&'static str, i64)> = ConnectionStatus::ALL
        .iter()
        .map(|status| (status.as_str(), 0))
        .collect();
    for row in rows {
        let status = row.try_get::<String, _>("status")?;
        let n = row.try_get::<i64, _>("n")?;
        if let Some(slot) = connections.iter_mut().find(|(s, _)| *s == status) {
            slot.1 += n;
        }
    }
    let due = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(expires_at) AS first FROM connections \
         WHERE status IN ('active', 'error') AND refresh_token IS NOT NULL AND expires_at IS NOT NULL \
         AND expires_at <= $1 AND (next_attempt_at IS NULL OR next_attempt_at <= $2)",
    )
    .bind(now.saturating_add(margin_ms))
    .bind(now)
    .fetch_one(pool)
    .await?;
    let refresh_due: i64 = due.try_get("n")?;
    let first: Option<i64> = due.try_get("first")?;
    let oldest_due_ms = first.map_or(0, |at| (now - (at - margin_ms)).max(0));
    let outbox: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'")
            .fetch_one(pool)
            .await?;
    let revocations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM revocations")
        .fetch_one(pool)
        .await?;
    Ok(Stored {
        connections,
        refresh_due,
        oldest_due_ms,
        outbox,
        revocations,
    })
}
