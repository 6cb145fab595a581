use crate::domain::connections::*;
use crate::{
    catalogue::loader::Catalogue,
    domain::events::EventKind,
    domain::paging::{Cursor, PageAt},
    infra::crypto::Aad,
    infra::db::{new_id, now_ms, Db, Where},
    store::audit::{self, Actor, Entry},
    store::outbox,
};
use sqlx::Row;

pub const TABLE: &str = "connections";

pub fn access_aad(id: &str) -> Aad<'_> {
    Aad::new(TABLE, "access_token", id)
}

pub fn refresh_aad(id: &str) -> Aad<'_> {
    Aad::new(TABLE, "refresh_token", id)
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Crypto(#[from] crate::infra::crypto::CryptoError),
    /// The connect session was completed already (another authorization
    /// of the same link got there first).
    #[error("the connect session was already used")]
    SessionUsed,
    /// A reconnect session's connection was disconnected since.
    #[error("the connection to re-authorize was disconnected")]
    ConnectionRevoked,
}

/// Configured scopes that `granted` does not cover; a read-write scope
/// covers the read scope of its group (as the definition says).
pub fn missing_scopes(
    configured: &[String],
    granted: Option<&[String]>,
    definition: Option<&crate::catalogue::ProviderDefinition>,
) -> Vec<String> {
    let Some(granted) = granted else {
        return Vec::new();
    };
    let mut covered: Vec<&str> = granted.iter().map(String::as_str).collect();
    if let Some(def) = definition {
        for g in granted {
            if let Some(read) = def.implied_read_scope(g) {
                covered.push(read);
            }
        }
    }
    configured
        .iter()
        .filter(|c| !covered.contains(&c.as_str()))
        .cloned()
        .collect()
}

fn split(text: Option<String>) -> Option<Vec<String>> {
    text.map(|t| t.split_whitespace().map(str::to_string).collect())
}

/// Every column of [`view`]; the table aliases are `c` and `p`.
/// The columns [`view`] reads, for queries that join more tables.
macro_rules! connection_columns {
    () => {
        "c.id, c.app_id, c.provider_config_id, p.slug, p.provider, p.display_name, p.status AS config_status, p.scopes AS configured_scopes, \
         c.end_user_id, c.end_user_name, c.end_user_email, c.account_id, c.account_name, c.account_slug, c.account_picture, \
         c.status, c.granted_scopes, c.token_type, c.expires_at, c.created_at, c.updated_at, c.last_refreshed_at, c.last_used_at, c.last_checked_at"
    };
}
pub(crate) use connection_columns;

pub const SELECT: &str = concat!(
    "SELECT ",
    connection_columns!(),
    " FROM connections c JOIN provider_configs p ON p.id = c.provider_config_id"
);

pub fn view(row: &sqlx::any::AnyRow, catalogue: &Catalogue) -> Result<ConnectionView, sqlx::Error> {
    let configured: Vec<String> = row
        .try_get::<String, _>("configured_scopes")?
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let granted = split(row.try_get("granted_scopes")?);
    let provider: String = row.try_get("provider")?;
    let missing = missing_scopes(
        &configured,
        granted.as_deref(),
        catalogue.get(&provider).map(|d| d.as_ref()),
    );
    Ok(ConnectionView {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        provider_config_id: row.try_get("provider_config_id")?,
        provider: row.try_get("slug")?,
        provider_name: row.try_get("display_name")?,
        provider_active: row.try_get::<String, _>("config_status")? == "active",
        end_user_id: row.try_get("end_user_id")?,
        end_user_name: row.try_get("end_user_name")?,
        end_user_email: row.try_get("end_user_email")?,
        account_id: row.try_get("account_id")?,
        account_name: row.try_get("account_name")?,
        account_slug: row.try_get("account_slug")?,
        account_picture: row.try_get("account_picture")?,
        status: ConnectionStatus::parse(&row.try_get::<String, _>("status")?),
        granted_scopes: granted,
        configured_scopes: configured,
        missing_scopes: missing,
        token_type: row.try_get("token_type")?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_refreshed_at: row.try_get("last_refreshed_at")?,
        last_used_at: row.try_get("last_used_at")?,
        last_checked_at: row.try_get("last_checked_at")?,
    })
}

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub end_user_id: Option<String>,
    /// The provider id of the configuration (`attio`).
    pub provider: Option<String>,
    /// A status (`active`, `needs_reauthorization`, `error`, `revoked`).
    pub status: Option<String>,
    /// Part of the end user's id, name or email, or of the account's name
    /// or id (any case).
    pub q: Option<String>,
    /// Leave out disconnected (`revoked`) connections.
    pub live_only: bool,
}

/// A page of an app's connections, newest first; `after` is the
/// `(created_at, id)` of the last connection of the previous page.
pub async fn list(
    db: &Db,
    catalogue: &Catalogue,
    app_id: &str,
    filter: &Filter,
    limit: i64,
    after: Option<(i64, String)>,
) -> Result<Vec<ConnectionView>, sqlx::Error> {
    let page = match after {
        Some((at, id)) => PageAt::Older(Cursor::new(at, id)),
        None => PageAt::First,
    };
    let (rows, _) = page_of(db, catalogue, app_id, filter, limit, &page).await?;
    Ok(rows)
}

/// The condition of a connections search: `search_text` (migration 11)
/// holds the end user's id, name and email and the account's name and id,
/// lowered and joined by line breaks.
pub(crate) const SEARCH: &str = " AND c.search_text LIKE ? ESCAPE '\\'";

/// The `LIKE` pattern of a search for `q`: the text itself, anywhere, not
/// a pattern (its wildcards are escaped); control characters, such as the
/// line breaks between the searched fields, are left out.
pub(crate) fn search_pattern(q: &str) -> String {
    let mut pattern = String::from("%");
    for c in q.to_lowercase().chars().filter(|c| !c.is_control()) {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Page `page` of an app's connections matching `filter`, newest first,
/// with up to `limit` rows and whether there are more beyond them.
pub async fn page_of(
    db: &Db,
    catalogue: &Catalogue,
    app_id: &str,
    filter: &Filter,
    limit: i64,
    page: &PageAt,
) -> Result<(Vec<ConnectionView>, bool), sqlx::Error> {
    let mut conditions = Where::default();
    conditions.text(" AND c.app_id = ?", app_id);
    if let Some(user) = &filter.end_user_id {
        conditions.text(" AND c.end_user_id = ?", user);
    }
    if let Some(provider) = &filter.provider {
        // the configuration's id, so that the index on it serves the filter
        conditions.text(
            " AND c.provider_config_id IN (SELECT id FROM provider_configs WHERE app_id = c.app_id AND slug = ?)",
            provider,
        );
    }
    if let Some(status) = &filter.status {
        conditions.text(" AND c.status = ?", status);
    }
    if let Some(q) = &filter.q {
        conditions.text(SEARCH, search_pattern(q));
    }
    if filter.live_only {
        conditions.text(" AND c.status <> ?", "revoked");
    }
    crate::store::paging::fetch_page(
        db,
        &format!("{SELECT} WHERE 1 = 1"),
        conditions,
        page,
        ("c.created_at", "c.id"),
        limit,
        |r| view(r, catalogue),
    )
    .await
}

/// The connection's own values for its provider's URLs (JSON), if any.
pub async fn parameters(db: &Db, id: &str) -> Result<Option<String>, sqlx::Error> {
    let found: Option<Option<String>> =
        sqlx::query_scalar("SELECT parameters FROM connections WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    Ok(found.flatten())
}

pub async fn find(
    db: &Db,
    catalogue: &Catalogue,
    app_id: &str,
    id: &str,
) -> Result<Option<ConnectionView>, sqlx::Error> {
    sqlx::query(&format!("{SELECT} WHERE c.app_id = $1 AND c.id = $2"))
        .bind(app_id)
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .map(|r| view(&r, catalogue))
        .transpose()
}

/// How many connections a provider configuration has.
pub async fn count_for_config(db: &Db, config_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM connections WHERE provider_config_id = $1")
        .bind(config_id)
        .fetch_one(db.pool())
        .await
}

/// Appends to the history and, for the events developers subscribe to,
/// queues the webhook — on the caller's connection, so both are part of
/// the caller's transaction.
pub async fn record_event(
    conn: &mut sqlx::AnyConnection,
    event: Event<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO connection_events (id, app_id, connection_id, provider_config_id, end_user_id, kind, message, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id("evt"))
    .bind(event.app_id)
    .bind(event.connection_id)
    .bind(event.provider_config_id)
    .bind(event.end_user_id)
    .bind(event.kind.as_str())
    .bind(event.message)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    if let Some(action) = event.kind.audit_action() {
        let actor = match (event.kind.by_end_user(), event.end_user_id) {
            (true, Some(user)) => Actor::end_user(user),
            _ => Actor::system(),
        };
        let mut entry = Entry::new(action)
            .app(None, event.app_id)
            .detail(event.message);
        if let Some(id) = event.connection_id {
            entry = entry.target("connection", id);
        }
        audit::record(conn, &actor, entry).await?;
    }
    if let Some(event_type) = event.kind.webhook_type() {
        let provider: Option<String> = match event.provider_config_id {
            Some(id) => {
                sqlx::query_scalar("SELECT slug FROM provider_configs WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?
            }
            None => None,
        };
        let data = serde_json::json!({
            "connection_id": event.connection_id,
            "app_id": event.app_id,
            "end_user_id": event.end_user_id,
            "provider": provider,
            "message": event.message,
        });
        outbox::enqueue(conn, event.app_id, event_type, data).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub app_id: &'a str,
    pub connection_id: Option<&'a str>,
    pub provider_config_id: Option<&'a str>,
    pub end_user_id: Option<&'a str>,
    pub kind: EventKind,
    pub message: &'a str,
}

fn event_view(row: &sqlx::any::AnyRow) -> Result<EventView, sqlx::Error> {
    Ok(EventView {
        id: row.try_get("id")?,
        connection_id: row.try_get("connection_id")?,
        end_user_id: row.try_get("end_user_id")?,
        kind: row.try_get("kind")?,
        message: row.try_get("message")?,
        at: row.try_get("at")?,
    })
}

pub async fn events(
    db: &Db,
    app_id: &str,
    connection_id: &str,
) -> Result<Vec<EventView>, sqlx::Error> {
    sqlx::query(
        "SELECT id, connection_id, end_user_id, kind, message, at FROM connection_events WHERE app_id = $1 AND connection_id = $2 ORDER BY at DESC, id DESC LIMIT 200",
    )
    .bind(app_id)
    .bind(connection_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(event_view)
    .collect()
}

/// The latest connect attempts that failed, for the app's page.
pub async fn recent_failures(db: &Db, app_id: &str) -> Result<Vec<EventView>, sqlx::Error> {
    sqlx::query(
        "SELECT id, connection_id, end_user_id, kind, message, at FROM connection_events WHERE app_id = $1 AND kind = 'connect_failed' ORDER BY at DESC, id DESC LIMIT 20",
    )
    .bind(app_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(event_view)
    .collect()
}

#[path = "connections_authorized.rs"]
mod authorized;
pub use authorized::{save_authorized, Authorized};

#[cfg(test)]
mod search_tests {
    use super::search_pattern;

    #[test]
    fn a_search_is_the_text_itself_anywhere() {
        assert_eq!(search_pattern("Ada@Example.com"), "%ada@example.com%");
        // wildcards and the escape character are literal
        assert_eq!(search_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
        // a line break would match across two fields
        assert_eq!(search_pattern("ada\nlovelace"), "%adalovelace%");
    }
}
