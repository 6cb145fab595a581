//! Accounts as the admin area manages them: the list, and disabling,
//! enabling, granting and revoking administrator rights under the rules of
//! [`crate::domain::users::check_user_action`], in one transaction with the
//! audit entry.

use crate::{
    domain::admin::UserRow,
    domain::users::{check_user_action, Role, UserAction},
    infra::db::{now_ms, Db},
    store::audit::{self, Actor, Entry},
};
use sqlx::Row;

pub async fn list(db: &Db) -> Result<Vec<UserRow>, sqlx::Error> {
    sqlx::query("SELECT id, email, role, disabled_at, last_login_at, created_at FROM users ORDER BY created_at")
        .fetch_all(db.pool())
        .await?
        .into_iter()
        .map(|r| {
            Ok(UserRow {
                id: r.try_get("id")?,
                email: r.try_get("email")?,
                role: r.try_get("role")?,
                disabled: r.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
                last_login_at: r.try_get("last_login_at")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// What became of a change.
#[derive(Debug, PartialEq, Eq)]
pub enum UserChange {
    Done,
    NotFound,
    /// A rule refused it; the message says which.
    Refused(&'static str),
}

/// Applies `action` to user `target_id` on behalf of administrator
/// `acting_user_id`.
pub async fn apply(
    db: &Db,
    actor: &Actor,
    acting_user_id: &str,
    target_id: &str,
    action: UserAction,
) -> Result<UserChange, sqlx::Error> {
    let mut tx = db.begin().await?;
    let target: Option<(String, String)> =
        sqlx::query_as("SELECT email, role FROM users WHERE id = $1")
            .bind(target_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((email, role)) = target else {
        return Ok(UserChange::NotFound);
    };
    let other_admins: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL AND id <> $1",
    )
    .bind(target_id)
    .fetch_one(&mut *tx)
    .await?;
    let role = Role::parse(&role).unwrap_or(Role::Developer);
    if let Err(message) = check_user_action(action, acting_user_id, target_id, role, other_admins) {
        return Ok(UserChange::Refused(message));
    }
    match action {
        UserAction::Disable => {
            sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
                .bind(now_ms())
                .bind(target_id)
                .execute(&mut *tx)
                .await?;
            // their sessions end at once
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(target_id)
                .execute(&mut *tx)
                .await?;
        }
        UserAction::Enable => {
            sqlx::query("UPDATE users SET disabled_at = NULL WHERE id = $1")
                .bind(target_id)
                .execute(&mut *tx)
                .await?;
        }
        UserAction::Grant | UserAction::Revoke => {
            let role = if action == UserAction::Grant {
                Role::Admin
            } else {
                Role::Developer
            };
            sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
                .bind(role.as_str())
                .bind(target_id)
                .execute(&mut *tx)
                .await?;
        }
    }
    audit::record(
        &mut tx,
        actor,
        Entry::new(action.audit_action())
            .target("user", target_id)
            .detail(&email),
    )
    .await?;
    tx.commit().await?;
    Ok(UserChange::Done)
}
