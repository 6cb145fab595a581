//! Storing what an authorization brought: a new connection, or the same
//! end user, configuration and account again (a reconnect), in one
//! transaction with the connect session's use and the event.

use crate::{
    domain::events::EventKind,
    domain::grants::{AccountIdentity, TokenSet},
    infra::crypto::Keyring,
    infra::db::{new_id, now_ms, Db},
    store::connections::{access_aad, record_event, refresh_aad, Event, StoreError},
};
use secrecy::ExposeSecret;

/// What the callback learned, to be stored.
pub struct Authorized<'a> {
    pub app_id: &'a str,
    pub provider_config_id: &'a str,
    pub session_id: &'a str,
    pub end_user_id: &'a str,
    pub end_user_name: Option<&'a str>,
    pub end_user_email: Option<&'a str>,
    pub account: &'a AccountIdentity,
    pub tokens: &'a TokenSet,
    /// Scopes granted, if anyone said.
    pub granted_scopes: Option<&'a [String]>,
    /// Lifetime assumed when the provider names none but refreshes.
    pub expires_at: Option<i64>,
    /// A reconnect session's connection: updated in place, whichever
    /// account the end user chose.
    pub reconnect_id: Option<&'a str>,
    /// The end user's parameters and the values the provider returned
    /// (JSON), if any.
    pub parameters: Option<&'a str>,
}

/// Stores an authorized connection in one transaction: the same end
/// user, configuration and account keep their connection id (a
/// reconnect); the connect session is marked used — once: of several
/// authorizations one link started, only the first to finish stores a
/// connection, the others fail with [`StoreError::SessionUsed`]; the event
/// recorded. A reconnect session whose connection was disconnected since
/// fails with [`StoreError::ConnectionRevoked`]. Returns the id and whether
/// it was a reconnect.
pub async fn save_authorized(
    db: &Db,
    keys: &Keyring,
    a: &Authorized<'_>,
) -> Result<(String, bool), StoreError> {
    let mut tx = db.begin().await?;
    let now = now_ms();
    // First, so that a second completion of the same session waits for
    // the first (row lock) and then finds the session used.
    let claimed = sqlx::query(
        "UPDATE connect_sessions SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND withdrawn_at IS NULL",
    )
    .bind(now)
    .bind(a.session_id)
    .execute(&mut *tx)
    .await?;
    if claimed.rows_affected() != 1 {
        let withdrawn: Option<Option<i64>> =
            sqlx::query_scalar("SELECT withdrawn_at FROM connect_sessions WHERE id = $1")
                .bind(a.session_id)
                .fetch_optional(&mut *tx)
                .await?;
        return Err(match withdrawn.flatten() {
            Some(_) => StoreError::ConnectionRevoked,
            None => StoreError::SessionUsed,
        });
    }
    let existing = existing_connection(&mut tx, a).await?;
    let reconnect = existing.is_some();
    let id = existing.unwrap_or_else(|| new_id("conn"));
    let sealed = Sealed {
        access: keys.encrypt_str(a.tokens.access_token.expose_secret(), access_aad(&id))?,
        refresh: a
            .tokens
            .refresh_token
            .as_ref()
            .map(|t| keys.encrypt_str(t.expose_secret(), refresh_aad(&id)))
            .transpose()?,
        granted: a.granted_scopes.map(|s| s.join(" ")),
    };
    if reconnect {
        update_authorized(&mut tx, &id, a, sealed, now).await?;
    } else {
        insert_authorized(&mut tx, &id, a, sealed, now).await?;
    }
    sqlx::query("UPDATE connect_sessions SET connection_id = $1 WHERE id = $2")
        .bind(&id)
        .bind(a.session_id)
        .execute(&mut *tx)
        .await?;
    let label = a
        .account
        .name
        .clone()
        .unwrap_or_else(|| a.account.id.clone());
    let message = if reconnect {
        format!("Re-authorized by the end user (account {label})")
    } else {
        format!("Connected by the end user (account {label})")
    };
    record_event(
        &mut tx,
        Event {
            app_id: a.app_id,
            connection_id: Some(&id),
            provider_config_id: Some(a.provider_config_id),
            end_user_id: Some(a.end_user_id),
            kind: if reconnect {
                EventKind::Reconnected
            } else {
                EventKind::Connected
            },
            message: &message,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((id, reconnect))
}

/// The connection this authorization renews, if any: the reconnect
/// session's own — never one that was disconnected since the link was
/// made — else the one of the same end user, configuration and provider
/// account (a fresh connect session may bring back a disconnected one: the
/// developer just asked for it).
async fn existing_connection(
    tx: &mut sqlx::AnyConnection,
    a: &Authorized<'_>,
) -> Result<Option<String>, StoreError> {
    if let Some(id) = a.reconnect_id {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT status FROM connections WHERE id = $1 AND app_id = $2 AND provider_config_id = $3",
        )
        .bind(id)
        .bind(a.app_id)
        .bind(a.provider_config_id)
        .fetch_optional(&mut *tx)
        .await?;
        match found.as_deref() {
            Some("revoked") => return Err(StoreError::ConnectionRevoked),
            Some(_) => return Ok(Some(id.to_string())),
            None => {}
        }
    }
    Ok(sqlx::query_scalar(
        "SELECT id FROM connections WHERE provider_config_id = $1 AND end_user_id = $2 AND account_id = $3",
    )
    .bind(a.provider_config_id)
    .bind(a.end_user_id)
    .bind(&a.account.id)
    .fetch_optional(&mut *tx)
    .await?)
}

/// The tokens sealed to their row, and the granted scopes.
struct Sealed {
    access: Vec<u8>,
    refresh: Option<Vec<u8>>,
    granted: Option<String>,
}

async fn update_authorized(
    tx: &mut sqlx::AnyConnection,
    id: &str,
    a: &Authorized<'_>,
    sealed: Sealed,
    now: i64,
) -> Result<(), sqlx::Error> {
    let Sealed {
        access,
        refresh,
        granted,
    } = sealed;
    sqlx::query(
        "UPDATE connections SET end_user_name = $1, end_user_email = $2, account_name = $3, account_slug = $4, account_picture = $5, \
         status = 'active', access_token = $6, refresh_token = $7, token_type = $8, expires_at = $9, granted_scopes = $10, \
         updated_at = $11, last_refreshed_at = $12, last_checked_at = $13, account_id = $14, version = version + 1, failure_count = 0, \
         first_failure_at = NULL, next_attempt_at = NULL, last_error = NULL, next_check_at = NULL, revoked_at = NULL, parameters = $16 WHERE id = $15",
    )
    .bind(a.end_user_name)
    .bind(a.end_user_email)
    .bind(a.account.name.as_deref())
    .bind(a.account.slug.as_deref())
    .bind(a.account.picture.as_deref())
    .bind(access)
    .bind(refresh)
    .bind(&a.tokens.token_type)
    .bind(a.expires_at)
    .bind(granted)
    .bind(now)
    .bind(now)
    .bind(now)
    .bind(&a.account.id)
    .bind(id)
    .bind(a.parameters)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn insert_authorized(
    tx: &mut sqlx::AnyConnection,
    id: &str,
    a: &Authorized<'_>,
    sealed: Sealed,
    now: i64,
) -> Result<(), sqlx::Error> {
    let Sealed {
        access,
        refresh,
        granted,
    } = sealed;
    sqlx::query(
        "INSERT INTO connections (id, app_id, provider_config_id, end_user_id, end_user_name, end_user_email, account_id, account_name, account_slug, account_picture, \
         status, access_token, refresh_token, token_type, expires_at, granted_scopes, created_at, updated_at, last_refreshed_at, last_checked_at, parameters) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active', $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
    )
    .bind(id)
    .bind(a.app_id)
    .bind(a.provider_config_id)
    .bind(a.end_user_id)
    .bind(a.end_user_name)
    .bind(a.end_user_email)
    .bind(&a.account.id)
    .bind(a.account.name.as_deref())
    .bind(a.account.slug.as_deref())
    .bind(a.account.picture.as_deref())
    .bind(access)
    .bind(refresh)
    .bind(&a.tokens.token_type)
    .bind(a.expires_at)
    .bind(granted)
    .bind(now)
    .bind(now)
    .bind(now)
    .bind(now)
    .bind(a.parameters)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
