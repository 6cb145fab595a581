//! The fake Attio on its own: the authorization code flow with PKCE, the
//! token endpoint's checks, the identity and introspection endpoints, and the
//! switches that make it misbehave.
use crate::common;

use base64::Engine as _;
use common::fake_attio::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
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

fn authorize_url(fake: &FakeAttio, state: &str, challenge: Option<&str>) -> String {
    let mut url = url::Url::parse(&format!("{}/authorize", fake.address)).unwrap();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("client_id", CLIENT_ID)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("state", state);
        if let Some(challenge) = challenge {
            query
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
        }
    }
    url.to_string()
}

fn query_of(location: &str) -> Vec<(String, String)> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Approves an authorization with PKCE; returns the code and its verifier.
async fn approved_code(fake: &FakeAttio, client: &reqwest::Client) -> (String, String) {
    let verifier = verifier();
    let url = authorize_url(fake, "state-1", Some(&challenge(&verifier)));
    let location = fake.consent(client, &url, true).await;
    let query = query_of(&location);
    assert_eq!(value(&query, "state"), Some("state-1"));
    (value(&query, "code").unwrap().to_string(), verifier)
}

async fn exchange(
    fake: &FakeAttio,
    client: &reqwest::Client,
    code: &str,
    verifier: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = vec![
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
    ];
    if let Some(verifier) = verifier {
        form.push(("code_verifier", verifier));
    }
    let res = client
        .post(format!("{}/oauth/token", fake.address))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

async fn access_token(fake: &FakeAttio, client: &reqwest::Client) -> String {
    let (code, verifier) = approved_code(fake, client).await;
    let (status, body) = exchange(fake, client, &code, Some(&verifier)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn identify(fake: &FakeAttio, client: &reqwest::Client, token: &str) -> (StatusCode, Value) {
    let res = client
        .get(format!("{}/v2/self", fake.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

async fn introspect(
    fake: &FakeAttio,
    client: &reqwest::Client,
    token: &str,
) -> (StatusCode, Value) {
    let res = client
        .post(format!("{}/oauth/introspect", fake.address))
        .form(&[
            ("token", token),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn approval_with_pkce_issues_a_token_that_identifies_the_workspace() {
    let fake = FakeAttio::start().await;
    let client = browser();
    let verifier = verifier();
    let url = authorize_url(&fake, "xyz", Some(&challenge(&verifier)));

    let page = client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>Authorize access</h1>"));
    assert!(html.contains("Allow this integration to access Acme Workspace"));
    assert!(html.contains(r#"<a id="approve" href="/authorize/decision?request="#));

    let location = fake.consent(&client, &url, true).await;
    assert!(location.starts_with("http://127.0.0.1:9/oauth/callback?app=1&code="));
    let query = query_of(&location);
    assert_eq!(value(&query, "app"), Some("1"));
    assert_eq!(value(&query, "state"), Some("xyz"));
    assert_eq!(value(&query, "iss"), None);
    let code = value(&query, "code").unwrap();

    let (status, body) = exchange(&fake, &client, code, Some(&verifier)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap();
    assert!(token.starts_with("attio_at_") && token.len() >= 9 + 32);
    assert_eq!(
        body,
        json!({"access_token": token, "token_type": "Bearer"}),
        "no refresh_token, expires_in or scope"
    );
    assert_eq!(fake.issued_tokens(), vec![token.to_string()]);

    let (status, me) = identify(&fake, &client, token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["active"], true);
    assert_eq!(me["workspace_id"], "ws_0001");
    assert_eq!(me["sub"], "ws_0001");
    assert_eq!(me["workspace_name"], "Acme Workspace");
    assert_eq!(me["workspace_slug"], "acme");
    assert_eq!(me["workspace_logo_url"], Value::Null);
    assert_eq!(me["scope"], "record_permission:read list_entry:read");
    assert_eq!(me["client_id"], CLIENT_ID);
    assert_eq!(me["aud"], CLIENT_ID);
    assert_eq!(me["token_type"], "Bearer");
    assert_eq!(me["exp"], Value::Null);
    assert!(me["iat"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(me["iss"], "attio.com");
    assert!(me["authorized_by_workspace_member_id"].is_string());

    let (status, info) = introspect(&fake, &client, token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info, me);

    let objects: Value = client
        .get(format!("{}/v2/objects", fake.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(objects["data"][0]["api_slug"], "people");

    let listed: Value = client
        .get(format!("{}/_fake/tokens", fake.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!({"tokens": [token]}));

    let authorizations = fake.authorize_requests();
    assert_eq!(authorizations.len(), 2);
    assert_eq!(value(&authorizations[0], "client_id"), Some(CLIENT_ID));
    assert_eq!(value(&authorizations[0], "scope"), None);
    let exchanges = fake.token_requests();
    assert_eq!(exchanges.len(), 1);
    assert_eq!(
        value(&exchanges[0], "code_verifier"),
        Some(verifier.as_str())
    );
}

#[tokio::test]
async fn a_code_is_single_use() {
    let fake = FakeAttio::start().await;
    let client = browser();
    let (code, verifier) = approved_code(&fake, &client).await;
    let (status, _) = exchange(&fake, &client, &code, Some(&verifier)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = exchange(&fake, &client, &code, Some(&verifier)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(fake.issued_tokens().len(), 1);
}

#[tokio::test]
async fn a_wrong_or_missing_verifier_or_redirect_uri_is_an_invalid_grant() {
    let fake = FakeAttio::start().await;
    let client = browser();

    let (code, _) = approved_code(&fake, &client).await;
    let (status, body) = exchange(&fake, &client, &code, Some(&verifier())).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let (code, _) = approved_code(&fake, &client).await;
    let (status, body) = exchange(&fake, &client, &code, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let (code, verifier) = approved_code(&fake, &client).await;
    let res = client
        .post(format!("{}/oauth/token", fake.address))
        .form(&[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/oauth/callback"),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert!(fake.issued_tokens().is_empty());
}

#[tokio::test]
async fn client_authentication_and_grant_type_are_checked() {
    let fake = FakeAttio::start().await;
    let client = browser();
    let token_url = format!("{}/oauth/token", fake.address);

    let (code, verifier) = approved_code(&fake, &client).await;
    let res = client
        .post(&token_url)
        .form(&[
            ("client_id", CLIENT_ID),
            ("client_secret", "wrong"),
            ("grant_type", "authorization_code"),
            ("code", &code),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    let res = client
        .post(&token_url)
        .form(&[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );

    // HTTP Basic works too
    let res = client
        .post(&token_url)
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let res = client
        .post(format!("{}/oauth/introspect", fake.address))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn denial_and_bad_authorization_requests() {
    let fake = FakeAttio::start().await;
    let client = browser();
    let url = authorize_url(&fake, "st", Some(&challenge(&verifier())));
    let location = fake.consent(&client, &url, false).await;
    let query = query_of(&location);
    assert_eq!(value(&query, "error"), Some("access_denied"));
    assert_eq!(
        value(&query, "error_description"),
        Some("The user denied access")
    );
    assert_eq!(value(&query, "state"), Some("st"));
    assert_eq!(value(&query, "code"), None);

    for (name, bad) in [
        ("client_id", "someone-else"),
        ("response_type", "token"),
        ("redirect_uri", "/relative"),
        ("state", ""),
        ("code_challenge_method", "plain"),
    ] {
        let mut url = url::Url::parse(&url).unwrap();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == name {
                    bad.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        let res = client.get(url.as_str()).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{name}={bad}");
        assert!(res.text().await.unwrap().contains(name), "{name}={bad}");
    }

    let res = client
        .get(format!(
            "{}/authorize/decision?request=unknown&approve=1",
            fake.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn token_switches() {
    let fake = FakeAttio::start().await;
    let client = browser();

    for (failure, status, error) in [
        (TokenFailure::InvalidGrant, 400, Some("invalid_grant")),
        (TokenFailure::InvalidClient, 401, Some("invalid_client")),
        (TokenFailure::ServerError, 500, None),
    ] {
        let (code, verifier) = approved_code(&fake, &client).await;
        fake.fail_token(Some(failure));
        let res = client
            .post(format!("{}/oauth/token", fake.address))
            .form(&[
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &verifier),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status, "{failure:?}");
        match error {
            Some(error) => assert_eq!(res.json::<Value>().await.unwrap()["error"], error),
            None => {
                let content_type = res.headers()[reqwest::header::CONTENT_TYPE].clone();
                assert!(content_type.to_str().unwrap().starts_with("text/html"));
                assert_eq!(res.text().await.unwrap(), "<h1>Internal error</h1>");
            }
        }
        fake.fail_token(None);
        // the failure left the code unused
        let (status, _) = exchange(&fake, &client, &code, Some(&verifier)).await;
        assert_eq!(status, StatusCode::OK);
    }

    fake.set_token_fields(json!({"expires_in": "3600", "scope": ["a", "b"], "token_type": null}));
    fake.set_workspace(Workspace {
        id: "ws_0002".into(),
        name: "Beta".into(),
        slug: "beta".into(),
    });
    fake.set_granted_scopes("record_permission:read-write");
    let (code, verifier) = approved_code(&fake, &client).await;
    let (status, body) = exchange(&fake, &client, &code, Some(&verifier)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["expires_in"], "3600");
    assert_eq!(body["scope"], json!(["a", "b"]));
    assert!(body.get("token_type").is_none());
    let token = body["access_token"].as_str().unwrap();
    let (_, me) = identify(&fake, &client, token).await;
    assert_eq!(me["workspace_id"], "ws_0002");
    assert_eq!(me["workspace_slug"], "beta");
    assert_eq!(me["scope"], "record_permission:read-write");
}

#[tokio::test]
async fn identity_switches_and_deactivation() {
    let fake = FakeAttio::start().await;
    let client = browser();

    fake.set_authorize_iss(Some("attio.com"));
    let url = authorize_url(&fake, "s", None);
    let location = fake.consent(&client, &url, false).await;
    assert_eq!(value(&query_of(&location), "iss"), Some("attio.com"));
    let token = access_token(&fake, &client).await;
    let last = fake.authorize_requests().len();
    assert_eq!(last, 2);
    fake.set_authorize_iss(None);

    let (status, body) = identify(&fake, &client, "attio_at_unknown").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        (
            body["status_code"].as_u64(),
            body["type"].as_str(),
            body["code"].as_str()
        ),
        (Some(401), Some("auth_error"), Some("unauthorized"))
    );
    let res = client
        .get(format!("{}/v2/self", fake.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    fake.fail_identity(Some(503));
    let (status, body) = identify(&fake, &client, &token).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status_code"], 503);
    let (status, _) = introspect(&fake, &client, &token).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    fake.fail_identity(None);

    let (status, body) = identify(&fake, &client, &token).await;
    assert_eq!(
        (status, body["active"].as_bool()),
        (StatusCode::OK, Some(true))
    );

    fake.deactivate_tokens();
    let (status, body) = identify(&fake, &client, &token).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"active": false})));
    let (status, body) = introspect(&fake, &client, &token).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"active": false})));
    let (status, body) = introspect(&fake, &client, "attio_at_unknown").await;
    assert_eq!((status, body), (StatusCode::OK, json!({"active": false})));
    let res = client
        .get(format!("{}/v2/objects", fake.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // tokens issued afterwards are active
    let fresh = access_token(&fake, &client).await;
    let (_, body) = identify(&fake, &client, &fresh).await;
    assert_eq!(body["active"], true);
}

#[tokio::test]
async fn the_definition_points_at_the_fake() {
    let fake = FakeAttio::start().await;
    assert_eq!(fake.host(), fake.address.trim_start_matches("http://"));
    let toml = fake.definition_toml();
    assert!(!toml.contains("https://app.attio.com"));
    assert!(!toml.contains("https://api.attio.com"));
    for line in [
        format!(r#"authorization_url = "{}/authorize""#, fake.address),
        format!(r#"token_url = "{}/oauth/token""#, fake.address),
        format!(r#"introspection_url = "{}/oauth/introspect""#, fake.address),
        format!(r#"url = "{}/v2/self""#, fake.address),
        format!(r#"base_url = "{}/v2""#, fake.address),
    ] {
        assert!(toml.contains(&line), "{line}");
    }
    let dir = tempfile::tempdir().unwrap();
    fake.write_catalogue(dir.path()).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("attio.toml")).unwrap(),
        toml
    );
}
