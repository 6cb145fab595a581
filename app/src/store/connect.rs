//! Connect sessions (the links a developer's backend asks for) and the
//! authorization transactions a session starts (state, PKCE verifier,
//! browser binding), both single-use and short-lived.

use crate::{
    domain::connect::{SESSION_TTL_MS, TRANSACTION_TTL_MS},
    infra::db::{new_id, now_ms, Db},
    infra::tokens::{hash_token, random_token},
    store::audit::{self, Actor},
};
use secrecy::SecretString;
use sqlx::Row;

pub const TOKEN_PREFIX: &str = "ovcs_";

#[derive(Debug, Clone, Default)]
pub struct NewSession {
    pub end_user_id: String,
    pub end_user_name: Option<String>,
    pub end_user_email: Option<String>,
    /// Provider ids (configuration slugs); empty for all.
    pub providers: Vec<String>,
    pub return_url: Option<String>,
    /// Re-authorizes this connection: it keeps its id.
    pub reconnect_id: Option<String>,
}

pub struct CreatedSession {
    pub id: String,
    pub token: SecretString,
    pub connect_url: String,
    pub expires_at: i64,
}

/// Creates a session; `public_url` builds its link.
pub async fn create_session(
    db: &Db,
    public_url: &str,
    app_id: &str,
    input: &NewSession,
    actor: &Actor,
) -> Result<CreatedSession, sqlx::Error> {
    let token = format!("{TOKEN_PREFIX}{}", random_token());
    let id = new_id("cs");
    let now = now_ms();
    let expires_at = now + SESSION_TTL_MS;
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO connect_sessions (id, app_id, token_hash, end_user_id, end_user_name, end_user_email, providers, return_url, created_at, expires_at, reconnect_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&id)
    .bind(app_id)
    .bind(hash_token(&token))
    .bind(&input.end_user_id)
    .bind(input.end_user_name.as_deref())
    .bind(input.end_user_email.as_deref())
    .bind(input.providers.join(" "))
    .bind(input.return_url.as_deref())
    .bind(now)
    .bind(expires_at)
    .bind(input.reconnect_id.as_deref())
    .execute(&mut *tx)
    .await?;
    let detail = format!("for end user {}", input.end_user_id);
    let mut entry = audit::Entry::new(if input.reconnect_id.is_some() {
        "connect_session.created_reconnect"
    } else {
        "connect_session.created"
    })
    .app(None, app_id)
    .detail(&detail);
    if let Some(connection) = &input.reconnect_id {
        entry = entry.target("connection", connection);
    }
    audit::record(&mut tx, actor, entry).await?;
    tx.commit().await?;
    // Sessions a day past their expiry go, with their transactions.
    sqlx::query("DELETE FROM connect_sessions WHERE expires_at < $1")
        .bind(now - 24 * 60 * 60 * 1000)
        .execute(db.pool())
        .await?;
    let connect_url = format!("{}/connect/{token}", public_url);
    Ok(CreatedSession {
        id,
        token: SecretString::from(token),
        connect_url,
        expires_at,
    })
}

/// The app's allowed return URLs.
pub async fn allowed_return_urls(db: &Db, app_id: &str) -> Result<Vec<String>, sqlx::Error> {
    let text: Option<String> = sqlx::query_scalar("SELECT return_urls FROM apps WHERE id = $1")
        .bind(app_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(text
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect())
}

#[derive(Debug, Clone)]
pub struct OpenSession {
    pub id: String,
    pub app_id: String,
    pub app_name: String,
    pub end_user_id: String,
    pub end_user_name: Option<String>,
    pub end_user_email: Option<String>,
    pub providers: Vec<String>,
    pub return_url: Option<String>,
    pub reconnect_id: Option<String>,
}

pub enum SessionLookup {
    Unknown,
    Expired,
    Used,
    /// A reconnect link whose connection was disconnected since.
    Withdrawn,
    Open(Box<OpenSession>),
}

fn open_session(row: &sqlx::any::AnyRow) -> Result<OpenSession, sqlx::Error> {
    let providers: String = row.try_get("providers")?;
    Ok(OpenSession {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        app_name: row.try_get("app_name")?,
        end_user_id: row.try_get("end_user_id")?,
        end_user_name: row.try_get("end_user_name")?,
        end_user_email: row.try_get("end_user_email")?,
        providers: providers.split_whitespace().map(str::to_string).collect(),
        return_url: row.try_get("return_url")?,
        reconnect_id: row.try_get("reconnect_id")?,
    })
}

const SESSION_SELECT: &str = "SELECT s.id, s.app_id, a.name AS app_name, s.end_user_id, s.end_user_name, s.end_user_email, \
    s.providers, s.return_url, s.reconnect_id, s.expires_at, s.used_at, s.withdrawn_at, c.status AS reconnect_status \
    FROM connect_sessions s JOIN apps a ON a.id = s.app_id LEFT JOIN connections c ON c.id = s.reconnect_id";

pub async fn find_session(db: &Db, token: &str) -> Result<SessionLookup, sqlx::Error> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 100 {
        return Ok(SessionLookup::Unknown);
    }
    let row = sqlx::query(&format!("{SESSION_SELECT} WHERE s.token_hash = $1"))
        .bind(hash_token(token))
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else {
        return Ok(SessionLookup::Unknown);
    };
    let used: Option<i64> = row.try_get("used_at")?;
    let expires: i64 = row.try_get("expires_at")?;
    if used.is_some() {
        return Ok(SessionLookup::Used);
    }
    if expires <= now_ms() {
        return Ok(SessionLookup::Expired);
    }
    let withdrawn: Option<i64> = row.try_get("withdrawn_at")?;
    let reconnect_status: Option<String> = row.try_get("reconnect_status")?;
    if withdrawn.is_some() || reconnect_status.as_deref() == Some("revoked") {
        return Ok(SessionLookup::Withdrawn);
    }
    Ok(SessionLookup::Open(Box::new(open_session(&row)?)))
}

/// The origins a connect popup of session `token` (in any state) may tell
/// its outcome to: the session's return URL's, else those of the app's
/// allowed return URLs. None for a token that names no session.
pub async fn popup_origins(db: &Db, token: &str) -> Result<Vec<String>, sqlx::Error> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 100 {
        return Ok(Vec::new());
    }
    let row = sqlx::query("SELECT app_id, return_url FROM connect_sessions WHERE token_hash = $1")
        .bind(hash_token(token))
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else {
        return Ok(Vec::new());
    };
    let return_url: Option<String> = row.try_get("return_url")?;
    let app_id: String = row.try_get("app_id")?;
    origins_for(db, &app_id, return_url.as_deref()).await
}

/// The origins a popup of app `app_id` tells: `return_url`'s when the
/// session has one, else every allowed return URL's.
pub async fn origins_for(
    db: &Db,
    app_id: &str,
    return_url: Option<&str>,
) -> Result<Vec<String>, sqlx::Error> {
    let urls = match return_url {
        Some(url) => vec![url.to_string()],
        None => allowed_return_urls(db, app_id).await?,
    };
    let mut origins: Vec<String> = Vec::new();
    for url in urls {
        if let Some(origin) = crate::domain::connect::web_origin(&url) {
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
    }
    Ok(origins)
}

pub async fn session_by_id(db: &Db, id: &str) -> Result<Option<OpenSession>, sqlx::Error> {
    sqlx::query(&format!("{SESSION_SELECT} WHERE s.id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .map(|r| open_session(&r))
        .transpose()
}

/// What [`insert_transaction`] stores; secrets only as hashes or sealed.
pub struct NewTransaction<'a> {
    pub id: &'a str,
    pub state_hash: &'a str,
    pub browser_hash: &'a str,
    pub session_id: &'a str,
    pub provider_config_id: &'a str,
    pub code_verifier: Option<&'a [u8]>,
    pub issuer: Option<&'a str>,
    pub redirect_uri: &'a str,
    /// The end user's connection parameters (JSON), if any.
    pub parameters: Option<&'a str>,
    /// Whether the flow runs in a popup that connect.js opened.
    pub popup: bool,
}

pub async fn insert_transaction(db: &Db, tx: &NewTransaction<'_>) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO oauth_transactions (id, state_hash, browser_hash, session_id, provider_config_id, code_verifier, issuer, redirect_uri, created_at, expires_at, parameters, display) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(tx.id)
    .bind(tx.state_hash)
    .bind(tx.browser_hash)
    .bind(tx.session_id)
    .bind(tx.provider_config_id)
    .bind(tx.code_verifier)
    .bind(tx.issuer)
    .bind(tx.redirect_uri)
    .bind(now)
    .bind(now + TRANSACTION_TTL_MS)
    .bind(tx.parameters)
    .bind(tx.popup.then_some("popup"))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// An authorization in progress.
pub struct Transaction {
    pub id: String,
    pub browser_hash: String,
    pub session_id: String,
    pub provider_config_id: String,
    pub code_verifier: Option<Vec<u8>>,
    pub issuer: Option<String>,
    pub redirect_uri: String,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    /// The end user's connection parameters (JSON), if any.
    pub parameters: Option<String>,
    /// The flow runs in a popup that connect.js opened.
    pub popup: bool,
}

pub async fn find_transaction(
    db: &Db,
    state_value: &str,
) -> Result<Option<Transaction>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, browser_hash, session_id, provider_config_id, code_verifier, issuer, redirect_uri, expires_at, consumed_at, parameters, display \
         FROM oauth_transactions WHERE state_hash = $1",
    )
    .bind(hash_token(state_value))
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(Transaction {
            id: r.try_get("id")?,
            browser_hash: r.try_get("browser_hash")?,
            session_id: r.try_get("session_id")?,
            provider_config_id: r.try_get("provider_config_id")?,
            code_verifier: r.try_get("code_verifier")?,
            issuer: r.try_get("issuer")?,
            redirect_uri: r.try_get("redirect_uri")?,
            expires_at: r.try_get("expires_at")?,
            consumed_at: r.try_get("consumed_at")?,
            parameters: r.try_get("parameters")?,
            popup: r.try_get::<Option<String>, _>("display")?.as_deref() == Some("popup"),
        })
    })
    .transpose()
}

/// Withdraws the open reconnect links of connection `connection_id` (it
/// was disconnected), on the caller's connection.
pub async fn withdraw_reconnects(
    conn: &mut sqlx::AnyConnection,
    connection_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE connect_sessions SET withdrawn_at = $1 WHERE reconnect_id = $2 AND used_at IS NULL AND withdrawn_at IS NULL",
    )
    .bind(now_ms())
    .bind(connection_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Marks the transaction used; false if another request did first.
pub async fn consume(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE oauth_transactions SET consumed_at = $1 WHERE id = $2 AND consumed_at IS NULL",
    )
    .bind(now_ms())
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}
