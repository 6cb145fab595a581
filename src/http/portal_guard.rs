//! Portal pages need a signed-in developer: anyone else asking for one is sent
//! to the sign-in page before any page code runs. A signed-in developer who
//! opens the sign-in or sign-up page goes to their apps instead.

use app::{store::sessions as session, web::state::AppState};
use axum::{
    extract::{Request, State},
    http::Method,
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};

/// Path prefixes of the signed-in portal.
const PORTAL: &[&str] = &["/apps", "/account", "/orgs"];

fn is_portal(path: &str) -> bool {
    PORTAL.iter().any(|p| {
        path == *p
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// Pages for signed-out visitors, which a signed-in developer skips.
const SIGNED_OUT: &[&str] = &["/login", "/signup"];

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() == Method::GET && SIGNED_OUT.contains(&request.uri().path()) {
        let signed_in =
            session::current_user(&state.db, request.headers(), state.settings.secure_cookies)
                .await
                .ok()
                .flatten()
                .is_some();
        if signed_in {
            return Redirect::to("/apps").into_response();
        }
    }
    if request.method() == Method::GET && is_portal(request.uri().path()) {
        match session::current_user(&state.db, request.headers(), state.settings.secure_cookies)
            .await
        {
            Ok(Some(_)) => {}
            Ok(None) => return Redirect::to("/login").into_response(),
            Err(error) => {
                app::infra::failure::report("the session lookup", &error);
                return (
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "The vault cannot reach its database. Try again shortly.",
                )
                    .into_response();
            }
        }
    }
    next.run(request).await
}
