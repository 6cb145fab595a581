//! Throttling of sign-in, sign-up, setup and account links, per account and
//! per client address, kept in the database so that it holds across server
//! processes.
//!
//! An attempt is recorded *before* the password (or link) is checked, and
//! the count is read after the record is committed. Of N simultaneous
//! attempts at most `max` get through, however they interleave: the last of
//! any `max + 1` of them to count sees all their records. Refused attempts
//! count too: after a burst of guesses, even the right password waits until
//! the window has passed. An attempt that succeeds takes its record back,
//! and a successful sign-in clears the account's failures.

use crate::infra::db::{now_ms, Db};
use crate::infra::tokens::random_u64;

/// The window attempts are counted in.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;
/// Failed sign-ins allowed per account in the window.
pub const PER_ACCOUNT: i64 = 5;
/// Failed sign-ins, setups or link uses allowed per client address in the
/// window.
pub const PER_ADDRESS: i64 = 20;

/// One counter and its limit within the window.
#[derive(Debug, Clone)]
pub struct Limit {
    key: String,
    max: i64,
}

impl Limit {
    /// Failed sign-ins of one account.
    pub fn account(email: &str) -> Self {
        Self {
            key: format!("email:{email}"),
            max: PER_ACCOUNT,
        }
    }

    /// Failed sign-ins from one client address bucket.
    pub fn sign_in_from(bucket: &str) -> Self {
        Self {
            key: format!("ip:{bucket}"),
            max: PER_ADDRESS,
        }
    }

    /// Sign-ups from one client address bucket (each counts, successful or not).
    pub fn sign_up_from(bucket: &str, max: i64) -> Self {
        Self {
            key: format!("signup:{bucket}"),
            max,
        }
    }

    /// Uses of setup, invitation and reset links from one address bucket.
    pub fn link_use_from(bucket: &str) -> Self {
        Self {
            key: format!("link:{bucket}"),
            max: PER_ADDRESS,
        }
    }
}

/// The records of an attempt that was let through.
#[derive(Debug)]
pub struct Attempt {
    ids: Vec<i64>,
}

/// Whether an attempt may go ahead.
#[derive(Debug)]
pub enum Admission {
    Allowed(Attempt),
    /// Refused; another attempt is allowed in about this many minutes.
    Blocked {
        minutes: i64,
    },
}

/// Records an attempt against every limit, then checks them.
pub async fn admit(db: &Db, limits: &[Limit]) -> Result<Admission, sqlx::Error> {
    let now = now_ms();
    let since = now - WINDOW_MS;
    if random_u64().is_multiple_of(64) {
        // keep the table small
        sqlx::query("DELETE FROM login_failures WHERE at <= $1")
            .bind(since)
            .execute(db.pool())
            .await?;
    }
    let mut ids = Vec::with_capacity(limits.len());
    for limit in limits {
        // committed on its own, so that simultaneous attempts see it
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO login_failures (subject, at) VALUES ($1, $2) RETURNING id",
        )
        .bind(&limit.key)
        .bind(now)
        .fetch_one(db.pool())
        .await?;
        ids.push(id);
    }
    let attempt = Attempt { ids };
    for limit in limits {
        let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(at) FROM login_failures WHERE subject = $1 AND at > $2",
        )
        .bind(&limit.key)
        .bind(since)
        .fetch_one(db.pool())
        .await?;
        if count > limit.max {
            let wait_ms = (oldest.unwrap_or(now) + WINDOW_MS - now_ms()).max(0);
            return Ok(Admission::Blocked {
                minutes: (wait_ms / 60_000 + 1).max(1),
            });
        }
    }
    Ok(Admission::Allowed(attempt))
}

/// Takes an attempt's records back: it succeeded, and does not count.
pub async fn withdraw(db: &Db, attempt: Attempt) -> Result<(), sqlx::Error> {
    for id in attempt.ids {
        sqlx::query("DELETE FROM login_failures WHERE id = $1")
            .bind(id)
            .execute(db.pool())
            .await?;
    }
    Ok(())
}

/// A successful sign-in: the attempt does not count, and the account's
/// earlier failures are forgotten.
pub async fn signed_in(db: &Db, attempt: Attempt, email: &str) -> Result<(), sqlx::Error> {
    withdraw(db, attempt).await?;
    sqlx::query("DELETE FROM login_failures WHERE subject = $1")
        .bind(Limit::account(email).key)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// The message for a refused attempt.
pub fn blocked_message(what: &str, minutes: i64) -> String {
    format!(
        "Too many {what}. Wait {minutes} minute{} and try again.",
        if minutes == 1 { "" } else { "s" }
    )
}
