//! The landing page and the security headers every response carries.
use crate::common;

use common::{spawn_app_with, Backend, TestApp};
use reqwest::StatusCode;

on_both_databases!(
    landing_page_renders_on_the_server,
    hydration_script_carries_the_csp_nonce,
    every_response_has_security_headers,
    unknown_paths_answer_404_with_a_page,
);

async fn landing_page_renders_on_the_server(app: TestApp) {
    let res = app.get("/").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = res.text().await.unwrap();
    assert!(html.contains("<h1>OAuth Vault</h1>"), "{html}");
    assert!(html.contains(r#"href="/login""#));
    assert!(html.contains(r#"href="/signup""#));
    assert!(html.contains("/pkg/oauth_vault.css"));
    // the hydration control renders in its static state
    assert!(html.contains("Static page"));
}

fn nonce_in_csp(csp: &str) -> String {
    let start = csp.find("'nonce-").expect("CSP has a nonce") + "'nonce-".len();
    csp[start..].split('\'').next().unwrap().to_string()
}

async fn hydration_script_carries_the_csp_nonce(app: TestApp) {
    let first = app.get("/").await;
    let csp = first.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let nonce = nonce_in_csp(&csp);
    let html = first.text().await.unwrap();
    assert!(
        html.contains(&format!(r#"<script type="module" nonce="{nonce}">"#)),
        "{html}"
    );
    assert!(html.contains("/pkg/oauth_vault.js"));
    // each response gets its own nonce
    let second = app.get("/").await;
    let csp2 = second.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert_ne!(nonce, nonce_in_csp(csp2));
}

async fn every_response_has_security_headers(app: TestApp) {
    for path in ["/", "/healthz", "/readyz", "/does-not-exist"] {
        let res = app.get(path).await;
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("'wasm-unsafe-eval'"), "{path}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert!(!csp.contains("unsafe-inline"), "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        // plain http: no HSTS
        assert!(h.get("strict-transport-security").is_none(), "{path}");
    }
}

async fn unknown_paths_answer_404_with_a_page(app: TestApp) {
    let res = app.get("/no/such/page").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("Page not found"));
}

#[tokio::test]
async fn https_public_url_turns_on_hsts() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("OAUTH_VAULT_PUBLIC_URL", "https://vault.example.com")],
    )
    .await
    .unwrap();
    let res = app.get("/healthz").await;
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    assert!(app.state.settings.secure_cookies);
    assert_eq!(app.state.settings.public_url, "https://vault.example.com");
}

#[tokio::test]
async fn public_url_defaults_to_the_bound_address() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await.unwrap();
    assert_eq!(app.state.settings.public_url, app.address);
    assert!(!app.state.settings.secure_cookies);
}
