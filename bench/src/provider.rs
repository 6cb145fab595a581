//! A local OAuth provider for the refresh benchmarks: answers each refresh
//! after a configurable delay, rotates the refresh token, and counts the
//! refreshes of every connection so that duplicates show.
//!
//! Refresh tokens read `rt.<connection number>.<generation>`.

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Form, Json, Router,
};
use serde_json::json;
use std::{
    collections::HashMap,
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

pub const PROVIDER_ID: &str = "benchoauth";
pub const CLIENT_ID: &str = "bench-client";
pub const CLIENT_SECRET: &str = "bench-secret-0123456789abcdef";

#[derive(Default)]
struct Counts {
    /// Refreshes per connection number.
    per_connection: HashMap<u64, u32>,
    /// Refreshes that presented an already rotated token.
    stale: u64,
    rejected: u64,
}

#[derive(Clone)]
struct Shared {
    delay: Duration,
    counts: Arc<Mutex<Counts>>,
}

pub struct Provider {
    pub address: SocketAddr,
    shared: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// What the provider saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct Seen {
    pub refreshes: u64,
    pub connections: u64,
    /// Refreshes beyond the first of each connection.
    pub duplicates: u64,
    /// Refreshes that presented an already rotated refresh token.
    pub stale: u64,
    pub rejected: u64,
}

pub fn refresh_token(number: u64, generation: u64) -> String {
    format!("rt.{number}.{generation}")
}

fn parse_refresh_token(token: &str) -> Option<(u64, u64)> {
    let rest = token.strip_prefix("rt.")?;
    let (number, generation) = rest.split_once('.')?;
    Some((number.parse().ok()?, generation.parse().ok()?))
}

impl Provider {
    pub async fn start(delay: Duration) -> std::io::Result<Self> {
        let shared = Shared {
            delay,
            counts: Arc::default(),
        };
        let router = Router::new()
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            address,
            shared,
            stop: Some(stop),
        })
    }

    pub fn reset(&self) {
        *lock(&self.shared.counts) = Counts::default();
    }

    pub fn seen(&self) -> Seen {
        let counts = lock(&self.shared.counts);
        let refreshes: u64 = counts.per_connection.values().map(|n| u64::from(*n)).sum();
        let connections = counts.per_connection.len() as u64;
        Seen {
            refreshes,
            connections,
            duplicates: refreshes - connections,
            stale: counts.stale,
            rejected: counts.rejected,
        }
    }

    /// Writes the catalogue definition that points at this provider.
    pub fn write_definition(&self, dir: &Path) -> std::io::Result<()> {
        let base = format!("http://{}", self.address);
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join(format!("{PROVIDER_ID}.toml")),
            format!(
                r#"id = "{PROVIDER_ID}"
name = "Bench OAuth"
category = "Testing"
tagline = "A local OAuth 2.0 server for benchmarks."
logo = "/providers/custom.svg"
setup_steps = ["Register this redirect URI: {{redirect_uri}}"]
default_scopes = ["read"]

[oauth]
authorization_url = "{base}/authorize"
token_url = "{base}/token"
pkce = true
client_auth = "basic"
scopes_in_authorize = true
scope_separator = " "

[identity]
url = "{base}/userinfo"
account_id = "sub"
account_name = "name"
scopes = "scope"

[api]
base_url = "{base}/api"

[tokens]
lifecycle = "rotating_refresh"
health_check = "none"
fallback_lifetime_secs = 3600

[display]
pkce = "Supported"
token_refresh = "Automatic"

[[scope_groups]]
name = "Data"
scopes = [{{ name = "read", access = "read", description = "Read access to data" }}]
"#
            ),
        )
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn lock(counts: &Mutex<Counts>) -> std::sync::MutexGuard<'_, Counts> {
    counts.lock().unwrap_or_else(|e| e.into_inner())
}

fn oauth_error(code: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": code }))).into_response()
}

async fn token(
    State(shared): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
        return oauth_error("unsupported_grant_type");
    }
    let Some((number, generation)) = form
        .get("refresh_token")
        .and_then(|t| parse_refresh_token(t))
    else {
        lock(&shared.counts).rejected += 1;
        return oauth_error("invalid_grant");
    };
    tokio::time::sleep(shared.delay).await;
    let next = {
        let mut counts = lock(&shared.counts);
        let seen = counts.per_connection.entry(number).or_insert(0);
        // Generation g is current after g rotations.
        let stale = u64::from(*seen) != generation;
        *seen += 1;
        if stale {
            counts.stale += 1;
        }
        u64::from(counts.per_connection.get(&number).copied().unwrap_or(0))
    };
    Json(json!({
        "access_token": format!("at.{number}.{next}"),
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": refresh_token(number, next),
        "scope": "read",
    }))
    .into_response()
}

async fn userinfo() -> Json<serde_json::Value> {
    Json(json!({ "sub": "bench-user", "name": "Bench User", "scope": "read" }))
}
