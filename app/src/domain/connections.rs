//! Connections: one end user × one provider configuration × one provider
//! account, holding sealed tokens; and their event history. Shared view
//! types here; storage behind `ssr`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    NeedsReauthorization,
    /// Refreshing has failed several times in a row; served while valid.
    Error,
    /// Disconnected: tokens revoked and deleted, history kept.
    Revoked,
}

impl ConnectionStatus {
    /// Every status, in the order filters list them.
    pub const ALL: [Self; 4] = [
        Self::Active,
        Self::NeedsReauthorization,
        Self::Error,
        Self::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::NeedsReauthorization => "needs_reauthorization",
            Self::Error => "error",
            Self::Revoked => "revoked",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::NeedsReauthorization => "Needs re-authorization",
            Self::Error => "Error",
            Self::Revoked => "Revoked",
        }
    }

    pub fn parse(text: &str) -> Self {
        match text {
            "active" => Self::Active,
            "error" => Self::Error,
            "revoked" => Self::Revoked,
            _ => Self::NeedsReauthorization,
        }
    }
}

/// A connection as the portal and the API show it: never a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionView {
    pub id: String,
    pub app_id: String,
    pub provider_config_id: String,
    /// The configuration's provider id, e.g. `attio`.
    pub provider: String,
    pub provider_name: String,
    /// Whether the provider configuration is switched on.
    pub provider_active: bool,
    pub end_user_id: String,
    pub end_user_name: Option<String>,
    pub end_user_email: Option<String>,
    pub account_id: String,
    pub account_name: Option<String>,
    pub account_slug: Option<String>,
    pub account_picture: Option<String>,
    pub status: ConnectionStatus,
    /// `None`: the provider did not say which scopes it granted.
    pub granted_scopes: Option<Vec<String>>,
    pub configured_scopes: Vec<String>,
    /// Configured scopes the grant does not cover.
    pub missing_scopes: Vec<String>,
    pub token_type: String,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_refreshed_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub last_checked_at: Option<i64>,
}

impl ConnectionView {
    /// What to call the account: its name, slug or id.
    pub fn account_label(&self) -> String {
        self.account_name
            .clone()
            .or_else(|| self.account_slug.clone())
            .unwrap_or_else(|| {
                if self.account_id.is_empty() {
                    "—".to_string()
                } else {
                    self.account_id.clone()
                }
            })
    }
}

/// One entry of a connection's (or a connection attempt's) history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    pub id: String,
    pub connection_id: Option<String>,
    pub end_user_id: Option<String>,
    pub kind: String,
    pub message: String,
    pub at: i64,
}
