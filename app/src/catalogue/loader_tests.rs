//! Tests of `loader`.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::catalogue::{ClientAuth, HealthCheck, TokenLifecycle};

fn builtin_text(file: &str) -> &'static str {
    BUILT_IN.iter().find(|(f, _)| *f == file).unwrap().1
}

fn builtin() -> Catalogue {
    Catalogue::load(None, &OutboundPolicy::default()).unwrap()
}

#[test]
fn every_built_in_definition_loads() {
    let policy = OutboundPolicy::default();
    let problems: Vec<String> = BUILT_IN
        .iter()
        .filter_map(|(file, text)| parse(file, text, &policy).err())
        .map(|e| e.to_string())
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(BUILT_IN.len() >= 21, "at least 21 providers");
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
    let attio = builtin_text("attio.toml");
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
    let local = builtin_text("attio.toml")
        .replace("https://app.attio.com", "http://127.0.0.1:9999")
        .replace("https://api.attio.com", "http://127.0.0.1:9999");
    std::fs::write(dir.path().join("attio.toml"), local).unwrap();
    let policy = OutboundPolicy::new(vec!["127.0.0.1:9999".into()]);
    let catalogue = Catalogue::load(Some(dir.path()), &policy).unwrap();
    assert_eq!(catalogue.all().len(), BUILT_IN.len(), "replaced, not added");
    assert_eq!(
        catalogue.get("attio").unwrap().oauth.token_url,
        "http://127.0.0.1:9999/oauth/token"
    );
    // without the allow-list, the same file is refused
    let err = Catalogue::load(Some(dir.path()), &OutboundPolicy::default()).unwrap_err();
    assert!(err.message.contains("oauth.authorization_url"), "{err}");
}

/// A definition with a connection parameter, a returned value and a
/// callback value, as a Zendesk- or Salesforce-like provider needs.
const TEMPLATED: &str = r#"
id = "acme"
name = "Acme"
category = "Support"
tagline = "A test provider."

[[parameters]]
name = "subdomain"
label = "Acme subdomain"
pattern = "^[a-z0-9][a-z0-9-]{0,62}$"
example = "shop"
supplied_by = "end_user"

[oauth]
authorization_url = "https://{subdomain}.acme.example/oauth/authorize"
token_url = "https://{subdomain}.acme.example/oauth/token?realm={realm}"
client_auth = "basic"

[token_response]
values = { instance_url = "instance_url" }

[callback]
values = ["realm"]

[identity]
url = "{instance_url}/me"
account_id = "id"

[api]
base_url = "{instance_url}/api/{realm}"

[tokens]
lifecycle = "refresh"

[display]
pkce = "Supported"
token_refresh = "Automatic"
"#;

#[test]
fn templates_use_only_what_is_known_when_they_are_called() {
    let policy = OutboundPolicy::default();
    let def = parse("acme.toml", TEMPLATED, &policy).unwrap();
    assert_eq!(
        def.parameters[0].supplied_by,
        crate::catalogue::SuppliedBy::EndUser
    );
    assert_eq!(def.token_response.access_token, "access_token");
    let cases = [
        // a returned value is not known when the user is sent away
        (
            TEMPLATED.replace("/oauth/authorize", "/oauth/authorize?x={instance_url}"),
            "{instance_url} is not a parameter",
        ),
        (TEMPLATED.replace("{realm}\"", "{nope}\""), "{nope}"),
        (
            TEMPLATED.replace("^[a-z0-9][a-z0-9-]{0,62}$", "[a-z]+"),
            "anchored",
        ),
        (
            TEMPLATED.replace("^[a-z0-9][a-z0-9-]{0,62}$", "^[a-z+$"),
            "does not compile",
        ),
        (
            TEMPLATED.replace("example = \"shop\"", "example = \"Shop.evil\""),
            "does not match",
        ),
        (
            TEMPLATED.replace("values = [\"realm\"]", "values = [\"subdomain\"]"),
            "both a parameter",
        ),
        (
            TEMPLATED.replace("supplied_by = \"end_user\"", "supplied_by = \"anyone\""),
            "supplied_by",
        ),
        (
            TEMPLATED.replace("[identity]\n", "[identity]\nsource = \"token_response\"\n"),
            "identity.url must be empty",
        ),
    ];
    for (text, expected) in cases {
        let err = parse("acme.toml", &text, &policy).unwrap_err();
        assert_eq!(err.file, "acme.toml");
        assert!(err.message.contains(expected), "{expected}: {err}");
    }
}
