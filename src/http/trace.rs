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
    tracing::info_span!("http", method = %request.method(), route = %route)
}
