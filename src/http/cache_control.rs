//! `Cache-Control` for the portal's HTML. A page for a signed-in user — and
//! every server-function answer under `/api/` — is `no-store`: no browser
//! or proxy cache keeps it, and Back after signing out shows nothing; so
//! are the pages of one-time links (setup, invitation, password reset) and
//! every answer to a form post. Public pages (landing, docs, sign-in) are
//! `no-cache`: they may be stored but are checked each time. Answers that
//! set their own (the `/v1` API, the connect pages, exports) keep it;
//! static assets are left alone.

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, Method},
    middleware::Next,
    response::Response,
};

/// Whether the request comes from a signed-in browser, as far as caching
/// is concerned: it carries a session cookie (valid or not).
fn signed_in(request: &Request, secure: bool) -> bool {
    app::store::sessions::cookie_value(request.headers(), app::store::sessions::cookie_name(secure))
        .is_some_and(|v| !v.is_empty())
}

/// The signed-in areas, and the pages of one-time links (whose token is
/// in the path), by path prefix.
fn private_path(path: &str) -> bool {
    ["/apps", "/account", "/admin", "/setup", "/invite", "/reset"]
        .iter()
        .any(|p| {
            path == *p
                || path
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

/// `secure`: the session cookie has its `__Host-` name.
pub async fn layer(State(secure): State<bool>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let server_fn = path.starts_with("/api/");
    let private =
        request.method() != Method::GET || private_path(path) || signed_in(&request, secure);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if headers.contains_key(header::CACHE_CONTROL) {
        return response;
    }
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let value = match (server_fn, html, private) {
        (true, _, _) | (false, true, true) => "no-store",
        (false, true, false) => "no-cache",
        (false, false, _) => return response,
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_paths_are_the_signed_in_areas() {
        for p in [
            "/apps",
            "/apps/app_1",
            "/account",
            "/admin/audit",
            "/setup/t",
            "/reset/t",
        ] {
            assert!(private_path(p), "{p}");
        }
        for p in [
            "/",
            "/login",
            "/docs/providers/attio",
            "/applications",
            "/pkg/x.css",
        ] {
            assert!(!private_path(p), "{p}");
        }
    }
}
