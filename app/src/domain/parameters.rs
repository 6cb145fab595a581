//! Connection parameters: what the developer or the end user types for a
//! provider definition's `{name}` placeholders, checked by the definition's
//! pattern before it goes into a URL the vault calls.

use crate::catalogue::ParameterSpec;
use std::collections::BTreeMap;

/// Name → value.
pub type Values = BTreeMap<String, String>;

/// The form field of parameter `name`.
pub fn field(name: &str) -> String {
    format!("param_{name}")
}

/// Values as stored (a JSON object), `None` when there are none.
pub fn to_json(values: &Values) -> Option<String> {
    if values.is_empty() {
        None
    } else {
        serde_json::to_string(values).ok()
    }
}

/// Stored values; unreadable text counts as none.
pub fn from_json(text: Option<&str>) -> Values {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default()
}

/// A returned origin without its trailing slash, so that templates can add
/// their own path.
pub fn normalised(value: &str) -> String {
    value.trim_end_matches('/').to_string()
}

/// Checks what was typed for `spec`: trimmed; empty takes the default; the
/// message says what to fix.
pub fn check(spec: &ParameterSpec, typed: &str) -> Result<Option<String>, String> {
    let value = typed.trim();
    if value.is_empty() {
        return match (&spec.default, spec.required) {
            (Some(default), _) => Ok(Some(default.clone())),
            (None, true) => Err(format!("Enter the {}", spec.label)),
            (None, false) => Ok(None),
        };
    }
    let matches =
        value.len() <= 200 && regex::Regex::new(&spec.pattern).is_ok_and(|p| p.is_match(value));
    if matches {
        Ok(Some(value.to_string()))
    } else {
        Err(format!(
            "That is not a valid {}: it looks like {}",
            spec.label, spec.example
        ))
    }
}

/// The values of `specs` from a form (`get` reads a field); errors are
/// `(field, message)`.
pub fn collect(
    specs: &[ParameterSpec],
    get: impl Fn(&str) -> String,
) -> Result<Values, Vec<(String, String)>> {
    let mut values = Values::new();
    let mut errors = Vec::new();
    for spec in specs {
        let name = field(&spec.name);
        match check(spec, &get(&name)) {
            Ok(Some(v)) => {
                values.insert(spec.name.clone(), v);
            }
            Ok(None) => {}
            Err(message) => errors.push((name, message)),
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::catalogue::SuppliedBy;

    fn spec() -> ParameterSpec {
        ParameterSpec {
            name: "subdomain".into(),
            label: "Zendesk subdomain".into(),
            description: String::new(),
            pattern: "^[a-z0-9][a-z0-9-]{0,62}$".into(),
            example: "acme".into(),
            default: None,
            supplied_by: SuppliedBy::EndUser,
            required: true,
        }
    }

    #[test]
    fn parameters_are_checked_by_their_pattern() {
        assert_eq!(check(&spec(), " acme ").unwrap().as_deref(), Some("acme"));
        for bad in ["evil.com/", "a b", "ACME", "x.evil.com", &"a".repeat(70)] {
            let err = check(&spec(), bad).unwrap_err();
            assert!(err.contains("looks like acme"), "{bad}: {err}");
        }
        assert_eq!(
            check(&spec(), "").unwrap_err(),
            "Enter the Zendesk subdomain"
        );
        let mut tenant = spec();
        tenant.default = Some("common".into());
        assert_eq!(check(&tenant, "").unwrap().as_deref(), Some("common"));
    }
}
