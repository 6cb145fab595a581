use crate::domain::audit::AuditView;
use crate::{
    domain::paging::{Cursor, PageAt},
    domain::users::{CurrentUser, Role},
    infra::db::{new_id, now_ms, Db, Where},
};
use sqlx::Row;

/// Who acted.
#[derive(Debug, Clone)]
pub struct Actor {
    pub kind: &'static str,
    pub id: Option<String>,
    pub label: Option<String>,
}

impl Actor {
    pub fn user(user: &CurrentUser) -> Self {
        Self {
            kind: if user.role == Role::Admin {
                "admin"
            } else {
                "developer"
            },
            id: Some(user.id.clone()),
            label: Some(user.email.clone()),
        }
    }

    pub fn api_key(key_id: &str) -> Self {
        Self {
            kind: "api_key",
            id: Some(key_id.to_string()),
            label: None,
        }
    }

    pub fn end_user(end_user_id: &str) -> Self {
        Self {
            kind: "end_user",
            id: Some(end_user_id.to_string()),
            label: None,
        }
    }

    pub fn system() -> Self {
        Self {
            kind: "system",
            id: None,
            label: None,
        }
    }

    /// Someone not signed in, known by the email they typed at most.
    pub fn anonymous(label: &str) -> Self {
        Self {
            kind: "anonymous",
            id: None,
            label: Some(label.chars().take(254).collect()),
        }
    }

    /// The operator's command line.
    pub fn operator() -> Self {
        Self {
            kind: "operator",
            id: None,
            label: Some("command line".into()),
        }
    }
}

/// One audit entry.
#[derive(Debug, Clone, Default)]
pub struct Entry<'a> {
    pub action: &'a str,
    pub organisation_id: Option<&'a str>,
    pub app_id: Option<&'a str>,
    pub target_type: Option<&'a str>,
    pub target_id: Option<&'a str>,
    pub detail: Option<&'a str>,
    pub reason: Option<&'a str>,
    /// The client address of the request, as the logs show it.
    pub client_address: Option<&'a str>,
}

impl<'a> Entry<'a> {
    pub fn new(action: &'a str) -> Self {
        Self {
            action,
            ..Self::default()
        }
    }

    pub fn app(mut self, organisation_id: Option<&'a str>, app_id: &'a str) -> Self {
        self.organisation_id = organisation_id;
        self.app_id = Some(app_id);
        self
    }

    pub fn target(mut self, kind: &'a str, id: &'a str) -> Self {
        self.target_type = Some(kind);
        self.target_id = Some(id);
        self
    }

    pub fn detail(mut self, detail: &'a str) -> Self {
        self.detail = Some(detail);
        self
    }

    pub fn reason(mut self, reason: &'a str) -> Self {
        self.reason = Some(reason);
        self
    }

    pub fn from_address(mut self, address: &'a str) -> Self {
        self.client_address = Some(address);
        self
    }
}

/// Appends an entry on `conn` (inside the caller's transaction). When
/// the entry names an app but no organisation, the app's is looked up.
pub async fn record(
    conn: &mut sqlx::AnyConnection,
    actor: &Actor,
    entry: Entry<'_>,
) -> Result<(), sqlx::Error> {
    let organisation: Option<String> = match (entry.organisation_id, entry.app_id) {
        (Some(org), _) => Some(org.to_string()),
        (None, Some(app)) => {
            sqlx::query_scalar("SELECT organisation_id FROM apps WHERE id = $1")
                .bind(app)
                .fetch_optional(&mut *conn)
                .await?
        }
        (None, None) => None,
    };
    sqlx::query(
        "INSERT INTO audit_events (id, at, actor_type, actor_id, actor_label, action, organisation_id, app_id, target_type, target_id, detail, reason, client_address) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(new_id("aud"))
    .bind(now_ms())
    .bind(actor.kind)
    .bind(actor.id.as_deref())
    .bind(actor.label.as_deref())
    .bind(entry.action)
    .bind(organisation)
    .bind(entry.app_id)
    .bind(entry.target_type)
    .bind(entry.target_id)
    .bind(entry.detail)
    .bind(entry.reason)
    .bind(entry.client_address)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records one entry on its own (an action that is itself one write, or
/// a failed attempt, such as a refused sign-in).
pub async fn record_alone(db: &Db, actor: &Actor, entry: Entry<'_>) -> Result<(), sqlx::Error> {
    let mut conn = db.pool().acquire().await?;
    record(&mut conn, actor, entry).await
}

/// Filters of the audit log.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub organisation_id: Option<String>,
    pub app_id: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// What the action is about: the part before its dot (`connection`
    /// for `connection.created`).
    pub kind: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Entries matching `filter`, newest first; `before` is the `(at, id)`
/// of the last entry of the previous page.
pub async fn list(
    db: &Db,
    filter: &Filter,
    limit: i64,
    before: Option<(i64, String)>,
) -> Result<Vec<AuditView>, sqlx::Error> {
    let page = match before {
        Some((at, id)) => PageAt::Older(Cursor::new(at, id)),
        None => PageAt::First,
    };
    Ok(page_of(db, filter, limit, &page).await?.0)
}

/// Page `page` of the entries matching `filter`, newest first, with up to
/// `limit` entries and whether there are more beyond them.
pub async fn page_of(
    db: &Db,
    filter: &Filter,
    limit: i64,
    page: &PageAt,
) -> Result<(Vec<AuditView>, bool), sqlx::Error> {
    let mut conditions = Where::default();
    if let Some(v) = &filter.organisation_id {
        conditions.text(" AND organisation_id = ?", v);
    }
    if let Some(v) = &filter.app_id {
        conditions.text(" AND app_id = ?", v);
    }
    if let Some(v) = &filter.actor {
        conditions.text(
            " AND (actor_label = ? OR actor_id = ? OR actor_type = ?)",
            v,
        );
    }
    if let Some(v) = &filter.action {
        conditions.text(" AND action = ?", v);
    }
    if let Some(v) = &filter.kind {
        conditions.text(
            " AND action LIKE ?",
            format!("{}.%", v.replace(['%', '_'], "")),
        );
    }
    if let Some(v) = filter.from {
        conditions.int(" AND at >= ?", v);
    }
    if let Some(v) = filter.to {
        conditions.int(" AND at < ?", v);
    }
    let limit = limit.clamp(1, 10_000);
    crate::store::paging::fetch_page(
        db,
        "SELECT id, at, actor_type, actor_label, action, organisation_id, app_id, target_type, target_id, detail, reason, client_address, occurrences, last_at \
         FROM audit_events WHERE 1 = 1",
        conditions,
        page,
        ("at", "id"),
        limit,
        |r| {
            Ok(AuditView {
                id: r.try_get("id")?,
                at: r.try_get("at")?,
                actor_type: r.try_get("actor_type")?,
                actor_label: r.try_get("actor_label")?,
                action: r.try_get("action")?,
                organisation_id: r.try_get("organisation_id")?,
                app_id: r.try_get("app_id")?,
                target_type: r.try_get("target_type")?,
                target_id: r.try_get("target_id")?,
                // an entry that counts repeated actions (token reads) says
                // how many and over what time
                detail: match (
                    r.try_get::<Option<i64>, _>("occurrences")?,
                    r.try_get::<Option<i64>, _>("last_at")?,
                ) {
                    (Some(n), Some(last)) => {
                        Some(crate::domain::audit::repeated(n, r.try_get("at")?, last))
                    }
                    _ => r.try_get("detail")?,
                },
                reason: r.try_get("reason")?,
                client_address: r.try_get("client_address")?,
            })
        },
    )
    .await
}
