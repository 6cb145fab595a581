//! What services work with: the database, the keyring, the catalogue, the
//! outbound HTTP client, the short-lived caches and the settings. Built once
//! at start-up; the web layer's `AppState` carries one and hands it down, so
//! that no service depends on anything above it.

use crate::{
    catalogue::{loader::Catalogue, urls::OutboundPolicy},
    infra::{cache::TtlCache, crypto::Keyring, db::Db, outbound::Outbound},
    store::api_keys::ApiCaller,
};
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
    pub token_care: crate::services::tokens::model::TokenCare,
    /// The token API answers only after its read is committed to the audit
    /// log (see [`crate::services::usage`]).
    pub durable_read_audit: bool,
    /// Who may create an account.
    pub signup: crate::domain::users::SignupMode,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<crate::infra::net::Cidr>,
    /// Sign-ups allowed per client address in the throttling window.
    pub signups_per_address: i64,
    /// Whether people may sign in with a password (`OAUTH_VAULT_PASSWORD_LOGIN`;
    /// off only with single sign-on).
    pub password_login: bool,
}

impl Settings {
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

/// The services' shared context. Cloning it is cheap (pointers and a pool).
#[derive(Clone, Debug)]
pub struct Context {
    pub db: Db,
    pub keyring: Arc<Keyring>,
    pub settings: Arc<Settings>,
    pub catalogue: Arc<Catalogue>,
    pub outbound: Arc<OutboundPolicy>,
    /// The HTTP client for calls to providers.
    pub http: Outbound,
    /// Group-committed writes of the API's hot paths.
    pub usage: crate::services::usage::UsageWriter,
    pub caches: Arc<Caches>,
    /// Outgoing email, when the operator configured a mail server.
    pub mailer: Option<crate::infra::mail::Mailer>,
    /// Single sign-on for the portal, when the operator configured it.
    pub sso: Option<Arc<crate::services::sso::Sso>>,
}

/// The API's short-lived read caches (see [`crate::infra::cache`]).
#[derive(Debug)]
pub struct Caches {
    /// API keys by the hash of the key.
    pub api_keys: TtlCache<String, ApiCaller>,
    /// Connections and their sealed tokens, by connection id.
    pub connections: TtlCache<String, crate::services::tokens::model::Loaded>,
    /// Provider configurations ready for calls (with their client secret),
    /// by configuration id: the refresh worker's hot read.
    pub provider_clients: TtlCache<String, crate::services::tokens::model::ProviderClient>,
}

impl Caches {
    /// Entries per cache, at most.
    pub const CAPACITY: usize = 10_000;

    pub fn new(ttl: std::time::Duration) -> Self {
        Self {
            api_keys: TtlCache::new(ttl, Self::CAPACITY).named("api_keys"),
            connections: TtlCache::new(ttl, Self::CAPACITY).named("connections"),
            provider_clients: TtlCache::new(ttl, Self::CAPACITY).named("provider_clients"),
        }
    }

    /// After a change to connection `id` (its tokens or status).
    pub fn connection_changed(&self, id: &str) {
        self.connections.remove(id);
    }

    /// After a change to a provider configuration (status, scopes).
    pub fn configuration_changed(&self) {
        self.connections.clear();
        self.provider_clients.clear();
    }

    /// After an app was deleted, with its keys, connections and
    /// configurations.
    pub fn app_deleted(&self, app_id: &str) {
        self.api_keys.retain(|_, caller| caller.app_id != app_id);
        self.configuration_changed();
    }

    pub fn api_key_revoked(&self, key_id: &str) {
        self.api_keys.retain(|_, caller| caller.key_id != key_id);
    }
}
