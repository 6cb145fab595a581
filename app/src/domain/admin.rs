//! The admin area's views of the instance: connections with where they
//! live, the overview's counts, users, and the filters of its lists.

use crate::domain::{audit::AuditView, connections::ConnectionView, connections::EventView};
use serde::{Deserialize, Serialize};

/// A connection with where it lives, for the admin tables.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminConnection {
    pub connection: ConnectionView,
    pub app_name: String,
    pub organisation_id: String,
    pub organisation_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    pub email: String,
    pub by_status: Vec<(String, i64)>,
    pub by_provider: Vec<(String, i64)>,
    pub refreshed_24h: i64,
    pub failed_24h: i64,
    /// Connections lost to a refresh that a restart interrupted.
    pub interrupted_24h: i64,
    pub attention: Vec<AdminConnection>,
    pub webhooks_failing: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionQuery {
    pub status: Option<String>,
    pub provider: Option<String>,
    pub organisation: Option<String>,
    pub app: Option<String>,
    pub mismatch: bool,
    pub q: Option<String>,
    pub sort: Option<String>,
    /// `created_at:id` of the last row of the previous page.
    pub after: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionsPage {
    pub email: String,
    pub rows: Vec<AdminConnection>,
    pub next: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionDetail {
    pub email: String,
    pub row: AdminConnection,
    pub events: Vec<EventView>,
    pub deliveries: Vec<DeliveryRow>,
    /// The page of `deliveries`.
    pub pager: crate::domain::paging::Pager,
}

/// The page of a connection's webhook deliveries, as the URL's query has it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveriesQuery {
    pub older: Option<String>,
    pub newer: Option<String>,
}

/// A webhook delivery about one connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub id: String,
    pub created_at: i64,
    pub event_type: String,
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub role: String,
    pub disabled: bool,
    pub last_login_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsersPage {
    pub email: String,
    pub me: String,
    pub users: Vec<UserRow>,
}

/// An invitation as the administrator's list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationRow {
    pub id: String,
    pub email: String,
    pub invited_by: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Whether it can still be accepted (and revoked).
    pub pending: bool,
}

impl InvitationRow {
    pub fn status(&self) -> String {
        if self.used_at.is_some() {
            "Accepted".into()
        } else if self.revoked_at.is_some() {
            "Revoked".into()
        } else if !self.pending {
            "Expired".into()
        } else {
            format!(
                "Pending until {}",
                crate::util::time::display(self.expires_at)
            )
        }
    }
}

/// The admin area's invitations page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationsPage {
    pub email: String,
    /// `OAUTH_VAULT_SIGNUP` of the instance.
    pub signup: crate::domain::users::SignupMode,
    pub invitations: Vec<InvitationRow>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub organisation: Option<String>,
    pub app: Option<String>,
    /// `YYYY-MM-DD`, UTC.
    pub from: Option<String>,
    pub to: Option<String>,
    /// The page: the `at:id` cursor of a row (see [`crate::domain::paging`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub older: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub email: String,
    pub entries: Vec<AuditView>,
    pub csv_link: String,
    pub pager: crate::domain::paging::Pager,
}
