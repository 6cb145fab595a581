//! Provider configurations of an app: client credentials (the secret sealed
//! and bound to its row), scopes and status.

use crate::domain::provider_configs::*;
use crate::{
    domain::provider_form::ConfigInput,
    infra::crypto::{Aad, Keyring},
    infra::db::{new_id, now_ms, Db},
    store::audit::{self as audit, Actor, Entry},
};
use secrecy::ExposeSecret;
use sqlx::Row;

pub const TABLE: &str = "provider_configs";

fn secret_aad(id: &str) -> Aad<'_> {
    Aad::new(TABLE, "client_secret", id)
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("this app already has a configuration with this provider id")]
    Duplicate,
    #[error(transparent)]
    Crypto(#[from] crate::infra::crypto::CryptoError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("settings could not be encoded")]
    Encode,
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Saves a new configuration. `id`: the one its form showed the redirect
/// URI for (a fresh one when `None`).
pub async fn create(
    db: &Db,
    keys: &Keyring,
    app_id: &str,
    id: Option<&str>,
    input: &ConfigInput,
    actor: &Actor,
) -> Result<String, SaveError> {
    let id = id.map_or_else(|| new_id("pc"), str::to_string);
    let secret = input
        .client_secret
        .as_ref()
        .map(|s| s.expose_secret())
        .unwrap_or_default();
    let sealed = keys.encrypt_str(secret, secret_aad(&id))?;
    let custom = input
        .custom
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|_| SaveError::Encode)?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO provider_configs (id, app_id, slug, provider, display_name, client_id, client_secret, scopes, status, custom_settings, created_at, updated_at, parameters) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $10, $11, $12)",
    )
    .bind(&id)
    .bind(app_id)
    .bind(&input.slug)
    .bind(&input.provider)
    .bind(&input.display_name)
    .bind(&input.client_id)
    .bind(sealed)
    .bind(input.scopes.join(" "))
    .bind(custom)
    .bind(now)
    .bind(now)
    .bind(crate::domain::parameters::to_json(&input.parameters))
    .execute(&mut *tx)
    .await
    .map_err(|e| if is_unique_violation(&e) { SaveError::Duplicate } else { e.into() })?;
    audit::record(
        &mut tx,
        actor,
        Entry::new("provider.created")
            .app(None, app_id)
            .target("provider_config", &id)
            .detail(&input.slug),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn update(
    db: &Db,
    keys: &Keyring,
    config_id: &str,
    input: &ConfigInput,
    actor: &Actor,
) -> Result<(), SaveError> {
    let custom = input
        .custom
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|_| SaveError::Encode)?;
    let mut tx = db.begin().await?;
    let before = sqlx::query(
        "SELECT app_id, slug, display_name, client_id, scopes, custom_settings, parameters FROM provider_configs WHERE id = $1",
    )
    .bind(config_id)
    .fetch_one(&mut *tx)
    .await?;
    // Which fields changed: names only, never values.
    let mut changed: Vec<&str> = Vec::new();
    let text = |name: &str| -> Result<Option<String>, sqlx::Error> { before.try_get(name) };
    if text("slug")?.as_deref() != Some(input.slug.as_str()) {
        changed.push("provider id");
    }
    if text("display_name")?.as_deref() != Some(input.display_name.as_str()) {
        changed.push("name");
    }
    if text("client_id")?.as_deref() != Some(input.client_id.as_str()) {
        changed.push("client id");
    }
    if input.client_secret.is_some() {
        changed.push("client secret");
    }
    if text("scopes")?.as_deref() != Some(input.scopes.join(" ").as_str()) {
        changed.push("scopes");
    }
    if text("custom_settings")? != custom {
        changed.push("endpoints and options");
    }
    let parameters = crate::domain::parameters::to_json(&input.parameters);
    if text("parameters")? != parameters {
        changed.push("parameters");
    }
    let app_id: String = before.try_get("app_id")?;
    sqlx::query(
        "UPDATE provider_configs SET slug = $1, display_name = $2, client_id = $3, scopes = $4, custom_settings = $5, updated_at = $6, parameters = $8 WHERE id = $7",
    )
    .bind(&input.slug)
    .bind(&input.display_name)
    .bind(&input.client_id)
    .bind(input.scopes.join(" "))
    .bind(custom)
    .bind(now_ms())
    .bind(config_id)
    .bind(parameters)
    .execute(&mut *tx)
    .await
    .map_err(|e| if is_unique_violation(&e) { SaveError::Duplicate } else { e.into() })?;
    if let Some(secret) = &input.client_secret {
        let sealed = keys.encrypt_str(secret.expose_secret(), secret_aad(config_id))?;
        sqlx::query("UPDATE provider_configs SET client_secret = $1 WHERE id = $2")
            .bind(sealed)
            .bind(config_id)
            .execute(&mut *tx)
            .await?;
    }
    let detail = if changed.is_empty() {
        "nothing changed".to_string()
    } else {
        format!("changed: {}", changed.join(", "))
    };
    audit::record(
        &mut tx,
        actor,
        Entry::new("provider.changed")
            .app(None, &app_id)
            .target("provider_config", config_id)
            .detail(&detail),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn set_status(
    db: &Db,
    app_id: &str,
    config_id: &str,
    status: ConfigStatus,
    actor: &Actor,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE provider_configs SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(now_ms())
        .bind(config_id)
        .execute(&mut *tx)
        .await?;
    let action = match status {
        ConfigStatus::Active => "provider.enabled",
        ConfigStatus::Disabled => "provider.disabled",
    };
    audit::record(
        &mut tx,
        actor,
        Entry::new(action)
            .app(None, app_id)
            .target("provider_config", config_id),
    )
    .await?;
    tx.commit().await
}

/// Deletes the configuration and, through `ON DELETE CASCADE`, its
/// connections, in the caller's transaction (which first queued the
/// revocation of its connections, `revoking` of them:
/// `services::revocation::delete_config`).
pub async fn delete(
    tx: &mut sqlx::AnyConnection,
    app_id: &str,
    config_id: &str,
    actor: &Actor,
    revoking: usize,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM provider_configs WHERE id = $1 AND app_id = $2")
        .bind(config_id)
        .bind(app_id)
        .execute(&mut *tx)
        .await?;
    let detail = format!("{revoking} connection(s) queued for revocation at the provider");
    audit::record(
        tx,
        actor,
        Entry::new("provider.deleted")
            .app(None, app_id)
            .target("provider_config", config_id)
            .detail(&detail),
    )
    .await
}

/// The client secret, for the token exchange.
pub async fn client_secret(
    db: &Db,
    keys: &Keyring,
    config_id: &str,
) -> Result<Option<secrecy::SecretString>, SaveError> {
    let blob: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT client_secret FROM provider_configs WHERE id = $1")
            .bind(config_id)
            .fetch_optional(db.pool())
            .await?;
    blob.map(|b| keys.decrypt_string(&b, secret_aad(config_id)))
        .transpose()
        .map_err(Into::into)
}

fn view(row: sqlx::any::AnyRow, keys: &Keyring) -> Result<ConfigView, sqlx::Error> {
    let id: String = row.try_get("id")?;
    let sealed: Vec<u8> = row.try_get("client_secret")?;
    // Only the last four characters leave this function.
    let secret_last4 = keys
        .decrypt_string(&sealed, secret_aad(&id))
        .map(|s| {
            let chars: Vec<char> = s.expose_secret().chars().collect();
            chars[chars.len().saturating_sub(4)..].iter().collect()
        })
        .unwrap_or_else(|_| "????".to_string());
    let scopes: String = row.try_get("scopes")?;
    let status: String = row.try_get("status")?;
    let custom: Option<String> = row.try_get("custom_settings")?;
    Ok(ConfigView {
        app_id: row.try_get("app_id")?,
        slug: row.try_get("slug")?,
        provider: row.try_get("provider")?,
        display_name: row.try_get("display_name")?,
        client_id: row.try_get("client_id")?,
        secret_last4,
        scopes: scopes.split_whitespace().map(str::to_string).collect(),
        status: if status == "active" {
            ConfigStatus::Active
        } else {
            ConfigStatus::Disabled
        },
        custom: custom.and_then(|c| serde_json::from_str(&c).ok()),
        connections: row.try_get("connections")?,
        legacy_callback: row.try_get::<i64, _>("legacy_callback")? != 0,
        parameters: crate::domain::parameters::from_json(
            row.try_get::<Option<String>, _>("parameters")?.as_deref(),
        ),
        id,
    })
}

const SELECT: &str = "SELECT id, app_id, slug, provider, display_name, client_id, client_secret, scopes, status, custom_settings, legacy_callback, parameters, \
    (SELECT COUNT(*) FROM connections c WHERE c.provider_config_id = provider_configs.id) AS connections FROM provider_configs";

pub async fn list(db: &Db, keys: &Keyring, app_id: &str) -> Result<Vec<ConfigView>, sqlx::Error> {
    sqlx::query(&format!("{SELECT} WHERE app_id = $1 ORDER BY created_at"))
        .bind(app_id)
        .fetch_all(db.pool())
        .await?
        .into_iter()
        .map(|r| view(r, keys))
        .collect()
}

/// The configuration `config_id` of app `app_id` (whose ownership the
/// caller has checked), or `None`.
pub async fn find(
    db: &Db,
    keys: &Keyring,
    app_id: &str,
    config_id: &str,
) -> Result<Option<ConfigView>, sqlx::Error> {
    sqlx::query(&format!("{SELECT} WHERE app_id = $1 AND id = $2"))
        .bind(app_id)
        .bind(config_id)
        .fetch_optional(db.pool())
        .await?
        .map(|r| view(r, keys))
        .transpose()
}

/// Switches a configuration saved before each had its own redirect URI to
/// its own (the developer registered it at the provider).
pub async fn use_own_callback(
    db: &Db,
    app_id: &str,
    config_id: &str,
    actor: &Actor,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE provider_configs SET legacy_callback = 0, updated_at = $1 WHERE app_id = $2 AND id = $3",
    )
    .bind(now_ms())
    .bind(app_id)
    .bind(config_id)
    .execute(&mut *tx)
    .await?;
    crate::store::audit::record(
        &mut tx,
        actor,
        crate::store::audit::Entry::new("provider.redirect_uri_changed")
            .app(None, app_id)
            .target("provider_config", config_id),
    )
    .await?;
    tx.commit().await
}

/// The `(slug, display name)` of an app's configurations, for filters.
pub async fn choices(db: &Db, app_id: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query("SELECT slug, display_name FROM provider_configs WHERE app_id = $1 ORDER BY display_name, slug")
        .bind(app_id)
        .fetch_all(db.pool())
        .await?
        .into_iter()
        .map(|r| Ok((r.try_get("slug")?, r.try_get("display_name")?)))
        .collect()
}
