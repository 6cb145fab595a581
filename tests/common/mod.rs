//! The integration-test harness: starts the real application on port 0 with a
//! fresh database — a SQLite file in a temporary folder, or a PostgreSQL
//! database created for the test and dropped after it.
//!
//! PostgreSQL tests run when `OAUTH_VAULT_TEST_POSTGRES_URL` points at a
//! server (an admin connection, e.g. `postgres://postgres@127.0.0.1:5432/postgres`).
//! Without it they are skipped locally, and fail under CI (`CI` set).

pub mod fake_attio;
pub mod fake_oauth;
pub mod fake_oidc;
pub mod fake_server;
pub mod fake_smtp;
#[macro_use]
mod world;

pub use world::{
    key_in, location, query_value, shown_value, start_binary, start_binary_logging, Setup, World,
};

use app::web::state::AppState;
use oauth_vault::{config::Config, startup::Application};
use sqlx::{Connection, Executor, PgConnection};
use std::collections::HashMap;
use tempfile::TempDir;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(TestApp)` as two tests: `<name>::sqlite` and
/// `<name>::postgres`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::common::spawn_app($crate::common::Backend::Sqlite).await.unwrap();
                super::$name(app).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) = $crate::common::spawn_app($crate::common::Backend::Postgres).await else {
                    return;
                };
                super::$name(app).await;
            }
        }
    )*};
}

pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub data_dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// Dropped with the app: drops the PostgreSQL database.
    _database: Option<TestDatabase>,
    vars: HashMap<String, String>,
    /// The setup link the server printed (a fresh instance has no administrator).
    pub setup_link: Option<String>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// `SELECT COUNT(*) FROM <what>`, e.g. `count("users")` or
    /// `count("sessions WHERE user_id = 'x'")`.
    pub async fn count(&self, what: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {what}"))
            .fetch_one(self.state.db.pool())
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        sent(self.client.get(self.url(path)).send().await).await
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A PostgreSQL database that exists for one test.
struct TestDatabase {
    admin_url: String,
    name: String,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime; use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let drop = async {
                    if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
                        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                        let _ = conn.execute(sql.as_str()).await;
                    }
                };
                // bounded: a stuck drop leaves a database behind, never a hung test
                let _ = tokio::time::timeout(std::time::Duration::from_secs(15), drop).await;
            });
        })
        .join();
    }
}

pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("OAUTH_VAULT_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "CI is set but OAUTH_VAULT_TEST_POSTGRES_URL is not: PostgreSQL tests cannot run"
            )
        }
        _ => {
            eprintln!("skipped: set OAUTH_VAULT_TEST_POSTGRES_URL to run the PostgreSQL variant");
            None
        }
    }
}

async fn create_postgres_database() -> Option<(String, TestDatabase)> {
    let admin_url = postgres_admin_url()?;
    let name = format!("ov_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin_url)
        .await
        .expect("connect to the PostgreSQL admin database");
    conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await
        .expect("create a test database");
    let mut url = url::Url::parse(&admin_url).expect("OAUTH_VAULT_TEST_POSTGRES_URL is a URL");
    url.set_path(&name);
    Some((url.to_string(), TestDatabase { admin_url, name }))
}

/// One runtime for every server the tests start, as in production, where one
/// process runs one runtime. (Each `#[tokio::test]` has its own runtime; the
/// servers must not live and die with them.)
fn server_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("test-servers")
            // as the server binary's (src/main.rs): large pages render deep
            .thread_stack_size(8 * 1024 * 1024)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// Unwraps an HTTP result, naming the request that failed.
pub async fn sent(result: reqwest::Result<reqwest::Response>) -> reqwest::Response {
    result.unwrap_or_else(|e| panic!("request failed: {e}"))
}

/// Starts the application with a fresh database; `extra` overrides or adds
/// configuration variables. `None` when the backend is not configured.
pub async fn spawn_app_with(backend: Backend, extra: &[(&str, &str)]) -> Option<TestApp> {
    if std::env::var_os("TEST_LOG").is_some() {
        if let Ok(guard) =
            oauth_vault::telemetry::init(oauth_vault::config::LogFormat::Text, "sqlite")
        {
            // the whole test binary logs through it
            std::mem::forget(guard);
        }
    }
    let data_dir = tempfile::tempdir().unwrap();
    let (database_url, database) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", data_dir.path().join("vault.db").display()),
            None,
        ),
        Backend::Postgres => {
            let (url, db) = create_postgres_database().await?;
            (url, Some(db))
        }
    };
    let mut vars: HashMap<String, String> = HashMap::from([
        ("OAUTH_VAULT_BIND".into(), "127.0.0.1:0".into()),
        (
            "OAUTH_VAULT_DATA_DIR".into(),
            data_dir.path().display().to_string(),
        ),
        (
            "OAUTH_VAULT_SITE_ROOT".into(),
            data_dir.path().join("site").display().to_string(),
        ),
        ("DATABASE_URL".into(), database_url),
        // Tests run the background worker's passes themselves.
        ("OAUTH_VAULT_WORKER_INTERVAL_SECS".into(), "0".into()),
        // Tests rewrite rows behind the server's back (to make time pass);
        // the API's read cache is tested on its own (tests/refresh.rs).
        ("OAUTH_VAULT_API_CACHE_TTL_MS".into(), "0".into()),
        // Most tests sign up freely, many times from one address; the
        // invitation-only default and the sign-up limit have their own tests.
        ("OAUTH_VAULT_SIGNUP".into(), "open".into()),
        ("OAUTH_VAULT_SIGNUPS_PER_ADDRESS".into(), "10000".into()),
    ]);
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    let (address, state, shutdown, server, setup_link) = start_server(&vars).await;
    Some(TestApp {
        address,
        client: browser_client(),
        state,
        data_dir,
        shutdown: Some(shutdown),
        server: Some(server),
        _database: database,
        vars,
        setup_link,
    })
}

type Running = (
    String,
    AppState,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
    Option<String>,
);

async fn start_server(vars: &HashMap<String, String>) -> Running {
    let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration");
    let application = server_runtime()
        .spawn(Application::build(config))
        .await
        .unwrap()
        .expect("application starts");
    let addr = application.local_addr().unwrap();
    let state = application.state().clone();
    let setup_link = application.setup_link().map(str::to_string);
    let (tx, rx) = oneshot::channel::<()>();
    let server = server_runtime().spawn(application.run_until_stopped(async {
        let _ = rx.await;
    }));
    (format!("http://{addr}"), state, tx, server, setup_link)
}

/// A cookie jar that follows no redirects.
fn browser_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .pool_max_idle_per_host(0)
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, &[]).await
}

impl TestApp {
    /// Another browser (its own cookie jar) on the same server.
    pub fn second_browser(&self) -> Browser {
        Browser {
            address: self.address.clone(),
            client: browser_client(),
        }
    }

    /// A configuration variable this server was started with.
    pub fn var(&self, name: &str) -> String {
        self.vars.get(name).cloned().unwrap_or_default()
    }

    /// The `oauth-vault` binary, configured like this server (same data
    /// folder, database and key file): the operator's CLI.
    pub fn cli(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_oauth-vault"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .current_dir(self.data_dir.path())
            .args(args);
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        // the binary serves only with its client assets
        let site = fake_site(&self.data_dir.path().join("binary-site"));
        cmd.env("OAUTH_VAULT_SITE_ROOT", site);
        cmd
    }

    /// A second server process on the same database and keys, as in a
    /// scaled-out deployment. It stops with the returned value.
    pub async fn another_instance(&self) -> TestApp {
        let (address, state, shutdown, server, setup_link) = start_server(&self.vars).await;
        TestApp {
            address,
            client: browser_client(),
            state,
            data_dir: tempfile::tempdir().unwrap(),
            shutdown: Some(shutdown),
            server: Some(server),
            _database: None,
            vars: self.vars.clone(),
            setup_link,
        }
    }

    /// Signs up a developer and makes an app `name` with `return_url`
    /// allowed and an API key: `(app id, key)`.
    pub async fn developer_app(&self, name: &str, return_url: &str) -> (String, String) {
        self.sign_up("dev@example.com", "correct horse battery")
            .await;
        let res = self.submit("/apps", "/apps", &[("name", name)]).await;
        let app_id = location(&res).trim_start_matches("/apps/").to_string();
        let settings = format!("/apps/{app_id}/settings");
        let fields = [("_action", "return_urls"), ("return_urls", return_url)];
        self.submit(&settings, &settings, &fields).await;
        let keys = format!("/apps/{app_id}/api-keys");
        let fields = [("_action", "create"), ("name", "backend")];
        let res = self.submit(&keys, &keys, &fields).await;
        (app_id, key_in(&res.text().await.unwrap()))
    }

    /// This app's own browser (its cookie jar), as a `Browser`.
    pub fn browser(&self) -> Browser {
        Browser {
            address: self.address.clone(),
            client: self.client.clone(),
        }
    }

    pub async fn csrf_token(&self, page: &str) -> String {
        self.browser().csrf_token(page).await
    }

    pub async fn sign_up(&self, email: &str, password: &str) -> reqwest::Response {
        self.browser().sign_up(email, password).await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.browser().sign_in(email, password).await
    }

    /// Creates the first administrator with the setup link the server
    /// printed, signed in in this app's browser.
    pub async fn set_up_admin(&self, email: &str, password: &str) -> reqwest::Response {
        let link = self
            .setup_link
            .clone()
            .expect("a fresh instance prints a setup link");
        let path = link.trim_start_matches(&self.address).to_string();
        let res = self
            .submit(&path, &path, &[("email", email), ("password", password)])
            .await;
        assert_eq!(
            res.status(),
            reqwest::StatusCode::SEE_OTHER,
            "setup answers"
        );
        res
    }

    pub async fn sign_out(&self) -> reqwest::Response {
        self.browser().sign_out().await
    }

    /// Posts a form from `page` (as a browser would: same origin, with the
    /// page's CSRF token) to `action`.
    pub async fn submit(
        &self,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        self.browser().submit(page, action, fields).await
    }
}

/// A site folder with a (placeholder) client bundle in `dir`, for the
/// binary, which refuses to serve without one.
pub fn fake_site(dir: &std::path::Path) -> std::path::PathBuf {
    let pkg = dir.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let id = "0123456789abcdef";
    std::fs::write(pkg.join("BUILD"), id).unwrap();
    for ext in ["js", "css"] {
        std::fs::write(pkg.join(format!("oauth_vault.{id}.{ext}")), "").unwrap();
    }
    std::fs::write(pkg.join(format!("oauth_vault.{id}_bg.wasm")), "").unwrap();
    dir.to_path_buf()
}

/// A browser: a cookie jar that follows no redirects.
#[derive(Clone)]
pub struct Browser {
    pub address: String,
    pub client: reqwest::Client,
}

impl Browser {
    /// Loads `page` and returns the CSRF token of its forms.
    pub async fn csrf_token(&self, page: &str) -> String {
        let res = sent(
            self.client
                .get(format!("{}{page}", self.address))
                .send()
                .await,
        )
        .await;
        let status = res.status();
        let html = res.text().await.unwrap();
        let marker = r#"name="csrf" value=""#;
        let start = html.find(marker).unwrap_or_else(|| {
            let main = html.find("<main").unwrap_or(0);
            panic!(
                "no CSRF field on {page} ({status}): {}",
                &html[main..html.len().min(main + 1500)]
            )
        }) + marker.len();
        html[start..].split('"').next().unwrap().to_string()
    }

    pub async fn submit(
        &self,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let token = self.csrf_token(page).await;
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf", &token));
        sent(
            self.client
                .post(format!("{}{action}", self.address))
                .header("origin", &self.address)
                .form(&form)
                .send()
                .await,
        )
        .await
    }

    pub async fn sign_up(&self, email: &str, password: &str) -> reqwest::Response {
        self.submit(
            "/signup",
            "/signup",
            &[("email", email), ("password", password)],
        )
        .await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.submit(
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await
    }

    pub async fn sign_out(&self) -> reqwest::Response {
        self.submit("/apps", "/logout", &[]).await
    }
}
