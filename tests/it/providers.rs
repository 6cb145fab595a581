//! OAuth Providers of an app: the catalogue, Attio and Custom OAuth 2.0
//! configurations, validation, secrets at rest, isolation, the docs page.
use crate::common;

use common::{spawn_app_with, Backend, TestApp};
use reqwest::StatusCode;
use secrecy::ExposeSecret;

const SECRET: &str = "attio-secret-value-0123456789-WXYZ";

on_both_databases!(
    attio_form_shows_properties_steps_and_scopes,
    attio_configuration_is_saved_encrypted_and_shown_active,
    bad_provider_input_is_rejected_and_kept,
    a_second_attio_configuration_is_refused,
    edit_keeps_a_blank_secret_disable_enable_and_delete,
    custom_oauth_provider_is_validated_and_saved,
    another_organisations_providers_answer_404,
    attio_docs_page_is_public,
    the_catalogue_is_searched_and_filtered_and_every_provider_has_docs,
);

/// Add Provider: search by name or category, filter by category; every
/// catalogue provider has a public docs page, a monogram and its form.
async fn the_catalogue_is_searched_and_filtered_and_every_provider_has_docs(app: TestApp) {
    let app_id = signed_in_app(&app).await;
    let page = format!("/apps/{app_id}/providers/new");
    let html = app.get(&page).await.text().await.unwrap();
    let ids = [
        "attio",
        "google",
        "microsoft",
        "github",
        "slack",
        "hubspot",
        "salesforce",
        "notion",
        "linear",
        "atlassian",
        "asana",
        "airtable",
        "dropbox",
        "zoom",
        "intercom",
        "pipedrive",
        "zendesk",
        "xero",
        "quickbooks",
        "shopify",
        "calendly",
    ];
    for id in ids {
        assert!(
            html.contains(&format!("data-provider=\"{id}\"")),
            "{id} in the catalogue"
        );
    }
    assert!(
        html.contains("class=\"monogram"),
        "monograms instead of vendor logos"
    );
    let html = app
        .get(&format!("{page}?q=zen"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("data-provider=\"zendesk\"") && !html.contains("data-provider=\"google\"")
    );
    let html = app
        .get(&format!("{page}?category=Accounting"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("data-provider=\"xero\"") && html.contains("data-provider=\"quickbooks\"")
    );
    assert!(!html.contains("data-provider=\"slack\""));
    let html = app
        .get(&format!("{page}?q=nothing-like-this"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("No provider matches"));
    for id in ids {
        let res = app.get(&format!("/docs/providers/{id}")).await;
        assert_eq!(res.status(), StatusCode::OK, "docs of {id}");
        let res = app.get(&format!("{page}/{id}")).await;
        assert_eq!(res.status(), StatusCode::OK, "form of {id}");
    }
    // a developer parameter is asked on the form, and checked
    let form = format!("{page}/microsoft");
    let html = app.get(&form).await.text().await.unwrap();
    assert!(html.contains("param_tenant"), "the tenant is asked");
    let res = app
        .submit(
            &form,
            &form,
            &[
                ("client_id", "id"),
                ("client_secret", "secret"),
                ("param_tenant", "evil.com/x"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("provider_configs").await, 0, "nothing saved");
}

async fn signed_in_app(app: &TestApp) -> String {
    app.sign_up("dev@example.com", "correct horse battery")
        .await;
    let res = app.submit("/apps", "/apps", &[("name", "Acme")]).await;
    res.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("/apps/")
        .to_string()
}

async fn add_attio(app: &TestApp, app_id: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let page = format!("/apps/{app_id}/providers/new/attio");
    app.submit(&page, &page, fields).await
}

/// Saves an Attio configuration; returns its page and its id.
async fn saved_attio(app: &TestApp, app_id: &str) -> (String, String) {
    let fields = [
        ("client_id", "one"),
        ("client_secret", SECRET),
        ("scopes", "note:read"),
    ];
    let res = add_attio(app, app_id, &fields).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let detail = res.headers()["location"].to_str().unwrap().to_string();
    let config_id = detail.rsplit('/').next().unwrap().to_string();
    (detail, config_id)
}

async fn attio_form_shows_properties_steps_and_scopes(app: TestApp) {
    let app_id = signed_in_app(&app).await;
    let catalogue = app
        .get(&format!("/apps/{app_id}/providers/new"))
        .await
        .text()
        .await
        .unwrap();
    assert!(catalogue.contains("Attio"));
    assert!(catalogue.contains("CRM"));
    assert!(catalogue.contains("Custom OAuth 2.0"));

    let html = app
        .get(&format!("/apps/{app_id}/providers/new/attio"))
        .await
        .text()
        .await
        .unwrap();
    let redirect = format!("{}/oauth/callback", app.address);
    for expected in [
        "<code>attio</code>",
        "CRM",
        "Supported",
        "Automatic",
        redirect.as_str(),
        "Client ID",
        "Client Secret",
        "Records",
        "List Entries",
        "Object Configuration",
        "Read access to records (people, companies, etc.)",
        "Create and manage webhooks",
        "Attio compares it exactly",
        "checks every connection's granted scopes",
    ] {
        assert!(html.contains(expected), "missing {expected}");
    }
    // recommended defaults are pre-ticked, others not
    assert!(
        html.contains(r#"value="record_permission:read" checked"#),
        "default ticked"
    );
    assert!(html.contains(r#"value="list_entry:read" checked"#));
    assert!(!html.contains(r#"value="note:read" checked"#));
}

async fn attio_configuration_is_saved_encrypted_and_shown_active(app: TestApp) {
    let app_id = signed_in_app(&app).await;
    let res = add_attio(
        &app,
        &app_id,
        &[
            ("client_id", "attio-client-id"),
            ("client_secret", SECRET),
            ("scopes", "record_permission:read"),
            ("scopes", "list_entry:read"),
            ("scopes", "note:read-write"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let detail = res.headers()["location"].to_str().unwrap().to_string();
    assert!(detail.starts_with(&format!("/apps/{app_id}/providers/pc_")));

    let html = app.get(&detail).await.text().await.unwrap();
    assert!(html.contains("Active"));
    assert!(html.contains("attio-client-id"));
    assert!(html.contains("••••WXYZ"));
    assert!(!html.contains(SECRET), "the secret never reaches HTML");
    // read-write includes read: note:read is part of the selection
    assert!(html.contains("record_permission:read list_entry:read note:read note:read-write"));

    // at rest: sealed, and bound to its row
    let config_id = detail.rsplit('/').next().unwrap();
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT client_secret FROM provider_configs")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert!(!sealed.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
    let aad = app::infra::crypto::Aad::new("provider_configs", "client_secret", config_id);
    assert_eq!(
        app.state
            .keyring
            .decrypt_string(&sealed, aad)
            .unwrap()
            .expose_secret(),
        SECRET
    );
    let other_row = app::infra::crypto::Aad::new("provider_configs", "client_secret", "pc_other");
    assert!(app.state.keyring.decrypt(&sealed, other_row).is_err());

    if app.state.db.kind() == app::infra::db::DbKind::Sqlite {
        app.state.db.close().await;
        let mut bytes = std::fs::read(app.data_dir.path().join("vault.db")).unwrap();
        if let Ok(wal) = std::fs::read(app.data_dir.path().join("vault.db-wal")) {
            bytes.extend(wal);
        }
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "no plaintext in the database file"
        );
    }
}

async fn bad_provider_input_is_rejected_and_kept(app: TestApp) {
    let app_id = signed_in_app(&app).await;
    let res = add_attio(
        &app,
        &app_id,
        &[
            ("client_id", ""),
            ("client_secret", ""),
            ("scopes", "note:read"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("Enter the Client ID"));
    assert!(html.contains("Enter the Client Secret"));
    assert!(
        html.contains(r#"value="note:read" checked"#),
        "ticked scopes kept"
    );

    // a tampered form with a scope that is not in the catalogue
    let res = add_attio(
        &app,
        &app_id,
        &[
            ("client_id", "kept-client-id"),
            ("client_secret", SECRET),
            ("scopes", "admin:everything"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("Not a scope of Attio: admin:everything"));
    assert!(html.contains(r#"value="kept-client-id""#), "input kept");
    assert!(!html.contains(SECRET), "the secret is never echoed");

    let res = add_attio(
        &app,
        &app_id,
        &[("client_id", "id"), ("client_secret", SECRET)],
    )
    .await;
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Select at least one scope"));

    let too_long = "x".repeat(513);
    let res = add_attio(
        &app,
        &app_id,
        &[
            ("client_id", &too_long),
            ("client_secret", SECRET),
            ("scopes", "note:read"),
        ],
    )
    .await;
    assert!(res.text().await.unwrap().contains("at most 512 characters"));

    let configs = app.count("provider_configs").await;
    assert_eq!(configs, 0, "nothing saved");
}

async fn a_second_attio_configuration_is_refused(app: TestApp) {
    let app_id = signed_in_app(&app).await;
    let fields = [
        ("client_id", "one"),
        ("client_secret", SECRET),
        ("scopes", "note:read"),
    ];
    assert_eq!(
        add_attio(&app, &app_id, &fields).await.status(),
        StatusCode::SEE_OTHER
    );
    let res = add_attio(&app, &app_id, &fields).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Attio is already configured for this app"));
    let configs = app.count("provider_configs").await;
    assert_eq!(configs, 1);
}

async fn edit_keeps_a_blank_secret_disable_enable_and_delete(app: TestApp) {
    let app_id = signed_in_app(&app).await;
    let (detail, config_id) = saved_attio(&app, &app_id).await;

    let res = app
        .submit(
            &detail,
            &detail,
            &[
                ("_action", "update"),
                ("client_id", "two"),
                ("client_secret", ""),
                ("scopes", "task:read"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = app.get(&detail).await.text().await.unwrap();
    assert!(html.contains(r#"data-testid="client-id">two<"#), "{html}");
    assert!(html.contains(r#"value="task:read" checked"#));
    assert!(!html.contains(r#"value="note:read" checked"#));
    let secret =
        app::store::provider_configs::client_secret(&app.state.db, &app.state.keyring, &config_id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        secret.expose_secret(),
        SECRET,
        "blank secret keeps the old one"
    );

    app.submit(&detail, &detail, &[("_action", "disable")])
        .await;
    assert!(app
        .get(&detail)
        .await
        .text()
        .await
        .unwrap()
        .contains(">Disabled<"));
    app.submit(&detail, &detail, &[("_action", "enable")]).await;
    assert!(app
        .get(&detail)
        .await
        .text()
        .await
        .unwrap()
        .contains(">Active<"));

    let html = app.get(&detail).await.text().await.unwrap();
    assert!(html.contains("It has no connections"));
    let res = app.submit(&detail, &detail, &[("_action", "delete")]).await;
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "confirmation required"
    );
    let res = app
        .submit(
            &detail,
            &detail,
            &[("_action", "delete"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get(&detail).await.status(), StatusCode::NOT_FOUND);
}

fn custom_fields(token_url: &str) -> Vec<(&str, &str)> {
    vec![
        ("display_name", "Acme Identity"),
        ("slug", "acme-idp"),
        (
            "authorization_url",
            "https://idp.acme.example/oauth/authorize",
        ),
        ("token_url", token_url),
        ("revocation_url", ""),
        ("introspection_url", ""),
        ("userinfo_url", "https://idp.acme.example/userinfo"),
        ("scope_list", "openid profile, offline_access"),
        ("scope_separator", "space"),
        ("client_auth", "basic"),
        ("pkce", "on"),
        ("client_id", "acme-client"),
        ("client_secret", SECRET),
    ]
}

async fn custom_oauth_provider_is_validated_and_saved(app: TestApp) {
    let app_id = signed_in_app(&app).await;
    let page = format!("/apps/{app_id}/providers/new/custom");
    for (bad, message) in [
        (
            "http://idp.acme.example/oauth/token",
            "plain http is refused",
        ),
        ("https://10.0.0.5/oauth/token", "The host must be public"),
        ("not a url", "Enter a full URL"),
    ] {
        let res = app.submit(&page, &page, &custom_fields(bad)).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let html = res.text().await.unwrap();
        assert!(html.contains(message), "{bad}: {message}");
        assert!(html.contains("Acme Identity"), "input kept");
    }
    let res = app
        .submit(
            &page,
            &page,
            &custom_fields("https://idp.acme.example/oauth/token"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let detail = res.headers()["location"].to_str().unwrap().to_string();
    let html = app.get(&detail).await.text().await.unwrap();
    assert!(html.contains("Acme Identity"));
    assert!(html.contains("<code>acme-idp</code>"));
    assert!(html.contains("openid profile offline_access"));
    assert!(!html.contains(SECRET));
}

async fn another_organisations_providers_answer_404(app: TestApp) {
    let app_id = signed_in_app(&app).await;
    let (detail, config_id) = saved_attio(&app, &app_id).await;

    let intruder = app.second_browser();
    intruder
        .sign_up("intruder@example.com", "another good passphrase")
        .await;
    for page in [
        format!("/apps/{app_id}/providers/new"),
        format!("/apps/{app_id}/providers/new/attio"),
        detail.clone(),
    ] {
        let res = intruder
            .client
            .get(format!("{}{page}", intruder.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{page}");
        assert!(!res.text().await.unwrap().contains("one<"), "{page}");
    }
    for (action, fields) in [
        (
            detail.clone(),
            vec![("_action", "delete"), ("confirm", "yes")],
        ),
        (detail.clone(), vec![("_action", "disable")]),
        (
            format!("/apps/{app_id}/providers/new/custom"),
            custom_fields("https://idp.acme.example/token"),
        ),
    ] {
        let res = intruder.submit("/apps", &action, &fields).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{action}");
    }
    for (endpoint, form) in [
        (
            "/api/providers/detail",
            vec![
                ("app_id", app_id.as_str()),
                ("config_id", config_id.as_str()),
            ],
        ),
        (
            "/api/providers/catalogue",
            vec![("app_id", app_id.as_str())],
        ),
        (
            "/api/providers/form",
            vec![("app_id", app_id.as_str()), ("provider", "attio")],
        ),
    ] {
        let res = intruder
            .client
            .post(format!("{}{endpoint}", intruder.address))
            .header("origin", &intruder.address)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(!res.status().is_success(), "{endpoint}");
        assert!(
            !res.text().await.unwrap().contains("\"client_id\""),
            "{endpoint}"
        );
    }
    let configs = app.count("provider_configs WHERE status = 'active'").await;
    assert_eq!(configs, 1, "nothing changed");
}

async fn attio_docs_page_is_public(app: TestApp) {
    let res = app.get("/docs/providers/attio").await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    for expected in [
        "Attio",
        "CRM",
        "record_permission:read",
        "recommended",
        "Setup",
        "Notes",
        "/oauth/callback",
    ] {
        assert!(html.contains(expected), "{expected}");
    }
    assert_eq!(
        app.get("/docs/providers/nope").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn operator_allowed_hosts_accept_private_custom_endpoints() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("OAUTH_VAULT_ALLOWED_HOSTS", "127.0.0.1:9000")],
    )
    .await
    .unwrap();
    let app_id = signed_in_app(&app).await;
    let page = format!("/apps/{app_id}/providers/new/custom");
    let mut fields = custom_fields("http://127.0.0.1:9000/token");
    fields[2] = ("authorization_url", "http://127.0.0.1:9000/authorize");
    let res = app.submit(&page, &page, &fields).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}
