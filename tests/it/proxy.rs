//! The proxy: calls to the provider's API base with the connection's token,
//! never elsewhere; what travels and what does not.
use crate::common;
use crate::refresh::SETUP;
use common::World;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const DURABLE: &[(&str, &str)] = &[("OAUTH_VAULT_TOKEN_READ_AUDIT", "durable")];

with_world!(SETUP;
    the_proxy_calls_the_api_base_with_the_token,
    every_proxied_call_leaves_one_audit_entry,
    proxied_calls_are_audited_before_the_answer_when_durable with DURABLE,
);

/// The `connection.proxied` entries: (actor type, actor id, organisation,
/// app, target type, target id, detail), oldest first.
type Proxied = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

async fn proxied(w: &World) -> Vec<Proxied> {
    sqlx::query_as(
        "SELECT actor_type, actor_id, organisation_id, app_id, target_type, target_id, detail \
         FROM audit_events WHERE action = 'connection.proxied' ORDER BY at, id",
    )
    .fetch_all(w.app.state.db.pool())
    .await
    .unwrap()
}

/// The entries once there are `n` of them (the writer commits right after
/// the answer by default).
async fn proxied_entries(w: &World, n: usize) -> Vec<Proxied> {
    for _ in 0..100 {
        let found = proxied(w).await;
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    proxied(w).await
}

async fn every_proxied_call_leaves_one_audit_entry(w: World) {
    let id = w.connect_oauth("user-1").await;
    let key_id: String = sqlx::query_scalar("SELECT id FROM api_keys WHERE app_id = $1")
        .bind(&w.app_id)
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    let res = common::sent(
        w.app
            .client
            .post(w.app.url(&format!(
                "/v1/proxy/{id}/records/query?limit=5&email=ada%40example.com"
            )))
            .bearer_auth(&w.key)
            .header("x-custom", "header-value-not-audited")
            .body(r#"{"filter":"body-not-audited"}"#)
            .send()
            .await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let entries = proxied_entries(&w, 1).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let (actor_type, actor_id, organisation, app_id, target_type, target_id, detail) =
        entries[0].clone();
    assert_eq!(actor_type, "api_key");
    assert_eq!(actor_id.as_deref(), Some(key_id.as_str()));
    assert!(organisation.is_some());
    assert_eq!(app_id.as_deref(), Some(w.app_id.as_str()));
    assert_eq!(target_type.as_deref(), Some("connection"));
    assert_eq!(target_id.as_deref(), Some(id.as_str()));
    let detail = detail.unwrap();
    assert!(
        detail.starts_with("POST /records/query → 200 in ") && detail.ends_with(" ms"),
        "{detail}"
    );
    let token = w.oauth.current_access_token().unwrap();
    let row = format!("{:?}", entries[0]);
    for secret in [
        "limit",
        "?",
        "ada@example", // not "ada" alone: random hex ids may hold it
        "ada%40example",
        "not-audited",
        token.as_str(),
        w.key.as_str(),
    ] {
        assert!(!row.contains(secret), "{secret} in {row}");
    }

    // a provider error is audited too: one entry for the call and its retry
    w.oauth.fail_api_with_401(5);
    let (status, _, _) = w
        .call(
            &w.app.address,
            Method::GET,
            &format!("/v1/proxy/{id}/things?x=1"),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let entries = proxied_entries(&w, 2).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    let detail = entries[1].6.clone().unwrap();
    assert!(detail.starts_with("GET /things → 401 in "), "{detail}");

    // requests that never reach the provider are no proxied calls
    for path in [
        "/v1/proxy/conn_unknown/things".to_string(),
        format!("/v1/proxy/{id}/a%2Fb"),
    ] {
        let (status, _, _) = w.call(&w.app.address, Method::GET, &path).await;
        assert!(status.is_client_error(), "{path}");
    }
    // (a later call's entry shows the writer got past them)
    w.call(
        &w.app.address,
        Method::DELETE,
        &format!("/v1/proxy/{id}/things/1"),
    )
    .await;
    let entries = proxied_entries(&w, 3).await;
    assert_eq!(entries.len(), 3, "{entries:?}");
    let detail = entries[2].6.clone().unwrap();
    assert!(detail.starts_with("DELETE /things/1 → "), "{detail}");
}

async fn proxied_calls_are_audited_before_the_answer_when_durable(w: World) {
    let id = w.connect_oauth("user-1").await;
    for n in 1..=3 {
        let (status, _, _) = w
            .call(
                &w.app.address,
                Method::GET,
                &format!("/v1/proxy/{id}/things"),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(proxied(&w).await.len(), n, "committed before the answer");
    }
}

async fn the_proxy_calls_the_api_base_with_the_token(w: World) {
    let id = w.connect_oauth("user-1").await;
    let res = common::sent(
        w.app
            .client
            .post(w.app.url(&format!("/v1/proxy/{id}/records/query?limit=5")))
            .bearer_auth(&w.key)
            .header("cookie", "session=caller")
            .header("x-custom", "kept")
            .header("content-type", "application/json")
            .body(r#"{"filter":{}}"#)
            .send()
            .await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["x-fake"],
        "yes",
        "the provider's headers come back"
    );
    // the provider's rate limit under its own name, the key's under the
    // standard one
    assert_eq!(res.headers()["provider-ratelimit-remaining"], "99");
    assert_ne!(res.headers()["ratelimit-remaining"], "99");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["path"], "/records/query");
    assert_eq!(body["method"], "POST");
    assert_eq!(body["query"], "limit=5");
    assert_eq!(body["body_len"], 13);
    let seen = w.oauth.api_requests().pop().unwrap();
    let token = w.oauth.current_access_token().unwrap();
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(seen.header("cookie"), None, "cookies are not forwarded");
    assert_eq!(seen.header("x-custom"), Some("kept"));
    assert!(
        !format!("{:?}", seen.headers).contains(&w.key),
        "the API key stays here"
    );

    // a 401 from the provider: one refresh, one retry
    w.oauth.fail_api_with_401(1);
    let (status, body, _) = w
        .call(
            &w.app.address,
            Method::GET,
            &format!("/v1/proxy/{id}/things"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(w.oauth.refresh_requests(), 1);
    // a provider that keeps refusing: its answer comes back after one retry
    w.oauth.fail_api_with_401(5);
    let (status, _, _) = w
        .call(
            &w.app.address,
            Method::GET,
            &format!("/v1/proxy/{id}/things"),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        w.oauth.refresh_requests(),
        2,
        "one refresh per call at most"
    );

    // the path cannot leave the API base
    let before = w.oauth.api_requests().len();
    for bad in ["x%2Fy", "https:%2F%2Fevil.example", "a%5Cb"] {
        let (status, body, _) = w
            .call(
                &w.app.address,
                Method::GET,
                &format!("/v1/proxy/{id}/{bad}"),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(body["error"]["errors"][0]["field"], "path");
    }
    let res = common::sent(
        w.app
            .client
            .get(format!("{}/v1/proxy/{id}//evil.example/x", w.app.address))
            .bearer_auth(&w.key)
            .send()
            .await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // clients normalise `..`; a raw request shows the server refuses it too
    for raw in ["../admin", "a/%2e%2e/%2E%2E/b"] {
        let answer = raw_get(&w, &format!("/v1/proxy/{id}/{raw}")).await;
        assert!(answer.starts_with("HTTP/1.1 422"), "{raw}: {answer}");
    }
    assert_eq!(
        w.oauth.api_requests().len(),
        before,
        "nothing reached the provider"
    );

    // unknown and foreign connections
    let (status, _, _) = w
        .call(&w.app.address, Method::GET, "/v1/proxy/conn_unknown/things")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A GET sent byte for byte, without a client's URL normalisation.
async fn raw_get(w: &World, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = w.app.address.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        w.key
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_string(&mut answer),
    )
    .await
    .unwrap()
    .unwrap();
    answer
}
