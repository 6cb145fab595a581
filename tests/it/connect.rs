//! End users connect: API keys, connect sessions, the hosted connect page,
//! the authorization transaction and callback against a fake Attio, and the
//! token and connection API.
use crate::common;

use common::{
    fake_attio::{TokenFailure, Workspace, CLIENT_ID, CLIENT_SECRET},
    Setup, World,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

with_world!(
    SETUP;
    api_keys_are_shown_once_hashed_and_revocable,
    end_user_connects_and_the_backend_gets_the_token,
    reconnecting_keeps_the_connection_id,
    every_failed_transaction_leaves_no_connection,
    return_urls_must_be_allowed,
    session_requests_are_validated,
    one_app_never_sees_another,
    connections_are_listed_paged_and_deleted,
    connect_links_expire_and_work_once,
    portal_shows_connections_and_tests_a_connection,
    settings_validate_return_urls,
    nothing_secret_is_logged,
    every_action_leaves_one_audit_entry,
);

const RETURN_URL: &str = "https://app.example.com/integrations/done";

const SETUP: Setup = Setup {
    return_url: RETURN_URL,
    attio_scopes: &["record_permission:read", "list_entry:read"],
    fake_oauth: false,
};

async fn api_keys_are_shown_once_hashed_and_revocable(w: World) {
    let (status, _) = w.json(Method::GET, "/v1/connections").await;
    assert_eq!(status, StatusCode::OK);

    // the key is shown once: the keys page lists its prefix only
    let page = w
        .app
        .get(&format!("/apps/{}/api-keys", w.app_id))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains(&w.key));
    assert!(page.contains(&w.key[..12]));
    // stored as a hash only
    let stored: Vec<String> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_all(w.app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(&w.key[4..]));

    for bad in ["", "Bearer", "Bearer ovk_nope", "Basic b3ZrXzEyMzQ="] {
        let res = common::sent(
            w.app
                .client
                .get(w.app.url("/v1/connections"))
                .header("authorization", bad)
                .send()
                .await,
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }

    // revoking stops it at once
    let keys = format!("/apps/{}/api-keys", w.app_id);
    let key_id: String = sqlx::query_scalar("SELECT id FROM api_keys")
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    let res = w
        .app
        .submit(&keys, &keys, &[("_action", "revoke"), ("key_id", &key_id)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (status, body) = w.json(Method::GET, "/v1/connections").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");

    // an empty name is refused and nothing is created
    let res = w
        .app
        .submit(&keys, &keys, &[("_action", "create"), ("name", "  ")])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(w.app.count("api_keys").await, 1);
}

async fn end_user_connects_and_the_backend_gets_the_token(w: World) {
    let path = w
        .connect_path(json!({
            "end_user_id": "user-42",
            "end_user_name": "Ada Lovelace",
            "end_user_email": "ada@example.com",
            "providers": ["attio"],
            "return_url": format!("{RETURN_URL}?tab=crm"),
        }))
        .await;
    assert!(path.starts_with("/connect/ovcs_"));

    // the connect page names the app and the access it asks for
    let page = w.app.get(&path).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains(&format!("form-action 'self' {}", w.attio.address)),
        "{csp}"
    );
    assert!(csp.contains("default-src 'none'"));
    let html = page.text().await.unwrap();
    for expected in [
        "Acme CRM Sync",
        "Connect Attio",
        "Read access to records (people, companies, etc.)",
        "Read access to list entries",
        "ada@example.com",
    ] {
        assert!(html.contains(expected), "{expected} missing");
    }
    assert!(!html.contains("<script"), "the connect page runs no script");

    let (browser, authorize) = w.click_connect(&path).await;
    let query: Vec<(String, String)> = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(param("client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(param("response_type").as_deref(), Some("code"));
    assert_eq!(
        param("redirect_uri"),
        Some(format!("{}/oauth/callback", w.app.address))
    );
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert!(param("state").unwrap().len() >= 43, "256 bits of state");
    assert_eq!(param("scope"), None, "Attio takes no scope parameter");
    // state is stored hashed only, the verifier sealed
    let state = param("state").unwrap();
    let stored: String = sqlx::query_scalar("SELECT state_hash FROM oauth_transactions")
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    assert_ne!(stored, state);

    let callback = w.attio.consent(&browser.client, &authorize, true).await;
    let res = common::sent(browser.client.get(&callback).send().await).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!("{RETURN_URL}?tab=crm&connection_id=conn_")),
        "{location}"
    );
    assert!(location.ends_with("&status=success"));
    let connection_id = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "connection_id")
        .unwrap()
        .1
        .to_string();

    // the code was exchanged with the verifier and the exact redirect URI
    let token_request = w.attio.token_requests().pop().unwrap();
    let field = |k: &str| {
        token_request
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(field("grant_type").as_deref(), Some("authorization_code"));
    assert!(field("code_verifier").is_some_and(|v| v.len() >= 43));
    assert_eq!(
        field("redirect_uri"),
        Some(format!("{}/oauth/callback", w.app.address))
    );

    // the backend gets the token the provider issued
    let issued = w.attio.issued_tokens();
    assert_eq!(issued.len(), 1);
    let (status, token) = w
        .json(
            Method::GET,
            &format!("/v1/connections/{connection_id}/access-token"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(token["access_token"], issued[0].as_str());
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_at"], Value::Null);
    assert_eq!(token["account"]["id"], "ws_0001");
    assert_eq!(token["account"]["name"], "Acme Workspace");
    assert_eq!(
        token["scopes"],
        json!(["record_permission:read", "list_entry:read"])
    );
    assert!(token.get("refresh_token").is_none());

    // the last-used stamp is written right after the answer (buffered)
    let mut read = w
        .json(Method::GET, &format!("/v1/connections/{connection_id}"))
        .await;
    for _ in 0..100 {
        if read.1["last_used_at"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        read = w
            .json(Method::GET, &format!("/v1/connections/{connection_id}"))
            .await;
    }
    let (status, conn) = read;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(conn["status"], "active");
    assert_eq!(conn["provider"], "attio");
    assert_eq!(conn["end_user"]["id"], "user-42");
    assert_eq!(conn["end_user"]["email"], "ada@example.com");
    assert_eq!(conn["account"]["slug"], "acme");
    assert_eq!(conn["scopes"]["missing"], json!([]));
    assert!(
        conn["last_used_at"].is_string(),
        "the token fetch is recorded"
    );
    assert!(
        !conn.to_string().contains(&issued[0]),
        "metadata never holds a token"
    );

    // at rest the token is sealed, bound to its row
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT access_token FROM connections")
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    let needle = issued[0].as_bytes();
    assert!(!sealed.windows(needle.len()).any(|win| win == needle));
    let aad = app::infra::crypto::Aad::new("connections", "access_token", &connection_id);
    assert!(w.app.state.keyring.decrypt(&sealed, aad).is_ok());
    let other = app::infra::crypto::Aad::new("connections", "access_token", "conn_other");
    assert!(w.app.state.keyring.decrypt(&sealed, other).is_err());

    // the connection page in the portal
    let html = w
        .app
        .get(&format!("/apps/{}/connections", w.app_id))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Acme Workspace"));
    assert!(html.contains("Active"));
    assert!(html.contains("Ada Lovelace"));
    assert!(!html.contains(&issued[0]));
}

async fn reconnecting_keeps_the_connection_id(w: World) {
    let first = w.connected("user-1").await;
    let again = w.connected("user-1").await;
    assert_eq!(first, again, "same end user and workspace: same connection");
    assert_eq!(w.app.count("connections").await, 1);
    let (_, token) = w
        .json(
            Method::GET,
            &format!("/v1/connections/{first}/access-token"),
        )
        .await;
    assert_eq!(
        token["access_token"],
        w.attio.issued_tokens().last().unwrap().as_str(),
        "the newest token is served"
    );

    w.attio.set_workspace(Workspace {
        id: "ws_0002".into(),
        name: "Beta Workspace".into(),
        slug: "beta".into(),
    });
    let other_workspace = w.connected("user-1").await;
    assert_ne!(first, other_workspace);
    let other_user = w.connected("user-2").await;
    assert_ne!(other_workspace, other_user);
    assert_eq!(w.app.count("connections").await, 3);
    assert_eq!(
        w.app
            .count("connection_events WHERE kind = 'reconnected'")
            .await,
        1
    );
}

/// A failed callback shows a clear page and writes no connection.
async fn assert_failed(w: &World, res: reqwest::Response, code: &str) {
    let status = res.status();
    assert!(
        status.is_client_error() || status.is_server_error(),
        "{status}"
    );
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"data-testid="connect-failed""#), "{html}");
    assert!(html.contains(code), "{code}: {html}");
    assert_eq!(w.app.count("connections").await, 0, "{code}");
}

async fn every_failed_transaction_leaves_no_connection(w: World) {
    let session = json!({ "end_user_id": "user-9" });

    // unknown state
    let res = w
        .app
        .get("/oauth/callback?code=abc&state=not-a-state-we-issued")
        .await;
    assert_failed(&w, res, "unknown_state").await;
    // no state at all
    let res = w.app.get("/oauth/callback?code=abc").await;
    assert_failed(&w, res, "invalid_request").await;

    // the provider reports that the user declined
    let (_, res) = w.connect(session.clone(), false).await;
    assert_failed(&w, res, "access_denied").await;

    // token endpoint: 400 invalid_grant, 500, and a wrong client secret
    for failure in [
        TokenFailure::InvalidGrant,
        TokenFailure::ServerError,
        TokenFailure::InvalidClient,
    ] {
        w.attio.fail_token(Some(failure));
        let (_, res) = w.connect(session.clone(), true).await;
        assert_failed(&w, res, "token_exchange_failed").await;
    }
    w.attio.fail_token(None);

    // identity endpoint refuses the token
    w.attio.fail_identity(Some(401));
    let (_, res) = w.connect(session.clone(), true).await;
    assert_failed(&w, res, "identity_failed").await;
    w.attio.fail_identity(None);

    // the answer names another issuer
    w.attio.set_authorize_iss(Some("https://evil.example"));
    let (_, res) = w.connect(session.clone(), true).await;
    assert_failed(&w, res, "issuer_mismatch").await;
    w.attio.set_authorize_iss(None);

    // the callback arrives in another browser (no binding cookie)
    let path = w.connect_path(session.clone()).await;
    let (_, authorize) = w.click_connect(&path).await;
    let stranger = w.app.second_browser();
    let callback = w.attio.consent(&stranger.client, &authorize, true).await;
    let res = common::sent(stranger.client.get(&callback).send().await).await;
    assert_failed(&w, res, "browser_mismatch").await;

    // expired transaction
    let path = w.connect_path(session.clone()).await;
    let (browser, authorize) = w.click_connect(&path).await;
    let callback = w.attio.consent(&browser.client, &authorize, true).await;
    sqlx::query("UPDATE oauth_transactions SET expires_at = 0")
        .execute(w.app.state.db.pool())
        .await
        .unwrap();
    let res = common::sent(browser.client.get(&callback).send().await).await;
    assert_failed(&w, res, "expired").await;

    // each failure with a known transaction is an event for the developer
    assert!(
        w.app
            .count("connection_events WHERE kind = 'connect_failed'")
            .await
            >= 7
    );

    // a replayed callback: the first succeeds, the second is refused
    let path = w.connect_path(session.clone()).await;
    let (browser, authorize) = w.click_connect(&path).await;
    let callback = w.attio.consent(&browser.client, &authorize, true).await;
    let first = common::sent(browser.client.get(&callback).send().await).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert!(first.text().await.unwrap().contains("connect-success"));
    let replay = common::sent(browser.client.get(&callback).send().await).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(replay.text().await.unwrap().contains("state_used"));
    assert_eq!(w.app.count("connections").await, 1);
}

async fn return_urls_must_be_allowed(w: World) {
    for bad in [
        "https://evil.example/integrations/done",
        "https://app.example.com/integrations/done/../../evil",
        "https://app.example.com/integrations/other",
        "https://app.example.com/integrations/done#x",
        "javascript:alert(1)",
        "//evil.example",
    ] {
        let res = w
            .session(json!({ "end_user_id": "u", "return_url": bad }))
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "validation_failed");
        assert_eq!(body["error"]["errors"][0]["field"], "return_url");
    }
    assert_eq!(w.app.count("connect_sessions").await, 0);

    // a failure goes back to the app with a code, not the provider's text
    let (_, res) = w
        .connect(
            json!({ "end_user_id": "u", "return_url": RETURN_URL }),
            false,
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"],
        format!("{RETURN_URL}?status=error&error=access_denied").as_str()
    );
}

async fn session_requests_are_validated(w: World) {
    let cases = [
        (json!({}), "end_user_id"),
        (json!({ "end_user_id": "" }), "end_user_id"),
        (json!({ "end_user_id": "x".repeat(300) }), "end_user_id"),
        (
            json!({ "end_user_id": "u", "providers": ["salesforce"] }),
            "providers",
        ),
        (
            json!({ "end_user_id": "u", "end_user_email": "not-an-email" }),
            "end_user_email",
        ),
        (json!({ "end_user_id": "u", "surprise": 1 }), "invalid_json"),
    ];
    for (body, expected) in cases {
        let res = w.session(body.clone()).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let answer: Value = res.json().await.unwrap();
        let text = answer.to_string();
        assert!(text.contains(expected), "{body}: {text}");
    }
    let res = common::sent(
        w.api(Method::POST, "/v1/connect/sessions")
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(w.app.count("connect_sessions").await, 0);

    let res = w.session(json!({ "end_user_id": "u" })).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert!(body["token"].as_str().unwrap().starts_with("ovcs_"));
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    let stored: String = sqlx::query_scalar("SELECT token_hash FROM connect_sessions")
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    assert!(!body["token"].as_str().unwrap().contains(&stored));

    // unknown routes answer JSON too; the OpenAPI document is public
    let (status, body) = w.json(Method::GET, "/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let doc: Value = w.app.get("/v1/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/connect/sessions",
        "/v1/connections",
        "/v1/connections/{id}",
        "/v1/connections/{id}/access-token",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
}

async fn one_app_never_sees_another(w: World) {
    let theirs = w.connected("user-1").await;
    // another organisation with its own app and key
    let other = w.app.second_browser();
    other
        .sign_up("other@example.com", "another long password")
        .await;
    let other_key = World::new_app(&other, "Other", &SETUP).await.key;

    let call = |method: Method, path: String| {
        w.app
            .client
            .request(method, w.app.url(&path))
            .bearer_auth(&other_key)
            .send()
    };
    for (method, path) in [
        (Method::GET, format!("/v1/connections/{theirs}")),
        (
            Method::GET,
            format!("/v1/connections/{theirs}/access-token"),
        ),
        (Method::DELETE, format!("/v1/connections/{theirs}")),
    ] {
        let res = common::sent(call(method.clone(), path.clone()).await).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method} {path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found");
    }
    let res = common::sent(call(Method::GET, "/v1/connections".into()).await).await;
    let list: Value = res.json().await.unwrap();
    assert_eq!(list["data"], json!([]));
    // and the portal pages of the other organisation's connection answer 404
    let res = common::sent(
        other
            .client
            .get(
                w.app
                    .url(&format!("/apps/{}/connections/{theirs}", w.app_id)),
            )
            .send()
            .await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(w.app.count("connections").await, 1);
}

async fn connections_are_listed_paged_and_deleted(w: World) {
    let a = w.connected("user-a").await;
    let b = w.connected("user-b").await;
    let c = w.connected("user-c").await;

    let (_, page1) = w.json(Method::GET, "/v1/connections?limit=2").await;
    assert_eq!(page1["data"].as_array().unwrap().len(), 2);
    assert_eq!(page1["data"][0]["id"], c.as_str(), "newest first");
    let cursor = page1["next_cursor"].as_str().unwrap().to_string();
    let (_, page2) = w
        .json(
            Method::GET,
            &format!("/v1/connections?limit=2&cursor={cursor}"),
        )
        .await;
    assert_eq!(page2["data"].as_array().unwrap().len(), 1);
    assert_eq!(page2["data"][0]["id"], a.as_str());
    assert_eq!(page2["next_cursor"], Value::Null);

    let (_, only_b) = w
        .json(
            Method::GET,
            "/v1/connections?end_user_id=user-b&provider=attio",
        )
        .await;
    assert_eq!(only_b["data"].as_array().unwrap().len(), 1);
    assert_eq!(only_b["data"][0]["id"], b.as_str());
    let (_, none) = w.json(Method::GET, "/v1/connections?provider=other").await;
    assert_eq!(none["data"], json!([]));
    for bad in ["limit=0", "limit=101", "limit=x", "cursor=%%%"] {
        let (status, body) = w.json(Method::GET, &format!("/v1/connections?{bad}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(body["error"]["code"], "validation_failed");
    }

    // disconnecting deletes the tokens; the connection stays listed as revoked
    let (status, _) = w
        .json(Method::DELETE, &format!("/v1/connections/{b}"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = w.json(Method::GET, &format!("/v1/connections/{b}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "revoked");
    let (status, body) = w
        .json(Method::GET, &format!("/v1/connections/{b}/access-token"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "connection_revoked");
    let (status, _) = w
        .json(Method::DELETE, &format!("/v1/connections/{b}"))
        .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "disconnecting twice is harmless"
    );
    let (status, _) = w.json(Method::DELETE, "/v1/connections/conn_unknown").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let revoked =
        format!("connections WHERE id = '{b}' AND access_token IS NULL AND refresh_token IS NULL");
    assert_eq!(w.app.count(&revoked).await, 1);
    let event = format!("connection_events WHERE connection_id = '{b}' AND kind = 'revoked'");
    assert_eq!(w.app.count(&event).await, 1);

    // a disabled provider serves no tokens
    let detail = format!("/apps/{}/providers/{}", w.app_id, w.attio_config);
    w.app
        .submit(&detail, &detail, &[("_action", "disable")])
        .await;
    let (status, body) = w
        .json(Method::GET, &format!("/v1/connections/{a}/access-token"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "provider_disabled");
    // the provider page counts the connections a deletion would remove
    let html = w.app.get(&detail).await.text().await.unwrap();
    assert!(html.contains("disconnects its 3 connections"), "{html}");
}

async fn connect_links_expire_and_work_once(w: World) {
    let res = w.app.get("/connect/ovcs_unknown").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("session-unknown"));

    let path = w.connect_path(json!({ "end_user_id": "u1" })).await;
    sqlx::query("UPDATE connect_sessions SET expires_at = 0")
        .execute(w.app.state.db.pool())
        .await
        .unwrap();
    let res = w.app.get(&path).await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("session-expired"));

    let path = w.connect_path(json!({ "end_user_id": "u2" })).await;
    let (browser, authorize) = w.click_connect(&path).await;
    let callback = w.attio.consent(&browser.client, &authorize, true).await;
    let res = common::sent(browser.client.get(&callback).send().await).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = w.app.get(&path).await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("session-used"));
    // posting to a used link starts nothing
    let before = w.app.count("oauth_transactions").await;
    let res = common::sent(
        browser
            .client
            .post(w.app.url(&path))
            .header("origin", &w.app.address)
            .form(&[("provider_config", w.attio_config.as_str())])
            .send()
            .await,
    )
    .await;
    assert!(res.status().is_client_error());
    assert_eq!(w.app.count("oauth_transactions").await, before);
}

async fn portal_shows_connections_and_tests_a_connection(w: World) {
    let detail = format!("/apps/{}/providers/{}", w.app_id, w.attio_config);
    let res = w.app.submit(&detail, &detail, &[("_action", "test")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let connect_url = res.headers()["location"].to_str().unwrap().to_string();
    let path = connect_url.trim_start_matches(&w.app.address).to_string();
    assert!(path.starts_with("/connect/ovcs_"), "{connect_url}");
    let (browser, authorize) = w.click_connect(&path).await;
    let callback = w.attio.consent(&browser.client, &authorize, true).await;
    let res = common::sent(browser.client.get(&callback).send().await).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let back = res.headers()["location"].to_str().unwrap().to_string();
    assert!(
        back.starts_with(&format!(
            "{}/apps/{}/connections?connection_id=",
            w.app.address, w.app_id
        )),
        "{back}"
    );
    let html = w
        .app
        .get(back.trim_start_matches(&w.app.address))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Connected."));
    assert!(html.contains("dev@example.com"));
    assert!(html.contains("Acme Workspace"));

    // a workspace that grants less than configured is marked
    w.attio.set_granted_scopes("list_entry:read");
    let id = w.connected("user-less").await;
    let html = w
        .app
        .get(&format!("/apps/{}/connections/{id}", w.app_id))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Missing: record_permission:read"), "{html}");
    assert!(html.contains("connected"));
    // disconnect from the portal
    let page = format!("/apps/{}/connections/{id}", w.app_id);
    let res = w
        .app
        .submit(&page, &page, &[("_action", "delete"), ("confirm", "yes")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let revoked =
        format!("connections WHERE id = '{id}' AND status = 'revoked' AND access_token IS NULL");
    assert_eq!(w.app.count(&revoked).await, 1);
    let html = w.app.get(&page).await.text().await.unwrap();
    assert!(html.contains("Revoked"));
    assert!(
        html.contains("the provider offers no revocation"),
        "Attio documents no revocation endpoint"
    );
}

async fn settings_validate_return_urls(w: World) {
    let page = format!("/apps/{}/settings", w.app_id);
    for bad in [
        "http://app.example.com/done",
        "https://app.example.com/done#frag",
        "https://app.example.com/done?x=1",
        "not a url",
    ] {
        let text = format!("https://ok.example.com/\n{bad}");
        let res = w.app.submit(&page, &page, &[("return_urls", &text)]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let html = res.text().await.unwrap();
        assert!(html.contains("ok.example.com"), "input kept");
    }
    let allowed = crate_urls(&w).await;
    assert_eq!(allowed, vec![RETURN_URL.to_string()], "nothing changed");
    let res = w
        .app
        .submit(
            &page,
            &page,
            &[(
                "return_urls",
                "http://localhost:8080/done\nhttps://b.example.com/x",
            )],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(crate_urls(&w).await.len(), 2);
}

async fn crate_urls(w: &World) -> Vec<String> {
    app::store::connect::allowed_return_urls(&w.app.state.db, &w.app_id)
        .await
        .unwrap()
}

/// Everything logged in this test process, at the most verbose levels.
fn captured_logs() -> &'static std::sync::Mutex<Vec<u8>> {
    static LOGS: std::sync::OnceLock<std::sync::Mutex<Vec<u8>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        struct Capture;
        impl std::io::Write for Capture {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                captured_logs().lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "trace,oauth_vault=trace,app=trace,tower_http=trace",
            ))
            .with_writer(|| Capture)
            .with_ansi(false)
            .try_init();
        std::sync::Mutex::new(Vec::new())
    })
}

async fn nothing_secret_is_logged(w: World) {
    captured_logs().lock().unwrap().clear();
    tracing::info!("capture check");
    let session: Value = w
        .session(json!({ "end_user_id": "user-log", "return_url": RETURN_URL }))
        .await
        .json()
        .await
        .unwrap();
    let token = session["token"].as_str().unwrap().to_string();
    let path = format!("/connect/{token}");
    let (browser, authorize) = w.click_connect(&path).await;
    let state = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    let callback = w.attio.consent(&browser.client, &authorize, true).await;
    let code = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let res = common::sent(browser.client.get(&callback).send().await).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let id = url::Url::parse(res.headers()["location"].to_str().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "connection_id")
        .unwrap()
        .1
        .to_string();
    let (status, _) = w
        .json(Method::GET, &format!("/v1/connections/{id}/access-token"))
        .await;
    assert_eq!(status, StatusCode::OK);
    // failures log too
    w.attio.fail_token(Some(TokenFailure::InvalidGrant));
    w.connect(json!({ "end_user_id": "user-log" }), true).await;
    w.attio.fail_token(None);

    let verifier = w
        .attio
        .token_requests()
        .into_iter()
        .flatten()
        .find(|(k, _)| k == "code_verifier")
        .unwrap()
        .1;
    let access_token = w.attio.issued_tokens()[0].clone();
    let logs = String::from_utf8_lossy(&captured_logs().lock().unwrap()).to_string();
    assert!(logs.contains("capture check"), "logs are captured");
    assert!(
        logs.contains("/oauth/callback"),
        "the callback is logged by path"
    );
    for (what, secret) in [
        ("API key", w.key.as_str()),
        ("connect token", token.as_str()),
        ("state", state.as_str()),
        ("authorization code", code.as_str()),
        ("PKCE verifier", verifier.as_str()),
        ("access token", access_token.as_str()),
        ("client secret", CLIENT_SECRET),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in the logs");
    }
}

/// (actor type, action) of every audit entry, oldest first.
async fn audit_trail(w: &World) -> Vec<(String, String)> {
    sqlx::query_as("SELECT actor_type, action FROM audit_events ORDER BY at, id")
        .fetch_all(w.app.state.db.pool())
        .await
        .unwrap()
}

async fn every_action_leaves_one_audit_entry(w: World) {
    // the setup of the world: sign-up, app, provider, return URLs, API key
    let trail = audit_trail(&w).await;
    let expected_setup = [
        ("developer", "user.signed_up"),
        // the first account of an instance is its administrator
        ("admin", "app.created"),
        ("admin", "provider.created"),
        ("admin", "app.return_urls_changed"),
        ("admin", "api_key.created"),
    ];
    let actions: Vec<(&str, &str)> = trail
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    for entry in expected_setup {
        assert_eq!(
            actions.iter().filter(|e| **e == entry).count(),
            1,
            "{entry:?} in {actions:?}"
        );
    }

    let id = w.connected("user-1").await;
    w.json(Method::GET, &format!("/v1/connections/{id}/access-token"))
        .await;
    // token reads are audited right after the answer (buffered by default)
    let mut trail = audit_trail(&w).await;
    for _ in 0..100 {
        if trail
            .iter()
            .any(|(a, b)| a == "api_key" && b == "token.read")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        trail = audit_trail(&w).await;
    }
    for entry in [
        ("api_key", "connect_session.created"),
        ("end_user", "connection.created"),
        ("api_key", "token.read"),
    ] {
        let count = trail
            .iter()
            .filter(|(a, b)| a == entry.0 && b == entry.1)
            .count();
        assert_eq!(count, 1, "{entry:?}");
    }

    // an action that fails writes nothing
    let before = trail.len();
    let res = w.app.submit("/apps", "/apps", &[("name", "")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = w.session(json!({ "end_user_id": "" })).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(audit_trail(&w).await.len(), before);

    // provider changes name the fields, never the values
    let detail_page = format!("/apps/{}/providers/{}", w.app_id, w.attio_config);
    let res = w
        .app
        .submit(
            &detail_page,
            &detail_page,
            &[
                ("_action", "update"),
                ("client_id", CLIENT_ID),
                ("client_secret", "a-brand-new-secret-value-1234"),
                ("scopes", "record_permission:read"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let detail: String =
        sqlx::query_scalar("SELECT detail FROM audit_events WHERE action = 'provider.changed'")
            .fetch_one(w.app.state.db.pool())
            .await
            .unwrap();
    assert!(
        detail.contains("client secret") && detail.contains("scopes"),
        "{detail}"
    );
    assert!(!detail.contains("a-brand-new-secret"));

    // disconnecting records who did it
    w.json(Method::DELETE, &format!("/v1/connections/{id}"))
        .await;
    let revoked: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT actor_type, target_id FROM audit_events WHERE action = 'connection.revoked'",
    )
    .fetch_all(w.app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(revoked, vec![("api_key".to_string(), Some(id.clone()))]);

    // the developer reads it on the app's Activity page; other organisations cannot
    let html = w
        .app
        .get(&format!("/apps/{}/activity", w.app_id))
        .await
        .text()
        .await
        .unwrap();
    for expected in [
        "connection.created",
        "token.read",
        "provider.changed",
        "API key",
    ] {
        assert!(html.contains(expected), "{expected}");
    }
    let other = w.app.second_browser();
    other
        .sign_up("other@example.com", "another long password")
        .await;
    let res = common::sent(
        other
            .client
            .get(w.app.url(&format!("/apps/{}/activity", w.app_id)))
            .send()
            .await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
