//! The client bundle and compression: content-hashed names linked from the
//! pages, precompressed files chosen by `Accept-Encoding`, a year's caching
//! for hashed names and revalidation (304) for the rest; dynamic HTML
//! compressed unless it must not be stored.

use crate::common::{spawn_app_with, Backend, TestApp};
use reqwest::{header, StatusCode};

const BUILD: &str = "0123456789abcdef";

/// A site root as `scripts/build-client` leaves it (contents are stand-ins).
fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let files = [
        (
            format!("oauth_vault.{BUILD}.js"),
            "export function hydrate() {}",
        ),
        (
            format!("oauth_vault.{BUILD}_bg.wasm"),
            "\0asm wasm stand-in",
        ),
        (format!("oauth_vault.{BUILD}.css"), "body { margin: 0 }"),
        ("oauth_vault.css".to_string(), "body { margin: 0 }"),
    ];
    for (name, body) in &files {
        std::fs::write(pkg.join(name), body).unwrap();
        // stand-ins for the compressed copies: which one is served is what counts
        std::fs::write(pkg.join(format!("{name}.br")), format!("br:{body}")).unwrap();
        std::fs::write(pkg.join(format!("{name}.gz")), format!("gz:{body}")).unwrap();
    }
    std::fs::write(pkg.join("BUILD"), format!("{BUILD}\n")).unwrap();
    dir
}

async fn start(site: &tempfile::TempDir) -> TestApp {
    let root = site.path().display().to_string();
    spawn_app_with(Backend::Sqlite, &[("OAUTH_VAULT_SITE_ROOT", &root)])
        .await
        .unwrap()
}

fn plain_client() -> reqwest::Client {
    // no automatic decompression: the test reads what the server sent
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn pages_link_the_content_hashed_bundle() {
    let site = site();
    let app = start(&site).await;
    let html = app.get("/").await.text().await.unwrap();
    for name in [
        format!("/pkg/oauth_vault.{BUILD}.js"),
        format!("/pkg/oauth_vault.{BUILD}_bg.wasm"),
        format!("/pkg/oauth_vault.{BUILD}.css"),
    ] {
        assert!(html.contains(&name), "{name} in {html}");
    }
}

#[tokio::test]
async fn the_bundle_is_served_precompressed_and_cached_for_a_year() {
    let site = site();
    let app = start(&site).await;
    let client = plain_client();
    let wasm = app.url(&format!("/pkg/oauth_vault.{BUILD}_bg.wasm"));
    for (accept, encoding, prefix) in [
        ("br, gzip", Some("br"), "br:"),
        ("gzip", Some("gzip"), "gz:"),
        ("identity", None, "\0asm"),
    ] {
        let res = client
            .get(&wasm)
            .header(header::ACCEPT_ENCODING, accept)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()
                .get(header::CONTENT_ENCODING)
                .map(|v| v.to_str().unwrap()),
            encoding,
            "{accept}"
        );
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/wasm");
        assert_eq!(
            res.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert!(res.headers()[header::VARY]
            .to_str()
            .unwrap()
            .contains("accept-encoding"));
        let last_modified = res.headers()[header::LAST_MODIFIED].clone();
        assert!(
            res.bytes().await.unwrap().starts_with(prefix.as_bytes()),
            "{accept}"
        );
        // a second load revalidates to 304
        let again = client
            .get(&wasm)
            .header(header::ACCEPT_ENCODING, accept)
            .header(header::IF_MODIFIED_SINCE, last_modified)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }
    // an unhashed name (the connect pages' stylesheet) is revalidated each time
    let res = client
        .get(app.url("/pkg/oauth_vault.css"))
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache");
    assert_eq!(res.headers()[header::CONTENT_ENCODING], "gzip");
}

#[tokio::test]
async fn pages_are_compressed_unless_they_must_not_be_stored() {
    let site = site();
    let app = start(&site).await;
    let client = plain_client();
    // a public page: compressed when asked
    let res = client
        .get(app.url("/"))
        .header(header::ACCEPT_ENCODING, "br")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[header::CONTENT_ENCODING], "br");
    let res = client
        .get(app.url("/"))
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[header::CONTENT_ENCODING], "gzip");
    // a signed-in page (CSRF token beside reflected input): never
    app.sign_up("dev@example.com", "correct horse battery")
        .await;
    let res = app
        .client
        .get(app.url("/apps"))
        .header(header::ACCEPT_ENCODING, "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get(header::CONTENT_ENCODING).is_none());
    assert!(res.headers()[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .contains("no-store"));
}
