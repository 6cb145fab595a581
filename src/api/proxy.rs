//! `ANY /v1/proxy/{connection_id}/{path…}`: calls the provider's API with
//! the connection's token, so the developer's backend never handles it.
//!
//! The request goes only to the provider's API base URL (from the catalogue)
//! plus the given path: no absolute URLs, no `..`, no other host. Method,
//! query, body and headers are forwarded, except hop-by-hop headers, cookies
//! and the caller's own `Authorization`; the provider's answer streams back
//! with its status and headers. A 401 from the provider gets one refresh (or,
//! for long-lived tokens, a health check) and one retry.
//!
//! Every call that reaches the point of calling the provider leaves one
//! audit entry, `connection.proxied`, by the API key on the connection: the
//! method, the path below the API base without its query, the provider's
//! status (or that it gave none) and the time the provider took — never the
//! query, headers or bodies. It goes through the group-committing usage
//! writer, durable or buffered as `OAUTH_VAULT_TOKEN_READ_AUDIT` says.

use super::{connections::care_error, ApiError};
use app::{
    domain::connections::ConnectionView,
    services::oauth::ProviderProfile,
    services::tokens::{self as refresh, CareError},
    services::usage::Writes,
    store::api_keys::ApiCaller,
    store::audit::{Actor, Entry},
    store::connections as store,
    store::provider_configs as configs,
    web::state::AppState,
};
use axum::{
    body::Body,
    extract::{Path, Request, State},
    http::{header, HeaderMap, HeaderName, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};
use futures_util::TryStreamExt;
use secrecy::ExposeSecret;
use std::time::Instant;

/// The methods the proxy forwards.
const FORWARDED_METHODS: [axum::http::Method; 7] = [
    axum::http::Method::GET,
    axum::http::Method::HEAD,
    axum::http::Method::OPTIONS,
    axum::http::Method::POST,
    axum::http::Method::PUT,
    axum::http::Method::PATCH,
    axum::http::Method::DELETE,
];

/// Largest request body forwarded.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// Characters of the path an audit entry keeps.
const AUDITED_PATH_CHARS: usize = 512;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1),
/// and those the vault sets or must not pass on.
const DROPPED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "cookie",
    "set-cookie",
    "authorization",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

fn forwardable(name: &HeaderName, listed: &[String]) -> bool {
    let name = name.as_str();
    !DROPPED.contains(&name) && !listed.iter().any(|l| l == name)
}

/// Header names a `Connection` header marks as hop-by-hop.
fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Checks the path the caller wants below the API base; the error says why
/// it is refused.
pub fn check_path(raw: &str) -> Result<(), &'static str> {
    if raw.starts_with('/') || raw.contains("//") {
        return Err(
            "the path must be relative to the provider's API base (no leading or double slash)",
        );
    }
    if raw.contains("://") || raw.contains('\\') {
        return Err("absolute URLs are not allowed: give a path below the provider's API base");
    }
    let lower = raw.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return Err("encoded slashes are not allowed in the path");
    }
    for segment in lower.split('/') {
        let decoded = segment.replace("%2e", ".");
        if decoded == "." || decoded == ".." {
            return Err("'.' and '..' segments are not allowed in the path");
        }
    }
    Ok(())
}

/// The provider URL for `raw` below `base`, if it stays below it.
pub fn target_url(base: &str, raw: &str, query: Option<&str>) -> Option<url::Url> {
    let base_url = url::Url::parse(base).ok()?;
    let mut text = format!("{}/{}", base.trim_end_matches('/'), raw);
    if let Some(q) = query {
        text.push('?');
        text.push_str(q);
    }
    let url = url::Url::parse(&text).ok()?;
    let prefix = format!("{}/", base_url.path().trim_end_matches('/'));
    let stays = url.origin() == base_url.origin()
        && (url.path().starts_with(&prefix) || url.path() == base_url.path());
    stays.then_some(url)
}

fn invalid_path(message: &str) -> ApiError {
    ApiError::field("path", message)
}

/// Call the provider's API
///
/// GET, HEAD, OPTIONS, POST, PUT, PATCH or DELETE (others answer 405
/// `method_not_allowed`). Forwards the request to the
/// provider's API base URL plus `path` with the connection's access token;
/// the provider's status, headers and body come back as they are. Bodies up
/// to 10 MiB.
#[utoipa::path(
    get,
    path = "/v1/proxy/{id}/{path}",
    tag = "connections",
    params(
        ("id" = String, Path, description = "Connection id"),
        ("path" = String, Path, pattern = r"^([^/\\.][^/\\]*|\.[^/\\.][^/\\]*|\.\.[^/\\]+)$",
            description = "The path below the provider's API base, e.g. `objects/people/records/query` for Attio. Send its slashes as they are: an encoded slash (`%2F`), a backslash, `.` or `..` segments and a leading slash are refused (422). OpenAPI describes a path parameter as one segment, so this pattern describes one; the proxy takes any number."),
    ),
    responses(
        (status = "default", description = "The provider's answer as it is: its status, headers and body"),
        (status = 401, description = "`unauthorized`: missing or invalid API key", body = super::ErrorBody),
        (status = 404, description = "`not_found`: no such connection in this app", body = super::ErrorBody),
        (status = 409, description = "`needs_reauthorization`, `provider_disabled`, `proxy_unavailable` (the provider has no API base)", body = super::ErrorBody),
        (status = 410, description = "`connection_revoked`: the connection was disconnected", body = super::ErrorBody),
        (status = 413, description = "`body_too_large`: the request body is over 10 MiB", body = super::ErrorBody),
        (status = 422, description = "`validation_failed`: the path leaves the API base", body = super::ErrorBody),
        (status = 502, description = "`provider_unreachable` or `proxy_refused`: the provider's API could not be called", body = super::ErrorBody),
        (status = 503, description = "`provider_unavailable`: the token expired and the provider did not answer the refresh; `audit_unavailable`: the audit log cannot record the call right now. See `Retry-After`", body = super::ErrorBody),
    ),
)]
pub async fn proxy(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Path(params): Path<Vec<(String, String)>>,
    request: Request,
) -> Response {
    // TRACE would echo the caller's headers back through the provider;
    // CONNECT opens a tunnel: neither is an API call
    if !FORWARDED_METHODS.contains(request.method()) {
        let mut refused = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "The proxy forwards GET, HEAD, OPTIONS, POST, PUT, PATCH and DELETE.",
        )
        .into_response();
        refused.headers_mut().insert(
            header::ALLOW,
            header::HeaderValue::from_static("GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE"),
        );
        return refused;
    }
    match forward(state, caller, params, request).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn forward(
    state: AppState,
    caller: ApiCaller,
    params: Vec<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let id = params
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let (connection, url, raw, api) = target(&state, &caller, &id, request.uri()).await?;
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("Proxied request bodies can have at most {MAX_BODY_BYTES} bytes."),
            )
        })?;
    let mut usable: Result<_, CareError> =
        refresh::usable_token(&state, &connection.id, false).await;
    let mut retried = false;
    let started = Instant::now();
    let call = Call {
        caller: &caller,
        connection: &connection,
        method: &parts.method,
        path: &raw,
        started,
    };
    loop {
        let token = match usable {
            Ok(t) => t,
            Err(e) => return Err(care_error(&state, &caller, &connection, e).await),
        };
        let answer = match send(&state, &parts, &url, &api, &token, body.clone()).await {
            Ok(answer) => answer,
            Err(e) => {
                call.record(&state, Err(&e)).await?;
                return Err(e);
            }
        };
        if answer.status() == StatusCode::UNAUTHORIZED && !retried {
            retried = true;
            // Maybe the token just died: renew it (or check it) and try once more.
            usable = if connection.expires_at.is_some() {
                refresh::usable_token(&state, &connection.id, true).await
            } else {
                match refresh::health_check(&state, &connection.id).await {
                    Ok(()) => refresh::usable_token(&state, &connection.id, false).await,
                    Err(e) => Err(e),
                }
            };
            continue;
        }
        call.record(&state, Ok(answer.status())).await?;
        return stream_back(answer);
    }
}

/// One proxied call, for its audit entry.
struct Call<'a> {
    caller: &'a ApiCaller,
    connection: &'a ConnectionView,
    method: &'a axum::http::Method,
    /// Below the API base, as the caller wrote it, without the query.
    path: &'a str,
    started: Instant,
}

impl Call<'_> {
    /// Writes the call's audit entry (and, when the provider answered, the
    /// connection's last-used stamp): `GET /objects → 200 in 84 ms`.
    async fn record(
        &self,
        state: &AppState,
        answer: Result<StatusCode, &ApiError>,
    ) -> Result<(), ApiError> {
        let ms = self.started.elapsed().as_millis();
        let path: String = self.path.chars().take(AUDITED_PATH_CHARS).collect();
        let outcome = match answer {
            Ok(status) => status.as_u16().to_string(),
            Err(e) => format!("no answer ({})", e.code()),
        };
        let detail = format!("{} /{path} → {outcome} in {ms} ms", self.method);
        let mut writes = Writes::default().audit(
            &Actor::api_key(&self.caller.key_id),
            Entry::new("connection.proxied")
                .app(Some(&self.caller.organisation_id), &self.caller.app_id)
                .target("connection", &self.connection.id)
                .detail(&detail),
        );
        if answer.is_ok() {
            writes = writes.touch_connection(&self.connection.id, self.connection.last_used_at);
        }
        state
            .usage
            .write(writes, state.settings.durable_read_audit)
            .await
            .map_err(ApiError::usage)
    }
}

/// The caller's connection `id`, the URL below its provider's API base
/// that the request's path names, and that path (without the query).
async fn target(
    state: &AppState,
    caller: &ApiCaller,
    id: &str,
    uri: &axum::http::Uri,
) -> Result<(ConnectionView, url::Url, String, app::catalogue::ApiSpec), ApiError> {
    let connection = store::find(&state.db, &state.catalogue, &caller.app_id, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("connection"))?;
    // The raw (still percent-encoded) path after /proxy/{id}/.
    let marker = format!("/proxy/{id}");
    let raw = uri
        .path()
        .split_once(&marker)
        .map(|(_, rest)| rest.strip_prefix('/').unwrap_or(rest).to_string())
        .unwrap_or_default();
    check_path(&raw).map_err(invalid_path)?;
    let config = configs::find(
        &state.db,
        &state.keyring,
        &caller.app_id,
        &connection.provider_config_id,
    )
    .await
    .map_err(ApiError::internal)?
    .ok_or_else(|| ApiError::not_found("connection"))?;
    if !connection.provider_active {
        return Err(ApiError::provider_disabled());
    }
    // the connection's values fill the base (Salesforce's instance,
    // Shopify's shop, Xero's tenant)
    let mut values = config.parameters.clone();
    let own = store::parameters(&state.db, &connection.id)
        .await
        .map_err(ApiError::internal)?;
    values.extend(app::domain::parameters::from_json(own.as_deref()));
    values.insert("account_id".into(), connection.account_id.clone());
    let api = ProviderProfile::of(&config, &state.catalogue)
        .map(|p| p.resolved(&values))
        .and_then(|p| p.api)
        .filter(|api| ProviderProfile::unfilled(&api.base_url).is_none())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "proxy_unavailable",
                "This provider has no API base URL in the catalogue; call its API with the access token instead.",
            )
        })?;
    let url = target_url(&api.base_url, &raw, uri.query())
        .ok_or_else(|| invalid_path("the path must stay below the provider's API base"))?;
    Ok((connection, url, raw, api))
}

/// One call to the provider with the connection's token in place of the
/// caller's headers that must not travel.
async fn send(
    state: &AppState,
    parts: &axum::http::request::Parts,
    url: &url::Url,
    api: &app::catalogue::ApiSpec,
    token: &refresh::Usable,
    body: axum::body::Bytes,
) -> Result<app::infra::outbound::Streamed, ApiError> {
    let listed = connection_listed(&parts.headers);
    let mut outgoing = state
        .http
        .request(parts.method.clone(), url.as_str())
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "proxy_refused", e.to_string()))?;
    for (name, value) in parts.headers.iter() {
        let token_header = api
            .token_header
            .as_deref()
            .is_some_and(|h| name.as_str().eq_ignore_ascii_case(h));
        if forwardable(name, &listed) && !token_header {
            outgoing = outgoing.header(name, value);
        }
    }
    // the definition's headers (an API version), then the token
    for (name, value) in &api.headers {
        outgoing = outgoing.header(name.as_str(), value.as_str());
    }
    outgoing = match &api.token_header {
        Some(name) => outgoing.header(name.as_str(), token.access_token.expose_secret()),
        None => outgoing.header(
            header::AUTHORIZATION,
            format!(
                "{} {}",
                token.token_type,
                token.access_token.expose_secret()
            ),
        ),
    }
    .body(body);
    state.http.send_streaming(outgoing).await.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "provider_unreachable",
            format!("The provider's API could not be reached: {e}"),
        )
    })
}

/// The provider's answer, streamed back without hop-by-hop headers. The
/// provider's own `RateLimit-*` headers come back as `Provider-RateLimit-*`:
/// the names are the vault's, for the API key's limit.
fn stream_back(answer: app::infra::outbound::Streamed) -> Result<Response, ApiError> {
    let status = answer.status();
    let headers = answer.headers().clone();
    let listed = connection_listed(&headers);
    let mut response = Response::builder().status(status);
    for (name, value) in headers.iter() {
        // the vault's own mark of its errors is never the provider's
        if !forwardable(name, &listed) || name.as_str() == super::ERROR_HEADER {
            continue;
        }
        if name.as_str().starts_with("ratelimit") {
            response = response.header(format!("provider-{}", name.as_str()), value);
        } else {
            response = response.header(name, value);
        }
    }
    let stream = answer.bytes_stream().map_err(std::io::Error::other);
    response
        .body(Body::from_stream(stream))
        .map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_escape_the_api_base() {
        for bad in [
            "../admin",
            "a/../../b",
            "%2e%2e/x",
            "a/%2E%2E/b",
            "/etc",
            "a//b",
            "https://evil.example/x",
            "a%2fb",
            "a\\b",
            ".",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        for good in ["objects", "objects/people/records/query", "lists/a%20b", ""] {
            assert!(check_path(good).is_ok(), "{good}");
        }
        let base = "https://api.attio.com/v2";
        assert_eq!(
            target_url(base, "objects", Some("limit=1")).map(|u| u.to_string()),
            Some("https://api.attio.com/v2/objects?limit=1".to_string())
        );
        assert!(target_url(base, "@evil.example/x", None)
            .is_some_and(|u| u.host_str() == Some("api.attio.com")));
    }
}
