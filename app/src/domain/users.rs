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
