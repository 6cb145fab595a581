//! `X-Request-Id` on every request: taken from the request when a trusted
//! proxy (`OAUTH_VAULT_TRUSTED_PROXIES`) sent it and it is a plain id,
//! generated otherwise; echoed in the answer, named by every log line of
//! the request (the `http` span carries it) and by the error answers.

use app::infra::request_id;
use app::services::context::Settings;
use axum::{
    body::Body,
    extract::{ConnectInfo, State},
    http::{HeaderValue, Request},
    middleware::Next,
    response::Response,
};
use std::{net::SocketAddr, sync::Arc};

pub const HEADER: &str = "x-request-id";

/// The request's id, in its extensions (for the log span).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub async fn layer(
    State(settings): State<Arc<Settings>>,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    let from_proxy = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| {
            settings
                .trusted_proxies
                .iter()
                .any(|c| c.contains(peer.ip()))
        });
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| from_proxy && request_id::acceptable(v))
        .map(str::to_string)
        .unwrap_or_else(request_id::generate);
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = request_id::scope(id.clone(), next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
