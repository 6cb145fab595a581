//! Sign-in throttling, per account and per client address, kept in the
//! database so that it holds across server processes.

use crate::infra::db::{now_ms, Db};

/// The window failures are counted in.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;
/// Failed sign-ins allowed per account in the window.
pub const PER_ACCOUNT: i64 = 5;
/// Failed sign-ins allowed per client address in the window.
pub const PER_ADDRESS: i64 = 20;

fn account_key(email: &str) -> String {
    format!("email:{email}")
}

fn address_key(address: &str) -> String {
    format!("ip:{address}")
}

/// Minutes until another attempt is allowed, when either limit is reached.
pub async fn blocked_for(db: &Db, email: &str, address: &str) -> Result<Option<i64>, sqlx::Error> {
    let since = now_ms() - WINDOW_MS;
    for (key, limit) in [
        (account_key(email), PER_ACCOUNT),
        (address_key(address), PER_ADDRESS),
    ] {
        let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(at) FROM login_failures WHERE subject = $1 AND at > $2",
        )
        .bind(&key)
        .bind(since)
        .fetch_one(db.pool())
        .await?;
        if count >= limit {
            let wait_ms = oldest.unwrap_or(since) + WINDOW_MS - now_ms();
            return Ok(Some((wait_ms / 60_000 + 1).max(1)));
        }
    }
    Ok(None)
}

pub async fn record_failure(db: &Db, email: &str, address: &str) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    for key in [account_key(email), address_key(address)] {
        sqlx::query("INSERT INTO login_failures (subject, at) VALUES ($1, $2)")
            .bind(key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    // keep the table small
    sqlx::query("DELETE FROM login_failures WHERE at < $1")
        .bind(now - WINDOW_MS)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// A successful sign-in clears the account's failures.
pub async fn clear_account(db: &Db, email: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE subject = $1")
        .bind(account_key(email))
        .execute(db.pool())
        .await?;
    Ok(())
}
