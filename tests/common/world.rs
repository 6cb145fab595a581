//! One `World` for the suites that need a whole installation: a server, the
//! fake Attio and the fake RFC 6749 provider in the catalogue, a signed-in
//! developer, an app with its provider configurations, an allowed return
//! URL and an API key.

use super::{
    fake_attio::{self, FakeAttio},
    fake_oauth::{self, FakeOAuth},
    sent, spawn_app_with, Backend, Browser, TestApp,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

/// Runs each `async fn(World)` on SQLite and on PostgreSQL, with the suite's
/// `Setup` (a path) and the server settings after `with`, if any.
#[macro_export]
macro_rules! with_world {
    (@vars) => { &[] };
    (@vars $vars:path) => { $vars };
    ($setup:ident; $($name:ident $(with $vars:ident)?),* $(,)?) => {$(
        mod $name {
            const VARS: &[(&str, &str)] = with_world!(@vars $(super::$vars)?);
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let world = $crate::common::World::start($crate::common::Backend::Sqlite, &super::$setup, VARS, "")
                    .await
                    .unwrap();
                super::$name(world).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(world) = $crate::common::World::start($crate::common::Backend::Postgres, &super::$setup, VARS, "").await else {
                    return;
                };
                super::$name(world).await;
            }
        }
    )*};
}

/// What a suite's app has configured.
pub struct Setup {
    /// The return URL allowed in the app's settings.
    pub return_url: &'static str,
    /// The Attio scopes ticked in the provider form.
    pub attio_scopes: &'static [&'static str],
    /// Whether the fake RFC 6749 provider is configured besides Attio.
    pub fake_oauth: bool,
}

pub struct World {
    pub app: TestApp,
    pub attio: FakeAttio,
    pub oauth: FakeOAuth,
    _catalogue: TempDir,
    pub app_id: String,
    pub key: String,
    pub attio_config: String,
    /// Empty unless [`Setup::fake_oauth`].
    pub oauth_config: String,
    pub return_url: &'static str,
}

/// Starts the real binary from `cmd` (standard error discarded) and returns
/// it with its public URL, read from its first line.
pub fn start_binary(cmd: &mut std::process::Command) -> (std::process::Child, String) {
    cmd.stderr(std::process::Stdio::null());
    started(cmd)
}

/// [`start_binary`], with the binary's standard error (its log) written to
/// the file `log`.
pub fn start_binary_logging(
    cmd: &mut std::process::Command,
    log: &std::path::Path,
) -> (std::process::Child, String) {
    cmd.stderr(std::fs::File::create(log).unwrap());
    started(cmd)
}

fn started(cmd: &mut std::process::Command) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("OAuth Vault is running at ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .trim_end_matches('/')
        .to_string();
    (child, url)
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_string()
}

pub fn query_value(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.to_string())
}

/// The first `ovk_…` key in a page.
pub fn key_in(html: &str) -> String {
    shown_value(html, "ovk_")
}

/// The value of the first field of `html` whose value starts with
/// `prefix` (a key, secret or link shown once in a copyable field).
pub fn shown_value(html: &str, prefix: &str) -> String {
    let marker = format!(r#"value="{prefix}"#);
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field shows {prefix}…"))
        + r#"value=""#.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// What [`World::new_app`] made.
pub struct NewApp {
    pub app_id: String,
    pub attio_config: String,
    pub oauth_config: String,
    pub key: String,
}

impl World {
    /// `extra`: server settings; `extra_host`: one more allowed host.
    pub async fn start(
        backend: Backend,
        setup: &Setup,
        extra: &[(&str, &str)],
        extra_host: &str,
    ) -> Option<World> {
        let oauth = FakeOAuth::start().await;
        let attio = FakeAttio::start().await;
        let catalogue = tempfile::tempdir().unwrap();
        oauth.write_catalogue(catalogue.path()).unwrap();
        attio.write_catalogue(catalogue.path()).unwrap();
        let dir = catalogue.path().display().to_string();
        let hosts = format!("{},{},{extra_host}", oauth.host(), attio.host());
        let mut vars = vec![
            ("OAUTH_VAULT_PROVIDERS_DIR", dir.as_str()),
            ("OAUTH_VAULT_ALLOWED_HOSTS", hosts.as_str()),
        ];
        vars.extend_from_slice(extra);
        let app = spawn_app_with(backend, &vars).await?;
        app.sign_up("dev@example.com", "correct horse battery")
            .await;
        let made = Self::new_app(&app.browser(), "Acme CRM Sync", setup).await;
        Some(World {
            app,
            oauth,
            attio,
            _catalogue: catalogue,
            app_id: made.app_id,
            key: made.key,
            attio_config: made.attio_config,
            oauth_config: made.oauth_config,
            return_url: setup.return_url,
        })
    }

    /// Creates an app with its providers configured, an allowed return URL
    /// and an API key, as the signed-in developer of `browser`.
    pub async fn new_app(browser: &Browser, name: &str, setup: &Setup) -> NewApp {
        let res = browser.submit("/apps", "/apps", &[("name", name)]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let app_id = location(&res).trim_start_matches("/apps/").to_string();
        let mut providers = vec![(
            "attio",
            fake_attio::CLIENT_ID,
            fake_attio::CLIENT_SECRET,
            setup.attio_scopes.to_vec(),
        )];
        if setup.fake_oauth {
            providers.push((
                fake_oauth::PROVIDER_ID,
                fake_oauth::CLIENT_ID,
                fake_oauth::CLIENT_SECRET,
                vec!["read"],
            ));
        }
        let mut configs = Vec::new();
        for (provider, id, secret, scopes) in providers {
            let page = format!("/apps/{app_id}/providers/new/{provider}");
            let mut form = vec![("client_id", id), ("client_secret", secret)];
            form.extend(scopes.into_iter().map(|s| ("scopes", s)));
            let res = browser.submit(&page, &page, &form).await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{provider}");
            configs.push(location(&res).rsplit('/').next().unwrap().to_string());
        }
        let settings = format!("/apps/{app_id}/settings");
        let res = browser
            .submit(&settings, &settings, &[("return_urls", setup.return_url)])
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let keys = format!("/apps/{app_id}/api-keys");
        let res = browser
            .submit(&keys, &keys, &[("_action", "create"), ("name", "backend")])
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let key = key_in(&res.text().await.unwrap());
        NewApp {
            app_id,
            attio_config: configs[0].clone(),
            oauth_config: configs.get(1).cloned().unwrap_or_default(),
            key,
        }
    }

    /// A `/v1` request with the app's key.
    pub fn api(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(&self.key)
    }

    /// A `/v1` call with the app's key to `base` (this server or another
    /// process on the same database): status, JSON body, headers.
    pub async fn call(
        &self,
        base: &str,
        method: Method,
        path: &str,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let res = sent(
            self.app
                .client
                .request(method, format!("{base}{path}"))
                .bearer_auth(&self.key)
                .send()
                .await,
        )
        .await;
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.json().await.unwrap_or(Value::Null);
        (status, body, headers)
    }

    /// Status and JSON body of a `/v1` call to this server.
    pub async fn json(&self, method: Method, path: &str) -> (StatusCode, Value) {
        let res = sent(self.api(method, path).send().await).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn token(&self, id: &str) -> (StatusCode, Value) {
        let path = format!("/v1/connections/{id}/access-token");
        let (status, body, _) = self.call(&self.app.address, Method::GET, &path).await;
        (status, body)
    }

    pub async fn session(&self, body: Value) -> reqwest::Response {
        sent(
            self.api(Method::POST, "/v1/connect/sessions")
                .json(&body)
                .send()
                .await,
        )
        .await
    }

    /// A session's connect URL, path only.
    pub async fn connect_path(&self, body: Value) -> String {
        let res = self.session(body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let created: Value = res.json().await.unwrap();
        let url = created["connect_url"].as_str().unwrap();
        url.trim_start_matches(&self.app.address).to_string()
    }

    /// The end user opens the link in a fresh browser and clicks Connect
    /// Attio; returns the browser and the provider's authorize URL.
    pub async fn click_connect(&self, path: &str) -> (Browser, String) {
        let browser = self.app.second_browser();
        let page = sent(browser.client.get(self.app.url(path)).send().await).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        let config = format!(r#"name="provider_config" value="{}""#, self.attio_config);
        assert!(html.contains(&config), "{html}");
        let res = browser
            .submit(path, path, &[("provider_config", &self.attio_config)])
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let authorize = location(&res);
        assert!(authorize.starts_with(&self.attio.address), "{authorize}");
        (browser, authorize)
    }

    /// The whole Attio flow for `body`; returns the browser and the vault's
    /// answer to the callback.
    pub async fn connect(&self, body: Value, approve: bool) -> (Browser, reqwest::Response) {
        let path = self.connect_path(body).await;
        let (browser, authorize) = self.click_connect(&path).await;
        let callback = self
            .attio
            .consent(&browser.client, &authorize, approve)
            .await;
        let res = sent(browser.client.get(&callback).send().await).await;
        (browser, res)
    }

    /// Connects `end_user` to Attio and returns the connection id.
    pub async fn connected(&self, end_user: &str) -> String {
        let (_, res) = self
            .connect(
                json!({ "end_user_id": end_user, "return_url": self.return_url }),
                true,
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let back = location(&res);
        assert_eq!(
            query_value(&back, "status").as_deref(),
            Some("success"),
            "{back}"
        );
        query_value(&back, "connection_id").unwrap()
    }

    /// Runs a connect session for `body` with `config_id` and returns the
    /// connection id; `attio` picks which fake gives consent.
    pub async fn connect_with(&self, body: Value, config_id: &str, attio: bool) -> String {
        let res = self.session(body).await;
        let status = res.status();
        let session = res.json::<Value>().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{session}");
        let path = session["connect_url"]
            .as_str()
            .unwrap()
            .trim_start_matches(&self.app.address)
            .to_string();
        let browser: Browser = self.app.second_browser();
        let res = browser
            .submit(&path, &path, &[("provider_config", config_id)])
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let authorize = location(&res);
        let callback = if attio {
            self.attio.consent(&browser.client, &authorize, true).await
        } else {
            let res = sent(browser.client.get(&authorize).send().await).await;
            assert_eq!(res.status(), StatusCode::FOUND, "the fake approves at once");
            location(&res)
        };
        let res = sent(browser.client.get(&callback).send().await).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let back = location(&res);
        assert_eq!(
            query_value(&back, "status").as_deref(),
            Some("success"),
            "{back}"
        );
        query_value(&back, "connection_id").unwrap()
    }

    /// Connects `end_user` to the fake RFC 6749 provider.
    pub async fn connect_oauth(&self, end_user: &str) -> String {
        self.connect_with(
            json!({ "end_user_id": end_user, "providers": [fake_oauth::PROVIDER_ID], "return_url": self.return_url }),
            &self.oauth_config.clone(),
            false,
        )
        .await
    }

    pub async fn sql(&self, statement: &str) {
        sqlx::query(statement)
            .execute(self.app.state.db.pool())
            .await
            .unwrap();
    }

    /// Makes the connection's access token expired, here and at the fake.
    pub async fn expire(&self, id: &str) {
        self.sql(&format!(
            "UPDATE connections SET expires_at = 1000 WHERE id = '{id}'"
        ))
        .await;
        self.oauth.expire_access_tokens();
    }

    pub async fn status(&self, id: &str) -> String {
        sqlx::query_scalar("SELECT status FROM connections WHERE id = $1")
            .bind(id)
            .fetch_one(self.app.state.db.pool())
            .await
            .unwrap()
    }

    /// How many events of `kind` the connection has.
    pub async fn events(&self, id: &str, kind: &str) -> i64 {
        self.app
            .count(&format!(
                "connection_events WHERE connection_id = '{id}' AND kind = '{kind}'"
            ))
            .await
    }
}
