//! The state every handler and server function shares.

use crate::{crypto::Keyring, db::Db};
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;

/// Settings the application needs at request time, derived from the
/// configuration at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// External base URL, without a trailing slash.
    pub public_url: String,
    /// Whether cookies get the `Secure` attribute (public URL is https).
    pub secure_cookies: bool,
}

impl Settings {
    /// The one redirect URI providers send users back to.
    pub fn redirect_uri(&self) -> String {
        format!("{}/oauth/callback", self.public_url)
    }
}

#[derive(Clone, FromRef, Debug)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub keyring: Arc<Keyring>,
    pub settings: Arc<Settings>,
}
