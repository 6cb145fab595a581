//! Provider configurations: an app's client credentials and scope selection
//! for one provider. Shared view types here; storage and validation in `ssr`.

use crate::catalogue::ClientAuth;
use serde::{Deserialize, Serialize};

pub const CLIENT_ID_MAX: usize = 512;
pub const CLIENT_SECRET_MAX: usize = 2048;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigStatus {
    Active,
    Disabled,
}

impl ConfigStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Disabled => "Disabled",
        }
    }
}

/// The endpoints and options a developer enters for a Custom OAuth 2.0 provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomSettings {
    pub authorization_url: String,
    pub token_url: String,
    #[serde(default)]
    pub revocation_url: Option<String>,
    #[serde(default)]
    pub introspection_url: Option<String>,
    #[serde(default)]
    pub userinfo_url: Option<String>,
    pub scope_separator: String,
    pub pkce: bool,
    pub client_auth: ClientAuth,
    /// The authorization server's issuer identifier (RFC 8414), if known.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The server names itself in its answers (`iss`, RFC 9207): the
    /// callback then requires `iss` to equal the issuer.
    #[serde(default)]
    pub authorization_response_iss: bool,
}

/// A configuration as the portal shows it: never the secret itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigView {
    pub id: String,
    pub app_id: String,
    pub slug: String,
    pub provider: String,
    pub display_name: String,
    pub client_id: String,
    /// The last four characters of the client secret.
    pub secret_last4: String,
    pub scopes: Vec<String>,
    pub status: ConfigStatus,
    pub custom: Option<CustomSettings>,
    pub connections: i64,
    /// Saved before each configuration had its own redirect URI: it still
    /// uses the shared one until the developer switches.
    pub legacy_callback: bool,
    /// The developer's connection parameters (a tenant, a login host).
    #[serde(default)]
    pub parameters: std::collections::BTreeMap<String, String>,
}

/// The path every configuration's redirect URI starts with; the shared
/// redirect URI of configurations saved before each had its own.
pub const CALLBACK_PATH: &str = "/oauth/callback";

impl ConfigView {
    /// The redirect URI this configuration sends to its provider.
    pub fn redirect_uri(&self, public_url: &str) -> String {
        if self.legacy_callback {
            format!("{public_url}{CALLBACK_PATH}")
        } else {
            own_redirect_uri(public_url, &self.id)
        }
    }
}

/// The redirect URI of configuration `id`: its own, so that an answer meant
/// for one configuration cannot be taken for another's (mix-up defence).
pub fn own_redirect_uri(public_url: &str, id: &str) -> String {
    format!("{public_url}{CALLBACK_PATH}/{id}")
}

/// Whether `id` looks like a configuration id (`pc_` and 32 hex digits).
pub fn is_config_id(id: &str) -> bool {
    id.strip_prefix("pc_").is_some_and(|h| {
        h.len() == 32
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}
