//! The provider form: what a valid submission holds, and every check of it.
//! Everything wrong is reported at once, next to its field; the secret is
//! never kept.

use crate::{
    catalogue::{loader::Catalogue, urls::OutboundPolicy, ClientAuth, CUSTOM_PROVIDER},
    domain::{errors::FieldErrors, provider_configs::*},
};

/// What a valid submission of the provider form holds. The secret is a
/// `SecretString`: `Debug` shows `[REDACTED]`.
#[derive(Debug)]
pub struct ConfigInput {
    pub provider: String,
    pub slug: String,
    pub display_name: String,
    pub client_id: String,
    /// `None`: keep the stored secret (edit with a blank field).
    pub client_secret: Option<secrecy::SecretString>,
    pub scopes: Vec<String>,
    pub custom: Option<CustomSettings>,
    /// The definition's developer parameters, checked by their patterns.
    pub parameters: crate::domain::parameters::Values,
}

fn field(form: &[(String, String)], name: &str) -> String {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

fn optional_url(
    form: &[(String, String)],
    name: &str,
    policy: &OutboundPolicy,
    errors: &mut FieldErrors,
) -> Option<String> {
    let text = field(form, name);
    if text.is_empty() {
        return None;
    }
    match policy.check_endpoint(&text) {
        Ok(url) => Some(url.to_string()),
        Err(e) => {
            errors.add_error(name, e);
            None
        }
    }
}

/// Validates the provider form for `provider` ("attio", … or "custom").
/// `editing`: a configuration is being edited (a blank secret keeps the
/// stored one). Everything wrong is reported at once, next to its field;
/// the secret is never kept.
pub fn validate(
    provider: &str,
    form: &[(String, String)],
    catalogue: &Catalogue,
    policy: &OutboundPolicy,
    editing: bool,
) -> Result<ConfigInput, FieldErrors> {
    let mut errors = FieldErrors::default();
    let client_id = check_client_id(field(form, "client_id"), &mut errors);
    let client_secret = check_client_secret(form, editing, &mut errors);
    let mut parameters = crate::domain::parameters::Values::new();
    let identity = if provider == CUSTOM_PROVIDER {
        custom_provider(form, catalogue, policy, &mut errors)
    } else {
        let Some(def) = catalogue.get(provider) else {
            errors.add_error("", "This provider is not in the catalogue");
            return Err(errors);
        };
        let own: Vec<_> = def
            .parameters
            .iter()
            .filter(|p| p.supplied_by == crate::catalogue::SuppliedBy::Developer)
            .cloned()
            .collect();
        match crate::domain::parameters::collect(&own, |name| field(form, name)) {
            Ok(values) => parameters = values,
            Err(problems) => {
                for (name, message) in problems {
                    errors.add_error(&name, message);
                }
            }
        }
        catalogue_provider(def, form, &mut errors)
    };
    if errors.has_errors() {
        return Err(errors);
    }
    Ok(ConfigInput {
        provider: provider.to_string(),
        slug: identity.slug,
        display_name: identity.display_name,
        client_id,
        client_secret,
        scopes: identity.scopes,
        custom: identity.custom,
        parameters,
    })
}

/// What a configuration is besides its client credentials.
struct Identity {
    slug: String,
    display_name: String,
    scopes: Vec<String>,
    custom: Option<CustomSettings>,
}

fn check_client_id(client_id: String, errors: &mut FieldErrors) -> String {
    if client_id.is_empty() {
        errors.add_error(
            "client_id",
            "Enter the Client ID from the provider's developer settings",
        );
    } else if client_id.chars().count() > CLIENT_ID_MAX {
        errors.add_error(
            "client_id",
            format!("The Client ID can have at most {CLIENT_ID_MAX} characters"),
        );
    } else if client_id.chars().any(char::is_whitespace) {
        errors.add_error("client_id", "The Client ID cannot contain spaces");
    }
    client_id
}

fn check_client_secret(
    form: &[(String, String)],
    editing: bool,
    errors: &mut FieldErrors,
) -> Option<secrecy::SecretString> {
    let text = field(form, "client_secret");
    if text.is_empty() {
        if !editing {
            errors.add_error(
                "client_secret",
                "Enter the Client Secret from the provider's developer settings",
            );
        }
        None
    } else if text.chars().count() > CLIENT_SECRET_MAX {
        errors.add_error(
            "client_secret",
            format!("The Client Secret can have at most {CLIENT_SECRET_MAX} characters"),
        );
        None
    } else {
        Some(secrecy::SecretString::from(text))
    }
}

/// A catalogue provider: its id and name, and the ticked scopes, which must
/// be the provider's.
fn catalogue_provider(
    def: &crate::catalogue::ProviderDefinition,
    form: &[(String, String)],
    errors: &mut FieldErrors,
) -> Identity {
    let selected: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "scopes")
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    let scopes = match def.normalise_scopes(&selected) {
        Ok(s) if s.is_empty() => {
            errors.add_error("scopes", "Select at least one scope");
            Vec::new()
        }
        Ok(s) => s,
        Err(unknown) => {
            errors.add_error(
                "scopes",
                format!(
                    "Not a scope of {}: {}. Choose scopes from the list.",
                    def.name,
                    unknown.join(", ")
                ),
            );
            Vec::new()
        }
    };
    Identity {
        slug: def.id.clone(),
        display_name: def.name.clone(),
        scopes,
        custom: None,
    }
}

/// Custom OAuth 2.0: its own id, name, endpoints and scope list.
fn custom_provider(
    form: &[(String, String)],
    catalogue: &Catalogue,
    policy: &OutboundPolicy,
    errors: &mut FieldErrors,
) -> Identity {
    let slug = field(form, "slug");
    let slug_ok = (2..=40).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && catalogue.get(&slug).is_none();
    if !slug_ok {
        errors.add_error(
            "slug",
            "Use 2-40 characters of a-z, 0-9 and '-', not the id of a catalogue provider",
        );
    }
    let display_name = field(form, "display_name");
    if display_name.is_empty() || display_name.chars().count() > 80 {
        errors.add_error("display_name", "Enter a name of 1 to 80 characters");
    }
    Identity {
        slug,
        display_name,
        scopes: custom_scopes(form, errors),
        custom: custom_settings(form, policy, errors),
    }
}

fn custom_scopes(form: &[(String, String)], errors: &mut FieldErrors) -> Vec<String> {
    let scopes: Vec<String> = field(form, "scope_list")
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if scopes
        .iter()
        .any(|s| s.len() > 200 || s.chars().any(|c| c.is_control() || c == '"'))
        || scopes.len() > 100
    {
        errors.add_error(
            "scope_list",
            "List at most 100 scopes, separated by spaces or commas",
        );
    }
    scopes
}

/// The endpoints and protocol choices of a custom provider; `None` when a
/// required endpoint is missing or refused (the errors say which).
fn custom_settings(
    form: &[(String, String)],
    policy: &OutboundPolicy,
    errors: &mut FieldErrors,
) -> Option<CustomSettings> {
    let mut required = |name: &str| {
        let text = field(form, name);
        if text.is_empty() {
            errors.add_error(name, "Enter the URL, starting with https://");
            return None;
        }
        match policy.check_endpoint(&text) {
            Ok(url) => Some(url.to_string()),
            Err(e) => {
                errors.add_error(name, e);
                None
            }
        }
    };
    let authorization_url = required("authorization_url");
    let token_url = required("token_url");
    let revocation_url = optional_url(form, "revocation_url", policy, errors);
    let introspection_url = optional_url(form, "introspection_url", policy, errors);
    let userinfo_url = optional_url(form, "userinfo_url", policy, errors);
    let scope_separator = match field(form, "scope_separator").as_str() {
        "" | "space" => " ".to_string(),
        "comma" => ",".to_string(),
        _ => {
            errors.add_error("scope_separator", "Choose space or comma");
            " ".to_string()
        }
    };
    let client_auth = match field(form, "client_auth").as_str() {
        "basic" => ClientAuth::Basic,
        "body" | "" => ClientAuth::Body,
        _ => {
            errors.add_error("client_auth", "Choose HTTP Basic or request body");
            ClientAuth::Body
        }
    };
    let checked = |name: &str| form.iter().any(|(k, v)| k == name && v == "on");
    let pkce = checked("pkce");
    if !pkce && !checked("pkce_off_confirmed") {
        errors.add_error(
            "pkce",
            "PKCE keeps an intercepted authorization code useless. To switch it off, also tick \"I understand the risk\".",
        );
    }
    let issuer = issuer(form, policy, errors);
    let authorization_response_iss = checked("authorization_response_iss");
    if authorization_response_iss && issuer.is_none() {
        errors.add_error(
            "authorization_response_iss",
            "Enter the issuer: the callback compares the answer's iss with it",
        );
    }
    Some(CustomSettings {
        authorization_url: authorization_url?,
        token_url: token_url?,
        revocation_url,
        introspection_url,
        userinfo_url,
        scope_separator,
        pkce,
        client_auth,
        issuer,
        authorization_response_iss,
    })
}

/// The issuer identifier (RFC 8414): an https URL without query or
/// fragment, compared as typed (without a trailing slash added or removed).
fn issuer(
    form: &[(String, String)],
    policy: &OutboundPolicy,
    errors: &mut FieldErrors,
) -> Option<String> {
    let text = field(form, "issuer");
    if text.is_empty() {
        return None;
    }
    if text.contains('?') || text.contains('#') {
        errors.add_error("issuer", "An issuer has no query or fragment");
        return None;
    }
    match policy.check_endpoint(&text) {
        Ok(_) => Some(text),
        Err(e) => {
            errors.add_error("issuer", e);
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn debug_of_a_submission_redacts_the_secret() {
        let catalogue = Catalogue::load(None, &OutboundPolicy::default()).unwrap();
        let input = validate(
            "attio",
            &form(&[
                ("client_id", "id"),
                ("client_secret", "very-secret-value"),
                ("scopes", "note:read"),
            ]),
            &catalogue,
            &OutboundPolicy::default(),
            false,
        )
        .unwrap();
        let debug = format!("{input:?}");
        assert!(!debug.contains("very-secret-value"), "{debug}");
    }
}
