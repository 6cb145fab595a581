//! Loading and validating the provider catalogue: the definitions built into
//! the binary (`providers/*.toml` in the repository), then the operator's
//! folder (`OAUTH_VAULT_PROVIDERS_DIR`), whose files add providers or replace
//! built-in ones with the same id. Any mistake stops start-up with the file
//! and the field at fault.

use super::{
    urls::OutboundPolicy, IdentityMethod, IdentitySource, ProviderDefinition, CUSTOM_PROVIDER,
};
use std::{collections::HashSet, path::Path, sync::Arc};

/// Definitions compiled into the binary: (file name, contents).
const BUILT_IN: &[(&str, &str)] = &[
    (
        "airtable.toml",
        include_str!("../../../providers/airtable.toml"),
    ),
    ("asana.toml", include_str!("../../../providers/asana.toml")),
    (
        "atlassian.toml",
        include_str!("../../../providers/atlassian.toml"),
    ),
    ("attio.toml", include_str!("../../../providers/attio.toml")),
    (
        "calendly.toml",
        include_str!("../../../providers/calendly.toml"),
    ),
    (
        "dropbox.toml",
        include_str!("../../../providers/dropbox.toml"),
    ),
    (
        "github.toml",
        include_str!("../../../providers/github.toml"),
    ),
    (
        "google.toml",
        include_str!("../../../providers/google.toml"),
    ),
    (
        "hubspot.toml",
        include_str!("../../../providers/hubspot.toml"),
    ),
    (
        "intercom.toml",
        include_str!("../../../providers/intercom.toml"),
    ),
    (
        "linear.toml",
        include_str!("../../../providers/linear.toml"),
    ),
    (
        "microsoft.toml",
        include_str!("../../../providers/microsoft.toml"),
    ),
    (
        "notion.toml",
        include_str!("../../../providers/notion.toml"),
    ),
    (
        "pipedrive.toml",
        include_str!("../../../providers/pipedrive.toml"),
    ),
    (
        "quickbooks.toml",
        include_str!("../../../providers/quickbooks.toml"),
    ),
    (
        "salesforce.toml",
        include_str!("../../../providers/salesforce.toml"),
    ),
    (
        "shopify.toml",
        include_str!("../../../providers/shopify.toml"),
    ),
    ("slack.toml", include_str!("../../../providers/slack.toml")),
    ("xero.toml", include_str!("../../../providers/xero.toml")),
    (
        "zendesk.toml",
        include_str!("../../../providers/zendesk.toml"),
    ),
    ("zoom.toml", include_str!("../../../providers/zoom.toml")),
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("provider definition {file}: {message}")]
pub struct CatalogueError {
    pub file: String,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    providers: Vec<Arc<ProviderDefinition>>,
}

impl Catalogue {
    pub fn load(
        override_dir: Option<&Path>,
        policy: &OutboundPolicy,
    ) -> Result<Self, CatalogueError> {
        let mut providers: Vec<Arc<ProviderDefinition>> = Vec::new();
        for (file, text) in BUILT_IN {
            let def = parse(file, text, policy)?;
            providers.push(Arc::new(def));
        }
        if let Some(dir) = override_dir {
            let error = |message: String| CatalogueError {
                file: dir.display().to_string(),
                message,
            };
            let entries = std::fs::read_dir(dir).map_err(|e| {
                error(format!(
                    "cannot read the folder: {e} (check OAUTH_VAULT_PROVIDERS_DIR)"
                ))
            })?;
            let mut files: Vec<_> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            files.sort();
            for path in files {
                let name = path.display().to_string();
                let text = std::fs::read_to_string(&path).map_err(|e| CatalogueError {
                    file: name.clone(),
                    message: format!("cannot read: {e}"),
                })?;
                let def = Arc::new(parse(&name, &text, policy)?);
                match providers.iter_mut().find(|p| p.id == def.id) {
                    Some(slot) => *slot = def,
                    None => providers.push(def),
                }
            }
        }
        providers.sort_by_key(|a| a.name.to_lowercase());
        Ok(Self { providers })
    }

    pub fn get(&self, id: &str) -> Option<&Arc<ProviderDefinition>> {
        self.providers.iter().find(|p| p.id == id)
    }

    pub fn all(&self) -> &[Arc<ProviderDefinition>] {
        &self.providers
    }
}

/// Parses and validates one definition.
pub fn parse(
    file: &str,
    text: &str,
    policy: &OutboundPolicy,
) -> Result<ProviderDefinition, CatalogueError> {
    let fail = |message: String| CatalogueError {
        file: file.to_string(),
        message,
    };
    let def: ProviderDefinition =
        toml::from_str(text).map_err(|e| fail(e.to_string().trim().replace('\n', " ")))?;
    check_identity(&def)
        .and_then(|()| check_parameters(&def))
        .and_then(|()| check_urls(&def, policy))
        .and_then(|()| check_scopes(&def))
        .map_err(fail)?;
    Ok(def)
}

/// Its id, names and protocol settings.
fn check_identity(def: &ProviderDefinition) -> Result<(), String> {
    let id_ok = (1..=40).contains(&def.id.len())
        && def
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !id_ok {
        return Err(format!(
            "id '{}' must be 1-40 characters of a-z, 0-9, '-' or '_'",
            def.id
        ));
    }
    if def.id == CUSTOM_PROVIDER {
        return Err("id 'custom' is reserved for the Custom OAuth 2.0 template".into());
    }
    for (field, value) in [
        ("name", &def.name),
        ("category", &def.category),
        ("tagline", &def.tagline),
    ] {
        if value.trim().is_empty() {
            return Err(format!("{field} must not be empty"));
        }
    }
    if def.oauth.scope_separator.is_empty() {
        return Err("oauth.scope_separator must not be empty".into());
    }
    if def.tokens.fallback_lifetime_secs == 0 {
        return Err("tokens.fallback_lifetime_secs must be positive".into());
    }

    Ok(())
}

/// Every endpoint must pass the outbound rules.
fn check_urls(def: &ProviderDefinition, policy: &OutboundPolicy) -> Result<(), String> {
    let mut urls = vec![
        (
            "oauth.authorization_url",
            Some(&def.oauth.authorization_url),
        ),
        ("oauth.token_url", Some(&def.oauth.token_url)),
        ("oauth.revocation_url", def.oauth.revocation_url.as_ref()),
        (
            "oauth.introspection_url",
            def.oauth.introspection_url.as_ref(),
        ),
    ];
    if let Some(identity) = &def.identity {
        match identity.source {
            IdentitySource::Url => urls.push(("identity.url", Some(&identity.url))),
            IdentitySource::TokenResponse if !identity.url.is_empty() => {
                return Err(
                    "identity.url must be empty when identity.source is token_response".into(),
                )
            }
            IdentitySource::TokenResponse => {}
        }
        if identity.source == IdentitySource::TokenResponse
            && def.tokens.health_check == super::HealthCheck::Identity
        {
            return Err("tokens.health_check = \"identity\" needs an identity.url to call".into());
        }
        if identity.body.is_some() && identity.method != IdentityMethod::Post {
            return Err("identity.body needs identity.method = \"POST\"".into());
        }
    }
    if let Some(api) = &def.api {
        urls.push(("api.base_url", Some(&api.base_url)));
        let known = placeholders_known_at(def, "api.headers");
        for (name, value) in &api.headers {
            fill_with_examples(def, value, &known).map_err(|missing| {
                format!("api.headers.{name}: {{{missing}}} is not a value it may use")
            })?;
        }
    }
    for (field, url) in urls {
        let Some(url) = url else { continue };
        let known = placeholders_known_at(def, field);
        let example = fill_with_examples(def, url, &known)
            .map_err(|name| format!("{field} '{url}': {{{name}}} is not a parameter, token value or callback value it may use ({})", known.join(", ")))?;
        policy
            .check_endpoint(&example)
            .map_err(|why| format!("{field} '{url}': {why}"))?;
    }
    Ok(())
}

/// The placeholders a URL field may use: parameters everywhere; callback
/// values from the token request on; token values after the tokens came.
fn placeholders_known_at(def: &ProviderDefinition, field: &str) -> Vec<String> {
    let mut known: Vec<String> = def.parameters.iter().map(|p| p.name.clone()).collect();
    if field != "oauth.authorization_url" {
        known.extend(def.callback.values.iter().cloned());
    }
    if !matches!(field, "oauth.authorization_url" | "oauth.token_url") {
        known.extend(def.token_response.values.keys().cloned());
    }
    if field.starts_with("api.") {
        // the connected account's id (Xero's tenant)
        known.push("account_id".into());
    }
    known
}

/// `url` with each `{name}` replaced by an example of its value (a
/// parameter's example; for a value the provider returns, an https origin
/// where it starts the URL, else a word). `Err` names an unknown placeholder.
fn fill_with_examples(
    def: &ProviderDefinition,
    url: &str,
    known: &[String],
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = url;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| "an unclosed {".to_string())?;
        let name = &after[..close];
        if !known.iter().any(|k| k == name) {
            return Err(name.to_string());
        }
        let example = match def.parameters.iter().find(|p| p.name == name) {
            Some(p) => p.example.clone(),
            None if out.is_empty() => "https://values.example.com".to_string(),
            None => "value".to_string(),
        };
        out.push_str(&example);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Connection parameters: names, patterns (anchored, compiling, matching
/// their example and default), no clash with returned values.
fn check_parameters(def: &ProviderDefinition) -> Result<(), String> {
    let mut names = HashSet::new();
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.len() <= 40
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    for p in &def.parameters {
        if !valid_name(&p.name) {
            return Err(format!(
                "parameter '{}': names are a-z, 0-9 and '_'",
                p.name
            ));
        }
        if !names.insert(p.name.clone()) {
            return Err(format!("parameter '{}' appears twice", p.name));
        }
        if p.label.trim().is_empty() {
            return Err(format!("parameter '{}' needs a label", p.name));
        }
        if !p.pattern.starts_with('^') || !p.pattern.ends_with('$') {
            return Err(format!(
                "parameter '{}': the pattern must be anchored with ^…$",
                p.name
            ));
        }
        let pattern = regex::Regex::new(&p.pattern)
            .map_err(|e| format!("parameter '{}': the pattern does not compile: {e}", p.name))?;
        for (what, value) in [
            ("example", Some(&p.example)),
            ("default", p.default.as_ref()),
        ] {
            if let Some(value) = value {
                if !pattern.is_match(value) {
                    return Err(format!(
                        "parameter '{}': its {what} '{value}' does not match its pattern",
                        p.name
                    ));
                }
            }
        }
    }
    for name in def
        .token_response
        .values
        .keys()
        .chain(def.callback.values.iter())
    {
        if !valid_name(name) && !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("value '{name}': names are letters, digits and '_'"));
        }
        if !names.insert(name.clone()) {
            return Err(format!(
                "'{name}' is both a parameter and a returned value, or returned twice"
            ));
        }
    }
    Ok(())
}

/// Scope groups: one resource each, one read and one read-write scope at
/// most, every scope described once; defaults among them.
fn check_scopes(def: &ProviderDefinition) -> Result<(), String> {
    let mut seen = HashSet::new();
    for group in &def.scope_groups {
        if group.name.trim().is_empty() || group.scopes.is_empty() {
            return Err("every scope group needs a name and at least one scope".into());
        }
        for scope in &group.scopes {
            if scope.name.trim().is_empty() || scope.name.contains(char::is_whitespace) {
                return Err(format!("scope '{}' must be one word", scope.name));
            }
            if scope.description.trim().is_empty() {
                return Err(format!("scope '{}' needs a description", scope.name));
            }
            if !seen.insert(scope.name.as_str()) {
                return Err(format!("scope '{}' appears twice", scope.name));
            }
        }
    }
    for default in &def.default_scopes {
        if !seen.contains(default.as_str()) {
            return Err(format!(
                "default scope '{default}' is not in the scope groups"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "loader_tests.rs"]
mod tests;
