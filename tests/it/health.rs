//! `/healthz` and `/readyz`.
use crate::common;

use common::TestApp;
use reqwest::StatusCode;
use serde_json::Value;

on_both_databases!(
    healthz_answers_ok,
    readyz_reports_the_database,
    readyz_fails_when_the_database_is_gone
);

async fn healthz_answers_ok(app: TestApp) {
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

async fn readyz_reports_the_database(app: TestApp) {
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], app.state.db.kind().as_str());
}

async fn readyz_fails_when_the_database_is_gone(app: TestApp) {
    app.state.db.close().await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    // liveness is not readiness: the process itself is still up
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}
