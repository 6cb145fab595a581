//! Apps of an organisation: create, rename, delete, and their settings
//! (allowed return URLs). Every change writes its audit entry in the same
//! transaction. Lookups take the organisation: another organisation's app
//! is indistinguishable from one that does not exist.

use crate::{
    domain::apps::AppSummary,
    infra::db::{new_id, now_ms, Db},
    store::audit::{self, Actor, Entry},
};
use sqlx::Row;

fn summary(row: sqlx::any::AnyRow) -> Result<AppSummary, sqlx::Error> {
    Ok(AppSummary {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        providers: row.try_get("providers")?,
    })
}

const SELECT: &str = "SELECT a.id, a.name, \
    (SELECT COUNT(*) FROM provider_configs p WHERE p.app_id = a.id) AS providers \
    FROM apps a";

pub async fn list(db: &Db, org: &str) -> Result<Vec<AppSummary>, sqlx::Error> {
    sqlx::query(&format!(
        "{SELECT} WHERE a.organisation_id = $1 ORDER BY a.created_at"
    ))
    .bind(org)
    .fetch_all(db.pool())
    .await?
    .into_iter()
    .map(summary)
    .collect()
}

/// The app `id` if it belongs to `org`.
pub async fn find(db: &Db, org: &str, id: &str) -> Result<Option<AppSummary>, sqlx::Error> {
    sqlx::query(&format!(
        "{SELECT} WHERE a.organisation_id = $1 AND a.id = $2"
    ))
    .bind(org)
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    .map(summary)
    .transpose()
}

/// Creates an app in `org`; returns its id.
pub async fn create(db: &Db, actor: &Actor, org: &str, name: &str) -> Result<String, sqlx::Error> {
    let id = new_id("app");
    let now = now_ms();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO apps (id, organisation_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(org)
    .bind(name)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        Entry::new("app.created").app(Some(org), &id).detail(name),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn rename(
    db: &Db,
    actor: &Actor,
    org: &str,
    app_id: &str,
    name: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE apps SET name = $1, updated_at = $2 WHERE id = $3 AND organisation_id = $4",
    )
    .bind(name)
    .bind(now_ms())
    .bind(app_id)
    .bind(org)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        Entry::new("app.renamed")
            .app(Some(org), app_id)
            .detail(name),
    )
    .await?;
    tx.commit().await
}

/// Deletes the app, in the caller's transaction (which first queued the
/// revocation of its connections, `revoking` of them:
/// `services::revocation::delete_app`); its provider configurations (and
/// their sealed secrets), keys and connections go with it through
/// `ON DELETE CASCADE`, in one statement.
pub async fn delete(
    tx: &mut sqlx::AnyConnection,
    actor: &Actor,
    org: &str,
    app: &AppSummary,
    revoking: usize,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM apps WHERE id = $1 AND organisation_id = $2")
        .bind(&app.id)
        .bind(org)
        .execute(&mut *tx)
        .await?;
    let detail = format!(
        "{}; {revoking} connection(s) queued for revocation at the provider",
        app.name
    );
    audit::record(
        tx,
        actor,
        Entry::new("app.deleted")
            .app(Some(org), &app.id)
            .detail(&detail),
    )
    .await
}

/// Replaces the return URLs connect sessions may send end users back to.
pub async fn set_return_urls(
    db: &Db,
    actor: &Actor,
    app_id: &str,
    urls: &[String],
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE apps SET return_urls = $1, updated_at = $2 WHERE id = $3")
        .bind(urls.join("\n"))
        .bind(now_ms())
        .bind(app_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        Entry::new("app.return_urls_changed")
            .app(None, app_id)
            .detail(&urls.join(" ")),
    )
    .await?;
    tx.commit().await
}

/// Whether the app has a webhook signing secret.
pub async fn has_webhook_secret(db: &Db, app_id: &str) -> Result<bool, sqlx::Error> {
    let secret: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT webhook_secret FROM apps WHERE id = $1")
            .bind(app_id)
            .fetch_one(db.pool())
            .await?;
    Ok(secret.is_some())
}
