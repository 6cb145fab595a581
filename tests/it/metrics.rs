//! Operating the vault: Prometheus metrics behind their token (never open
//! by default) and a request id on every answer.
use crate::common::{self, spawn_app_with, Backend, Setup, World};
use reqwest::{Method, StatusCode};

with_world!(
    SETUP;
    metrics_count_what_happens with VARS,
);

const TOKEN: &str = "metrics-token-0123456789abcdef";
const VARS: &[(&str, &str)] = &[("OAUTH_VAULT_METRICS_TOKEN", TOKEN)];

const SETUP: Setup = Setup {
    return_url: "https://app.example.com/done",
    attio_scopes: &["record_permission:read"],
    fake_oauth: true,
};

async fn scrape(w: &World, token: Option<&str>) -> (StatusCode, String) {
    let mut request = w.app.client.get(w.app.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let res = common::sent(request.send().await).await;
    (res.status(), res.text().await.unwrap())
}

/// The value of the series `name{labels}` (labels as Prometheus writes
/// them, in order), if it is there.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn metrics_count_what_happens(w: World) {
    // no token, a wrong one: 401 and nothing else
    for token in [None, Some("metrics-token-wrong-0000000000")] {
        let (status, text) = scrape(&w, token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(!text.contains("oauth_vault_"), "{text}");
    }
    let id = w.connect_oauth("user-1").await;
    let (status, _) = w.token(&id).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = w
        .json(
            Method::GET,
            &format!("/v1/connections/{id}/access-token?force_refresh=true"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = w.token("conn_nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    oauth_vault::metrics::sample_once(&w.app.state.services)
        .await
        .unwrap();

    let (status, text) = scrape(&w, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("oauth_vault_build_info{version=\""), "{text}");
    for series in [
        r#"oauth_vault_token_requests_total{outcome="served"}"#,
        r#"oauth_vault_token_requests_total{outcome="refreshed"}"#,
        r#"oauth_vault_token_requests_total{outcome="not_found"}"#,
        r#"oauth_vault_refreshes_total{provider="fakeoauth",outcome="success"}"#,
        r#"oauth_vault_http_requests_total{route="/v1/connections/{id}/access-token",method="GET",status_class="2xx"}"#,
        r#"oauth_vault_connections{status="active"}"#,
        r#"oauth_vault_db_pool_max"#,
        r#"oauth_vault_refresh_backlog"#,
        r#"oauth_vault_webhook_outbox_backlog"#,
    ] {
        let found = value(&text, series);
        assert!(
            found.is_some_and(|v| v >= 1.0 || series.contains("backlog")),
            "{series} in {text}"
        );
    }
    assert!(text.contains("oauth_vault_http_request_duration_seconds_bucket{route=\"/v1/connections/{id}/access-token\""));
    assert!(text.contains("oauth_vault_refresh_duration_seconds_count{provider=\"fakeoauth\"}"));
    // low-cardinality labels only: never an id
    assert!(!text.contains("conn_"), "no connection id in the metrics");
    assert!(!text.contains("user-1"), "no end-user id in the metrics");

    // a status that empties is sampled as 0, not left at its last count
    // (read from this world's database: the recorder is the process's)
    let db = &w.app.state.services.db;
    let counts = |stored: app::store::stats::Stored| {
        let of = |name| {
            stored
                .connections
                .iter()
                .find(|(s, _)| *s == name)
                .map(|(_, n)| *n)
        };
        (
            of("active"),
            of("needs_reauthorization"),
            of("error"),
            of("revoked"),
        )
    };
    let now = app::infra::db::now_ms();
    let stored = app::store::stats::sample(db, now, 0).await.unwrap();
    assert_eq!(counts(stored), (Some(1), Some(0), Some(0), Some(0)));
    let (status, _) = w
        .json(Method::DELETE, &format!("/v1/connections/{id}"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let stored = app::store::stats::sample(db, now, 0).await.unwrap();
    assert_eq!(counts(stored), (Some(0), Some(0), Some(0), Some(1)));
}

/// Without `OAUTH_VAULT_METRICS_TOKEN`, the main port has no `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_not_public_by_default() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await.unwrap();
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(!res.text().await.unwrap().contains("oauth_vault_build_info"));
    app.stop().await;
}

/// Every answer names its request; an id from the client is taken only
/// from a trusted proxy, and an API error quotes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_has_a_request_id() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await.unwrap();
    let res = common::sent(
        app.client
            .get(app.url("/v1/connections"))
            .header("x-request-id", "from-the-client-1")
            .send()
            .await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(
        id.starts_with("req_"),
        "not taken from an untrusted client: {id}"
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], id.as_str());
    app.stop().await;

    let app = spawn_app_with(
        Backend::Sqlite,
        &[("OAUTH_VAULT_TRUSTED_PROXIES", "127.0.0.1/32")],
    )
    .await
    .unwrap();
    for (sent, kept) in [("proxy-id-42", true), ("bad id <x>", false)] {
        let res = common::sent(
            app.client
                .get(app.url("/healthz"))
                .header("x-request-id", sent)
                .send()
                .await,
        )
        .await;
        let id = res.headers()["x-request-id"].to_str().unwrap();
        assert_eq!(id == sent, kept, "{sent} → {id}");
    }
    app.stop().await;
}
