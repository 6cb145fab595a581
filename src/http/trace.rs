//! Request logging. Only the method, the route (or the path when no route
//! matched) and the outcome are recorded: query strings can carry OAuth codes
//! and state, and path parameters can carry connect tokens, so neither is
//! ever logged.

use axum::{body::Body, extract::MatchedPath, http::Request};
use tracing::Span;

pub fn make_span(request: &Request<Body>) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| request.uri().path().to_string());
    let client = request
        .extensions()
        .get::<app::web::client::ClientAddress>()
        .map(|c| c.to_string())
        .unwrap_or_default();
    let id = request
        .extensions()
        .get::<super::request_id::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    tracing::info_span!("http", request_id = %id, method = %request.method(), route = %route, client = %client)
}

/// Largest error answer of a server function that is logged.
const SERVER_FN_ERROR_BYTES: usize = 4 * 1024;

/// Logs why a server function (`/api/…`) failed on our side. Leptos
/// answers, for instance, arguments it cannot read with a 500 whose body
/// names the problem; without this the log would only say "500". The body
/// is the function's error, which never holds a secret: our functions
/// answer failures in general terms (see `app::infra::failure`).
pub async fn server_fn_failures(
    request: Request<Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let function = request
        .uri()
        .path()
        .strip_prefix("/api/")
        .map(str::to_string);
    let response = next.run(request).await;
    let Some(function) = function else {
        return response;
    };
    if !response.status().is_server_error() {
        return response;
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, SERVER_FN_ERROR_BYTES).await {
        Ok(bytes) => {
            tracing::error!(
                function = %function,
                status = parts.status.as_u16(),
                answer = %String::from_utf8_lossy(&bytes),
                "server function failed"
            );
            axum::response::Response::from_parts(parts, Body::from(bytes))
        }
        Err(_) => {
            tracing::error!(function = %function, status = parts.status.as_u16(), "server function failed");
            axum::response::Response::from_parts(parts, Body::empty())
        }
    }
}
