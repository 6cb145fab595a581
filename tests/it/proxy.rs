//! The proxy: calls to the provider's API base with the connection's token,
//! never elsewhere; what travels and what does not.
use crate::common;
use crate::refresh::SETUP;
use common::World;
use reqwest::{Method, StatusCode};
use serde_json::Value;

with_world!(SETUP; the_proxy_calls_the_api_base_with_the_token);

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
