#![recursion_limit = "512"]
//! The OAuth Vault web application, in one-way layers. Each layer may use the
//! layers below it, never one above:
//!
//! ```text
//! ui        pages, components, the shell and router (both builds)
//! web       AppState, form handling, sessions of a request, CSRF, the
//!           hosted connect pages, the portal's route table
//! services  use cases: connect, token care (refresh, health, worker),
//!           revocation, webhook delivery, usage writes, key rotation
//! store     one module per table family: SQL lives here and nowhere above
//! domain    types and rules with no I/O: statuses, events, backoff,
//!           validation, labels, the last-admin rule
//! infra     database pool, encryption keyring, caches, guarded HTTP client
//! ```
//!
//! `catalogue` (provider definitions) and `util` are leaves any layer may use.
//! `tests/it/layers.rs` checks the rule. Everything that must never reach the
//! browser — database access, crypto, secrets — is compiled only with the
//! `ssr` feature, so the wasm client cannot even name it.

pub mod catalogue;
pub mod domain;
#[cfg(feature = "ssr")]
pub mod infra;
#[cfg(feature = "ssr")]
pub mod services;
#[cfg(feature = "ssr")]
pub mod store;
pub mod ui;
pub mod util;
pub mod web;
