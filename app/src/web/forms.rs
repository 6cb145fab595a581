//! Forms that work without JavaScript: what a submission hands back to its
//! page (the handlers are in [`crate::web::form_post`], the fields in
//! [`crate::ui::forms`]).
//!
//! Every form is a plain HTML `POST` to the page's own URL, handled by an axum
//! handler (Post/Redirect/Get): on success it redirects; on a validation error
//! it renders the same page again, with status 422, the messages next to their
//! fields and the user's input kept. The feedback travels to the page through
//! context on the server and through a [`SharedValue`] to the hydrating client,
//! so both render the same markup.

use serde::{Deserialize, Serialize};

/// The "form" of the feedback of a submission refused for the user's role:
/// the portal's pages show its message at the top.
pub const FORBIDDEN_FORM: &str = "forbidden";

/// What a failed submission hands back to its page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormFeedback {
    /// Which form of the page this is for.
    pub form: String,
    /// The submitted values (secrets never included).
    pub values: Vec<(String, String)>,
    /// Field name → message; the field "" holds a message for the whole form.
    pub errors: Vec<(String, String)>,
}

impl FormFeedback {
    pub fn new(form: &str) -> Self {
        Self {
            form: form.to_string(),
            ..Self::default()
        }
    }

    pub fn value(&self, field: &str) -> Option<String> {
        self.values
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.clone())
    }

    pub fn all_values(&self, field: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(k, _)| k == field)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn error(&self, field: &str) -> Option<String> {
        self.errors
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.clone())
    }

    pub fn add_error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push((field.to_string(), message.into()));
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    pub fn keep(&mut self, field: &str, value: &str) {
        self.values.push((field.to_string(), value.to_string()));
    }

    /// Replaces the kept value of `field` (`None`: drops it).
    pub fn set(&mut self, field: &str, value: Option<&str>) {
        self.values.retain(|(k, _)| k != field);
        if let Some(v) = value {
            self.keep(field, v);
        }
    }

    /// Keeps every submitted value but the CSRF token and the fields named
    /// in `secrets`, which are never sent back.
    pub fn keep_all(&mut self, fields: &[(String, String)], secrets: &[&str]) {
        for (k, v) in fields {
            if k != "csrf" && !secrets.contains(&k.as_str()) {
                self.keep(k, v);
            }
        }
    }

    /// Shows validation messages next to their fields.
    pub fn add_errors(&mut self, errors: &crate::domain::errors::FieldErrors) {
        for (field, message) in errors.iter() {
            self.add_error(field, message);
        }
    }
}

/// A secret created by this request (an API key, a signing secret): shown
/// on the page that answers the creation, and never again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShownOnce(pub Option<String>);
