//! The catalogue's contract tests: every built-in provider definition, its
//! endpoints pointed at the fake provider set to that provider's quirks
//! (no PKCE, its own scope names and separator, its identity answer's shape,
//! values returned with the token or on the callback, a token header of its
//! own, no refresh tokens, rotating or not), runs through connect, identity,
//! refresh (or a health check), the proxy at its API base, and revocation
//! where it offers it.

use crate::common::fake_oauth::{self, FakeOAuth, Quirks};
use crate::common::{location, query_value, spawn_app_with, Backend, TestApp};
use app::catalogue::{
    IdentitySource, ProviderDefinition, RevocationAuth, SuppliedBy, TokenLifecycle,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

const RETURN_URL: &str = "https://app.example.com/done";
const ACCOUNT: &str = "acct-1";

mod every_provider_keeps_its_contract {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::every_provider_keeps_its_contract(crate::common::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::every_provider_keeps_its_contract(crate::common::Backend::Postgres).await;
    }
}

/// The built-in definitions, as files.
fn built_in() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("providers");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// The placeholders of `text`.
fn placeholders(text: &str) -> Vec<String> {
    text.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

/// `url` pointed at the fake: the endpoint `kind` (`authorize`, `token`,
/// `revoke`, `introspect`, `userinfo`) with the URL's placeholders kept as
/// query parameters, or for the API the fake's `/api` with the original
/// path (a placeholder in the host becomes a path segment). A URL that starts
/// with a returned value keeps it (the fake's address is returned).
fn rewrite(url: &str, fake: &str, kind: &str) -> String {
    if url.starts_with('{') {
        let close = url.find('}').unwrap() + 1;
        let (head, path) = url.split_at(close);
        return if kind == "api" {
            format!("{head}/api{path}")
        } else {
            format!("{head}/{kind}")
        };
    }
    let rest = url.trim_start_matches("https://");
    let (host, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if kind == "api" {
        let segments: String = placeholders(host)
            .iter()
            .map(|p| format!("/{{{p}}}"))
            .collect();
        return format!("{fake}/api{segments}{path}");
    }
    let kept: Vec<String> = placeholders(url)
        .iter()
        .map(|p| format!("p_{p}={{{p}}}"))
        .collect();
    if kept.is_empty() {
        format!("{fake}/{kind}")
    } else {
        format!("{fake}/{kind}?{}", kept.join("&"))
    }
}

/// The definition's text with every endpoint on the fake.
fn pointed_at(text: &str, fake: &str) -> String {
    text.lines()
        .map(|line| {
            let kinds = [
                ("authorization_url = \"", "authorize"),
                ("token_url = \"", "token"),
                ("revocation_url = \"", "revoke"),
                ("introspection_url = \"", "introspect"),
                ("url = \"", "userinfo"),
                ("base_url = \"", "api"),
            ];
            for (prefix, kind) in kinds {
                if let Some(value) = line.strip_prefix(prefix) {
                    let url = value.trim_end_matches('"');
                    return format!("{prefix}{}\"", rewrite(url, fake, kind));
                }
            }
            line.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A JSON document with `value` at dotted `path` (array elements by index).
fn put(doc: &mut Value, path: &str, value: Value) {
    let mut current = doc;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        current = match part.parse::<usize>() {
            Ok(index) => {
                if !current.is_array() {
                    *current = json!([]);
                }
                let items = current.as_array_mut().unwrap();
                while items.len() <= index {
                    items.push(json!({}));
                }
                &mut items[index]
            }
            Err(_) => {
                if !current.is_object() {
                    *current = json!({});
                }
                let map = current.as_object_mut().unwrap();
                map.entry(part.to_string()).or_insert(json!({}))
            }
        };
        if last {
            *current = value.clone();
        }
    }
}

/// The account as the provider's identity answer (or token answer) names it.
fn identity_document(def: &ProviderDefinition) -> Value {
    let mut doc = json!({});
    let Some(identity) = &def.identity else {
        return doc;
    };
    put(&mut doc, &identity.account_id, json!(ACCOUNT));
    for (path, value) in [
        (&identity.account_name, "Acme"),
        (&identity.account_slug, "acme"),
    ] {
        if let Some(path) = path {
            put(&mut doc, path, json!(value));
        }
    }
    if let Some(active) = &identity.active {
        put(&mut doc, active, json!(true));
    }
    doc
}

async fn every_provider_keeps_its_contract(backend: Backend) {
    let fake = FakeOAuth::start().await;
    let dir = tempfile::tempdir().unwrap();
    let files = built_in();
    assert!(files.len() >= 21, "at least 21 providers");
    let mut definitions = Vec::new();
    for (name, text) in &files {
        let pointed = pointed_at(text, &fake.address);
        std::fs::write(dir.path().join(name), &pointed).unwrap();
        definitions.push(parse(name, &pointed, &fake.host()));
    }
    let dir_text = dir.path().display().to_string();
    let host = fake.host();
    let vars = [
        ("OAUTH_VAULT_PROVIDERS_DIR", dir_text.as_str()),
        ("OAUTH_VAULT_ALLOWED_HOSTS", host.as_str()),
    ];
    let Some(app) = spawn_app_with(backend, &vars).await else {
        return;
    };
    let (app_id, key) = app.developer_app("Catalogue", RETURN_URL).await;
    for def in &definitions {
        run(&app, &fake, &app_id, &key, def).await;
    }
    app.stop().await;
}

fn parse(name: &str, text: &str, host: &str) -> ProviderDefinition {
    let policy = app::catalogue::urls::OutboundPolicy::new(vec![host.to_string()]);
    app::catalogue::loader::parse(name, text, &policy)
        .unwrap_or_else(|e| panic!("{name} pointed at the fake: {e}\n{text}"))
}

/// One provider through the whole contract.
async fn run(app: &TestApp, fake: &FakeOAuth, app_id: &str, key: &str, def: &ProviderDefinition) {
    let id = &def.id;
    // the fake behaves like this provider
    let identity = identity_document(def);
    let from_token = def
        .identity
        .as_ref()
        .is_some_and(|i| i.source == IdentitySource::TokenResponse);
    fake.set_quirks(Quirks {
        no_pkce: !def.oauth.pkce,
        any_scope: true,
        identity: (!from_token).then(|| identity.clone()),
        token_header: def.api.as_ref().and_then(|a| a.token_header.clone()),
        bearer_revocation: def.oauth.revocation_auth == RevocationAuth::Bearer,
    });
    let mut extra = if from_token {
        identity.clone()
    } else {
        json!({})
    };
    for (name, path) in &def.token_response.values {
        put(&mut extra, path, json!(fake.address));
        let _ = name;
    }
    fake.set_extra_token_fields(extra);
    let callback: Vec<(&str, &str)> = def
        .callback
        .values
        .iter()
        .map(|v| (v.as_str(), "cb1"))
        .collect();
    fake.set_extra_callback(&callback);
    // where the provider names itself on the callback, it names its issuer
    fake.set_iss_in_answers(def.oauth.issuer.as_deref());
    let long_lived = def.tokens.lifecycle == TokenLifecycle::LongLived;
    fake.set_refresh_token_in_response(!long_lived);
    fake.set_expires_in((!long_lived).then_some(3600));
    fake.set_rotate(def.tokens.lifecycle == TokenLifecycle::RotatingRefresh);

    // the developer configures it
    let form = format!("/apps/{app_id}/providers/new/{id}");
    let mut fields: Vec<(String, String)> = vec![
        ("client_id".into(), fake_oauth::CLIENT_ID.into()),
        ("client_secret".into(), fake_oauth::CLIENT_SECRET.into()),
    ];
    fields.extend(
        def.default_scopes
            .iter()
            .map(|s| ("scopes".to_string(), s.clone())),
    );
    for p in def
        .parameters
        .iter()
        .filter(|p| p.supplied_by == SuppliedBy::Developer)
    {
        fields.push((format!("param_{}", p.name), p.example.clone()));
    }
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let res = app.submit(&form, &form, &borrowed).await;
    let status = res.status();
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "{id}: configuration: {}",
        res.text().await.unwrap_or_default()
    );
    let config = location(&res).rsplit('/').next().unwrap().to_string();

    // an end user connects
    let res = app
        .client
        .post(app.url("/v1/connect/sessions"))
        .bearer_auth(key)
        .json(&json!({ "end_user_id": format!("user-{id}"), "providers": [id], "return_url": RETURN_URL }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED, "{id}: session");
    let session: Value = res.json().await.unwrap();
    let path = session["connect_url"]
        .as_str()
        .unwrap()
        .trim_start_matches(&app.address)
        .to_string();
    let user = app.second_browser();
    let mut connect: Vec<(String, String)> = vec![("provider_config".into(), config.clone())];
    for p in def
        .parameters
        .iter()
        .filter(|p| p.supplied_by == SuppliedBy::EndUser)
    {
        connect.push((format!("param_{}", p.name), p.example.clone()));
    }
    let borrowed: Vec<(&str, &str)> = connect
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let res = user.submit(&path, &path, &borrowed).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{id}: connect page");
    let authorize = location(&res);
    for (name, value) in def.parameters.iter().map(|p| (&p.name, &p.example)) {
        if def.oauth.authorization_url.contains(&format!("{{{name}}}")) {
            assert!(
                authorize.contains(&format!("p_{name}={value}")),
                "{id}: {name} in {authorize}"
            );
        }
    }
    for (k, v) in &def.oauth.extra_authorize_params {
        assert!(
            query_value(&authorize, k).as_deref() == Some(v.as_str()),
            "{id}: the extra parameter {k} in {authorize}"
        );
    }
    let res = user.client.get(&authorize).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND, "{id}: the fake approves");
    let callback = location(&res);
    let res = user.client.get(&callback).send().await.unwrap();
    let back = location(&res);
    assert_eq!(
        query_value(&back, "status").as_deref(),
        Some("success"),
        "{id}: {back}"
    );
    let connection = query_value(&back, "connection_id").unwrap();

    // identity
    let (account,): (Option<String>,) =
        sqlx::query_as("SELECT account_id FROM connections WHERE id = $1")
            .bind(&connection)
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    if def.identity.is_some() {
        assert_eq!(account.as_deref(), Some(ACCOUNT), "{id}: the account");
    }

    // a token, then a refresh or a health check
    let token = |force: bool| {
        let url = app.url(&format!(
            "/v1/connections/{connection}/access-token?force_refresh={force}"
        ));
        app.client.get(url).bearer_auth(key).send()
    };
    assert_eq!(
        token(false).await.unwrap().status(),
        StatusCode::OK,
        "{id}: token"
    );
    if long_lived {
        let checked = app::services::tokens::health_check(&app.state, &connection).await;
        assert!(checked.is_ok(), "{id}: health check: {checked:?}");
    } else {
        let before = fake.refresh_requests();
        let res = token(true).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{id}: refresh");
        assert_eq!(
            fake.refresh_requests(),
            before + 1,
            "{id}: refreshed at the provider"
        );
    }

    // the proxy, at the connection's API base
    if let Some(api) = &def.api {
        let res = app
            .client
            .get(app.url(&format!("/v1/proxy/{connection}/ping")))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{id}: proxy");
        let call = fake.api_requests().pop().unwrap();
        assert!(call.path.ends_with("/ping"), "{id}: {}", call.path);
        for (name, value) in &api.headers {
            let expected = value.replace("{account_id}", ACCOUNT);
            assert_eq!(
                call.header(&name.to_ascii_lowercase()),
                Some(expected.as_str()),
                "{id}: {name}"
            );
        }
    }

    // revocation where the provider offers it
    let revocable = def.oauth.revocation_url.is_some();
    let before = fake.revocations().len();
    let res = app
        .client
        .delete(app.url(&format!("/v1/connections/{connection}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{id}: disconnect");
    if revocable {
        for _ in 0..50 {
            if fake.revocations().len() > before {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        }
        assert!(
            fake.revocations().len() > before,
            "{id}: revoked at the provider"
        );
        let messages: Vec<String> =
            sqlx::query_scalar("SELECT message FROM connection_events WHERE connection_id = $1")
                .bind(&connection)
                .fetch_all(app.state.db.pool())
                .await
                .unwrap();
        assert!(
            messages
                .iter()
                .any(|m| m.contains("revoked at the provider")),
            "{id}: the provider confirmed: {messages:?}"
        );
    }
}
