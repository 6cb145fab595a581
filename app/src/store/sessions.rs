//! Server-side sessions. The cookie holds 256 random bits; the database holds
//! only their SHA-256, so a leaked table cannot be replayed as a cookie.
//! Sessions end after 12 hours without use or 7 days after sign-in, and when
//! the user signs out or is disabled.

use crate::domain::users::{CurrentUser, Role};
use crate::infra::db::{now_ms, Db};
use crate::infra::tokens::{hash_token, random_token};
use axum::http::{header, HeaderMap, HeaderValue};
use sqlx::Row;

pub const IDLE_TIMEOUT_MS: i64 = 12 * 60 * 60 * 1000;
pub const ABSOLUTE_TIMEOUT_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// `last_seen_at` is written at most this often.
const TOUCH_INTERVAL_MS: i64 = 60 * 1000;

/// The cookie name: `__Host-` (bound to this exact origin, Secure, Path=/)
/// whenever the vault is served over https.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-ov_session"
    } else {
        "ov_session"
    }
}

/// The value of cookie `name` in a request's headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub fn set_cookie(name: &str, value: &str, secure: bool, max_age_secs: i64) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn clear_cookie(name: &str, secure: bool) -> HeaderValue {
    set_cookie(name, "", secure, 0)
}

/// Starts a session for `user_id`; returns the cookie value.
pub async fn create(db: &Db, user_id: &str) -> Result<String, sqlx::Error> {
    let token = random_token();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash_token(&token))
    .bind(user_id)
    .bind(now)
    .bind(now)
    .bind(now + ABSOLUTE_TIMEOUT_MS)
    .execute(db.pool())
    .await?;
    Ok(token)
}

/// The user of a live session; expired sessions are removed on sight.
pub async fn lookup(db: &Db, token: &str) -> Result<Option<CurrentUser>, sqlx::Error> {
    let id_hash = hash_token(token);
    let row = sqlx::query(
        "SELECT s.last_seen_at, s.expires_at, u.id, u.email, u.role, u.organisation_id, u.disabled_at \
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
    )
    .bind(&id_hash)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let now = now_ms();
    let last_seen: i64 = row.try_get("last_seen_at")?;
    let expires: i64 = row.try_get("expires_at")?;
    let disabled: Option<i64> = row.try_get("disabled_at")?;
    if now >= expires || now - last_seen >= IDLE_TIMEOUT_MS || disabled.is_some() {
        delete(db, token).await?;
        return Ok(None);
    }
    if now - last_seen >= TOUCH_INTERVAL_MS {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(now)
            .bind(&id_hash)
            .execute(db.pool())
            .await?;
    }
    let role: String = row.try_get("role")?;
    Ok(Some(CurrentUser {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        role: Role::parse(&role).unwrap_or(Role::Developer),
        organisation_id: row.try_get("organisation_id")?,
    }))
}

pub async fn delete(db: &Db, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(hash_token(token))
        .execute(db.pool())
        .await?;
    Ok(())
}

/// The signed-in user of a request, if any.
pub async fn current_user(
    db: &Db,
    headers: &HeaderMap,
    secure: bool,
) -> Result<Option<CurrentUser>, sqlx::Error> {
    match cookie_value(headers, cookie_name(secure)) {
        Some(token) if !token.is_empty() => lookup(db, &token).await,
        _ => Ok(None),
    }
}
