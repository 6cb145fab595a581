//! The per-API-key rate limit of `/v1`: headers on every authenticated
//! answer, 429 with `Retry-After` over the limit, one key's use never
//! another's, off with 0.
use crate::common;
use crate::refresh::SETUP;
use common::World;
use reqwest::{header::HeaderMap, Method, StatusCode};
use serde_json::Value;

const FIVE_A_MINUTE: &[(&str, &str)] = &[("OAUTH_VAULT_API_RATE_LIMIT", "5")];
const NO_LIMIT: &[(&str, &str)] = &[("OAUTH_VAULT_API_RATE_LIMIT", "0")];

with_world!(SETUP;
    a_key_over_its_limit_is_told_when_to_retry with FIVE_A_MINUTE,
    zero_switches_the_limit_off with NO_LIMIT,
    answers_carry_the_default_limit,
);

fn header(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.parse().ok()
}

/// Another API key of the world's app.
async fn second_key(w: &World) -> String {
    let keys = format!("/apps/{}/api-keys", w.app_id);
    let res = w
        .app
        .submit(&keys, &keys, &[("_action", "create"), ("name", "worker")])
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let html = res.text().await.unwrap();
    crate::common::shown_value(&html, "ovk_")
}

async fn call_with(w: &World, key: &str, path: &str) -> (StatusCode, Value, HeaderMap) {
    let res = common::sent(
        w.app
            .client
            .request(Method::GET, w.app.url(path))
            .bearer_auth(key)
            .send()
            .await,
    )
    .await;
    let status = res.status();
    let headers = res.headers().clone();
    (status, res.json().await.unwrap_or(Value::Null), headers)
}

async fn a_key_over_its_limit_is_told_when_to_retry(w: World) {
    let other = second_key(&w).await;
    // five requests a minute, whatever they ask (a 404 counts too)
    for (i, path) in [
        "/v1/connections",
        "/v1/connections/conn_unknown",
        "/v1/connections",
        "/v1/connections",
        "/v1/connections",
    ]
    .iter()
    .enumerate()
    {
        let (status, body, headers) = call_with(&w, &w.key, path).await;
        assert!(
            status == StatusCode::OK || status == StatusCode::NOT_FOUND,
            "{body}"
        );
        assert_eq!(header(&headers, "ratelimit-limit"), Some(5), "{i}");
        assert_eq!(header(&headers, "ratelimit-remaining"), Some(4 - i as u64));
        let reset = header(&headers, "ratelimit-reset").unwrap();
        assert!((1..=60).contains(&reset), "{reset}");
        assert!(headers.get("retry-after").is_none());
    }
    // the sixth is refused, and says when to retry
    let (status, body, headers) = call_with(&w, &w.key, "/v1/connections").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    let retry = header(&headers, "retry-after").unwrap();
    assert!((1..=12).contains(&retry), "{retry}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("retry in {retry} s")),
        "{message}"
    );
    assert!(!message.contains('\n'));
    assert_eq!(header(&headers, "ratelimit-limit"), Some(5));
    assert_eq!(header(&headers, "ratelimit-remaining"), Some(0));
    assert!(header(&headers, "ratelimit-reset").unwrap() >= retry);
    assert_eq!(headers["cache-control"], "no-store");
    // a refused request does nothing: no connect session is created
    let sessions = w.app.count("connect_sessions").await;
    let res = common::sent(
        w.app
            .client
            .post(w.app.url("/v1/connect/sessions"))
            .bearer_auth(&w.key)
            .json(&serde_json::json!({ "end_user_id": "user-9" }))
            .send()
            .await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(w.app.count("connect_sessions").await, sessions);

    // another key of the same app has its own allowance
    let (status, _, headers) = call_with(&w, &other, "/v1/connections").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "ratelimit-remaining"), Some(4));

    // requests without a valid key are not counted against any key and
    // carry no rate-limit headers
    let (status, _, headers) = call_with(&w, "ovk_not-a-key", "/v1/connections").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.get("ratelimit-limit").is_none());
    // the document is public and not limited
    let doc = w.app.get("/v1/openapi.json").await;
    assert_eq!(doc.status(), StatusCode::OK);
    assert!(doc.headers().get("ratelimit-limit").is_none());
}

async fn zero_switches_the_limit_off(w: World) {
    for _ in 0..30 {
        let (status, _, headers) = call_with(&w, &w.key, "/v1/connections").await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers.get("ratelimit-limit").is_none());
        assert!(headers.get("retry-after").is_none());
    }
}

async fn answers_carry_the_default_limit(w: World) {
    let id = w.connect_oauth("user-1").await;
    for path in [
        "/v1/connections".to_string(),
        format!("/v1/connections/{id}"),
        format!("/v1/connections/{id}/access-token"),
        format!("/v1/proxy/{id}/things"),
        "/v1/connections/conn_unknown".to_string(),
    ] {
        let (_, _, headers) = call_with(&w, &w.key, &path).await;
        assert_eq!(header(&headers, "ratelimit-limit"), Some(1200), "{path}");
        assert!(header(&headers, "ratelimit-remaining").unwrap() < 1200);
        assert!(header(&headers, "ratelimit-reset").is_some(), "{path}");
    }

    // the OpenAPI document tells
    let doc: Value = w.app.get("/v1/openapi.json").await.json().await.unwrap();
    let token = &doc["paths"]["/v1/connections/{id}/access-token"]["get"]["responses"];
    assert_eq!(
        token["429"]["headers"]["Retry-After"]["schema"]["type"],
        "integer"
    );
    assert!(token["429"]["description"]
        .as_str()
        .unwrap()
        .contains("rate_limited"));
    for header in ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"] {
        assert!(token["200"]["headers"][header].is_object(), "{header}");
        assert!(token["429"]["headers"][header].is_object(), "{header}");
    }
    assert!(token["401"]["headers"]["RateLimit-Limit"].is_null());
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            assert!(operation["responses"]["429"].is_object(), "{method} {path}");
        }
    }
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"].to_string();
    assert!(codes.contains("rate_limited"), "{codes}");
}
