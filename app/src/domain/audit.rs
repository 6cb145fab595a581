//! The audit log: who (developer, admin, API key, end user, system) did what,
//! when, on which object. Append-only — this module only inserts — and
//! written on the caller's connection, so that an entry belongs to the
//! transaction of the action it records: an action that fails leaves none.

use serde::{Deserialize, Serialize};

/// An entry as the portal shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditView {
    pub id: String,
    pub at: i64,
    pub actor_type: String,
    pub actor_label: Option<String>,
    pub action: String,
    pub organisation_id: Option<String>,
    pub app_id: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub detail: Option<String>,
    pub reason: Option<String>,
}
