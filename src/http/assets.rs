//! The client bundle under `/pkg`, as `scripts/build-client` leaves it in
//! the site root: `oauth_vault.{build}.js`, `oauth_vault.{build}_bg.wasm` and
//! `oauth_vault.{build}.css` (named by a hash of their content, with the
//! build id in `pkg/BUILD`), each beside its `.br` and `.gz`.
//!
//! A browser gets the precompressed file its `Accept-Encoding` allows, with
//! `Last-Modified` (a revalidation answers 304). Content-hashed names never
//! change content, so they are cached for a year (`immutable`); the
//! unhashed names (the hosted connect pages' stylesheet, older bookmarks) are
//! revalidated each time (`no-cache`).

use axum::{
    body::Body,
    http::{header, HeaderValue, Request},
    middleware::Next,
    response::Response,
    Router,
};
use std::path::Path;
use tower_http::services::ServeDir;

/// The build id in `site_root/pkg/BUILD`, when it names a bundle that is
/// there: the portal then links the content-hashed files.
pub fn build_id(site_root: &Path) -> Option<String> {
    let pkg = site_root.join("pkg");
    let id = std::fs::read_to_string(pkg.join("BUILD")).ok()?;
    let id = id.trim().to_string();
    let plausible = (8..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit());
    let complete = ["js", "css"].iter().all(|ext| {
        pkg.join(format!("{}.{id}.{ext}", app::util::OUTPUT_NAME))
            .exists()
    });
    (plausible && complete).then_some(id)
}

/// `/pkg/...`, to be nested under `/pkg`.
pub fn pkg(site_root: &Path) -> Router {
    let files = ServeDir::new(site_root.join("pkg"))
        .precompressed_br()
        .precompressed_gzip();
    Router::new()
        .fallback_service(files)
        .layer(axum::middleware::from_fn(cache_lifetime))
}

/// Whether a file name under `/pkg` carries a content hash:
/// `oauth_vault.<hex>.css`, `oauth_vault.<hex>.js`, `oauth_vault.<hex>_bg.wasm`.
fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let Some(rest) = name.strip_prefix(&format!("{}.", app::util::OUTPUT_NAME)) else {
        return false;
    };
    let hash: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    hash.len() >= 8 && matches!(&rest[hash.len()..], ".js" | ".css" | "_bg.wasm")
}

async fn cache_lifetime(request: Request<Body>, next: Next) -> Response {
    let hashed = is_hashed(request.uri().path());
    let mut response = next.run(request).await;
    if response.status().is_success() || response.status().as_u16() == 304 {
        let value = if hashed {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
        // the answer depends on Accept-Encoding (a precompressed file or not)
        if !headers.contains_key(header::VARY) {
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
    }
    response
}

/// `/connect.js`: the script a developer's page loads from the vault to open
/// the connect popup (`OAuthVault.connect`). Built into the binary.
pub async fn connect_js() -> Response {
    script(include_str!("../../public/connect.js"))
}

/// `/connect-popup.js`: the script of the connect popup's last page, which
/// tells the opener the outcome. Built into the binary.
pub async fn connect_popup_js() -> Response {
    script(include_str!("../../public/connect-popup.js"))
}

fn script(text: &'static str) -> Response {
    let mut response = Response::new(Body::from(text));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    // not content-hashed: a short lifetime lets an upgrade reach pages soon
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    // loaded by the developer's pages, on other origins
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_content_hashed_names_are_immutable() {
        assert!(is_hashed("/oauth_vault.3f2a9c1d0b7e.js"));
        assert!(is_hashed("/oauth_vault.3f2a9c1d0b7e_bg.wasm"));
        assert!(is_hashed("/pkg/oauth_vault.3f2a9c1d0b7e.css"));
        assert!(!is_hashed("/oauth_vault.css"));
        assert!(!is_hashed("/oauth_vault_bg.wasm"));
        assert!(!is_hashed("/oauth_vault.3f2a.js"));
        assert!(!is_hashed("/oauth_vault.3f2a9c1d0b7e.html"));
    }
}
