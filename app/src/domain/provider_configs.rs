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
}
