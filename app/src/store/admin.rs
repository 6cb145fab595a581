//! The admin area's reads across every organisation: connections with the
//! app and organisation they belong to (filters, search, keyset pages), the
//! overview's counts, and webhook deliveries about a connection.

use crate::{
    catalogue::loader::Catalogue,
    domain::admin::{AdminConnection, ConnectionQuery, DeliveryRow, Overview},
    infra::db::{now_ms, Db, Where},
    store::connections::connection_columns,
};
use sqlx::Row;

/// The connection columns with where each lives: one query per page.
const SELECT: &str = concat!(
    "SELECT ",
    connection_columns!(),
    ", a.name AS app_name, o.id AS org_id, o.name AS org_name \
     FROM connections c JOIN provider_configs p ON p.id = c.provider_config_id \
     JOIN apps a ON a.id = c.app_id JOIN organisations o ON o.id = a.organisation_id"
);

fn rows(
    catalogue: &Catalogue,
    found: Vec<sqlx::any::AnyRow>,
) -> Result<Vec<AdminConnection>, sqlx::Error> {
    found
        .iter()
        .map(|r| {
            Ok(AdminConnection {
                connection: crate::store::connections::view(r, catalogue)?,
                app_name: r.try_get("app_name")?,
                organisation_id: r.try_get("org_id")?,
                organisation_name: r.try_get("org_name")?,
            })
        })
        .collect()
}

pub async fn find(
    db: &Db,
    catalogue: &Catalogue,
    id: &str,
) -> Result<Option<AdminConnection>, sqlx::Error> {
    let found = sqlx::query(&format!("{SELECT} WHERE c.id = $1"))
        .bind(id)
        .fetch_all(db.pool())
        .await?;
    Ok(rows(catalogue, found)?.into_iter().next())
}

/// A page of connections matching `query`, and the cursor of the next.
pub async fn connections(
    db: &Db,
    catalogue: &Catalogue,
    query: &ConnectionQuery,
    limit: i64,
) -> Result<(Vec<AdminConnection>, Option<String>), sqlx::Error> {
    let sort = if query.sort.as_deref() == Some("updated") {
        "updated_at"
    } else {
        "created_at"
    };
    let mut conditions = Where::default();
    if let Some(v) = &query.status {
        conditions.text(" AND c.status = ?", v);
    }
    if let Some(v) = &query.provider {
        conditions.text(" AND p.slug = ?", v);
    }
    if let Some(v) = &query.organisation {
        conditions.text(" AND a.organisation_id = ?", v);
    }
    if let Some(v) = &query.app {
        conditions.text(" AND c.app_id = ?", v);
    }
    if let Some(v) = &query.q {
        use crate::store::connections::{search_pattern, SEARCH};
        conditions.text(SEARCH, search_pattern(v));
    }
    if query.mismatch {
        conditions.raw(" AND c.granted_scopes IS NOT NULL AND c.granted_scopes <> p.scopes");
    }
    if let Some((at, id)) = query
        .after
        .as_deref()
        .and_then(|a| a.split_once(':'))
        .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_string())))
    {
        conditions.int(&format!(" AND (c.{sort} < ?"), at);
        conditions.int(&format!(" OR (c.{sort} = ?"), at);
        conditions.text(" AND c.id < ?))", id);
    }
    let sql = format!(
        "{SELECT} WHERE 1 = 1{} ORDER BY c.{sort} DESC, c.id DESC LIMIT {}",
        conditions.sql(),
        limit + 1
    );
    let q = conditions.bind(sqlx::query(&sql));
    let mut found = rows(catalogue, q.fetch_all(db.pool()).await?)?;
    let next = if found.len() as i64 > limit {
        found.truncate(limit as usize);
        found.last().map(|r| {
            let at = if sort == "updated_at" {
                r.connection.updated_at
            } else {
                r.connection.created_at
            };
            format!("{at}:{}", r.connection.id)
        })
    } else {
        None
    };
    Ok((found, next))
}

pub async fn overview(
    db: &Db,
    catalogue: &Catalogue,
    email: String,
) -> Result<Overview, sqlx::Error> {
    let pairs = |rows: Vec<sqlx::any::AnyRow>| -> Result<Vec<(String, i64)>, sqlx::Error> {
        rows.into_iter()
            .map(|r| Ok((r.try_get("k")?, r.try_get("n")?)))
            .collect()
    };
    let by_status = pairs(
        sqlx::query(
            "SELECT status AS k, COUNT(*) AS n FROM connections GROUP BY status ORDER BY status",
        )
        .fetch_all(db.pool())
        .await?,
    )?;
    let by_provider = pairs(
        sqlx::query("SELECT p.slug AS k, COUNT(*) AS n FROM connections c JOIN provider_configs p ON p.id = c.provider_config_id GROUP BY p.slug ORDER BY p.slug")
            .fetch_all(db.pool())
            .await?,
    )?;
    let since = now_ms() - 24 * 60 * 60 * 1000;
    let count = |kinds: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!(
                "SELECT COUNT(*) FROM connection_events WHERE kind IN ({kinds}) AND at >= $1"
            ))
            .bind(since)
            .fetch_one(db.pool())
            .await
        }
    };
    let refreshed_24h = count("'refreshed'").await?;
    let failed_24h = count("'refresh_failed', 'connect_failed'").await?;
    let interrupted_24h: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM connection_events WHERE kind = 'needs_reauthorization' AND at >= $1 AND message LIKE $2",
    )
    .bind(since)
    .bind(format!("{}%", crate::domain::events::REFRESH_INTERRUPTED))
    .fetch_one(db.pool())
    .await?;
    let webhooks_failing: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'failed' OR (status = 'pending' AND attempts > 0)",
    )
    .fetch_one(db.pool())
    .await?;
    let mut attention = Vec::new();
    for status in ["needs_reauthorization", "error"] {
        let (mut found, _) = connections(
            db,
            catalogue,
            &ConnectionQuery {
                status: Some(status.into()),
                ..Default::default()
            },
            25,
        )
        .await?;
        attention.append(&mut found);
    }
    let (mut mismatched, _) = connections(
        db,
        catalogue,
        &ConnectionQuery {
            status: Some("active".into()),
            mismatch: true,
            ..Default::default()
        },
        25,
    )
    .await?;
    attention.append(&mut mismatched);
    Ok(Overview {
        email,
        by_status,
        by_provider,
        refreshed_24h,
        failed_24h,
        interrupted_24h,
        attention,
        webhooks_failing,
    })
}

/// Page `page` of the webhook deliveries about connection `id` of app
/// `app_id`, newest first, up to `limit` and whether there are more.
pub async fn deliveries(
    db: &Db,
    app_id: &str,
    id: &str,
    limit: i64,
    page: &crate::domain::paging::PageAt,
) -> Result<(Vec<DeliveryRow>, bool), sqlx::Error> {
    let mut conditions = Where::default();
    conditions.text(" AND connection_id = ?", id);
    conditions.text(" AND app_id = ?", app_id);
    crate::store::paging::fetch_page(
        db,
        "SELECT id, created_at, event_type, status, attempts, last_status_code FROM webhook_deliveries WHERE 1 = 1",
        conditions,
        page,
        ("created_at", "id"),
        limit,
        |r| {
            Ok(DeliveryRow {
                id: r.try_get("id")?,
                created_at: r.try_get("created_at")?,
                event_type: r.try_get("event_type")?,
                status: r.try_get("status")?,
                attempts: r.try_get("attempts")?,
                last_status_code: r.try_get("last_status_code")?,
            })
        },
    )
    .await
}
