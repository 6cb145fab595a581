//! The state every handler and server function shares.

use crate::{
    crypto::Keyring, db::Db, outbound::Outbound, providers::catalogue::Catalogue,
    providers::urls::OutboundPolicy,
};
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
    /// Refresh, health checks and the background worker.
    pub token_care: crate::refresh::TokenCare,
}

impl Settings {
    /// The one redirect URI providers send users back to.
    pub fn redirect_uri(&self) -> String {
        format!("{}/oauth/callback", self.public_url)
    }

    /// `scheme://host[:port]` of the public URL, as browsers send in `Origin`.
    pub fn public_origin(&self) -> String {
        match self.public_url.find("://") {
            Some(i) => {
                let rest = &self.public_url[i + 3..];
                let host_end = rest.find('/').unwrap_or(rest.len());
                self.public_url[..i + 3 + host_end].to_string()
            }
            None => self.public_url.clone(),
        }
    }
}

#[derive(Clone, FromRef, Debug)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub keyring: Arc<Keyring>,
    pub settings: Arc<Settings>,
    pub catalogue: Arc<Catalogue>,
    pub outbound: Arc<OutboundPolicy>,
    /// The HTTP client for calls to providers.
    pub http: Outbound,
}
