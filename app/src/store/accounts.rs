//! Accounts in the database: sign-up creates the organisation and the user in
//! one transaction; the first account of an empty instance becomes admin.

use crate::domain::users::Role;
use crate::infra::db::{new_id, now_ms, Db};
use sqlx::Row;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub struct NewAccount {
    pub user_id: String,
    pub role: Role,
}

/// Creates an account with its own organisation. The first account of an
/// instance is an admin; `admin` makes any new account one (the operator CLI).
pub async fn create_account(
    db: &Db,
    email: &str,
    password_hash: &str,
    admin: bool,
) -> Result<NewAccount, AccountError> {
    let mut tx = db.pool().begin().await?;
    let taken: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(&mut *tx)
        .await?;
    if taken.is_some() {
        return Err(AccountError::EmailTaken);
    }
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *tx)
        .await?;
    let role = if admin || users == 0 {
        Role::Admin
    } else {
        Role::Developer
    };
    let now = now_ms();
    let org_id = new_id("org");
    let user_id = new_id("usr");
    sqlx::query("INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(&org_id)
        .bind(email)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO users (id, email, password_hash, role, organisation_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&user_id)
    .bind(email)
    .bind(password_hash)
    .bind(role.as_str())
    .bind(&org_id)
    .bind(now)
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {}
        // two sign-ups racing for one address: the unique index decides
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(AccountError::EmailTaken)
        }
        Err(e) => return Err(e.into()),
    }
    let actor = if admin {
        crate::store::audit::Actor::operator()
    } else {
        crate::store::audit::Actor {
            kind: "developer",
            id: Some(user_id.clone()),
            label: Some(email.to_string()),
        }
    };
    crate::store::audit::record(
        &mut tx,
        &actor,
        crate::store::audit::Entry::new(if admin {
            "user.created_admin"
        } else {
            "user.signed_up"
        })
        .target("user", &user_id)
        .detail(email),
    )
    .await?;
    tx.commit().await?;
    Ok(NewAccount { user_id, role })
}

pub struct StoredCredentials {
    pub user_id: String,
    pub password_hash: String,
    pub disabled: bool,
}

pub async fn credentials(db: &Db, email: &str) -> Result<Option<StoredCredentials>, sqlx::Error> {
    let row = sqlx::query("SELECT id, password_hash, disabled_at FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| {
        Ok(StoredCredentials {
            user_id: r.try_get("id")?,
            password_hash: r.try_get("password_hash")?,
            disabled: r.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
        })
    })
    .transpose()
}

pub async fn record_login(db: &Db, user_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(user_id)
        .execute(db.pool())
        .await?;
    Ok(())
}
