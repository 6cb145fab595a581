//! An in-process fake of a strict, generic OAuth 2.0 authorization server
//! (RFC 6749) and of an API protected by its tokens, all on one local address.
//!
//! It behaves like the strict real ones: the authorization endpoint requires
//! PKCE with `S256` and approves at once (no consent page); access tokens
//! expire; each refresh rotates the refresh token, and presenting a refresh
//! token that was already rotated away revokes the whole grant (reuse
//! detection); tokens can be revoked (RFC 7009); a userinfo endpoint names
//! the user; `/api/...` echoes what it received. Switches make it misbehave
//! on purpose.
//!
//! Endpoints: `GET /authorize`, `POST /token`, `POST /revoke`,
//! `GET /userinfo`, any method on `/api/...`.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use super::fake_server::Served;
use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::{any, get, post},
    Json, Router,
};
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

pub const CLIENT_ID: &str = "fake-oauth-client";
pub const CLIENT_SECRET: &str = "fake-oauth-secret-0123456789abcdef";
/// The catalogue id of [`FakeOAuth::definition_toml`].
pub const PROVIDER_ID: &str = "fakeoauth";
/// The user every authorization is for (`sub` at `/userinfo`).
pub const USER_ID: &str = "user-1";
pub const USER_NAME: &str = "Fake User";
pub const USER_EMAIL: &str = "user@fake.example";
/// The scope granted when the authorization request carries none.
pub const DEFAULT_SCOPE: &str = "read";
/// The scopes the server knows; any other is `invalid_scope`.
pub const SCOPES: &[&str] = &["read", "write"];
/// How long a [`RefreshFailure::Timeout`] waits before answering.
pub const TIMEOUT_DELAY: Duration = Duration::from_secs(30);

/// How the next refresh requests fail while [`FakeOAuth::fail_refresh`] has
/// some left. A failure changes no token: the refresh token presented stays
/// as valid (or invalid) as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshFailure {
    /// 400 `{"error": "invalid_grant", ...}`
    InvalidGrant,
    /// 503 `{"error": "temporarily_unavailable", ...}`, with
    /// `Retry-After: <secs>` when given.
    Unavailable { retry_after: Option<u64> },
    /// 429 `{"error": "temporarily_unavailable", ...}` with
    /// `Retry-After: <secs>`.
    TooManyRequests { retry_after: u64 },
    /// Waits [`TIMEOUT_DELAY`], then answers 200 `{}` (no token): the
    /// client is expected to have given up long before.
    Timeout,
}

/// A request received under `/api`.
#[derive(Clone, Debug)]
pub struct ApiRequest {
    pub method: String,
    /// The path after `/api`, as received (still percent-encoded), e.g.
    /// `/v1/items`; empty for `/api` itself.
    pub path: String,
    pub query: Option<String>,
    /// Every header, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ApiRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What an authorization code stands for.
struct Code {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    scope: String,
    /// The grant issued when the code was exchanged; a second exchange
    /// revokes it (RFC 6749 §4.1.2).
    exchanged: Option<usize>,
}

/// One authorization: every token refreshed from it belongs to it.
struct Grant {
    client_id: String,
    sub: String,
    scope: String,
    revoked: bool,
}

struct AccessToken {
    token: String,
    grant: usize,
    scope: String,
    /// `None`: does not expire.
    expires_at: Option<Instant>,
    revoked: bool,
}

struct RefreshToken {
    token: String,
    grant: usize,
    /// Rotated away: presenting it again is reuse.
    retired: bool,
    /// Presented once more after it was rotated away, within the grace
    /// period (see [`FakeOAuth::set_grace_period`]).
    grace_used: bool,
}

struct Inner {
    /// The issuer identifier: the server's address.
    issuer: String,
    /// `iss` in authorization answers (RFC 9207): `None` leaves it out;
    /// by default the issuer.
    iss_in_answers: Option<String>,
    expires_in: Option<i64>,
    /// Sent as `expires_in` instead of [`Inner::expires_in`], which still
    /// decides when the tokens expire here.
    expires_in_sent: Option<serde_json::Value>,
    rotate: bool,
    /// A rotated-away refresh token works once more (Okta, Auth0, Xero:
    /// a grace period for the previous token).
    grace: bool,
    refresh_token_in_response: bool,
    refresh_failure: Option<RefreshFailure>,
    refresh_failures_left: usize,
    refresh_delay: Duration,
    /// How long a decided refresh waits before its answer goes out.
    answer_delay: Duration,
    revocation_failure: Option<StatusCode>,
    api_401s_left: usize,
    codes: HashMap<String, Code>,
    grants: Vec<Grant>,
    access_tokens: Vec<AccessToken>,
    refresh_tokens: Vec<RefreshToken>,
    refresh_requests: usize,
    authorize_requests: Vec<Vec<(String, String)>>,
    token_requests: Vec<Vec<(String, String)>>,
    revocations: Vec<Vec<(String, String)>>,
    api_requests: Vec<ApiRequest>,
    /// Quirks: fields added to the authorization code's token answer
    /// (Salesforce's `instance_url`, Notion's workspace, Slack's team) and
    /// parameters added to the callback (QuickBooks' `realmId`).
    extra_token_fields: serde_json::Map<String, serde_json::Value>,
    extra_callback: Vec<(String, String)>,
    quirks: Quirks,
}

/// How a real provider departs from this strict server, for the catalogue's
/// contract tests.
#[derive(Clone, Debug, Default)]
pub struct Quirks {
    /// PKCE is not used (the provider does not support it).
    pub no_pkce: bool,
    /// Any scope is granted as requested (the provider's own names, space-
    /// or comma-separated).
    pub any_scope: bool,
    /// The identity answer (at `/userinfo`, by GET or POST) instead of the
    /// default one.
    pub identity: Option<serde_json::Value>,
    /// The access token comes in this header instead of `Authorization`.
    pub token_header: Option<String>,
    /// Revocation takes the access token as a bearer token and no body
    /// (Dropbox's `/2/auth/token/revoke`), not RFC 7009.
    pub bearer_revocation: bool,
}

impl Inner {
    fn new() -> Self {
        Inner {
            issuer: String::new(),
            iss_in_answers: None,
            expires_in: Some(3600),
            expires_in_sent: None,
            rotate: true,
            grace: false,
            refresh_token_in_response: true,
            refresh_failure: None,
            refresh_failures_left: 0,
            refresh_delay: Duration::ZERO,
            answer_delay: Duration::ZERO,
            revocation_failure: None,
            api_401s_left: 0,
            codes: HashMap::new(),
            grants: Vec::new(),
            access_tokens: Vec::new(),
            refresh_tokens: Vec::new(),
            refresh_requests: 0,
            authorize_requests: Vec::new(),
            token_requests: Vec::new(),
            revocations: Vec::new(),
            extra_token_fields: serde_json::Map::new(),
            extra_callback: Vec::new(),
            quirks: Quirks::default(),
            api_requests: Vec::new(),
        }
    }

    fn access_valid(&self, token: &AccessToken) -> bool {
        !token.revoked
            && !self.grants[token.grant].revoked
            && token.expires_at.is_none_or(|at| Instant::now() < at)
    }

    /// The access token `presented`, if it is valid now.
    fn valid_access(&self, presented: &str) -> Option<&AccessToken> {
        self.access_tokens
            .iter()
            .find(|t| t.token == presented)
            .filter(|t| self.access_valid(t))
    }

    fn issue_access(&mut self, grant: usize, scope: &str) -> String {
        let token = format!("fo_at_{}{}", random_hex(), random_hex());
        let now = Instant::now();
        let expires_at = self.expires_in.map(|secs| {
            u64::try_from(secs)
                .ok()
                .and_then(|secs| now.checked_add(Duration::from_secs(secs)))
                .unwrap_or(now)
        });
        self.access_tokens.push(AccessToken {
            token: token.clone(),
            grant,
            scope: scope.to_string(),
            expires_at,
            revoked: false,
        });
        token
    }

    fn issue_refresh(&mut self, grant: usize) -> String {
        let token = format!("fo_rt_{}{}", random_hex(), random_hex());
        self.refresh_tokens.push(RefreshToken {
            token: token.clone(),
            grant,
            retired: false,
            grace_used: false,
        });
        token
    }

    /// The `expires_in` of a token answer.
    fn expires_in_answer(&self) -> Option<serde_json::Value> {
        self.expires_in_sent
            .clone()
            .or_else(|| self.expires_in.map(|s| json!(s)))
    }

    /// The failure the next refresh request meets, if any is left.
    fn take_refresh_failure(&mut self) -> Option<RefreshFailure> {
        if self.refresh_failures_left == 0 {
            return None;
        }
        self.refresh_failures_left -= 1;
        self.refresh_failure
    }
}

type Shared = Arc<Mutex<Inner>>;

fn lock(state: &Shared) -> MutexGuard<'_, Inner> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running fake; dropping it stops the server.
pub struct FakeOAuth {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    state: Shared,
    server: Served,
}

impl FakeOAuth {
    /// Starts on a free port of 127.0.0.1, served by the current runtime.
    pub async fn start() -> FakeOAuth {
        FakeOAuth::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("the fake OAuth server binds a local port")
    }

    pub async fn start_on(addr: SocketAddr) -> std::io::Result<FakeOAuth> {
        let state: Shared = Arc::new(Mutex::new(Inner::new()));
        let server = Served::start(addr, router(state.clone())).await?;
        {
            let mut inner = lock(&state);
            inner.issuer = server.address.clone();
            inner.iss_in_answers = Some(server.address.clone());
        }
        Ok(FakeOAuth {
            address: server.address.clone(),
            state,
            server,
        })
    }

    /// `127.0.0.1:<port>`
    pub fn host(&self) -> String {
        self.server.host()
    }

    /// A catalogue definition (id [`PROVIDER_ID`]) with every endpoint on
    /// this fake; it passes the catalogue's checks once [`Self::host`] is an
    /// allowed host.
    pub fn definition_toml(&self) -> String {
        let addr = &self.address;
        format!(
            r#"# A generic OAuth 2.0 server for tests: rotating refresh tokens with
# reuse detection, token revocation and a userinfo endpoint.

id = "{PROVIDER_ID}"
name = "Fake OAuth"
category = "Testing"
tagline = "A strict OAuth 2.0 server with rotating refresh tokens, for tests."
logo = "/providers/custom.svg"

setup_steps = [
  "Register an OAuth client with this redirect URI: {{redirect_uri}}",
  "Copy the client ID and client secret and paste them here.",
]

default_scopes = ["read"]

[oauth]
authorization_url = "{addr}/authorize"
token_url = "{addr}/token"
revocation_url = "{addr}/revoke"
pkce = true
client_auth = "basic"
scopes_in_authorize = true
scope_separator = " "

[identity]
url = "{addr}/userinfo"
account_id = "sub"
account_name = "name"
scopes = "scope"

[api]
base_url = "{addr}/api"

[tokens]
lifecycle = "rotating_refresh"
health_check = "none"
fallback_lifetime_secs = 3600

[display]
pkce = "Supported"
token_refresh = "Automatic"

[[scope_groups]]
name = "Data"
scopes = [
  {{ name = "read", access = "read", description = "Read access to data" }},
  {{ name = "write", access = "read-write", description = "Read and write access to data" }},
]
"#
        )
    }

    /// Writes `dir/fakeoauth.toml` (creating `dir` if needed).
    pub fn write_catalogue(&self, dir: &std::path::Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join(format!("{PROVIDER_ID}.toml")),
            self.definition_toml(),
        )
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        lock(&self.state)
    }

    // ----------------------------------------------------------- switches

    /// `iss` of authorization answers from now on (`None`: left out).
    /// Behaves like a provider with `quirks`.
    pub fn set_quirks(&self, quirks: Quirks) {
        lock(&self.state).quirks = quirks;
    }

    /// Adds `fields` to the answers that exchange an authorization code.
    pub fn set_extra_token_fields(&self, fields: serde_json::Value) {
        lock(&self.state).extra_token_fields = fields.as_object().cloned().unwrap_or_default();
    }

    /// Adds `params` to the authorization answers (the callback's query).
    pub fn set_extra_callback(&self, params: &[(&str, &str)]) {
        lock(&self.state).extra_callback = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }

    pub fn set_iss_in_answers(&self, iss: Option<&str>) {
        self.inner().iss_in_answers = iss.map(str::to_string);
    }

    /// `expires_in` of the access tokens issued from now on (default
    /// `Some(3600)`; zero or negative: already expired). `None`: the field is
    /// left out and the tokens do not expire.
    pub fn set_expires_in(&self, secs: Option<i64>) {
        self.inner().expires_in = secs;
    }

    /// Token answers carry this JSON value as `expires_in` (any number or
    /// string, however absurd); the tokens still expire as
    /// [`Self::set_expires_in`] says. `None` restores the true value.
    pub fn send_expires_in(&self, value: Option<serde_json::Value>) {
        self.inner().expires_in_sent = value;
    }

    /// Default true: each refresh issues a new refresh token and retires the
    /// one presented. False: the refresh answer repeats the same refresh
    /// token, which stays valid.
    pub fn set_rotate(&self, rotate: bool) {
        self.inner().rotate = rotate;
    }

    /// Default false (strict rotation: a rotated-away token revokes the
    /// grant). True: the previous refresh token works once more after it
    /// was rotated away, as with providers that keep a grace period.
    pub fn set_grace_period(&self, grace: bool) {
        self.inner().grace = grace;
    }

    /// Default true. False: refresh answers carry no `refresh_token` and the
    /// one presented stays valid (whatever [`Self::set_rotate`] says).
    pub fn set_refresh_token_in_response(&self, yes: bool) {
        self.inner().refresh_token_in_response = yes;
    }

    /// The next `times` refresh requests fail this way (before any check of
    /// the request), then service is normal again.
    pub fn fail_refresh(&self, failure: RefreshFailure, times: usize) {
        let mut inner = self.inner();
        inner.refresh_failure = Some(failure);
        inner.refresh_failures_left = times;
    }

    /// Each refresh request waits this long before it is decided and
    /// answered (the lock is not held meanwhile), to widen race windows.
    pub fn set_refresh_delay(&self, millis: u64) {
        self.inner().refresh_delay = Duration::from_millis(millis);
    }

    /// Each refresh is decided at once (a rotating provider has retired
    /// the presented token), and its answer goes out this much later: a
    /// caller that dies meanwhile never learns the new tokens.
    pub fn set_answer_delay(&self, millis: u64) {
        self.inner().answer_delay = Duration::from_millis(millis);
    }

    pub fn answer_delay(&self) -> u64 {
        self.inner().answer_delay.as_millis() as u64
    }

    /// Every access token issued so far is expired from now on.
    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for token in &mut self.inner().access_tokens {
            token.expires_at = Some(now);
        }
    }

    /// Every grant so far is revoked: its refresh tokens meet
    /// `invalid_grant`, its access tokens 401. Later authorizations work.
    pub fn revoke_grants(&self) {
        for grant in &mut self.inner().grants {
            grant.revoked = true;
        }
    }

    /// `/revoke` answers `status` (with an RFC 6749 error body) and revokes
    /// nothing; `None` restores normal service.
    pub fn fail_revocation(&self, status: Option<u16>) {
        let status = status.map(|s| {
            StatusCode::from_u16(s).unwrap_or_else(|_| panic!("{s} is not an HTTP status"))
        });
        self.inner().revocation_failure = status;
    }

    /// The next `times` requests to `/api` answer 401 `invalid_token` even
    /// with a valid token (the token stays valid).
    pub fn fail_api_with_401(&self, times: usize) {
        self.inner().api_401s_left = times;
    }

    // --------------------------------------------------------- inspection

    /// How many `grant_type=refresh_token` requests arrived (any outcome).
    pub fn refresh_requests(&self) -> usize {
        self.inner().refresh_requests
    }

    /// The query pairs of each `GET /authorize`.
    pub fn authorize_requests(&self) -> Vec<Vec<(String, String)>> {
        self.inner().authorize_requests.clone()
    }

    /// The form pairs of each `POST /token`.
    pub fn token_requests(&self) -> Vec<Vec<(String, String)>> {
        self.inner().token_requests.clone()
    }

    /// The form pairs of each `POST /revoke`.
    pub fn revocations(&self) -> Vec<Vec<(String, String)>> {
        self.inner().revocations.clone()
    }

    /// What `/api` received, oldest first.
    pub fn api_requests(&self) -> Vec<ApiRequest> {
        self.inner().api_requests.clone()
    }

    /// The newest access token that is valid now.
    pub fn current_access_token(&self) -> Option<String> {
        let inner = self.inner();
        inner
            .access_tokens
            .iter()
            .rev()
            .find(|t| inner.access_valid(t))
            .map(|t| t.token.clone())
    }

    /// The newest refresh token that would be accepted now.
    pub fn current_refresh_token(&self) -> Option<String> {
        let inner = self.inner();
        inner
            .refresh_tokens
            .iter()
            .rev()
            .find(|t| !t.retired && !inner.grants[t.grant].revoked)
            .map(|t| t.token.clone())
    }

    /// Every access token issued, oldest first, valid or not.
    pub fn issued_access_tokens(&self) -> Vec<String> {
        self.inner()
            .access_tokens
            .iter()
            .map(|t| t.token.clone())
            .collect()
    }

    /// Every refresh token issued, oldest first, valid or not.
    pub fn issued_refresh_tokens(&self) -> Vec<String> {
        self.inner()
            .refresh_tokens
            .iter()
            .map(|t| t.token.clone())
            .collect()
    }

    /// Whether any grant was revoked: by reuse detection (of a refresh token
    /// or an authorization code), [`Self::revoke_grants`] or `/revoke` of a
    /// refresh token.
    pub fn grant_revoked(&self) -> bool {
        self.inner().grants.iter().any(|g| g.revoked)
    }
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/revoke", post(revoke))
        .route("/userinfo", get(userinfo).post(userinfo))
        .route("/api", any(api))
        .route("/api/", any(api))
        .route("/api/{*path}", any(api))
        .fallback(not_found)
        .with_state(state)
}

// ---------------------------------------------------------------- helpers

fn random_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn pairs(encoded: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(encoded)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The value of `name` (an empty value counts as absent); an error when the
/// parameter is repeated.
fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, String> {
    let mut values = pairs.iter().filter(|(k, _)| k == name);
    let first = values.next();
    if values.next().is_some() {
        return Err(format!("The parameter {name} is repeated."));
    }
    Ok(first.map(|(_, v)| v.as_str()).filter(|v| !v.is_empty()))
}

fn no_store(res: &mut Response) {
    let headers = res.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// An RFC 6749 error from the token or revocation endpoint.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut res = (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    no_store(&mut res);
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"fake-oauth\""),
        );
    }
    res
}

/// An RFC 6750 error from a resource (`/userinfo`, `/api`).
fn invalid_token() -> Response {
    let mut res = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "invalid_token"})),
    )
        .into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"fake-oauth\", error=\"invalid_token\""),
    );
    res
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The credentials after `<scheme> ` in the Authorization header.
/// The access token a call presents: `Authorization: Bearer`, or the
/// provider's own header.
fn presented<'a>(headers: &'a HeaderMap, quirks: &Quirks) -> Option<&'a str> {
    match &quirks.token_header {
        Some(name) => headers.get(name.as_str())?.to_str().ok(),
        None => authorization(headers, "Bearer"),
    }
}

fn authorization<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (given, rest) = value.split_once(' ')?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| rest.trim())
        .filter(|rest| !rest.is_empty())
}

/// Undoes the form encoding of HTTP Basic credentials (RFC 6749 §2.3.1).
fn form_decoded(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Checks a form request to `/token` or `/revoke` and authenticates the
/// client: HTTP Basic, or `client_id` + `client_secret` in the body. Returns
/// the client id.
fn check_client(headers: &HeaderMap, form: &[(String, String)]) -> Result<String, Box<Response>> {
    let invalid_request =
        |d: &str| Box::new(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", d));
    let invalid_client = || {
        Box::new(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed.",
        ))
    };
    if !is_form(headers) {
        return Err(invalid_request(
            "The body must be application/x-www-form-urlencoded.",
        ));
    }
    if let Some((name, _)) = form
        .iter()
        .find(|(name, _)| form.iter().filter(|(k, _)| k == name).count() > 1)
    {
        return Err(invalid_request(&format!(
            "The parameter {name} is repeated."
        )));
    }
    let body_id = param(form, "client_id").ok().flatten();
    let body_secret = param(form, "client_secret").ok().flatten();
    let (id, secret) = match authorization(headers, "Basic") {
        Some(encoded) => {
            if body_secret.is_some() {
                return Err(invalid_request(
                    "Use only one client authentication method.",
                ));
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(invalid_client)?;
            let (id, secret) = decoded.split_once(':').ok_or_else(invalid_client)?;
            let (id, secret) = (form_decoded(id), form_decoded(secret));
            if body_id.is_some_and(|body_id| body_id != id) {
                return Err(invalid_client());
            }
            (id, secret)
        }
        None => match (body_id, body_secret) {
            (Some(id), Some(secret)) => (id.to_string(), secret.to_string()),
            _ => return Err(invalid_client()),
        },
    };
    if id == CLIENT_ID && secret == CLIENT_SECRET {
        Ok(id)
    } else {
        Err(invalid_client())
    }
}

fn found(location: &str) -> Response {
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location.to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
    )
        .into_response()
}

fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(redirect_uri).expect("redirect URIs are checked on arrival");
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
    }
    url.to_string()
}

fn is_code_challenge(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 §4.1: 43-128 unreserved characters.
fn is_code_verifier(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The scopes of `requested`, space-separated, each known; `None` when one is
/// unknown.
fn known_scopes(requested: &str) -> Option<String> {
    let scopes: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
    if scopes.iter().all(|s| SCOPES.contains(s)) {
        Some(scopes.join(" "))
    } else {
        None
    }
}

fn token_answer(
    access_token: String,
    expires_in: Option<serde_json::Value>,
    refresh_token: Option<String>,
    scope: &str,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> Response {
    let mut body = json!({
        "access_token": access_token,
        "token_type": "bearer",
        "scope": scope,
    });
    for (k, v) in extra {
        body[k] = v.clone();
    }
    if let Some(expires_in) = expires_in {
        body["expires_in"] = json!(expires_in);
    }
    if let Some(refresh_token) = refresh_token {
        body["refresh_token"] = json!(refresh_token);
    }
    let mut res = Json(body).into_response();
    no_store(&mut res);
    res
}

fn refresh_failure(failure: RefreshFailure) -> Response {
    let (status, retry_after, error, description) = match failure {
        RefreshFailure::InvalidGrant => (
            StatusCode::BAD_REQUEST,
            None,
            "invalid_grant",
            "The refresh token is invalid.",
        ),
        RefreshFailure::Unavailable { retry_after } => (
            StatusCode::SERVICE_UNAVAILABLE,
            retry_after,
            "temporarily_unavailable",
            "The server is temporarily unavailable.",
        ),
        RefreshFailure::TooManyRequests { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            Some(retry_after),
            "temporarily_unavailable",
            "Too many requests.",
        ),
        RefreshFailure::Timeout => {
            let mut res = Json(json!({})).into_response();
            no_store(&mut res);
            return res;
        }
    };
    let mut res = oauth_error(status, error, description);
    if let Some(secs) = retry_after {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

// --------------------------------------------------------------- handlers

/// RFC 8414 metadata: the endpoints, PKCE with S256, HTTP Basic client
/// authentication and `iss` in authorization answers (RFC 9207).
async fn metadata(State(state): State<Shared>) -> Response {
    let issuer = lock(&state).issuer.clone();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}

async fn authorize(State(state): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let query = pairs(query.unwrap_or_default().as_bytes());
    let mut inner = lock(&state);
    inner.authorize_requests.push(query.clone());
    // Problems with the client or its redirect URI are not redirected.
    match param(&query, "client_id") {
        Ok(Some(CLIENT_ID)) => {}
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                "Unknown, missing or repeated client_id.",
            )
                .into_response()
        }
    }
    let redirect_uri = match param(&query, "redirect_uri") {
        Ok(Some(uri)) => match url::Url::parse(uri) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.host().is_some()
                    && url.fragment().is_none() =>
            {
                uri.to_string()
            }
            _ => return (StatusCode::BAD_REQUEST, "Invalid redirect_uri.").into_response(),
        },
        _ => return (StatusCode::BAD_REQUEST, "Missing or repeated redirect_uri.").into_response(),
    };
    let state_param = param(&query, "state").ok().flatten();
    let refuse = |error: &str, description: &str| {
        let mut params = vec![("error", error), ("error_description", description)];
        if let Some(state) = state_param {
            params.push(("state", state));
        }
        found(&redirect_with(&redirect_uri, &params))
    };
    if let Some((name, _)) = query
        .iter()
        .find(|(name, _)| query.iter().filter(|(k, _)| k == name).count() > 1)
    {
        return refuse(
            "invalid_request",
            &format!("The parameter {name} is repeated."),
        );
    }
    let get = |name: &str| param(&query, name).ok().flatten();
    match get("response_type") {
        Some("code") => {}
        Some(_) => {
            return refuse(
                "unsupported_response_type",
                "Only response_type=code is supported.",
            )
        }
        None => return refuse("invalid_request", "The response_type parameter is missing."),
    }
    let Some(state_value) = state_param else {
        return refuse("invalid_request", "The state parameter is missing.");
    };
    let no_pkce = inner.quirks.no_pkce;
    let code_challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (None, _) if no_pkce => String::new(),
        (Some(challenge), Some("S256")) if is_code_challenge(challenge) => challenge.to_string(),
        (Some(_), Some("S256")) => return refuse("invalid_request", "Invalid code_challenge."),
        (Some(_), _) => return refuse("invalid_request", "code_challenge_method must be S256."),
        (None, _) => return refuse("invalid_request", "PKCE (code_challenge) is required."),
    };
    let any_scope = inner.quirks.any_scope;
    let scope = match get("scope") {
        None if any_scope => String::new(),
        Some(requested) if any_scope => requested.replace(',', " "),
        None => DEFAULT_SCOPE.to_string(),
        Some(requested) => match known_scopes(requested) {
            Some(scope) if !scope.is_empty() => scope,
            Some(_) => DEFAULT_SCOPE.to_string(),
            None => return refuse("invalid_scope", "Unknown scope requested."),
        },
    };
    let code = random_hex();
    inner.codes.insert(
        code.clone(),
        Code {
            client_id: CLIENT_ID.to_string(),
            redirect_uri: redirect_uri.clone(),
            code_challenge,
            scope,
            exchanged: None,
        },
    );
    let extra = inner.extra_callback.clone();
    let mut answer = vec![("code", code.as_str()), ("state", state_value)];
    for (k, v) in &extra {
        answer.push((k.as_str(), v.as_str()));
    }
    let iss = inner.iss_in_answers.clone();
    if let Some(iss) = &iss {
        answer.push(("iss", iss));
    }
    found(&redirect_with(&redirect_uri, &answer))
}

async fn token(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let form = pairs(&body);
    let (failure, delay) = {
        let mut inner = lock(&state);
        inner.token_requests.push(form.clone());
        let refresh = form
            .iter()
            .any(|(k, v)| k == "grant_type" && v == "refresh_token");
        if !refresh {
            return code_exchange(&mut inner, &headers, &form);
        }
        inner.refresh_requests += 1;
        (inner.take_refresh_failure(), inner.refresh_delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(failure) = failure {
        if failure == RefreshFailure::Timeout {
            tokio::time::sleep(TIMEOUT_DELAY).await;
        }
        return refresh_failure(failure);
    }
    // Decided after the delay, atomically: of two concurrent refreshes with
    // one refresh token, the second meets a retired token.
    let (answer, answer_delay) = {
        let mut inner = lock(&state);
        (refresh(&mut inner, &headers, &form), inner.answer_delay)
    };
    if !answer_delay.is_zero() {
        tokio::time::sleep(answer_delay).await;
    }
    answer
}

fn code_exchange(inner: &mut Inner, headers: &HeaderMap, form: &[(String, String)]) -> Response {
    let client_id = match check_client(headers, form) {
        Ok(id) => id,
        Err(res) => return *res,
    };
    let invalid_request = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_request", d);
    let invalid_grant = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", d);
    let get = |name: &str| param(form, name).ok().flatten();
    match get("grant_type") {
        None => return invalid_request("The grant_type parameter is missing."),
        Some("authorization_code") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only authorization_code and refresh_token are supported.",
            )
        }
    }
    let Some(presented) = get("code") else {
        return invalid_request("The code parameter is missing.");
    };
    let Some(code) = inner.codes.get_mut(presented) else {
        return invalid_grant("The authorization code is invalid.");
    };
    if let Some(grant) = code.exchanged {
        inner.grants[grant].revoked = true;
        return invalid_grant(
            "The authorization code was already used; the tokens issued for it are revoked.",
        );
    }
    if code.client_id != client_id {
        return invalid_grant("The authorization code was issued to another client.");
    }
    if get("redirect_uri") != Some(code.redirect_uri.as_str()) {
        return invalid_grant("The redirect_uri does not match the authorization request.");
    }
    match get("code_verifier") {
        None if code.code_challenge.is_empty() => {}
        None => return invalid_grant("The code_verifier parameter is missing."),
        Some(verifier) if !is_code_verifier(verifier) || s256(verifier) != code.code_challenge => {
            return invalid_grant("The code_verifier does not match the code_challenge.")
        }
        Some(_) => {}
    }
    let grant = inner.grants.len();
    code.exchanged = Some(grant);
    let scope = code.scope.clone();
    inner.grants.push(Grant {
        client_id,
        sub: USER_ID.to_string(),
        scope: scope.clone(),
        revoked: false,
    });
    let access_token = inner.issue_access(grant, &scope);
    let refresh_token = inner.issue_refresh(grant);
    token_answer(
        access_token,
        inner.expires_in_answer(),
        Some(refresh_token),
        &scope,
        &inner.extra_token_fields,
    )
}

fn refresh(inner: &mut Inner, headers: &HeaderMap, form: &[(String, String)]) -> Response {
    let client_id = match check_client(headers, form) {
        Ok(id) => id,
        Err(res) => return *res,
    };
    let invalid_grant = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", d);
    let get = |name: &str| param(form, name).ok().flatten();
    let Some(presented) = get("refresh_token") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The refresh_token parameter is missing.",
        );
    };
    let Some(index) = inner
        .refresh_tokens
        .iter()
        .position(|t| t.token == presented)
    else {
        return invalid_grant("The refresh token is invalid.");
    };
    let grant = inner.refresh_tokens[index].grant;
    if inner.grants[grant].client_id != client_id {
        return invalid_grant("The refresh token was issued to another client.");
    }
    if inner.grants[grant].revoked {
        return invalid_grant("The grant has been revoked.");
    }
    if inner.refresh_tokens[index].retired {
        if inner.grace && !inner.refresh_tokens[index].grace_used {
            inner.refresh_tokens[index].grace_used = true;
        } else {
            inner.grants[grant].revoked = true;
            return invalid_grant("The refresh token was already used; the grant is revoked.");
        }
    }
    let granted = inner.grants[grant].scope.clone();
    let scope = match get("scope") {
        None => granted,
        Some(requested) => match known_scopes(requested) {
            Some(scope)
                if !scope.is_empty()
                    && scope.split(' ').all(|s| granted.split(' ').any(|g| g == s)) =>
            {
                scope
            }
            _ => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "The scope exceeds the grant.",
                )
            }
        },
    };
    let access_token = inner.issue_access(grant, &scope);
    let refresh_token = match (inner.refresh_token_in_response, inner.rotate) {
        (false, _) => None,
        (true, false) => Some(presented.to_string()),
        (true, true) => {
            inner.refresh_tokens[index].retired = true;
            Some(inner.issue_refresh(grant))
        }
    };
    token_answer(
        access_token,
        inner.expires_in_answer(),
        refresh_token,
        &scope,
        &serde_json::Map::new(),
    )
}

async fn revoke(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let form = pairs(&body);
    let mut inner = lock(&state);
    inner.revocations.push(form.clone());
    if let Some(status) = inner.revocation_failure {
        let error = match status.as_u16() {
            503 => "temporarily_unavailable",
            400..=499 => "invalid_request",
            _ => "server_error",
        };
        return oauth_error(status, error, "Revocation failed.");
    }
    if inner.quirks.bearer_revocation {
        let Some(presented) = authorization(&headers, "Bearer").map(str::to_string) else {
            return invalid_token();
        };
        let Some(index) = inner
            .access_tokens
            .iter()
            .position(|t| t.token == presented)
        else {
            return invalid_token();
        };
        let grant = inner.access_tokens[index].grant;
        inner.grants[grant].revoked = true;
        return StatusCode::OK.into_response();
    }
    let client_id = match check_client(&headers, &form) {
        Ok(id) => id,
        Err(res) => return *res,
    };
    let Some(presented) = param(&form, "token").ok().flatten() else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The token parameter is missing.",
        );
    };
    // RFC 7009 §2.2: unknown tokens (and other clients' tokens) are answered
    // 200 as well; a refresh token takes its whole grant with it.
    if let Some(grant) = inner
        .refresh_tokens
        .iter()
        .find(|t| t.token == presented)
        .map(|t| t.grant)
    {
        if inner.grants[grant].client_id == client_id {
            inner.grants[grant].revoked = true;
        }
    } else if let Some(index) = inner
        .access_tokens
        .iter()
        .position(|t| t.token == presented)
    {
        let grant = inner.access_tokens[index].grant;
        if inner.grants[grant].client_id == client_id {
            inner.access_tokens[index].revoked = true;
        }
    }
    let mut res = StatusCode::OK.into_response();
    no_store(&mut res);
    res
}

async fn userinfo(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let inner = lock(&state);
    let Some(token) = presented(&headers, &inner.quirks).and_then(|b| inner.valid_access(b)) else {
        return invalid_token();
    };
    if let Some(body) = &inner.quirks.identity {
        return Json(body.clone()).into_response();
    }
    let grant = &inner.grants[token.grant];
    Json(json!({
        "sub": grant.sub,
        "name": USER_NAME,
        "email": USER_EMAIL,
        "scope": token.scope,
    }))
    .into_response()
}

async fn api(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path()
        .strip_prefix("/api")
        .unwrap_or(uri.path())
        .to_string();
    let query = uri.query().map(str::to_string);
    let mut inner = lock(&state);
    inner.api_requests.push(ApiRequest {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    });
    if inner.api_401s_left > 0 {
        inner.api_401s_left -= 1;
        return invalid_token();
    }
    let valid = presented(&headers, &inner.quirks).is_some_and(|b| inner.valid_access(b).is_some());
    if !valid {
        return invalid_token();
    }
    (
        [
            (
                header::HeaderName::from_static("x-fake"),
                HeaderValue::from_static("yes"),
            ),
            // the provider's own rate limit, as some providers send it
            (
                header::HeaderName::from_static("ratelimit-remaining"),
                HeaderValue::from_static("99"),
            ),
        ],
        Json(json!({
            "ok": true,
            "method": method.as_str(),
            "path": path,
            "query": query,
            "body_len": body.len(),
        })),
    )
        .into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"error": "not_found"}))).into_response()
}
