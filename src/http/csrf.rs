//! The CSRF layer: gives every request a CSRF token (from its cookie, or a
//! new one set on the response) for the forms it renders, and refuses
//! state-changing requests that a browser sent from another site. The
//! bearer-key API (`/v1`) and the provider callback are not cookie-authenticated
//! and are left alone.

use app::{services::context::Settings, web::csrf};
use axum::{
    extract::{Request, State},
    http::{header, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use std::sync::Arc;

pub async fn layer(
    State(settings): State<Arc<Settings>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let exempt = path.starts_with("/v1/") || path.starts_with("/oauth/");
    let unsafe_method = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if unsafe_method && !exempt && !csrf::check_origin(request.headers(), &settings.public_origin())
    {
        return (
            StatusCode::FORBIDDEN,
            "Cross-site request refused. Use the form on this site.",
        )
            .into_response();
    }
    let (token, cookie) = csrf::token_for_request(request.headers(), settings.secure_cookies);
    request.extensions_mut().insert(token);
    let mut response = next.run(request).await;
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}
