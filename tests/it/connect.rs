//! End users connect: API keys, connect sessions, the hosted connect page,
//! the authorization transaction and callback against a fake Attio, and the
//! token and connection API.
use crate::common;

use common::{
    fake_attio::{TokenFailure, Workspace, CLIENT_ID},
    Setup, World,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

with_world!(
    SETUP;
    end_user_connects_and_the_backend_gets_the_token,
    reconnecting_keeps_the_connection_id,
    every_failed_transaction_leaves_no_connection,
    connect_links_expire_and_work_once,
    portal_shows_connections_and_tests_a_connection,
    settings_validate_return_urls,
);

pub const RETURN_URL: &str = "https://app.example.com/integrations/done";

/// The app of these suites: Attio only.
pub const SETUP: Setup = Setup {
    return_url: RETURN_URL,
    attio_scopes: &["record_permission:read", "list_entry:read"],
    fake_oauth: false,
};

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
        Some(format!(
            "{}/oauth/callback/{}",
            w.app.address, w.attio_config
        ))
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
        Some(format!(
            "{}/oauth/callback/{}",
            w.app.address, w.attio_config
        ))
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
