#![recursion_limit = "512"]
//! OAuth Vault: the server binary's library (configuration, start-up, HTTP
//! layers) and the browser entry point. Pages are rendered on the server and
//! work without JavaScript; only their interactive parts — islands — are
//! hydrated in the browser, so only those are compiled into the client.

// The islands are exported from the app crate; naming it links them in.
#[cfg(feature = "hydrate")]
#[allow(unused_imports)]
use app::ui::*;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod cli;
#[cfg(feature = "ssr")]
pub mod config;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod keys;
#[cfg(feature = "ssr")]
pub mod metrics;
#[cfg(feature = "otel")]
pub mod otel;
#[cfg(feature = "ssr")]
pub mod startup;
#[cfg(feature = "ssr")]
pub mod telemetry;
