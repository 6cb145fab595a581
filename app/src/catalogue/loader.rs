//! Loading and validating the provider catalogue: the definitions built into
//! the binary (`providers/*.toml` in the repository), then the operator's
//! folder (`OAUTH_VAULT_PROVIDERS_DIR`), whose files add providers or replace
//! built-in ones with the same id. Any mistake stops start-up with the file
//! and the field at fault.

use super::{urls::OutboundPolicy, Access, ProviderDefinition, CUSTOM_PROVIDER};
use std::{collections::HashSet, path::Path, sync::Arc};

/// Definitions compiled into the binary: (file name, contents).
const BUILT_IN: &[(&str, &str)] = &[("attio.toml", include_str!("../../../providers/attio.toml"))];

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
        ("logo", &def.logo),
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
        urls.push(("identity.url", Some(&identity.url)));
    }
    if let Some(api) = &def.api {
        urls.push(("api.base_url", Some(&api.base_url)));
    }
    for (field, url) in urls {
        if let Some(url) = url {
            policy
                .check_endpoint(url)
                .map_err(|why| format!("{field} '{url}': {why}"))?;
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
        for access in [Access::Read, Access::ReadWrite] {
            if group.scopes.iter().filter(|s| s.access == access).count() > 1 {
                return Err(format!(
                    "scope group '{}' has more than one {access:?} scope; one resource per group",
                    group.name
                ));
            }
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::catalogue::{ClientAuth, HealthCheck, TokenLifecycle};

    fn builtin() -> Catalogue {
        Catalogue::load(None, &OutboundPolicy::default()).unwrap()
    }

    #[test]
    fn attio_carries_its_documented_facts() {
        let catalogue = builtin();
        let attio = catalogue.get("attio").unwrap();
        assert_eq!(attio.name, "Attio");
        assert_eq!(attio.category, "CRM");
        assert_eq!(
            attio.oauth.authorization_url,
            "https://app.attio.com/authorize"
        );
        assert_eq!(attio.oauth.token_url, "https://app.attio.com/oauth/token");
        assert_eq!(
            attio.oauth.introspection_url.as_deref(),
            Some("https://app.attio.com/oauth/introspect")
        );
        assert_eq!(attio.oauth.revocation_url, None);
        assert!(!attio.oauth.scopes_in_authorize);
        assert!(attio.oauth.pkce);
        assert_eq!(attio.oauth.client_auth, ClientAuth::Body);
        let identity = attio.identity.as_ref().unwrap();
        assert_eq!(identity.url, "https://api.attio.com/v2/self");
        assert_eq!(identity.account_id, "workspace_id");
        assert_eq!(identity.account_name.as_deref(), Some("workspace_name"));
        assert_eq!(
            attio.api.as_ref().unwrap().base_url,
            "https://api.attio.com/v2"
        );
        assert_eq!(attio.tokens.lifecycle, TokenLifecycle::LongLived);
        assert_eq!(attio.tokens.health_check, HealthCheck::Identity);
        assert_eq!(attio.display.pkce, "Supported");
        assert_eq!(attio.display.token_refresh, "Automatic");
        assert_eq!(
            attio.default_scopes,
            vec!["record_permission:read", "list_entry:read"]
        );
        assert_eq!(attio.setup_steps.len(), 5);
    }

    #[test]
    fn attio_lists_the_twelve_page_scopes_in_their_groups_and_the_rest() {
        let catalogue = builtin();
        let attio = catalogue.get("attio").unwrap();
        for (group, scope) in [
            ("Records", "record_permission:read"),
            ("Records", "record_permission:read-write"),
            ("List Entries", "list_entry:read"),
            ("List Entries", "list_entry:read-write"),
            ("Notes", "note:read"),
            ("Notes", "note:read-write"),
            ("Tasks", "task:read"),
            ("Tasks", "task:read-write"),
            ("User Management", "user_management:read"),
            ("Webhooks", "webhook:read-write"),
            ("Object Configuration", "object_configuration:read"),
            ("Object Configuration", "object_configuration:read-write"),
        ] {
            let g = attio.scope_groups.iter().find(|g| g.name == group).unwrap();
            assert!(g.scopes.iter().any(|s| s.name == scope), "{scope}");
        }
        for extra in [
            "user_management:read-write",
            "webhook:read",
            "list_configuration:read",
            "public_collection:read-write",
            "private_collection:read",
            "comment:read",
            "meeting:read-write",
            "call_recording:read",
            "file:read-write",
            "scim_management:read",
        ] {
            assert!(attio.scope(extra).is_some(), "{extra}");
        }
    }

    #[test]
    fn read_write_includes_read_and_unknown_scopes_are_refused() {
        let catalogue = builtin();
        let attio = catalogue.get("attio").unwrap();
        let picked = attio
            .normalise_scopes(&["note:read-write".into(), "record_permission:read".into()])
            .unwrap();
        assert_eq!(
            picked,
            vec!["record_permission:read", "note:read", "note:read-write"]
        );
        assert_eq!(
            attio.normalise_scopes(&["admin:everything".into()]),
            Err(vec!["admin:everything".to_string()])
        );
    }

    #[test]
    fn invalid_definitions_name_the_file_and_field() {
        let policy = OutboundPolicy::default();
        let attio = BUILT_IN[0].1;
        let cases = [
            (
                attio.replace("id = \"attio\"", "id = \"Bad Id\""),
                "id 'Bad Id'",
            ),
            (
                attio.replace(
                    "https://app.attio.com/oauth/token",
                    "http://app.attio.com/oauth/token",
                ),
                "oauth.token_url",
            ),
            (
                attio.replace("name = \"Attio\"", "nmae = \"Attio\""),
                "unknown field",
            ),
            (
                attio.replace(
                    "default_scopes = [\"record_permission:read\"",
                    "default_scopes = [\"nope:read\"",
                ),
                "default scope 'nope:read'",
            ),
        ];
        for (text, expected) in cases {
            let err = parse("x.toml", &text, &policy).unwrap_err();
            assert_eq!(err.file, "x.toml");
            assert!(err.message.contains(expected), "{err}");
        }
    }

    #[test]
    fn the_override_folder_adds_and_replaces_definitions() {
        let dir = tempfile::tempdir().unwrap();
        let local = BUILT_IN[0]
            .1
            .replace("https://app.attio.com", "http://127.0.0.1:9999")
            .replace("https://api.attio.com", "http://127.0.0.1:9999");
        std::fs::write(dir.path().join("attio.toml"), local).unwrap();
        let policy = OutboundPolicy::new(vec!["127.0.0.1:9999".into()]);
        let catalogue = Catalogue::load(Some(dir.path()), &policy).unwrap();
        assert_eq!(catalogue.all().len(), 1);
        assert_eq!(
            catalogue.get("attio").unwrap().oauth.token_url,
            "http://127.0.0.1:9999/oauth/token"
        );
        // without the allow-list, the same file is refused
        let err = Catalogue::load(Some(dir.path()), &OutboundPolicy::default()).unwrap_err();
        assert!(err.message.contains("oauth.authorization_url"), "{err}");
    }
}
