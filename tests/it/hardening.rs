//! The smaller holes of the connect flow, deletion, the background worker
//! and the exports, each closed: a connect link completes once, an old
//! reconnect link cannot revive a disconnected connection, deleting an app
//! or a provider revokes its connections at the provider, provider numbers
//! cannot overflow, one bad row stops no worker pass, the browser binding
//! is never a value the browser brought, portal pages are not cached, and
//! the audit export has every row.
use crate::common;

use common::{
    fake_attio::Workspace,
    fake_oauth::{RefreshFailure, PROVIDER_ID},
    fake_server::Served,
    location, query_value, sent, Backend, Browser, Setup, TestApp, World,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both_databases!(the_audit_export_has_every_row, portal_pages_are_not_cached);

with_world!(
    SETUP;
    absurd_provider_numbers_give_sane_expiries,
    a_connect_link_completes_once,
    an_old_reconnect_link_cannot_revive_a_disconnected_connection,
    the_browser_binding_is_fresh_for_every_authorization,
    deleting_an_app_revokes_its_connections_at_the_provider,
    deleting_a_provider_revokes_its_connections_at_once,
    bad_connections_do_not_hold_up_the_others with ONE_AT_A_TIME,
);

/// The worker takes 4 connections per pass.
const ONE_AT_A_TIME: &[(&str, &str)] = &[("OAUTH_VAULT_REFRESH_CONCURRENCY", "1")];

mod one_bad_row_stops_no_worker_pass {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::one_bad_row_stops_no_worker_pass(super::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::one_bad_row_stops_no_worker_pass(super::Backend::Postgres).await;
    }
}

/// Attio and the fake RFC 6749 provider.
const SETUP: Setup = Setup {
    return_url: "https://app.example.com/integrations/done",
    attio_scopes: &["record_permission:read"],
    fake_oauth: true,
};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
const TEN_YEARS_MS: i64 = 3650 * DAY_MS;

async fn expires_at(w: &World, id: &str) -> Option<i64> {
    sqlx::query_scalar("SELECT expires_at FROM connections WHERE id = $1")
        .bind(id)
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap()
}

const PASSWORD: &str = "correct horse battery";

async fn the_audit_export_has_every_row(app: TestApp) {
    app.set_up_admin("admin@example.com", PASSWORD).await;
    // more rows than any single query of the export reads, inserted at
    // once; three share each timestamp, so ties are ordered by id
    sqlx::query(
        "INSERT INTO audit_events (id, at, actor_type, action, detail) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10500) \
         SELECT 'aud_bulk_' || i, 1700000000000 + i / 3, 'system', 'bulk.test', 'row ' || i FROM n",
    )
    .execute(app.state.db.pool())
    .await
    .unwrap();
    let res = app.get("/admin/audit.csv?action=bulk.test").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("time,actor_type,actor,action"));
    assert_eq!(lines.len(), 10_501, "the header and every row");
    let rows: std::collections::HashSet<&str> = lines[1..]
        .iter()
        .map(|l| l.rsplit("\"row ").next().unwrap())
        .collect();
    assert_eq!(rows.len(), 10_500, "each row once");
    // newest first
    assert!(lines[1].contains("\"row 10500\""), "{}", lines[1]);
    assert!(lines[10_500].contains("\"row 1\""), "{}", lines[10_500]);
}

async fn absurd_provider_numbers_give_sane_expiries(w: World) {
    let now = app::infra::db::now_ms();
    // at the connect: Attio's tokens do not expire, unless it says so
    for (i, value) in [
        json!(i64::MAX),
        json!(u64::MAX),
        json!(1e300),
        json!("99999999999999999999999"),
    ]
    .into_iter()
    .enumerate()
    {
        w.attio.set_token_fields(json!({ "expires_in": value }));
        let id = w.connected(&format!("user-{i}")).await;
        let at = expires_at(&w, &id).await.unwrap();
        assert!(
            at > now + TEN_YEARS_MS - DAY_MS && at <= app::infra::db::now_ms() + TEN_YEARS_MS,
            "{value}: {at}"
        );
        let (status, _) = w.token(&id).await;
        assert_eq!(status, StatusCode::OK, "{value}");
    }
    for value in [json!(-3600), json!(i64::MIN), json!(0)] {
        w.attio.set_token_fields(json!({ "expires_in": value }));
        let id = w.connected("user-negative").await;
        assert_eq!(expires_at(&w, &id).await, None, "{value}: as if not sent");
    }
    w.attio.set_token_fields(json!({}));

    // at a refresh
    let id = w.connect_oauth("user-refresh").await;
    w.oauth.send_expires_in(Some(json!(i64::MAX)));
    let path = format!("/v1/connections/{id}/access-token?force_refresh=true");
    let (status, body) = w.json(Method::GET, &path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let at = expires_at(&w, &id).await.unwrap();
    assert!(at <= app::infra::db::now_ms() + TEN_YEARS_MS, "{at}");
    assert!(at > now + TEN_YEARS_MS - DAY_MS, "{at}");
    w.oauth.send_expires_in(None);

    // a Retry-After of 292 billion years waits a day at most
    w.expire(&id).await;
    w.oauth.fail_refresh(
        RefreshFailure::Unavailable {
            retry_after: Some(i64::MAX as u64),
        },
        1,
    );
    let (status, _) = w.token(&id).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let next: Option<i64> =
        sqlx::query_scalar("SELECT next_attempt_at FROM connections WHERE id = $1")
            .bind(&id)
            .fetch_one(w.app.state.db.pool())
            .await
            .unwrap();
    let next = next.unwrap();
    assert!(next <= app::infra::db::now_ms() + DAY_MS, "{next}");
    // the worker passes over it without a fuss
    app::services::worker::run_once(&w.app.state).await.unwrap();
}

/// The end user opens `path` and clicks Connect Attio in `browser`, once
/// more (another tab), and agrees at Attio: the callback URL to go to.
async fn authorize_in(w: &World, browser: &Browser, path: &str) -> String {
    let res = browser
        .submit(path, path, &[("provider_config", &w.attio_config)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let authorize = location(&res);
    w.attio.consent(&browser.client, &authorize, true).await
}

fn workspace(n: u32) -> Workspace {
    Workspace {
        id: format!("ws_{n:04}"),
        name: format!("Workspace {n}"),
        slug: format!("ws{n}"),
    }
}

async fn a_connect_link_completes_once(w: World) {
    // two tabs of one link, each authorized, with different workspaces
    let path = w.connect_path(json!({ "end_user_id": "user-1" })).await;
    let browser = w.app.second_browser();
    w.attio.set_workspace(workspace(1));
    let first = authorize_in(&w, &browser, &path).await;
    w.attio.set_workspace(workspace(2));
    let second = authorize_in(&w, &browser, &path).await;
    let res = sent(browser.client.get(&first).send().await).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("connect-success"));
    let res = sent(browser.client.get(&second).send().await).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("This connect link was already used"),
        "{html}"
    );
    assert!(html.contains("session_used"), "{html}");
    assert_eq!(w.app.count("connections").await, 1);
    assert_eq!(
        w.app
            .count("connections WHERE account_id = 'ws_0001'")
            .await,
        1
    );

    // both tabs at once: one connects, the other is told, with a return URL
    let path = w
        .connect_path(json!({ "end_user_id": "user-2", "return_url": w.return_url }))
        .await;
    let browser = w.app.second_browser();
    w.attio.set_workspace(workspace(3));
    let first = authorize_in(&w, &browser, &path).await;
    w.attio.set_workspace(workspace(4));
    let second = authorize_in(&w, &browser, &path).await;
    let (a, b) = tokio::join!(
        browser.client.get(&first).send(),
        browser.client.get(&second).send()
    );
    let mut outcomes: Vec<String> = [sent(a).await, sent(b).await]
        .iter()
        .map(|res| {
            let back = location(res);
            query_value(&back, "error").unwrap_or_else(|| query_value(&back, "status").unwrap())
        })
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, ["session_used", "success"]);
    assert_eq!(
        w.app
            .count("connections WHERE end_user_id = 'user-2'")
            .await,
        1
    );

    // the grant of the sign-in that lost is revoked at the provider, not
    // left behind
    let path = w
        .connect_path(json!({ "end_user_id": "user-3", "providers": [PROVIDER_ID] }))
        .await;
    let browser = w.app.second_browser();
    let mut callbacks = Vec::new();
    for _ in 0..2 {
        let res = browser
            .submit(&path, &path, &[("provider_config", &w.oauth_config)])
            .await;
        let res = sent(browser.client.get(location(&res)).send().await).await;
        callbacks.push(location(&res));
    }
    let res = sent(browser.client.get(&callbacks[0]).send().await).await;
    assert_eq!(res.status(), StatusCode::OK);
    let kept = w.oauth.issued_refresh_tokens().last().unwrap().clone();
    let res = sent(browser.client.get(&callbacks[1]).send().await).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let unkept = w.oauth.issued_refresh_tokens().last().unwrap().clone();
    assert_ne!(kept, unkept);
    eventually("the revocation", || async { revoked_at_fake(&w, &unkept) }).await;
    assert!(!revoked_at_fake(&w, &kept));
}

async fn an_old_reconnect_link_cannot_revive_a_disconnected_connection(w: World) {
    let id = w.connected("user-1").await;
    let reconnect = json!({ "connection_id": id, "return_url": w.return_url });
    // one link not opened yet, one whose authorization is under way
    let unopened = w.connect_path(reconnect.clone()).await;
    let started = w.connect_path(reconnect.clone()).await;
    let browser = w.app.second_browser();
    let callback = authorize_in(&w, &browser, &started).await;

    let (status, _) = w
        .json(Method::DELETE, &format!("/v1/connections/{id}"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(w.status(&id).await, "revoked");

    let res = w.app.get(&unopened).await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("session-withdrawn"));
    let res = sent(browser.client.get(&callback).send().await).await;
    let back = location(&res);
    assert_eq!(
        query_value(&back, "error").as_deref(),
        Some("connection_revoked"),
        "{back}"
    );
    assert_eq!(w.status(&id).await, "revoked", "not re-activated");
    assert_eq!(w.events(&id, "reconnected").await, 0);
    // no new reconnect links for it either
    let res = w.session(reconnect.clone()).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = format!("/apps/{}/connections/{id}", w.app_id);
    let res = w
        .app
        .submit(&page, &page, &[("_action", "reconnect")])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("cannot bring it back"));

    // a new, ordinary link: the end user connects the same account again,
    // and the connection comes back with its id
    let again = w.connected("user-1").await;
    assert_eq!(again, id);
    assert_eq!(w.status(&id).await, "active");
    let (status, _) = w.token(&id).await;
    assert_eq!(status, StatusCode::OK);
    // the old links stay withdrawn though the connection is back
    let res = w.app.get(&unopened).await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("session-withdrawn"));
    // and new reconnect links work again
    let res = w.session(reconnect).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

/// The `Set-Cookie` headers of a response.
fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

async fn the_browser_binding_is_fresh_for_every_authorization(w: World) {
    // someone planted binding cookies in the end user's browser
    let planted = "P".repeat(43);
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let vault = url::Url::parse(&w.app.address).unwrap();
    for name in ["ov_oauth", "__Host-ov_oauth", "__Secure-ov_oauth"] {
        jar.add_cookie_str(&format!("{name}={planted}; Path=/"), &vault);
    }
    let browser = Browser {
        address: w.app.address.clone(),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar)
            .build()
            .unwrap(),
    };
    // two links in two tabs of this browser, both under way at once
    let mut callbacks = Vec::new();
    let mut values = Vec::new();
    for user in ["user-a", "user-b"] {
        let path = w.connect_path(json!({ "end_user_id": user })).await;
        let res = browser
            .submit(&path, &path, &[("provider_config", &w.attio_config)])
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let cookies: Vec<String> = set_cookies(&res)
            .into_iter()
            .filter(|c| c.starts_with("ov_oauth"))
            .collect();
        assert_eq!(cookies.len(), 1, "{cookies:?}");
        let cookie = &cookies[0];
        assert!(
            !cookie.contains(&planted),
            "a planted value is never adopted"
        );
        assert!(
            cookie.starts_with("ov_oauth_"),
            "one per transaction: {cookie}"
        );
        assert!(cookie.contains("; Path=/oauth/callback;"), "{cookie}");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        assert!(cookie.contains("Max-Age=600"), "{cookie}");
        values.push(cookie.split(';').next().unwrap().to_string());
        callbacks.push(
            w.attio
                .consent(&browser.client, &location(&res), true)
                .await,
        );
    }
    assert_ne!(values[0], values[1]);
    assert_ne!(
        values[0].split('=').next(),
        values[1].split('=').next(),
        "two cookies, not one overwritten"
    );
    for callback in callbacks.iter().rev() {
        let res = sent(browser.client.get(callback).send().await).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("connect-success"));
    }
    assert_eq!(w.app.count("connections").await, 2);

    // a browser with only the planted cookies cannot finish an
    // authorization it did not start
    let path = w.connect_path(json!({ "end_user_id": "user-c" })).await;
    let (_, authorize) = w.click_connect(&path).await;
    let stranger = Browser {
        address: w.app.address.clone(),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };
    let callback = w.attio.consent(&stranger.client, &authorize, true).await;
    let res = sent(
        stranger
            .client
            .get(&callback)
            .header("cookie", format!("ov_oauth={planted}"))
            .send()
            .await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("browser_mismatch"));
}

fn cache_control(res: reqwest::Response) -> Option<String> {
    res.headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_string())
}

async fn portal_pages_are_not_cached(app: TestApp) {
    // a static asset without a content hash in its name is revalidated
    // (content-hashed ones are cached for a year: see assets.rs)
    let pkg = app.data_dir.path().join("site").join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("probe.css"), "body {}").unwrap();
    let res = app.get("/pkg/probe.css").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(cache_control(res).as_deref(), Some("no-cache"));
    // public pages, signed out: stored only if checked each time
    for page in ["/", "/login", "/docs/providers/attio"] {
        let res = app.get(page).await;
        assert_eq!(res.status(), StatusCode::OK, "{page}");
        assert_eq!(cache_control(res).as_deref(), Some("no-cache"), "{page}");
    }

    // a one-time link's page carries its token
    let setup = app.setup_link.clone().unwrap();
    let res = app.get(setup.trim_start_matches(&app.address)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(cache_control(res).as_deref(), Some("no-store"));

    app.sign_up("dev@example.com", PASSWORD).await;
    for page in ["/", "/apps", "/account", "/docs/providers/attio"] {
        let res = app.get(page).await;
        assert_eq!(res.status(), StatusCode::OK, "{page}");
        assert_eq!(cache_control(res).as_deref(), Some("no-store"), "{page}");
    }
    // a form shown again with its errors
    let res = app.submit("/apps", "/apps", &[("name", "")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(cache_control(res).as_deref(), Some("no-store"));
    // a server function
    let res = sent(
        app.client
            .post(app.url("/api/apps/list"))
            .header("origin", &app.address)
            .header("sec-fetch-site", "same-origin")
            .send()
            .await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(cache_control(res).as_deref(), Some("no-store"));
}

/// Waits (at most 10 s) until `done` holds.
async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if done().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting: {what}");
}

/// Whether the fake received a revocation of `token`.
fn revoked_at_fake(w: &World, token: &str) -> bool {
    w.oauth
        .revocations()
        .iter()
        .any(|form| form.contains(&("token".into(), token.to_string())))
}

async fn deleting_an_app_revokes_its_connections_at_the_provider(w: World) {
    // a revocation queued before revocations carried their endpoint: the
    // provider was down at the disconnect
    let older = w.connect_oauth("user-old").await;
    let older_token = w.oauth.current_refresh_token().unwrap();
    w.oauth.fail_revocation(Some(503));
    let (status, _) = w
        .json(Method::DELETE, &format!("/v1/connections/{older}"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    w.sql(
        "UPDATE revocations SET revocation_url = NULL, client_auth = NULL, client_id = NULL, client_secret = NULL",
    )
    .await;
    let id = w.connect_oauth("user-1").await;
    let token = w.oauth.current_refresh_token().unwrap();
    w.connected("user-2").await;

    // the developer deletes the app while the provider is down
    let page = format!("/apps/{}", w.app_id);
    let html = w.app.get(&page).await.text().await.unwrap();
    assert!(
        html.contains("revoked at its provider"),
        "the confirmation says so"
    );
    let res = w
        .app
        .submit(
            &page,
            &page,
            &[("_action", "delete"), ("confirm", "Acme CRM Sync")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(w.app.count("apps").await, 0);
    assert_eq!(w.app.count("connections").await, 0);
    // the first try, right after the deletion, fails: both wait
    eventually("the first try", || async {
        revoked_at_fake(&w, &token) && w.app.count("revocations WHERE attempts >= 1").await == 2
    })
    .await;
    assert_eq!(w.app.count("revocations").await, 2, "Attio offers none");
    assert_eq!(
        w.app
            .count("revocations WHERE revocation_url IS NOT NULL AND client_secret IS NOT NULL")
            .await,
        2,
        "both carry what they need"
    );
    assert!(!w.oauth.grant_revoked());

    // the provider is back: a worker pass revokes both
    w.oauth.fail_revocation(None);
    w.sql("UPDATE revocations SET next_attempt_at = 0").await;
    let report = app::services::worker::run_once(&w.app.state).await.unwrap();
    assert_eq!(report.revocations_settled, 2);
    assert_eq!(w.app.count("revocations").await, 0);
    assert!(
        w.oauth.current_refresh_token().is_none(),
        "every grant revoked"
    );
    for (connection, token) in [(&id, &token), (&older, &older_token)] {
        assert!(revoked_at_fake(&w, token));
        assert_eq!(
            w.app
                .count(&format!(
                    "audit_events WHERE action = 'connection.revocation' AND target_id = '{connection}' \
                     AND detail = 'Revoked at the provider (retry succeeded)'"
                ))
                .await,
            1,
            "{connection}"
        );
    }
    assert_eq!(
        w.app
            .count("audit_events WHERE action = 'app.deleted' AND detail LIKE '%1 connection(s) queued%'")
            .await,
        1
    );
}

async fn deleting_a_provider_revokes_its_connections_at_once(w: World) {
    let id = w.connect_oauth("user-1").await;
    let token = w.oauth.current_refresh_token().unwrap();
    let kept = w.connected("user-2").await;
    let page = format!("/apps/{}/providers/{}", w.app_id, w.oauth_config);
    let html = w.app.get(&page).await.text().await.unwrap();
    assert!(
        html.contains("revoked at the provider"),
        "the confirmation says so"
    );
    let res = w
        .app
        .submit(&page, &page, &[("_action", "delete"), ("confirm", "yes")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    eventually("the revocation", || async {
        revoked_at_fake(&w, &token) && w.app.count("revocations").await == 0
    })
    .await;
    assert!(w.oauth.grant_revoked());
    assert_eq!(
        w.app.count(&format!("connections WHERE id = '{id}'")).await,
        0
    );
    assert_eq!(w.status(&kept).await, "active", "another provider's stays");
    assert_eq!(
        w.app
            .count(&format!(
                "audit_events WHERE action = 'connection.revocation' AND target_id = '{id}'"
            ))
            .await,
        1
    );
}

/// A webhook endpoint that records the bodies it receives and answers 204.
async fn hook_receiver() -> (Served, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = received.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(body);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let served = Served::start(([127, 0, 0, 1], 0).into(), router)
        .await
        .unwrap();
    (served, received)
}

/// The app's webhook endpoint and a signing secret, set in the portal.
async fn set_webhook(w: &World, app_id: &str, hook: &str) {
    let settings = format!("/apps/{app_id}/settings");
    let res = w
        .app
        .submit(
            &settings,
            &settings,
            &[("_action", "webhook"), ("webhook_url", hook)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = w
        .app
        .submit(&settings, &settings, &[("_action", "rotate_secret")])
        .await;
    assert!(res.status().is_success());
}

/// Connects `user` to the fake RFC 6749 provider in the app of `key`.
async fn connect_oauth_in(w: &World, key: &str, config: &str, user: &str) -> String {
    let res = sent(
        w.app
            .client
            .post(w.app.url("/v1/connect/sessions"))
            .bearer_auth(key)
            .json(&json!({ "end_user_id": user, "providers": [PROVIDER_ID], "return_url": w.return_url }))
            .send()
            .await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let session: serde_json::Value = res.json().await.unwrap();
    let path = session["connect_url"]
        .as_str()
        .unwrap()
        .trim_start_matches(&w.app.address)
        .to_string();
    let browser = w.app.second_browser();
    let res = browser
        .submit(&path, &path, &[("provider_config", config)])
        .await;
    let res = sent(browser.client.get(location(&res)).send().await).await;
    let res = sent(browser.client.get(location(&res)).send().await).await;
    query_value(&location(&res), "connection_id").unwrap()
}

async fn one_bad_row_stops_no_worker_pass(backend: Backend) {
    let (receiver, received) = hook_receiver().await;
    let Some(w) = World::start(backend, &SETUP, &[], &receiver.host()).await else {
        return;
    };
    let other = World::new_app(&w.app.browser(), "Other Tenant", &SETUP).await;
    let hook = format!("{}/hook", receiver.address);
    set_webhook(&w, &w.app_id, &hook).await;
    set_webhook(&w, &other.app_id, &hook).await;
    // each tenant disconnects a connection while the provider is down
    let mine = w.connect_oauth("user-1").await;
    let theirs = connect_oauth_in(&w, &other.key, &other.oauth_config, "user-1").await;
    let their_token = w.oauth.current_refresh_token().unwrap();
    w.oauth.fail_revocation(Some(503));
    let (status, _) = w
        .json(Method::DELETE, &format!("/v1/connections/{mine}"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let res = sent(
        w.app
            .client
            .delete(w.app.url(&format!("/v1/connections/{theirs}")))
            .bearer_auth(&other.key)
            .send()
            .await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    w.oauth.fail_revocation(None);
    assert_eq!(w.app.count("revocations").await, 2);

    // this tenant's rows break, and come first
    let garbage = vec![1u8, 2, 3, 4, 5, 6, 7, 8];
    for statement in [
        "UPDATE revocations SET token = $1 WHERE app_id = $2",
        "UPDATE apps SET webhook_secret = $1 WHERE id = $2",
    ] {
        sqlx::query(statement)
            .bind(garbage.clone())
            .bind(&w.app_id)
            .execute(w.app.state.db.pool())
            .await
            .unwrap();
    }
    w.sql(&format!(
        "UPDATE revocations SET next_attempt_at = CASE WHEN app_id = '{}' THEN 0 ELSE 1 END",
        w.app_id
    ))
    .await;
    w.sql(&format!(
        "UPDATE webhook_deliveries SET next_attempt_at = CASE WHEN app_id = '{}' THEN 0 ELSE 1 END",
        w.app_id
    ))
    .await;
    let pending =
        |app: &str| format!("webhook_deliveries WHERE status = 'pending' AND app_id = '{app}'");
    let theirs_pending = w.app.count(&pending(&other.app_id)).await;
    assert!(theirs_pending >= 2, "created and deleted");

    let report = app::services::worker::run_once(&w.app.state).await.unwrap();
    // the other tenant's revocation and webhooks went through
    assert!(revoked_at_fake(&w, &their_token));
    assert_eq!(
        report.revocations_settled, 2,
        "the broken one is settled too"
    );
    assert_eq!(w.app.count("revocations").await, 0);
    assert_eq!(w.events(&theirs, "revocation").await, 1);
    assert_eq!(
        w.app
            .count(&format!(
                "connection_events WHERE connection_id = '{mine}' AND kind = 'revocation' \
                 AND message LIKE '%could not be decrypted%'"
            ))
            .await,
        1
    );
    assert_eq!(w.app.count(&pending(&other.app_id)).await, 0);
    assert_eq!(report.webhooks_delivered as i64, theirs_pending);
    let delivered = received.lock().unwrap().clone();
    assert!(
        delivered.iter().all(|b| b.contains(&other.app_id)),
        "{delivered:?}"
    );
    // this tenant's messages wait for a signing secret that opens
    assert_eq!(
        w.app
            .count(&format!(
                "webhook_attempts WHERE app_id = '{}' AND error = 'the signing secret is invalid'",
                w.app_id
            ))
            .await,
        report.webhooks_failed as i64
    );
    assert!(report.webhooks_failed >= 2);
    assert_eq!(
        w.app
            .count(&format!(
                "webhook_deliveries WHERE app_id = '{}' AND status = 'pending' AND next_attempt_at > 1000",
                w.app_id
            ))
            .await,
        report.webhooks_failed as i64,
        "backed off"
    );
}

async fn bad_connections_do_not_hold_up_the_others(w: World) {
    // four connections whose refresh token no longer opens expire first,
    // a healthy one after them: one pass takes four
    let mut broken = Vec::new();
    for i in 0..4 {
        broken.push(w.connect_oauth(&format!("broken-{i}")).await);
    }
    let healthy = w.connect_oauth("healthy").await;
    for (i, id) in broken.iter().enumerate() {
        sqlx::query("UPDATE connections SET refresh_token = $1, expires_at = $2 WHERE id = $3")
            .bind(vec![9u8; 40])
            .bind(1000 + i as i64)
            .bind(id)
            .execute(w.app.state.db.pool())
            .await
            .unwrap();
    }
    w.sql(&format!(
        "UPDATE connections SET expires_at = 2000 WHERE id = '{healthy}'"
    ))
    .await;
    let first = app::services::worker::run_once(&w.app.state).await.unwrap();
    assert_eq!(first.refresh_failed, 4);
    let second = app::services::worker::run_once(&w.app.state).await.unwrap();
    assert_eq!(second.refreshed, 1, "the healthy one gets its turn");
    let expires: Option<i64> =
        sqlx::query_scalar("SELECT expires_at FROM connections WHERE id = $1")
            .bind(&healthy)
            .fetch_one(w.app.state.db.pool())
            .await
            .unwrap();
    assert!(expires.unwrap() > app::infra::db::now_ms());

    // the same for health checks of Attio's long-lived tokens
    let mut broken = Vec::new();
    for i in 0..4 {
        broken.push(w.connected(&format!("attio-broken-{i}")).await);
    }
    let healthy = w.connected("attio-healthy").await;
    for (i, id) in broken.iter().enumerate() {
        sqlx::query("UPDATE connections SET access_token = $1, next_check_at = $2 WHERE id = $3")
            .bind(vec![9u8; 40])
            .bind(1000 + i as i64)
            .bind(id)
            .execute(w.app.state.db.pool())
            .await
            .unwrap();
    }
    w.sql(&format!(
        "UPDATE connections SET next_check_at = 2000, last_checked_at = 0 WHERE id = '{healthy}'"
    ))
    .await;
    let first = app::services::worker::run_once(&w.app.state).await.unwrap();
    assert_eq!(first.checked, 4);
    app::services::worker::run_once(&w.app.state).await.unwrap();
    let checked: Option<i64> =
        sqlx::query_scalar("SELECT last_checked_at FROM connections WHERE id = $1")
            .bind(&healthy)
            .fetch_one(w.app.state.db.pool())
            .await
            .unwrap();
    assert!(checked.unwrap() > 0, "the healthy one gets its turn");
}
