//! Names people type.

/// Checks a one-line name a person types (an app's, a key's): trimmed, not
/// empty, at most `max` characters, no control characters. `empty` says what
/// to enter when it is missing.
pub fn check_label(text: &str, max: usize, empty: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() {
        Err(empty.to_string())
    } else if name.chars().count() > max {
        Err(format!("Use at most {max} characters"))
    } else if name.chars().any(char::is_control) {
        Err("The name cannot contain control characters".into())
    } else {
        Ok(name.to_string())
    }
}
