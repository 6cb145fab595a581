//! What the vault writes down: nothing secret in its logs, one audit entry
//! per action.
use crate::common;
use crate::connect::{RETURN_URL, SETUP};
use common::{
    fake_attio::{TokenFailure, CLIENT_ID, CLIENT_SECRET},
    World,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

with_world!(SETUP; nothing_secret_is_logged, every_action_leaves_one_audit_entry);

/// Everything logged in this test process, at the most verbose levels.
pub(crate) fn captured_logs() -> &'static std::sync::Mutex<Vec<u8>> {
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
    // not cleared: other tests capture at the same time, and what is
    // searched for is this test's own
    let _ = captured_logs();
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
        // nobody becomes administrator by signing up
        ("developer", "app.created"),
        ("developer", "provider.created"),
        ("developer", "app.return_urls_changed"),
        ("developer", "api_key.created"),
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
