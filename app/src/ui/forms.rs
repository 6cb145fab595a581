//! Form fields and the feedback of a failed submission, on the page.

use crate::web::forms::{FormFeedback, ShownOnce};
use leptos::prelude::*;

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
            .and_then(|p| p.extensions.get::<crate::web::csrf::CsrfToken>().cloned())
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
