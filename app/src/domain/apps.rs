//! Apps: what a developer builds, owned by an organisation.

use serde::{Deserialize, Serialize};

pub const APP_NAME_MAX: usize = 80;

/// An app as its pages show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSummary {
    pub id: String,
    pub name: String,
    /// How many provider configurations it has.
    pub providers: i64,
}

/// An app's name: what end users see on the connect page.
pub fn check_app_name(text: &str) -> Result<String, String> {
    crate::domain::labels::check_label(text, APP_NAME_MAX, "Enter a name for the app")
}

/// Deleting asks for the app's name, typed exactly.
pub fn check_delete_confirmation(app: &AppSummary, typed: &str) -> Result<(), String> {
    if typed.trim() == app.name {
        Ok(())
    } else {
        Err(format!(
            "Type the app's name, {}, exactly to confirm",
            app.name
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(check_app_name("  Acme  ").as_deref(), Ok("Acme"));
        assert!(check_app_name("   ").is_err());
        assert!(check_app_name(&"x".repeat(APP_NAME_MAX + 1)).is_err());
        assert!(check_app_name("a\u{7}b").is_err());
    }

    #[test]
    fn deleting_needs_the_exact_name() {
        let app = AppSummary {
            id: "app_1".into(),
            name: "Acme".into(),
            providers: 0,
        };
        assert!(check_delete_confirmation(&app, " Acme ").is_ok());
        assert!(check_delete_confirmation(&app, "acme").is_err());
    }
}
