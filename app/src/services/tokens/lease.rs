//! The per-connection lease that makes a refresh happen once across every
//! process sharing the database.

use crate::infra::db::{now_ms, Db};

pub(super) async fn take_lease(
    db: &Db,
    id: &str,
    owner: &str,
    lease_ms: i64,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE connections SET lease_owner = $1, lease_until = $2 WHERE id = $3 AND (lease_owner IS NULL OR lease_until < $4)",
    )
    .bind(owner)
    .bind(now + lease_ms)
    .bind(id)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Keeps the lease while its holder works: `lease_ms` from now.
pub(super) async fn extend_lease(
    db: &Db,
    id: &str,
    owner: &str,
    lease_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE connections SET lease_until = $1 WHERE id = $2 AND lease_owner = $3")
        .bind(now_ms() + lease_ms)
        .bind(id)
        .bind(owner)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Records that the holder is calling the provider now.
pub(super) async fn mark_in_flight(db: &Db, id: &str, owner: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE connections SET refresh_started_at = $1 WHERE id = $2 AND lease_owner = $3",
    )
    .bind(now_ms())
    .bind(id)
    .bind(owner)
    .execute(db.pool())
    .await?;
    Ok(())
}

pub(super) async fn release_lease(db: &Db, id: &str, owner: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE connections SET lease_owner = NULL, lease_until = NULL, refresh_started_at = NULL WHERE id = $1 AND lease_owner = $2",
    )
    .bind(id)
    .bind(owner)
    .execute(db.pool())
    .await?;
    Ok(())
}
