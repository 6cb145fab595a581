//! The smaller holes of the connect flow, deletion, the background worker
//! and the exports, each closed: a connect link completes once, an old
//! reconnect link cannot revive a disconnected connection, deleting an app
//! or a provider revokes its connections at the provider, provider numbers
//! cannot overflow, one bad row stops no worker pass, the browser binding
//! is never a value the browser brought, portal pages are not cached, and
//! the audit export has every row.
use crate::common;

use common::{fake_oauth::RefreshFailure, Setup, TestApp, World};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both_databases!(the_audit_export_has_every_row);

with_world!(
    SETUP;
    absurd_provider_numbers_give_sane_expiries,
);

/// Attio and the fake RFC 6749 provider.
const SETUP: Setup = Setup {
    return_url: "https://app.example.com/integrations/done",
    attio_scopes: &["record_permission:read"],
    fake_oauth: true,
};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
const TEN_YEARS_MS: i64 = 3650 * DAY_MS;

async fn expires_at(w: &World, id: &str) -> Option<i64> {
    sqlx::query_scalar("SELECT expires_at FROM connections WHERE id = $1")
        .bind(id)
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap()
}

const PASSWORD: &str = "correct horse battery";

async fn the_audit_export_has_every_row(app: TestApp) {
    app.set_up_admin("admin@example.com", PASSWORD).await;
    // more rows than any single query of the export reads, inserted at
    // once; three share each timestamp, so ties are ordered by id
    sqlx::query(
        "INSERT INTO audit_events (id, at, actor_type, action, detail) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10500) \
         SELECT 'aud_bulk_' || i, 1700000000000 + i / 3, 'system', 'bulk.test', 'row ' || i FROM n",
    )
    .execute(app.state.db.pool())
    .await
    .unwrap();
    let res = app.get("/admin/audit.csv?action=bulk.test").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("time,actor_type,actor,action"));
    assert_eq!(lines.len(), 10_501, "the header and every row");
    let rows: std::collections::HashSet<&str> = lines[1..]
        .iter()
        .map(|l| l.rsplit("\"row ").next().unwrap())
        .collect();
    assert_eq!(rows.len(), 10_500, "each row once");
    // newest first
    assert!(lines[1].contains("\"row 10500\""), "{}", lines[1]);
    assert!(lines[10_500].contains("\"row 1\""), "{}", lines[10_500]);
}

async fn absurd_provider_numbers_give_sane_expiries(w: World) {
    let now = app::infra::db::now_ms();
    // at the connect: Attio's tokens do not expire, unless it says so
    for (i, value) in [
        json!(i64::MAX),
        json!(u64::MAX),
        json!(1e300),
        json!("99999999999999999999999"),
    ]
    .into_iter()
    .enumerate()
    {
        w.attio.set_token_fields(json!({ "expires_in": value }));
        let id = w.connected(&format!("user-{i}")).await;
        let at = expires_at(&w, &id).await.unwrap();
        assert!(
            at > now + TEN_YEARS_MS - DAY_MS && at <= app::infra::db::now_ms() + TEN_YEARS_MS,
            "{value}: {at}"
        );
        let (status, _) = w.token(&id).await;
        assert_eq!(status, StatusCode::OK, "{value}");
    }
    for value in [json!(-3600), json!(i64::MIN), json!(0)] {
        w.attio.set_token_fields(json!({ "expires_in": value }));
        let id = w.connected("user-negative").await;
        assert_eq!(expires_at(&w, &id).await, None, "{value}: as if not sent");
    }
    w.attio.set_token_fields(json!({}));

    // at a refresh
    let id = w.connect_oauth("user-refresh").await;
    w.oauth.send_expires_in(Some(json!(i64::MAX)));
    let path = format!("/v1/connections/{id}/access-token?force_refresh=true");
    let (status, body) = w.json(Method::GET, &path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let at = expires_at(&w, &id).await.unwrap();
    assert!(at <= app::infra::db::now_ms() + TEN_YEARS_MS, "{at}");
    assert!(at > now + TEN_YEARS_MS - DAY_MS, "{at}");
    w.oauth.send_expires_in(None);

    // a Retry-After of 292 billion years waits a day at most
    w.expire(&id).await;
    w.oauth.fail_refresh(
        RefreshFailure::Unavailable {
            retry_after: Some(i64::MAX as u64),
        },
        1,
    );
    let (status, _) = w.token(&id).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let next: Option<i64> =
        sqlx::query_scalar("SELECT next_attempt_at FROM connections WHERE id = $1")
            .bind(&id)
            .fetch_one(w.app.state.db.pool())
            .await
            .unwrap();
    let next = next.unwrap();
    assert!(next <= app::infra::db::now_ms() + DAY_MS, "{next}");
    // the worker passes over it without a fuss
    app::services::worker::run_once(&w.app.state).await.unwrap();
}
