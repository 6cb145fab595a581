//! Connection values, end to end against the fake provider with a
//! definition that needs them all: a developer parameter (a tenant) and an
//! end-user parameter (a shop) in the URLs, a value returned on the callback
//! (QuickBooks' `realmId`-like `realm`) and one with the token (Salesforce's
//! `instance_url`-like API host), the identity at that host, and an API
//! header of the definition's own.

use crate::common::fake_oauth::{self, FakeOAuth};
use crate::common::{location, query_value, spawn_app_with, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

const RETURN_URL: &str = "https://app.example.com/done";

fn definition(addr: &str) -> String {
    format!(
        r#"
id = "tmpl"
name = "Templated"
category = "Testing"
tagline = "A provider whose URLs need values."

[[parameters]]
name = "tenant"
label = "Tenant"
pattern = "^[a-z]{{1,20}}$"
example = "acme"
supplied_by = "developer"

[[parameters]]
name = "shop"
label = "Shop name"
description = "The name of your shop."
pattern = "^[a-z0-9][a-z0-9-]{{0,30}}$"
example = "demo"
supplied_by = "end_user"

[oauth]
authorization_url = "{addr}/authorize?tenant={{tenant}}&shop={{shop}}"
token_url = "{addr}/token?shop={{shop}}&realm={{realm}}"
pkce = true
client_auth = "basic"

[callback]
values = ["realm"]

[token_response]
values = {{ instance_url = "instance_url" }}

[identity]
url = "{{instance_url}}/userinfo"
account_id = "sub"
account_name = "name"

[api]
base_url = "{{instance_url}}/api/{{realm}}"
headers = {{ "X-Api-Version" = "2026-01" }}

[tokens]
lifecycle = "rotating_refresh"

[display]
pkce = "Supported"
token_refresh = "Automatic"

[[scope_groups]]
name = "Data"
scopes = [{{ name = "read", access = "read", description = "Read data" }}]
"#
    )
}

mod connection_values_fill_every_url {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::connection_values_fill_every_url(crate::common::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::connection_values_fill_every_url(crate::common::Backend::Postgres).await;
    }
}

async fn connection_values_fill_every_url(backend: Backend) {
    let fake = FakeOAuth::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tmpl.toml"), definition(&fake.address)).unwrap();
    let dir_text = dir.path().display().to_string();
    let host = fake.host();
    let vars = [
        ("OAUTH_VAULT_PROVIDERS_DIR", dir_text.as_str()),
        ("OAUTH_VAULT_ALLOWED_HOSTS", host.as_str()),
    ];
    let Some(app) = spawn_app_with(backend, &vars).await else {
        return;
    };
    let (key, config) = set_up(&app).await;
    fake.set_extra_callback(&[("realm", "R1")]);
    fake.set_extra_token_fields(json!({ "instance_url": fake.address }));

    // the end user's shop is asked on the connect page, and checked
    let res = app
        .client
        .post(app.url("/v1/connect/sessions"))
        .bearer_auth(&key)
        .json(&json!({ "end_user_id": "u1", "return_url": RETURN_URL }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let session: Value = res.json().await.unwrap();
    let path = session["connect_url"]
        .as_str()
        .unwrap()
        .trim_start_matches(&app.address)
        .to_string();
    let user = app.second_browser();
    let html = user
        .client
        .get(app.url(&path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("name=\"param_shop\"") && html.contains("Shop name"));
    for (typed, message) in [
        ("", "Enter the Shop name"),
        ("evil.com/", "looks like demo"),
    ] {
        let res = user
            .submit(
                &path,
                &path,
                &[("provider_config", &config), ("param_shop", typed)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{typed}");
        let html = res.text().await.unwrap();
        assert!(html.contains(message), "{typed}: {html}");
        assert!(
            html.contains(&format!("value=\"{typed}\"")),
            "the input is kept"
        );
    }
    assert!(fake.authorize_requests().is_empty(), "nothing was called");
    let res = user
        .submit(
            &path,
            &path,
            &[("provider_config", &config), ("param_shop", "demo")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let authorize = location(&res);
    assert!(
        authorize.contains("tenant=acme") && authorize.contains("shop=demo"),
        "{authorize}"
    );
    let res = user.client.get(&authorize).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND, "the fake approves at once");
    let callback = location(&res);
    assert!(callback.contains("realm=R1"));
    let res = user.client.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let back = location(&res);
    assert_eq!(
        query_value(&back, "status").as_deref(),
        Some("success"),
        "{back}"
    );
    let id = query_value(&back, "connection_id").unwrap();
    let stored: Option<String> =
        sqlx::query_scalar("SELECT parameters FROM connections WHERE id = $1")
            .bind(&id)
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    let stored: Value = serde_json::from_str(&stored.unwrap()).unwrap();
    assert_eq!(stored["shop"], "demo");
    assert_eq!(stored["realm"], "R1");
    assert_eq!(stored["instance_url"], fake.address.as_str());

    // the proxy calls the connection's own API base, with the header
    let res = app
        .client
        .get(app.url(&format!("/v1/proxy/{id}/things?x=1")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let call = fake.api_requests().pop().unwrap();
    assert_eq!(call.path, "/R1/things");
    assert_eq!(call.header("x-api-version"), Some("2026-01"));

    // a refresh goes to the token URL filled with the connection's values
    let before = fake.refresh_requests();
    let res = app
        .client
        .get(app.url(&format!(
            "/v1/connections/{id}/access-token?force_refresh=true"
        )))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap_or_default();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(fake.refresh_requests(), before + 1);
    app.stop().await;
}

/// An account, an app with the templated provider (tenant `acme`), an
/// allowed return URL and an API key: `(key, configuration id)`.
async fn set_up(app: &TestApp) -> (String, String) {
    let (app_id, key) = app.developer_app("Shop sync", RETURN_URL).await;
    let form = format!("/apps/{app_id}/providers/new/tmpl");
    let fields = [
        ("client_id", fake_oauth::CLIENT_ID),
        ("client_secret", fake_oauth::CLIENT_SECRET),
        ("scopes", "read"),
        ("param_tenant", "acme"),
    ];
    let res = app.submit(&form, &form, &fields).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let config = location(&res).rsplit('/').next().unwrap().to_string();
    (key, config)
}
