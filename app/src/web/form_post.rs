//! Helpers for the POST handlers.

use crate::domain::orgs::{Need, Seat};
use crate::domain::{apps::AppSummary, users::CurrentUser};
use crate::infra::failure::{general_message, report};
use crate::services::access::Denied;
use crate::web::forms::FormFeedback;
use crate::{web::csrf, web::state::AppState};
use axum::{
    body::Body,
    http::{header, request::Parts, Method, Request, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use leptos::prelude::*;

/// Largest form body accepted.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// A parsed form submission.
pub struct Submission {
    pub parts: Parts,
    pub fields: Vec<(String, String)>,
}

impl Submission {
    /// Reads the body, and checks the CSRF token against its cookie.
    pub async fn read(state: &AppState, request: Request<Body>) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                (StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.").into_response()
            })?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
            (StatusCode::BAD_REQUEST, "The form could not be read.").into_response()
        })?;
        let submitted = fields
            .iter()
            .find(|(k, _)| k == csrf::FIELD)
            .map(|(_, v)| v.as_str());
        if !csrf::verify_form_token(&parts.headers, state.settings.secure_cookies, submitted) {
            return Err((
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this site. Go back, reload the page and try again.",
            )
                .into_response());
        }
        Ok(Self { parts, fields })
    }

    /// Reads the form of a signed-in developer; anyone else is sent to
    /// the sign-in page.
    pub async fn read_signed_in(
        state: &AppState,
        request: Request<Body>,
    ) -> Result<(Self, crate::domain::users::CurrentUser), Response> {
        let form = Self::read(state, request).await?;
        match crate::store::sessions::current_user(
            &state.db,
            &form.parts.headers,
            state.settings.secure_cookies,
        )
        .await
        {
            Ok(Some(user)) => Ok((form, user)),
            Ok(None) => Err(see_other("/login")),
            Err(e) => Err(server_error(e)),
        }
    }

    pub fn get(&self, name: &str) -> String {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Renders the page at the request's URL again, with `feedback`.
pub async fn rerender(state: &AppState, parts: Parts, feedback: FormFeedback) -> Response {
    render_page(state, parts, feedback, (), StatusCode::UNPROCESSABLE_ENTITY).await
}

/// Renders the page at the request's URL with `feedback` and `extra` in
/// its context, answered with `status`.
pub async fn render_page<T: Clone + Send + Sync + 'static>(
    state: &AppState,
    mut parts: Parts,
    feedback: FormFeedback,
    extra: T,
    status: StatusCode,
) -> Response {
    parts.method = Method::GET;
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    let request = Request::from_parts(parts, Body::empty());
    let context_state = state.clone();
    let options = state.leptos_options.clone();
    let shell = state.shell;
    let handler = leptos_axum::render_app_async_with_context(
        move || {
            provide_context(context_state.clone());
            provide_context(feedback.clone());
            provide_context(extra.clone());
        },
        move || shell(options.clone()),
    );
    let mut response = handler(request).await;
    if response.status() == StatusCode::OK {
        *response.status_mut() = status;
    }
    response
}

/// Renders the page at the request's URL showing `secret` once: not a
/// redirect, and never cached.
pub async fn render_shown_once(
    state: &AppState,
    parts: Parts,
    secret: String,
    status: StatusCode,
) -> Response {
    let mut response = render_page(
        state,
        parts,
        FormFeedback::default(),
        crate::web::forms::ShownOnce(Some(secret)),
        status,
    )
    .await;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// 303 See Other: after a successful POST.
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A failure on our side: logged in full, answered in general terms.
pub fn server_error(error: impl std::fmt::Display) -> Response {
    let id = report("a form request", &error);
    (StatusCode::INTERNAL_SERVER_ERROR, general_message(&id)).into_response()
}

/// An unknown id, or one of another organisation: the same answer.
pub fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not found").into_response()
}

/// Renders the page at the request's URL again with status 403 and the
/// reason at its top: the user's role does not allow what they posted.
pub async fn forbidden(state: &AppState, parts: Parts, message: &str) -> Response {
    let mut feedback = FormFeedback::new(crate::web::forms::FORBIDDEN_FORM);
    feedback.add_error("", message);
    render_page(state, parts, feedback, (), StatusCode::FORBIDDEN).await
}

/// The answer to a refused access: 404, or 403 with the page again.
pub async fn denied(state: &AppState, parts: Parts, denied: Denied) -> Response {
    match denied {
        Denied::NotFound => not_found(),
        Denied::Forbidden(message) => forbidden(state, parts, &message).await,
        Denied::Db(e) => server_error(e),
    }
}

/// Reads a form of the signed-in user about app `app_id`, if their role in
/// its organisation allows `need`, or answers (sign-in page, 404 for
/// another organisation's app, 403 for a role too low).
pub async fn app_form(
    state: &AppState,
    app_id: &str,
    need: Need,
    request: Request<Body>,
) -> Result<(Submission, AppSummary, CurrentUser), Response> {
    let (form, user) = Submission::read_signed_in(state, request).await?;
    match crate::services::access::app(&state.db, &user, app_id, need).await {
        Ok((_, app)) => Ok((form, app, user)),
        Err(e) => Err(denied(state, form.parts, e).await),
    }
}

/// Reads a form of the signed-in user about organisation `org_id`, if
/// their role in it allows `need`; answers otherwise, as [`app_form`].
pub async fn org_form(
    state: &AppState,
    org_id: &str,
    need: Need,
    request: Request<Body>,
) -> Result<(Submission, Seat, CurrentUser), Response> {
    let (form, user) = Submission::read_signed_in(state, request).await?;
    match crate::services::access::organisation(&state.db, &user, org_id, need).await {
        Ok(seat) => Ok((form, seat, user)),
        Err(e) => Err(denied(state, form.parts, e).await),
    }
}
