use crate::domain::api_keys::*;
use crate::{
    infra::cache::TtlCache,
    infra::db::{new_id, now_ms, Db},
    infra::tokens::{hash_token, random_token},
    store::audit::{self as audit, Actor, Entry},
};
use secrecy::SecretString;
use sqlx::Row;
use subtle::ConstantTimeEq;

/// Length of the prefix kept for display (`ovk_` and 8 characters).
const SHOWN: usize = KEY_PREFIX.len() + 8;
/// `last_used_at` is written at most this often per key.
const TOUCH_INTERVAL_MS: i64 = 60 * 1000;

/// Who called `/v1`.
#[derive(Clone, Debug)]
pub struct ApiCaller {
    pub key_id: String,
    pub app_id: String,
    /// The app's organisation, for audit entries.
    pub organisation_id: String,
}

/// Creates a key; returns its id and the key itself, which exists only
/// in this answer.
pub async fn create(
    db: &Db,
    app_id: &str,
    name: &str,
    actor: &Actor,
) -> Result<(String, SecretString), sqlx::Error> {
    let key = format!("{KEY_PREFIX}{}", random_token());
    let id = new_id("key");
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO api_keys (id, app_id, name, prefix, key_hash, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(app_id)
    .bind(name)
    .bind(&key[..SHOWN])
    .bind(hash_token(&key))
    .bind(actor.id.as_deref().unwrap_or(actor.kind))
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        Entry::new("api_key.created")
            .app(None, app_id)
            .target("api_key", &id)
            .detail(name),
    )
    .await?;
    tx.commit().await?;
    Ok((id, SecretString::from(key)))
}

/// Page `page` of an app's keys, newest first (`revoked`: only revoked
/// keys, or only live ones), up to `limit` and whether there are more.
pub async fn page_of(
    db: &Db,
    app_id: &str,
    revoked: Option<bool>,
    limit: i64,
    page: &crate::domain::paging::PageAt,
) -> Result<(Vec<ApiKeyView>, bool), sqlx::Error> {
    let mut conditions = crate::infra::db::Where::default();
    conditions.text(" AND app_id = ?", app_id);
    match revoked {
        Some(true) => conditions.raw(" AND revoked_at IS NOT NULL"),
        Some(false) => conditions.raw(" AND revoked_at IS NULL"),
        None => {}
    }
    crate::store::paging::fetch_page(
        db,
        "SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys WHERE 1 = 1",
        conditions,
        page,
        ("created_at", "id"),
        limit,
        |row| {
            Ok(ApiKeyView {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                prefix: row.try_get("prefix")?,
                created_at: row.try_get("created_at")?,
                last_used_at: row.try_get("last_used_at")?,
                revoked_at: row.try_get("revoked_at")?,
            })
        },
    )
    .await
}

/// Revokes key `key_id` of `app_id`; false if there is no such live key.
pub async fn revoke(
    db: &Db,
    app_id: &str,
    key_id: &str,
    actor: &Actor,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND app_id = $3 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(key_id)
    .bind(app_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    audit::record(
        &mut tx,
        actor,
        Entry::new("api_key.revoked")
            .app(None, app_id)
            .target("api_key", key_id),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The caller a presented key stands for, if it is a live key.
pub async fn authenticate(db: &Db, presented: &str) -> Result<Option<ApiCaller>, sqlx::Error> {
    if !presented.starts_with(KEY_PREFIX) || presented.len() > 200 {
        return Ok(None);
    }
    let hash = hash_token(presented);
    let row = sqlx::query(
        "SELECT k.id, k.app_id, k.key_hash, k.last_used_at, a.organisation_id FROM api_keys k JOIN apps a ON a.id = k.app_id \
         WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
    )
    .bind(&hash)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let stored: String = row.try_get("key_hash")?;
    if !bool::from(stored.as_bytes().ct_eq(hash.as_bytes())) {
        return Ok(None);
    }
    let caller = ApiCaller {
        key_id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        organisation_id: row.try_get("organisation_id")?,
    };
    let last_used: Option<i64> = row.try_get("last_used_at")?;
    let now = now_ms();
    if last_used.is_none_or(|t| now - t > TOUCH_INTERVAL_MS) {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&caller.key_id)
            .execute(db.pool())
            .await?;
    }
    Ok(Some(caller))
}

/// [`authenticate`] through the short-lived cache of known keys (keyed
/// by the key's hash; unknown keys always ask the database).
pub async fn authenticate_cached(
    db: &Db,
    cache: &TtlCache<String, ApiCaller>,
    presented: &str,
) -> Result<Option<ApiCaller>, sqlx::Error> {
    if !presented.starts_with(KEY_PREFIX) || presented.len() > 200 {
        return Ok(None);
    }
    let hash = hash_token(presented);
    if let Some(hit) = cache.get(&hash) {
        return Ok(Some(ApiCaller::clone(&hit)));
    }
    let generation = cache.generation();
    let caller = authenticate(db, presented).await?;
    if let Some(c) = &caller {
        cache.insert(hash, std::sync::Arc::new(c.clone()), generation);
    }
    Ok(caller)
}

/// The bearer credential of an `Authorization` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, value) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| value.trim())
}
