//! Request logging. Only the method, the route (or the path when no route
//! matched) and the outcome are recorded: query strings can carry OAuth codes
//! and state, and path parameters can carry connect tokens, so neither is
//! ever logged.

use axum::{body::Body, extract::MatchedPath, http::Request};
use std::time::Duration;
use tower_http::trace::{DefaultOnResponse, OnResponse};
use tracing::{field::Empty, Span};

pub fn make_span(request: &Request<Body>) -> Span {
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str());
    let route = matched.unwrap_or_else(|| request.uri().path());
    let client = request
        .extensions()
        .get::<app::web::client::ClientAddress>()
        .map(|c| c.to_string())
        .unwrap_or_default();
    let id = request
        .extensions()
        .get::<super::request_id::RequestId>()
        .map(|r| r.0.as_str())
        .unwrap_or_default();
    let method = request.method().as_str();
    if matches!(matched, Some("/healthz" | "/readyz" | "/metrics")) {
        // named crate::telemetry::PROBE_SPAN
        return tracing::info_span!("http.probe", request_id = %id, method = %method, route = %route, client = %client);
    }
    let span = tracing::info_span!(
        "http",
        request_id = %id,
        method = %method,
        route = %route,
        client = %client,
        otel.name = Empty,
        otel.kind = Empty,
        http.request.method = Empty,
        http.route = Empty,
        http.response.status_code = Empty,
        otel.status_code = Empty,
    );
    // what trace back ends expect (an unrouted path is not named: it would
    // make a name of every path)
    if crate::telemetry::exporting_traces() {
        match matched {
            Some(route) => {
                span.record("otel.name", format!("{method} {route}"));
                span.record("http.route", route);
            }
            None => {
                span.record("otel.name", method);
            }
        }
        span.record("otel.kind", "server");
        span.record("http.request.method", method);
        #[cfg(feature = "otel")]
        crate::otel::adopt_remote_parent(&span, request.headers());
    }
    span
}

/// Logs each answer (status and latency, as `DefaultOnResponse` does) and,
/// when traces are exported, puts its status on the request span.
#[derive(Clone, Copy, Debug, Default)]
pub struct Answered;

impl<B> OnResponse<B> for Answered {
    fn on_response(self, response: &axum::http::Response<B>, latency: Duration, span: &Span) {
        if crate::telemetry::exporting_traces() {
            let status = response.status();
            span.record("http.response.status_code", status.as_u16());
            if status.is_server_error() {
                span.record("otel.status_code", "ERROR");
            }
        }
        DefaultOnResponse::new()
            .level(tracing::Level::INFO)
            .on_response(response, latency, span);
    }
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
