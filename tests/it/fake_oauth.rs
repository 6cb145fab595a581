//! The fake OAuth server on its own: the code flow with PKCE, rotating refresh
//! tokens with reuse detection, the switches, revocation, userinfo, the API
//! echo and the catalogue definition.
use crate::common;

use base64::Engine as _;
use common::fake_oauth::*;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

const REDIRECT_URI: &str = "http://127.0.0.1:9/oauth/callback?app=1";

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
}

fn verifier() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn query_of(location: &str) -> Vec<(String, String)> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `GET /authorize` with PKCE; returns the redirect's `Location`.
async fn authorize(
    fake: &FakeOAuth,
    client: &reqwest::Client,
    challenge: Option<&str>,
    scope: Option<&str>,
) -> String {
    let mut url = url::Url::parse(&format!("{}/authorize", fake.address)).unwrap();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("client_id", CLIENT_ID)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("state", "state-1");
        if let Some(challenge) = challenge {
            query
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
        }
        if let Some(scope) = scope {
            query.append_pair("scope", scope);
        }
    }
    let res = client.get(url.as_str()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    res.headers()
        .get(reqwest::header::LOCATION)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

async fn post_token(
    client: &reqwest::Client,
    fake: &FakeOAuth,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let res = client
        .post(format!("{}/token", fake.address))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

/// The code flow; returns the token response.
async fn connect(fake: &FakeOAuth, client: &reqwest::Client, scope: Option<&str>) -> Value {
    let verifier = verifier();
    let location = authorize(fake, client, Some(&challenge(&verifier)), scope).await;
    let query = query_of(&location);
    let code = value(&query, "code").unwrap();
    let (status, body) = post_token(
        client,
        fake,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn refresh(
    fake: &FakeOAuth,
    client: &reqwest::Client,
    refresh_token: &str,
) -> (StatusCode, Value) {
    post_token(
        client,
        fake,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

async fn userinfo(fake: &FakeOAuth, client: &reqwest::Client, token: &str) -> (StatusCode, Value) {
    let res = client
        .get(format!("{}/userinfo", fake.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

fn text(body: &Value, field: &str) -> String {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {body}"))
        .to_string()
}

#[tokio::test]
async fn the_code_flow_with_pkce_issues_expiring_tokens() {
    let fake = FakeOAuth::start().await;
    let client = browser();
    let verifier = verifier();
    let location = authorize(
        &fake,
        &client,
        Some(&challenge(&verifier)),
        Some("read write"),
    )
    .await;
    assert!(location.starts_with("http://127.0.0.1:9/oauth/callback?app=1&code="));
    let query = query_of(&location);
    assert_eq!(value(&query, "state"), Some("state-1"));
    let code = value(&query, "code").unwrap();

    let exchange = |verifier: String, redirect_uri: &'static str| {
        let client = client.clone();
        let code = code.to_string();
        let address = fake.address.clone();
        async move {
            let res = client
                .post(format!("{address}/token"))
                .form(&[
                    ("client_id", CLIENT_ID),
                    ("client_secret", CLIENT_SECRET),
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", redirect_uri),
                    ("code_verifier", &verifier),
                ])
                .send()
                .await
                .unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap())
        }
    };
    // a wrong verifier or redirect URI does not use the code up
    let (status, body) = exchange(self::verifier(), REDIRECT_URI).await;
    assert_eq!(
        (status, text(&body, "error")),
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    let (status, body) = exchange(verifier.clone(), "http://127.0.0.1:9/other").await;
    assert_eq!(
        (status, text(&body, "error")),
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );

    // body credentials are accepted as well as HTTP Basic
    let (status, body) = exchange(verifier.clone(), REDIRECT_URI).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = text(&body, "access_token");
    let refresh_token = text(&body, "refresh_token");
    assert!(access.starts_with("fo_at_"));
    assert!(refresh_token.starts_with("fo_rt_"));
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read write");
    assert_eq!(fake.current_access_token(), Some(access.clone()));
    assert_eq!(fake.current_refresh_token(), Some(refresh_token));
    assert_eq!(fake.issued_access_tokens(), vec![access.clone()]);

    let (status, me) = userinfo(&fake, &client, &access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["sub"], "user-1");
    assert_eq!(me["name"], "Fake User");
    assert_eq!(me["email"], "user@fake.example");
    assert_eq!(me["scope"], "read write");

    // a code is single use; its reuse revokes what it issued
    let (status, body) = exchange(verifier, REDIRECT_URI).await;
    assert_eq!(
        (status, text(&body, "error")),
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    assert!(fake.grant_revoked());
    assert_eq!(
        userinfo(&fake, &client, &access).await.0,
        StatusCode::UNAUTHORIZED
    );

    // the wrong client secret
    let res = client
        .post(format!("{}/token", fake.address))
        .basic_auth(CLIENT_ID, Some("wrong"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    assert_eq!(fake.refresh_requests(), 1);
    assert_eq!(fake.token_requests().len(), 5);

    // PKCE is required; unknown scopes are refused; no scope grants "read"
    let location = authorize(&fake, &client, None, None).await;
    assert_eq!(
        value(&query_of(&location), "error"),
        Some("invalid_request")
    );
    let location = authorize(
        &fake,
        &client,
        Some(&challenge(&self::verifier())),
        Some("admin"),
    )
    .await;
    assert_eq!(value(&query_of(&location), "error"), Some("invalid_scope"));
    assert_eq!(connect(&fake, &client, None).await["scope"], "read");
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_grant() {
    let fake = FakeOAuth::start().await;
    let client = browser();
    let first = connect(&fake, &client, None).await;
    let old_refresh = text(&first, "refresh_token");

    let (status, second) = refresh(&fake, &client, &old_refresh).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let new_refresh = text(&second, "refresh_token");
    let new_access = text(&second, "access_token");
    assert_ne!(new_refresh, old_refresh);
    assert_eq!(second["expires_in"], 3600);
    assert_eq!(second["scope"], "read");
    assert_eq!(fake.current_refresh_token(), Some(new_refresh.clone()));
    assert_eq!(fake.current_access_token(), Some(new_access.clone()));
    assert!(!fake.grant_revoked());

    // the old refresh token again: reuse, the grant is revoked
    let (status, body) = refresh(&fake, &client, &old_refresh).await;
    assert_eq!(
        (status, text(&body, "error")),
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    assert!(fake.grant_revoked());
    let (status, body) = refresh(&fake, &client, &new_refresh).await;
    assert_eq!(
        (status, text(&body, "error")),
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    assert_eq!(
        userinfo(&fake, &client, &new_access).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(fake.current_refresh_token(), None);
    assert_eq!(fake.current_access_token(), None);
    assert_eq!(fake.refresh_requests(), 3);

    let (status, body) = refresh(&fake, &client, "fo_rt_unknown").await;
    assert_eq!(
        (status, text(&body, "error")),
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_trip_reuse_detection() {
    let fake = FakeOAuth::start().await;
    let client = browser();
    let refresh_token = text(&connect(&fake, &client, None).await, "refresh_token");
    fake.set_refresh_delay(200);
    let (a, b) = tokio::join!(
        refresh(&fake, &client, &refresh_token),
        refresh(&fake, &client, &refresh_token)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::BAD_REQUEST]);
    assert!(fake.grant_revoked());
    assert_eq!(fake.refresh_requests(), 2);
}

#[tokio::test]
async fn without_rotation_or_without_a_refresh_token_in_the_answer_the_old_one_stays_valid() {
    let fake = FakeOAuth::start().await;
    let client = browser();
    let refresh_token = text(&connect(&fake, &client, None).await, "refresh_token");

    fake.set_rotate(false);
    fake.set_expires_in(None);
    for _ in 0..2 {
        let (status, body) = refresh(&fake, &client, &refresh_token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(text(&body, "refresh_token"), refresh_token);
        assert!(body.get("expires_in").is_none(), "{body}");
    }

    fake.set_rotate(true);
    fake.set_refresh_token_in_response(false);
    fake.set_expires_in(Some(60));
    for _ in 0..2 {
        let (status, body) = refresh(&fake, &client, &refresh_token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("refresh_token").is_none(), "{body}");
        assert_eq!(body["expires_in"], 60);
    }
    assert!(!fake.grant_revoked());
    assert_eq!(fake.current_refresh_token(), Some(refresh_token));
    assert_eq!(fake.issued_access_tokens().len(), 5);

    // an access token issued already expired
    fake.set_expires_in(Some(0));
    let body = connect(&fake, &client, None).await;
    assert_eq!(body["expires_in"], 0);
    let (status, _) = userinfo(&fake, &client, &text(&body, "access_token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refresh_failures_then_normal_service() {
    let fake = FakeOAuth::start().await;
    let client = browser();
    let refresh_token = text(&connect(&fake, &client, None).await, "refresh_token");

    fake.fail_refresh(
        RefreshFailure::Unavailable {
            retry_after: Some(7),
        },
        1,
    );
    let res = client
        .post(format!("{}/token", fake.address))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()[reqwest::header::RETRY_AFTER], "7");

    fake.fail_refresh(RefreshFailure::TooManyRequests { retry_after: 3 }, 2);
    for _ in 0..2 {
        let res = client
            .post(format!("{}/token", fake.address))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[reqwest::header::RETRY_AFTER], "3");
    }

    fake.fail_refresh(RefreshFailure::InvalidGrant, 1);
    let (status, body) = refresh(&fake, &client, &refresh_token).await;
    assert_eq!(
        (status, text(&body, "error")),
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );

    fake.fail_refresh(RefreshFailure::Unavailable { retry_after: None }, 1);
    let res = client
        .post(format!("{}/token", fake.address))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().get(reqwest::header::RETRY_AFTER).is_none());

    // the failures used nothing up: the refresh token still works
    let (status, body) = refresh(&fake, &client, &refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(fake.refresh_requests(), 6);
    assert!(!fake.grant_revoked());
}

#[tokio::test]
async fn revocation() {
    let fake = FakeOAuth::start().await;
    let client = browser();
    let revoke = |token: String| {
        let client = client.clone();
        let address = fake.address.clone();
        async move {
            client
                .post(format!("{address}/revoke"))
                .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
                .form(&[
                    ("token", token.as_str()),
                    ("token_type_hint", "refresh_token"),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };

    let first = connect(&fake, &client, None).await;
    let second = connect(&fake, &client, None).await;

    // an access token revokes only itself
    assert_eq!(revoke(text(&first, "access_token")).await, StatusCode::OK);
    assert_eq!(
        userinfo(&fake, &client, &text(&first, "access_token"))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert!(!fake.grant_revoked());
    let (status, _) = refresh(&fake, &client, &text(&first, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK);

    // a refresh token revokes its grant
    assert_eq!(revoke(text(&second, "refresh_token")).await, StatusCode::OK);
    assert!(fake.grant_revoked());
    assert_eq!(
        userinfo(&fake, &client, &text(&second, "access_token"))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = refresh(&fake, &client, &text(&second, "refresh_token")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // unknown tokens are fine; a failing server says so
    assert_eq!(revoke("nonsense".into()).await, StatusCode::OK);
    fake.fail_revocation(Some(503));
    assert_eq!(
        revoke("nonsense".into()).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    fake.fail_revocation(None);

    let revocations = fake.revocations();
    assert_eq!(revocations.len(), 4);
    assert_eq!(
        value(&revocations[1], "token"),
        Some(text(&second, "refresh_token").as_str())
    );
    assert_eq!(
        value(&revocations[1], "token_type_hint"),
        Some("refresh_token")
    );

    // revoke_grants takes every grant
    let third = connect(&fake, &client, None).await;
    fake.revoke_grants();
    let (status, _) = refresh(&fake, &client, &text(&third, "refresh_token")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn userinfo_refuses_expired_tokens() {
    let fake = FakeOAuth::start().await;
    let client = browser();
    let body = connect(&fake, &client, None).await;
    let access = text(&body, "access_token");
    assert_eq!(userinfo(&fake, &client, &access).await.0, StatusCode::OK);
    fake.expire_access_tokens();
    let (status, body) = userinfo(&fake, &client, &access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(fake.current_access_token(), None);

    // refreshing gives a working one
    let (status, body) = refresh(&fake, &client, &fake.current_refresh_token().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        userinfo(&fake, &client, &text(&body, "access_token"))
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_api_echoes_and_can_refuse_valid_tokens() {
    let fake = FakeOAuth::start().await;
    let client = browser();
    let access = text(&connect(&fake, &client, None).await, "access_token");

    let res = client
        .post(format!("{}/api/v1/items?limit=2&q=a%20b", fake.address))
        .bearer_auth(&access)
        .header("X-Custom", "Value")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-fake"], "yes");
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "ok": true,
            "method": "POST",
            "path": "/v1/items",
            "query": "limit=2&q=a%20b",
            "body_len": 5,
        })
    );
    let seen = fake.api_requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/v1/items");
    assert_eq!(seen[0].query.as_deref(), Some("limit=2&q=a%20b"));
    assert_eq!(seen[0].body, b"hello");
    assert_eq!(seen[0].header("x-custom"), Some("Value"));
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {access}").as_str())
    );
    assert!(seen[0]
        .headers
        .iter()
        .all(|(k, _)| *k == k.to_ascii_lowercase()));

    let get = |token: String| {
        let client = client.clone();
        let address = fake.address.clone();
        async move {
            client
                .get(format!("{address}/api/me"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    fake.fail_api_with_401(2);
    assert_eq!(get(access.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(get(access.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(get(access.clone()).await, StatusCode::OK);
    assert_eq!(get("fo_at_wrong".into()).await, StatusCode::UNAUTHORIZED);
    fake.expire_access_tokens();
    assert_eq!(get(access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(fake.api_requests().len(), 6);
}

#[tokio::test]
async fn the_definition_is_a_valid_catalogue_entry_pointing_here() {
    use app::catalogue::{
        loader as catalogue, urls::OutboundPolicy, ClientAuth, HealthCheck, TokenLifecycle,
    };

    let fake = FakeOAuth::start().await;
    let text = fake.definition_toml();
    assert!(text.contains(&fake.address));
    let without_address = text.replace(&fake.address, "");
    assert!(!without_address.contains("http"), "{without_address}");
    assert!(!without_address.contains(".com"), "{without_address}");

    let policy = OutboundPolicy::new(vec![fake.host()]);
    let def = catalogue::parse("fakeoauth.toml", &text, &policy).unwrap();
    assert_eq!(def.id, PROVIDER_ID);
    assert_eq!(def.oauth.token_url, format!("{}/token", fake.address));
    assert_eq!(
        def.oauth.revocation_url,
        Some(format!("{}/revoke", fake.address))
    );
    assert_eq!(def.oauth.client_auth, ClientAuth::Basic);
    assert_eq!(def.tokens.lifecycle, TokenLifecycle::RotatingRefresh);
    assert_eq!(def.tokens.health_check, HealthCheck::None);
    assert_eq!(
        def.identity.unwrap().url,
        format!("{}/userinfo", fake.address)
    );
    assert_eq!(def.api.unwrap().base_url, format!("{}/api", fake.address));
    assert_eq!(def.default_scopes, vec!["read"]);
    // without the allow-list, the local address is refused
    assert!(catalogue::parse("fakeoauth.toml", &text, &OutboundPolicy::default()).is_err());

    let dir = tempfile::tempdir().unwrap();
    fake.write_catalogue(&dir.path().join("providers")).unwrap();
    let written = std::fs::read_to_string(dir.path().join("providers/fakeoauth.toml")).unwrap();
    assert_eq!(written, text);
}

#[tokio::test]
async fn a_timed_out_refresh_changes_nothing() {
    let fake = FakeOAuth::start().await;
    let client = browser();
    let refresh_token = text(&connect(&fake, &client, None).await, "refresh_token");
    fake.fail_refresh(RefreshFailure::Timeout, 1);
    let res = client
        .post(format!("{}/token", fake.address))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .timeout(std::time::Duration::from_millis(300))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
        ])
        .send()
        .await;
    assert!(res.unwrap_err().is_timeout());
    let (status, body) = refresh(&fake, &client, &refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(fake.refresh_requests(), 2);
}
