//! Per-request Content-Security-Policy nonce, shared between the HTTP
//! security-headers layer (which writes the header) and the Leptos shell
//! (which stamps the nonce on the hydration script and resource data).

use leptos::prelude::*;

/// The nonce of the current request, put in the request's extensions by the
/// security-headers layer.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

/// Makes the request's nonce the one Leptos puts on its inline scripts.
pub fn provide_csp_nonce() {
    let nonce = use_context::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<CspNonce>().cloned());
    if let Some(CspNonce(value)) = nonce {
        provide_context(leptos::nonce::Nonce::from_value(value));
    }
}
