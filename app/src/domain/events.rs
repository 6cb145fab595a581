//! What happens to a connection. One enum says, for each kind of event, its
//! name in the history, the audit action it leaves, who it is attributed to,
//! and the webhook it sends, so that the three can never disagree.

/// What the event of a connection lost to an interrupted refresh begins
/// with: a process died after the provider rotated the refresh token and
/// before the vault stored the new one.
pub const REFRESH_INTERRUPTED: &str =
    "Refresh interrupted by a restart; the provider had rotated the token";

/// A kind of connection event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Connected,
    Reconnected,
    ConnectFailed,
    Refreshed,
    RefreshFailed,
    NeedsReauthorization,
    Recovered,
    Error,
    ScopeMismatch,
    /// The outcome of a revocation at the provider, retried later.
    Revocation,
    /// Disconnected; audited by the disconnect itself, with who did it.
    Revoked,
}

impl EventKind {
    pub const ALL: [EventKind; 11] = [
        Self::Connected,
        Self::Reconnected,
        Self::ConnectFailed,
        Self::Refreshed,
        Self::RefreshFailed,
        Self::NeedsReauthorization,
        Self::Recovered,
        Self::Error,
        Self::ScopeMismatch,
        Self::Revocation,
        Self::Revoked,
    ];

    /// The name stored in `connection_events.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Reconnected => "reconnected",
            Self::ConnectFailed => "connect_failed",
            Self::Refreshed => "refreshed",
            Self::RefreshFailed => "refresh_failed",
            Self::NeedsReauthorization => "needs_reauthorization",
            Self::Recovered => "recovered",
            Self::Error => "error",
            Self::ScopeMismatch => "scope_mismatch",
            Self::Revocation => "revocation",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The audit action the event leaves, if it leaves one.
    pub fn audit_action(self) -> Option<&'static str> {
        Some(match self {
            Self::Connected => "connection.created",
            Self::Reconnected => "connection.reauthorized",
            Self::ConnectFailed => "connection.connect_failed",
            Self::Refreshed => "connection.refreshed",
            Self::RefreshFailed => "connection.refresh_failed",
            Self::NeedsReauthorization => "connection.needs_reauthorization",
            Self::Recovered => "connection.recovered",
            Self::Error => "connection.error",
            Self::ScopeMismatch => "connection.scope_mismatch",
            Self::Revocation => "connection.revocation",
            Self::Revoked => return None,
        })
    }

    /// Whether the end user did it (in the connect flow); otherwise the
    /// system did.
    pub fn by_end_user(self) -> bool {
        matches!(
            self,
            Self::Connected | Self::Reconnected | Self::ConnectFailed
        )
    }

    /// The webhook type developers receive for it, if any.
    pub fn webhook_type(self) -> Option<&'static str> {
        Some(match self {
            Self::Connected => "connection.created",
            Self::Reconnected => "connection.reauthorized",
            Self::RefreshFailed => "connection.refresh_failed",
            Self::NeedsReauthorization => "connection.needs_reauthorization",
            Self::Recovered => "connection.recovered",
            Self::ScopeMismatch => "connection.scope_mismatch",
            Self::Revoked => "connection.deleted",
            _ => return None,
        })
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        let mut names: Vec<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), EventKind::ALL.len());
        assert_eq!(EventKind::parse("nonsense"), None);
    }

    #[test]
    fn webhooks_and_audit_follow_the_documented_table() {
        assert_eq!(
            EventKind::Revoked.webhook_type(),
            Some("connection.deleted")
        );
        assert_eq!(EventKind::Revoked.audit_action(), None);
        assert_eq!(EventKind::Refreshed.webhook_type(), None);
        assert_eq!(
            EventKind::Refreshed.audit_action(),
            Some("connection.refreshed")
        );
        assert!(EventKind::ConnectFailed.by_end_user());
        assert!(!EventKind::Recovered.by_end_user());
    }
}
