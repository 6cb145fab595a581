//! API keys: how a developer's backend authenticates to `/v1`. A key belongs
//! to one app and sees only that app. It is shown once at creation; the
//! database keeps its SHA-256 and a short prefix to recognise it by.

use serde::{Deserialize, Serialize};

/// Every key starts with this, so that people and secret scanners recognise it.
pub const KEY_PREFIX: &str = "ovk_";
pub const NAME_MAX: usize = 80;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// The first characters of the key, e.g. `ovk_3fQ9aZ1c`.
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Checks a key's name; the error says what to fix.
pub fn check_name(text: &str) -> Result<String, String> {
    crate::domain::labels::check_label(
        text,
        NAME_MAX,
        "Give the key a name, e.g. the service that uses it",
    )
}
