//! An in-process fake of Attio: the OAuth 2.0 authorization server (consent
//! page, token and introspection endpoints) and the parts of the REST API the
//! vault uses (`/v2/self`, `/v2/objects`), all on one local address.
//!
//! It follows Attio's documented behaviour: no `scope` parameter on the
//! authorization request, PKCE with `S256`, client authentication in the
//! request body (HTTP Basic is accepted too), long-lived access tokens without
//! refresh tokens, RFC 6749 error bodies from the token endpoint and Attio's
//! own error bodies from the API. Switches make it misbehave on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use super::fake_server::Served;
use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::{SystemTime, UNIX_EPOCH},
};

pub const CLIENT_ID: &str = "fake-attio-client";
pub const CLIENT_SECRET: &str = "fake-attio-secret-0123456789abcdef";
/// The scopes an approval grants unless [`FakeAttio::set_granted_scopes`]
/// says otherwise.
pub const DEFAULT_SCOPES: &str = "record_permission:read list_entry:read";
/// The workspace member who approves every authorization.
pub const MEMBER_ID: &str = "0f3d9c1e-7b2a-4e5f-8c6d-1a2b3c4d5e6f";

const CATALOGUE: &str = include_str!("../../providers/attio.toml");
const ATTIO_APP: &str = "https://app.attio.com";
const ATTIO_API: &str = "https://api.attio.com";

#[derive(Clone, Debug)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub slug: String,
}

impl Default for Workspace {
    fn default() -> Self {
        Workspace {
            id: "ws_0001".into(),
            name: "Acme Workspace".into(),
            slug: "acme".into(),
        }
    }
}

/// How the token endpoint fails while [`FakeAttio::fail_token`] is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenFailure {
    /// 400 `{"error": "invalid_grant", ...}`
    InvalidGrant,
    /// 500 with an HTML body
    ServerError,
    /// 401 `{"error": "invalid_client", ...}`
    InvalidClient,
}

/// An authorization request waiting on the consent page.
struct Pending {
    redirect_uri: String,
    state: String,
    code_challenge: Option<String>,
}

/// What an authorization code stands for.
struct Grant {
    client_id: String,
    redirect_uri: String,
    code_challenge: Option<String>,
    workspace: Workspace,
    scopes: String,
}

struct IssuedToken {
    access_token: String,
    client_id: String,
    workspace: Workspace,
    scopes: String,
    issued_at: u64,
    active: bool,
}

struct Inner {
    workspace: Workspace,
    granted_scopes: String,
    token_failure: Option<TokenFailure>,
    identity_failure: Option<StatusCode>,
    authorize_iss: Option<String>,
    token_fields: Map<String, Value>,
    pending: HashMap<String, Pending>,
    codes: HashMap<String, Grant>,
    tokens: Vec<IssuedToken>,
    authorize_requests: Vec<Vec<(String, String)>>,
    token_requests: Vec<Vec<(String, String)>>,
}

impl Inner {
    fn new() -> Self {
        Inner {
            workspace: Workspace::default(),
            granted_scopes: DEFAULT_SCOPES.into(),
            token_failure: None,
            identity_failure: None,
            authorize_iss: None,
            token_fields: Map::new(),
            pending: HashMap::new(),
            codes: HashMap::new(),
            tokens: Vec::new(),
            authorize_requests: Vec::new(),
            token_requests: Vec::new(),
        }
    }

    fn token(&self, access_token: &str) -> Option<&IssuedToken> {
        self.tokens.iter().find(|t| t.access_token == access_token)
    }
}

type Shared = Arc<Mutex<Inner>>;

fn lock(state: &Shared) -> MutexGuard<'_, Inner> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running fake; dropping it stops the server.
pub struct FakeAttio {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    state: Shared,
    server: Served,
}

impl FakeAttio {
    /// Starts on a free port of 127.0.0.1, served by the current runtime.
    pub async fn start() -> FakeAttio {
        FakeAttio::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("the fake Attio binds a local port")
    }

    pub async fn start_on(addr: SocketAddr) -> std::io::Result<FakeAttio> {
        let state: Shared = Arc::new(Mutex::new(Inner::new()));
        let server = Served::start(addr, router(state.clone())).await?;
        Ok(FakeAttio {
            address: server.address.clone(),
            state,
            server,
        })
    }

    /// `127.0.0.1:<port>`
    pub fn host(&self) -> String {
        self.server.host()
    }

    /// The Attio catalogue definition with every Attio endpoint pointing at
    /// this fake.
    pub fn definition_toml(&self) -> String {
        CATALOGUE
            .replace(ATTIO_APP, &self.address)
            .replace(ATTIO_API, &self.address)
    }

    /// Writes `dir/attio.toml` (creating `dir` if needed).
    pub fn write_catalogue(&self, dir: &std::path::Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("attio.toml"), self.definition_toml())
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        lock(&self.state)
    }

    /// The workspace the next approval authorizes.
    pub fn set_workspace(&self, workspace: Workspace) {
        self.inner().workspace = workspace;
    }

    /// The space-separated scopes the next approval grants.
    pub fn set_granted_scopes(&self, scopes: &str) {
        self.inner().granted_scopes = scopes.to_string();
    }

    pub fn fail_token(&self, failure: Option<TokenFailure>) {
        self.inner().token_failure = failure;
    }

    /// `/v2/self` and the introspection endpoint answer `status` with
    /// Attio's error body.
    pub fn fail_identity(&self, status: Option<u16>) {
        let status = status.map(|s| {
            StatusCode::from_u16(s).unwrap_or_else(|_| panic!("{s} is not an HTTP status"))
        });
        self.inner().identity_failure = status;
    }

    /// Adds `iss=<value>` to the redirects back to the client.
    pub fn set_authorize_iss(&self, iss: Option<&str>) {
        self.inner().authorize_iss = iss.map(str::to_string);
    }

    /// A JSON object merged into successful token responses; a `null` value
    /// removes that field.
    pub fn set_token_fields(&self, extra: Value) {
        let Value::Object(fields) = extra else {
            panic!("set_token_fields takes a JSON object, not {extra}");
        };
        self.inner().token_fields = fields;
    }

    /// Every token issued so far becomes inactive.
    /// Changes the scopes of every token issued so far, as when a workspace
    /// admin edits the integration's scopes at Attio.
    pub fn set_issued_token_scopes(&self, scopes: &str) {
        for token in &mut self.inner().tokens {
            token.scopes = scopes.to_string();
        }
    }

    pub fn deactivate_tokens(&self) {
        for token in &mut self.inner().tokens {
            token.active = false;
        }
    }

    pub fn issued_tokens(&self) -> Vec<String> {
        self.inner()
            .tokens
            .iter()
            .map(|t| t.access_token.clone())
            .collect()
    }

    /// The query pairs of each `GET /authorize`.
    pub fn authorize_requests(&self) -> Vec<Vec<(String, String)>> {
        self.inner().authorize_requests.clone()
    }

    /// The form pairs of each `POST /oauth/token`.
    pub fn token_requests(&self) -> Vec<Vec<(String, String)>> {
        self.inner().token_requests.clone()
    }

    /// Opens `authorize_url` (the consent page must answer 200), follows its
    /// Approve or Deny link and returns the redirect's `Location`: the
    /// client's redirect URI with `code` and `state`, or `error` and `state`.
    /// `client` must follow no redirects.
    pub async fn consent(
        &self,
        client: &reqwest::Client,
        authorize_url: &str,
        approve: bool,
    ) -> String {
        let res = client
            .get(authorize_url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {authorize_url} failed: {e}"));
        let status = res.status();
        let html = res.text().await.expect("the consent page has a body");
        assert_eq!(
            status,
            reqwest::StatusCode::OK,
            "the fake Attio refused the authorization request: {html}"
        );
        assert!(
            html.contains("<h1>Authorize access</h1>"),
            "not the consent page: {html}"
        );
        let link = if approve { "approve" } else { "deny" };
        let marker = format!(r#"id="{link}" href=""#);
        let start = html
            .find(&marker)
            .unwrap_or_else(|| panic!("no {link} link on the consent page: {html}"))
            + marker.len();
        let href = html[start..]
            .split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&");
        let decision = url::Url::parse(authorize_url)
            .and_then(|base| base.join(&href))
            .unwrap_or_else(|e| panic!("bad decision link {href}: {e}"));
        let res = client
            .get(decision.as_str())
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {decision} failed: {e}"));
        assert_eq!(
            res.status(),
            reqwest::StatusCode::FOUND,
            "the decision did not redirect (does the client follow redirects?)"
        );
        res.headers()
            .get(reqwest::header::LOCATION)
            .expect("the decision redirect has a Location")
            .to_str()
            .expect("the Location is ASCII")
            .to_string()
    }
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/authorize", get(authorize))
        .route("/authorize/decision", get(decision))
        .route("/oauth/token", post(token))
        .route("/oauth/introspect", post(introspect))
        .route("/v2/self", get(identify))
        .route("/v2/objects", get(objects))
        .route("/_fake/tokens", get(fake_tokens))
        .route("/_fake/deactivate", axum::routing::post(fake_deactivate))
        .fallback(not_found)
        .with_state(state)
}

// ---------------------------------------------------------------- helpers

fn random_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{title} · Attio</title></head>\n<body>\n{body}\n</body>\n</html>\n"
    )
}

fn authorize_error(problem: &str) -> Response {
    let body = format!(
        "<h1>Authorization failed</h1>\n<p id=\"problem\">{}</p>",
        escape(problem)
    );
    (
        StatusCode::BAD_REQUEST,
        Html(page("Authorization failed", &body)),
    )
        .into_response()
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

/// An RFC 6749 error from the token or introspection endpoint.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut res = (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    let headers = res.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"attio\""),
        );
    }
    res
}

/// An Attio API error.
fn api_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({
            "status_code": status.as_u16(),
            "type": "auth_error",
            "code": "unauthorized",
            "message": message,
        })),
    )
        .into_response()
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
fn authorization<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (given, rest) = value.split_once(' ')?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| rest.trim())
        .filter(|rest| !rest.is_empty())
}

/// Client authentication: `client_id` + `client_secret` in the body, or HTTP
/// Basic. Returns the client id.
fn authenticate(headers: &HeaderMap, form: &[(String, String)]) -> Result<String, Box<Response>> {
    let invalid_client = || {
        Box::new(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed.",
        ))
    };
    let invalid_request =
        |d: &str| Box::new(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", d));
    let body_id = param(form, "client_id").map_err(|e| invalid_request(&e))?;
    let body_secret = param(form, "client_secret").map_err(|e| invalid_request(&e))?;
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
            if body_id.is_some_and(|body_id| body_id != id) {
                return Err(invalid_client());
            }
            (id.to_string(), secret.to_string())
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

fn token_info(token: &IssuedToken) -> Value {
    json!({
        "active": true,
        "scope": token.scopes,
        "client_id": token.client_id,
        "aud": token.client_id,
        "token_type": "Bearer",
        "exp": null,
        "iat": token.issued_at,
        "sub": token.workspace.id,
        "workspace_id": token.workspace.id,
        "workspace_name": token.workspace.name,
        "workspace_slug": token.workspace.slug,
        "workspace_logo_url": null,
        "authorized_by_workspace_member_id": MEMBER_ID,
        "iss": "attio.com",
    })
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

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

// --------------------------------------------------------------- handlers

async fn authorize(State(state): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let query = pairs(query.unwrap_or_default().as_bytes());
    let mut inner = lock(&state);
    inner.authorize_requests.push(query.clone());
    let pending = match check_authorize(&query) {
        Ok(pending) => pending,
        Err(problem) => return authorize_error(&problem),
    };
    let id = random_hex();
    inner.pending.insert(id.clone(), pending);
    let workspace = escape(&inner.workspace.name);
    let scopes = escape(&inner.granted_scopes);
    let body = format!(
        "<h1>Authorize access</h1>\n\
         <p>Allow this integration to access {workspace}.</p>\n\
         <p>Access requested: <code id=\"scopes\">{scopes}</code></p>\n\
         <p><a id=\"approve\" href=\"/authorize/decision?request={id}&approve=1\">Approve</a>\n\
         <a id=\"deny\" href=\"/authorize/decision?request={id}&approve=0\">Deny</a></p>"
    );
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(page("Authorize access", &body)),
    )
        .into_response()
}

fn check_authorize(query: &[(String, String)]) -> Result<Pending, String> {
    match param(query, "client_id")? {
        None => return Err("The client_id parameter is missing.".into()),
        Some(id) if id != CLIENT_ID => return Err(format!("Unknown client_id {id}.")),
        Some(_) => {}
    }
    match param(query, "response_type")? {
        Some("code") => {}
        Some(other) => return Err(format!("Unsupported response_type {other}.")),
        None => return Err("The response_type parameter is missing.".into()),
    }
    let redirect_uri = param(query, "redirect_uri")?
        .ok_or("The redirect_uri parameter is missing.")?
        .to_string();
    match url::Url::parse(&redirect_uri) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.host().is_some()
                && url.fragment().is_none() => {}
        _ => return Err(format!("Invalid redirect_uri {redirect_uri}.")),
    }
    let state = param(query, "state")?
        .ok_or("The state parameter is missing.")?
        .to_string();
    let code_challenge = param(query, "code_challenge")?;
    let method = param(query, "code_challenge_method")?;
    match (code_challenge, method) {
        (Some(challenge), Some("S256")) if is_code_challenge(challenge) => {}
        (Some(_), Some("S256")) => return Err("Invalid code_challenge.".into()),
        (Some(_), Some(other)) => {
            return Err(format!("Unsupported code_challenge_method {other}."))
        }
        (Some(_), None) => return Err("code_challenge_method must be S256.".into()),
        (None, Some(_)) => return Err("code_challenge_method without code_challenge.".into()),
        (None, None) => {}
    }
    Ok(Pending {
        redirect_uri,
        state,
        code_challenge: code_challenge.map(str::to_string),
    })
}

async fn decision(State(state): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let query = pairs(query.unwrap_or_default().as_bytes());
    let (request, approve) = match (param(&query, "request"), param(&query, "approve")) {
        (Ok(Some(request)), Ok(Some(approve))) if approve == "1" || approve == "0" => {
            (request, approve == "1")
        }
        _ => return authorize_error("Malformed decision."),
    };
    let mut inner = lock(&state);
    let Some(pending) = inner.pending.remove(request) else {
        return authorize_error("Unknown or already answered authorization request.");
    };
    let iss = inner.authorize_iss.clone();
    let mut params: Vec<(&str, &str)> = Vec::new();
    let code = random_hex();
    if approve {
        let grant = Grant {
            client_id: CLIENT_ID.to_string(),
            redirect_uri: pending.redirect_uri.clone(),
            code_challenge: pending.code_challenge.clone(),
            workspace: inner.workspace.clone(),
            scopes: inner.granted_scopes.clone(),
        };
        inner.codes.insert(code.clone(), grant);
        params.push(("code", &code));
    } else {
        params.push(("error", "access_denied"));
        params.push(("error_description", "The user denied access"));
    }
    params.push(("state", &pending.state));
    if let Some(iss) = &iss {
        params.push(("iss", iss));
    }
    found(&redirect_with(&pending.redirect_uri, &params))
}

async fn token(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut inner = lock(&state);
    token_response(&mut inner, &headers, &body)
}

fn token_response(inner: &mut Inner, headers: &HeaderMap, body: &[u8]) -> Response {
    let form = pairs(body);
    inner.token_requests.push(form.clone());
    match inner.token_failure {
        Some(TokenFailure::InvalidGrant) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "The authorization code is invalid or has expired.",
            )
        }
        Some(TokenFailure::InvalidClient) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed.",
            )
        }
        Some(TokenFailure::ServerError) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<h1>Internal error</h1>"),
            )
                .into_response()
        }
        None => {}
    }
    let invalid_request = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_request", d);
    let invalid_grant = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", d);
    if !is_form(headers) {
        return invalid_request("The body must be application/x-www-form-urlencoded.");
    }
    if let Some((name, _)) = form
        .iter()
        .find(|(name, _)| form.iter().filter(|(k, _)| k == name).count() > 1)
    {
        return invalid_request(&format!("The parameter {name} is repeated."));
    }
    let client_id = match authenticate(headers, &form) {
        Ok(id) => id,
        Err(res) => return *res,
    };
    let get = |name: &str| param(&form, name).ok().flatten();
    match get("grant_type") {
        None => return invalid_request("The grant_type parameter is missing."),
        Some("authorization_code") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only authorization_code is supported.",
            )
        }
    }
    let Some(code) = get("code") else {
        return invalid_request("The code parameter is missing.");
    };
    let Some(grant) = inner.codes.remove(code) else {
        return invalid_grant("The authorization code is invalid or has already been used.");
    };
    if grant.client_id != client_id {
        return invalid_grant("The authorization code was issued to another client.");
    }
    if get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return invalid_grant("The redirect_uri does not match the authorization request.");
    }
    match (&grant.code_challenge, get("code_verifier")) {
        (Some(_), None) => return invalid_grant("The code_verifier parameter is missing."),
        (Some(challenge), Some(verifier)) if &s256(verifier) != challenge => {
            return invalid_grant("The code_verifier does not match the code_challenge.")
        }
        (None, Some(_)) => {
            return invalid_grant("A code_verifier was sent without a code_challenge.")
        }
        _ => {}
    }
    let access_token = format!("attio_at_{}{}", random_hex(), random_hex());
    inner.tokens.push(IssuedToken {
        access_token: access_token.clone(),
        client_id,
        workspace: grant.workspace,
        scopes: grant.scopes,
        issued_at: now_secs(),
        active: true,
    });
    let mut body = Map::new();
    body.insert("access_token".into(), Value::String(access_token));
    body.insert("token_type".into(), Value::String("Bearer".into()));
    for (key, value) in &inner.token_fields {
        if value.is_null() {
            body.remove(key);
        } else {
            body.insert(key.clone(), value.clone());
        }
    }
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(Value::Object(body)),
    )
        .into_response()
}

async fn introspect(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let inner = lock(&state);
    if let Some(status) = inner.identity_failure {
        return api_error(status, "The access token is invalid.");
    }
    if !is_form(&headers) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The body must be application/x-www-form-urlencoded.",
        );
    }
    let form = pairs(&body);
    if let Err(res) = authenticate(&headers, &form) {
        return *res;
    }
    let token = match param(&form, "token") {
        Ok(Some(token)) => token,
        Ok(None) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The token parameter is missing.",
            )
        }
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e),
    };
    match inner.token(token) {
        Some(token) if token.active => Json(token_info(token)).into_response(),
        _ => Json(json!({"active": false})).into_response(),
    }
}

async fn identify(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let inner = lock(&state);
    if let Some(status) = inner.identity_failure {
        return api_error(status, "The access token is invalid.");
    }
    let Some(bearer) = authorization(&headers, "Bearer") else {
        return api_error(StatusCode::UNAUTHORIZED, "No access token was provided.");
    };
    match inner.token(bearer) {
        None => api_error(StatusCode::UNAUTHORIZED, "The access token is invalid."),
        Some(token) if !token.active => Json(json!({"active": false})).into_response(),
        Some(token) => Json(token_info(token)).into_response(),
    }
}

async fn objects(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let inner = lock(&state);
    let Some(bearer) = authorization(&headers, "Bearer") else {
        return api_error(StatusCode::UNAUTHORIZED, "No access token was provided.");
    };
    match inner.token(bearer) {
        Some(token) if token.active => Json(json!({
            "data": [{"api_slug": "people"}, {"api_slug": "companies"}]
        }))
        .into_response(),
        _ => api_error(StatusCode::UNAUTHORIZED, "The access token is invalid."),
    }
}

async fn fake_tokens(State(state): State<Shared>) -> Response {
    let inner = lock(&state);
    let tokens: Vec<&str> = inner
        .tokens
        .iter()
        .map(|t| t.access_token.as_str())
        .collect();
    Json(json!({ "tokens": tokens })).into_response()
}

/// Browser tests: every token issued so far stops working, as when a
/// workspace uninstalls the integration.
async fn fake_deactivate(State(state): State<Shared>) -> Response {
    for token in &mut lock(&state).tokens {
        token.active = false;
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({
            "status_code": 404,
            "type": "invalid_request_error",
            "code": "not_found",
            "message": "Not found.",
        })),
    )
        .into_response()
}
