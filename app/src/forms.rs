//! Forms that work without JavaScript.
//!
//! Every form is a plain HTML `POST` to the page's own URL, handled by an axum
//! handler (Post/Redirect/Get): on success it redirects; on a validation error
//! it renders the same page again, with status 422, the messages next to their
//! fields and the user's input kept. The feedback travels to the page through
//! context on the server and through a [`SharedValue`] to the hydrating client,
//! so both render the same markup.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What a failed submission hands back to its page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormFeedback {
    /// Which form of the page this is for.
    pub form: String,
    /// The submitted values (secrets never included).
    pub values: Vec<(String, String)>,
    /// Field name → message; the field "" holds a message for the whole form.
    pub errors: Vec<(String, String)>,
}

impl FormFeedback {
    pub fn new(form: &str) -> Self {
        Self {
            form: form.to_string(),
            ..Self::default()
        }
    }

    pub fn value(&self, field: &str) -> Option<String> {
        self.values
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.clone())
    }

    pub fn all_values(&self, field: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(k, _)| k == field)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn error(&self, field: &str) -> Option<String> {
        self.errors
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.clone())
    }

    pub fn add_error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push((field.to_string(), message.into()));
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    pub fn keep(&mut self, field: &str, value: &str) {
        self.values.push((field.to_string(), value.to_string()));
    }
}

/// Checks a one-line name a person types (an app's, a key's): trimmed, not
/// empty, at most `max` characters, no control characters. `empty` says what
/// to enter when it is missing.
pub fn check_label(text: &str, max: usize, empty: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() {
        Err(empty.to_string())
    } else if name.chars().count() > max {
        Err(format!("Use at most {max} characters"))
    } else if name.chars().any(char::is_control) {
        Err("The name cannot contain control characters".into())
    } else {
        Ok(name.to_string())
    }
}

/// The feedback for `form` on this page, identical on server and client.
/// Call once per page, in the same order on both sides.
pub fn use_feedback(form: &'static str) -> FormFeedback {
    let shared = SharedValue::new(|| {
        #[cfg(feature = "ssr")]
        {
            use_context::<FormFeedback>().unwrap_or_default()
        }
        #[cfg(not(feature = "ssr"))]
        {
            FormFeedback::default()
        }
    });
    let feedback = shared.into_inner();
    if feedback.form == form {
        feedback
    } else {
        FormFeedback::new(form)
    }
}

/// A secret created by this request (an API key, a signing secret): shown
/// on the page that answers the creation, and never again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShownOnce(pub Option<String>);

/// The secret this request created, identical on server and client.
pub fn use_shown_once() -> Option<String> {
    SharedValue::new(|| {
        #[cfg(feature = "ssr")]
        {
            use_context::<ShownOnce>().unwrap_or_default()
        }
        #[cfg(not(feature = "ssr"))]
        {
            ShownOnce::default()
        }
    })
    .into_inner()
    .0
}

/// The request's CSRF token, identical on server and client. The server
/// puts it in a `<meta name="csrf-token">` of every page, so that pages the
/// client router renders after navigation carry it too.
pub fn use_csrf_token() -> String {
    #[cfg(feature = "ssr")]
    {
        use_context::<axum::http::request::Parts>()
            .and_then(|p| p.extensions.get::<crate::auth::csrf::CsrfToken>().cloned())
            .map(|t| t.0)
            .unwrap_or_default()
    }
    #[cfg(not(feature = "ssr"))]
    {
        document()
            .query_selector("meta[name=csrf-token]")
            .ok()
            .flatten()
            .and_then(|m| m.get_attribute("content"))
            .unwrap_or_default()
    }
}

/// The hidden CSRF field every form carries.
#[component]
pub fn CsrfField(token: String) -> impl IntoView {
    view! { <input type="hidden" name="csrf" value=token /> }
}

/// A labelled input with its hint and error.
#[component]
pub fn TextField(
    label: &'static str,
    name: &'static str,
    #[prop(default = "text")] kind: &'static str,
    #[prop(default = None)] value: Option<String>,
    #[prop(default = None)] error: Option<String>,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional)] autocomplete: Option<&'static str>,
    #[prop(default = None)] placeholder: Option<String>,
    #[prop(default = true)] required: bool,
    #[prop(default = 200)] maxlength: usize,
) -> impl IntoView {
    let id = format!("field-{name}");
    let error_id = format!("{id}-error");
    let invalid = error.is_some();
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <input
                id=id
                name=name
                type=kind
                value=value
                required=required
                maxlength=maxlength
                autocomplete=autocomplete
                placeholder=placeholder
                aria-invalid=invalid.then_some("true")
                aria-describedby=invalid.then(|| error_id.clone())
            />
            {hint.map(|h| view! { <span class="hint">{h}</span> })}
            {error.map(|e| view! { <span class="error" id=error_id role="alert">{e}</span> })}
        </div>
    }
}

/// A message for the whole form.
#[component]
pub fn FormError(error: Option<String>) -> impl IntoView {
    error.map(|e| view! { <div class="alert alert-danger" role="alert">{e}</div> })
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Helpers for the POST handlers.

    use super::FormFeedback;
    use crate::{auth::csrf, state::AppState};
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
            let fields: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&bytes).map_err(|_| {
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
        ) -> Result<(Self, crate::auth::CurrentUser), Response> {
            let form = Self::read(state, request).await?;
            match crate::auth::session::current_user(
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
        let handler = leptos_axum::render_app_async_with_context(
            move || {
                provide_context(context_state.clone());
                provide_context(feedback.clone());
                provide_context(extra.clone());
            },
            move || crate::shell(options.clone()),
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
            super::ShownOnce(Some(secret)),
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
        tracing::error!(%error, "form request failed");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side. Please try again.",
        )
            .into_response()
    }

    /// An unknown id, or one of another organisation: the same answer.
    pub fn not_found() -> Response {
        (StatusCode::NOT_FOUND, "Not found").into_response()
    }
}
