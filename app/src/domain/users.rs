//! Developer accounts: roles, the signed-in user, email and password rules.

use serde::{Deserialize, Serialize};

/// Password length limits (characters).
pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Developer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Developer => "developer",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Self::Admin),
            "developer" => Some(Self::Developer),
            _ => None,
        }
    }
}

/// Who may create an account (`OAUTH_VAULT_SIGNUP`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignupMode {
    /// Only with an invitation from an administrator (the default).
    #[default]
    Invite,
    /// Anyone; each new account gets its own organisation and nothing more.
    Open,
    /// Nobody; administrators use the operator's command line.
    Closed,
}

impl SignupMode {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "invite" => Some(Self::Invite),
            "open" => Some(Self::Open),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invite => "invite",
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }

    /// Why a sign-up without an invitation is refused, or `None` when it
    /// is not.
    pub fn refusal(self) -> Option<&'static str> {
        match self {
            Self::Open => None,
            Self::Invite => Some(
                "This instance is invitation-only. Ask an administrator for an invitation link.",
            ),
            Self::Closed => {
                Some("Sign-up is closed on this instance. Ask its operator for an account.")
            }
        }
    }
}

/// The signed-in developer, as pages see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub organisation_id: String,
}

/// An email address, trimmed and lower-cased, checked for a plausible shape.
pub fn normalise_email(text: &str) -> Result<String, &'static str> {
    let email = text.trim().to_lowercase();
    if email.is_empty() {
        return Err("Enter your email address");
    }
    if email.len() > 254 {
        return Err("That email address is too long");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("Enter an email address like name@example.com");
    };
    let ok = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(email)
    } else {
        Err("Enter an email address like name@example.com")
    }
}

/// Checks a new password's length.
pub fn check_new_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < PASSWORD_MIN {
        Err(format!("Use at least {PASSWORD_MIN} characters"))
    } else if n > PASSWORD_MAX {
        Err(format!("Use at most {PASSWORD_MAX} characters"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            normalise_email("  Dev@Example.COM "),
            Ok("dev@example.com".into())
        );
        for bad in [
            "",
            "dev",
            "dev@",
            "@example.com",
            "dev@example",
            "a b@example.com",
            "a@b@c.com",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_length_is_12_to_128_characters() {
        assert!(check_new_password("short").is_err());
        assert!(check_new_password("exactly12chr").is_ok());
        assert!(check_new_password(&"é".repeat(128)).is_ok());
        assert!(check_new_password(&"x".repeat(129)).is_err());
    }
}

/// What an administrator can do to an account in the admin area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserAction {
    /// Sign-in refused and every session ended.
    Disable,
    Enable,
    /// Make an administrator.
    Grant,
    /// Make a developer again.
    Revoke,
}

impl UserAction {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "disable" => Some(Self::Disable),
            "enable" => Some(Self::Enable),
            "grant" => Some(Self::Grant),
            "revoke" => Some(Self::Revoke),
            _ => None,
        }
    }

    /// The audit action it records.
    pub fn audit_action(self) -> &'static str {
        match self {
            Self::Disable => "user.disabled",
            Self::Enable => "user.enabled",
            Self::Grant => "user.admin_granted",
            Self::Revoke => "user.admin_revoked",
        }
    }
}

pub const LAST_ADMIN: &str =
    "This is the last administrator: make someone else an administrator first.";
pub const NOT_YOURSELF: &str = "You cannot disable your own account.";

/// The rules of user management: nobody disables themselves, and the
/// instance always keeps an active administrator. `other_active_admins`
/// counts the administrators other than the target who are not disabled.
pub fn check_user_action(
    action: UserAction,
    acting_user_id: &str,
    target_id: &str,
    target_role: Role,
    other_active_admins: i64,
) -> Result<(), &'static str> {
    match action {
        UserAction::Disable if acting_user_id == target_id => Err(NOT_YOURSELF),
        UserAction::Disable if target_role == Role::Admin && other_active_admins == 0 => {
            Err(LAST_ADMIN)
        }
        UserAction::Revoke if other_active_admins == 0 => Err(LAST_ADMIN),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod user_rules {
    use super::*;

    #[test]
    fn nobody_disables_themselves() {
        assert_eq!(
            check_user_action(UserAction::Disable, "u1", "u1", Role::Admin, 3),
            Err(NOT_YOURSELF)
        );
        assert!(check_user_action(UserAction::Disable, "u1", "u2", Role::Developer, 0).is_ok());
    }

    #[test]
    fn the_last_active_administrator_stays() {
        assert_eq!(
            check_user_action(UserAction::Disable, "u1", "u2", Role::Admin, 0),
            Err(LAST_ADMIN)
        );
        assert_eq!(
            check_user_action(UserAction::Revoke, "u1", "u1", Role::Admin, 0),
            Err(LAST_ADMIN)
        );
        assert!(check_user_action(UserAction::Revoke, "u1", "u2", Role::Admin, 1).is_ok());
        assert!(check_user_action(UserAction::Disable, "u1", "u2", Role::Admin, 1).is_ok());
    }

    #[test]
    fn enabling_and_granting_are_always_allowed() {
        for action in [UserAction::Enable, UserAction::Grant] {
            assert!(check_user_action(action, "u1", "u1", Role::Developer, 0).is_ok());
        }
        assert_eq!(UserAction::parse("grant"), Some(UserAction::Grant));
        assert_eq!(UserAction::parse("delete"), None);
    }
}
