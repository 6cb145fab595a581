//! The connect flow in a popup that `connect.js` opened on the developer's
//! page: the pages keep their opener, refuse framing, and the last one tells
//! the opener the outcome, addressed to the app's own origins only.
use crate::common::{self, location, World};
use crate::connect::{RETURN_URL, SETUP};
use reqwest::{header::HeaderMap, StatusCode};
use serde_json::json;

with_world!(
    SETUP;
    a_popup_tells_the_opener_and_keeps_it,
    a_popup_tells_failures_and_dead_links,
);

/// The value of `data-{name}` on the outcome element of a popup's page.
fn outcome(html: &str, name: &str) -> String {
    let start = html
        .find(r#"id="oauth-vault-outcome""#)
        .unwrap_or_else(|| panic!("no outcome on the page: {html}"));
    let marker = format!(r#"data-{name}=""#);
    let at = html[start..]
        .find(&marker)
        .unwrap_or_else(|| panic!("no data-{name}: {html}"))
        + start
        + marker.len();
    html[at..].split('"').next().unwrap().replace("&amp;", "&")
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// A popup page: it keeps the opener, no frame may hold it, and it runs the
/// vault's own script only where it tells the opener.
fn assert_popup_headers(headers: &HeaderMap, script: bool) {
    assert_eq!(header(headers, "cross-origin-opener-policy"), "unsafe-none");
    let csp = header(headers, "content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(header(headers, "x-frame-options"), "DENY");
    assert_eq!(csp.contains("script-src 'self'"), script, "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains('*'),
        "{csp}"
    );
}

/// The end user clicks Connect Attio on the popup's page of `path`.
async fn click_connect_in_popup(
    w: &World,
    browser: &common::Browser,
    path: &str,
) -> reqwest::Response {
    let fields = [
        ("provider_config", w.attio_config.as_str()),
        ("display", "popup"),
    ];
    browser
        .submit(&format!("{path}?display=popup"), path, &fields)
        .await
}

async fn a_popup_tells_the_opener_and_keeps_it(w: World) {
    // the page flow keeps the strict opener policy
    let path = w.connect_path(json!({ "end_user_id": "u1" })).await;
    let res = w.app.get(&path).await;
    assert_eq!(
        header(res.headers(), "cross-origin-opener-policy"),
        "same-origin"
    );
    assert!(!res.text().await.unwrap().contains("oauth-vault-outcome"));

    // the popup flow, for a session with a return URL
    let path = w
        .connect_path(json!({ "end_user_id": "u2", "return_url": RETURN_URL }))
        .await;
    let browser = w.app.second_browser();
    let popup = format!("{path}?display=popup");
    let res = common::sent(browser.client.get(w.app.url(&popup)).send().await).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_popup_headers(res.headers(), false);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"name="display" value="popup""#), "{html}");
    let res = click_connect_in_popup(&w, &browser, &path).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(res.headers(), "cross-origin-opener-policy"),
        "unsafe-none",
        "the redirect to the provider keeps the opener too"
    );
    let callback = w
        .attio
        .consent(&browser.client, &location(&res), true)
        .await;
    let res = common::sent(browser.client.get(&callback).send().await).await;
    assert_eq!(res.status(), StatusCode::OK, "no redirect: the page tells");
    assert_popup_headers(res.headers(), true);
    assert_eq!(header(res.headers(), "cache-control"), "no-store");
    let html = res.text().await.unwrap();
    let id: String = sqlx::query_scalar("SELECT id FROM connections WHERE end_user_id = 'u2'")
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(outcome(&html, "status"), "success");
    assert_eq!(outcome(&html, "connection-id"), id);
    assert_eq!(outcome(&html, "provider"), "attio");
    assert_eq!(
        outcome(&html, "origins"),
        "https://app.example.com",
        "only the session's return URL's origin, never *"
    );
    assert_eq!(
        outcome(&html, "return"),
        format!("{RETURN_URL}?connection_id={id}&status=success"),
        "where a popup without an opener goes"
    );
    assert!(html.contains(r#"<script src="/connect-popup.js"></script>"#));
    for token in w.attio.issued_tokens() {
        assert!(!html.contains(&token), "no token on the page");
    }

    // the scripts are served to other origins' pages
    for (script, needle) in [
        ("/connect.js", "OAuthVault.connect"),
        ("/connect-popup.js", "postMessage"),
    ] {
        let res = w.app.get(script).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            header(res.headers(), "content-type"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            header(res.headers(), "cross-origin-resource-policy"),
            "cross-origin"
        );
        let text = res.text().await.unwrap();
        assert!(text.contains(needle), "{script}");
        assert!(text.len() < 10 * 1024, "{script}: {} bytes", text.len());
    }
}

async fn a_popup_tells_failures_and_dead_links(w: World) {
    // without a return URL, the app's allowed return URLs' origins
    let path = w.connect_path(json!({ "end_user_id": "u1" })).await;
    let browser = w.app.second_browser();
    let popup = format!("{path}?display=popup");
    let res = click_connect_in_popup(&w, &browser, &path).await;
    let callback = w
        .attio
        .consent(&browser.client, &location(&res), false)
        .await;
    let res = common::sent(browser.client.get(&callback).send().await).await;
    assert_popup_headers(res.headers(), true);
    let html = res.text().await.unwrap();
    assert_eq!(outcome(&html, "status"), "error");
    assert_eq!(outcome(&html, "error"), "access_denied");
    assert_eq!(outcome(&html, "origins"), "https://app.example.com");
    assert_eq!(outcome(&html, "return"), "");
    assert_eq!(w.app.count("connections").await, 0);

    // a refusal leaves the link usable: the end user may try again
    let res = w.app.get(&popup).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(r#"name="display" value="popup""#));

    // a link that made its connection: used
    let path = w.connect_path(json!({ "end_user_id": "u3" })).await;
    let (browser, authorize) = w.click_connect(&path).await;
    let callback = w.attio.consent(&browser.client, &authorize, true).await;
    common::sent(browser.client.get(&callback).send().await).await;
    let res = w.app.get(&format!("{path}?display=popup")).await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert_popup_headers(res.headers(), true);
    let html = res.text().await.unwrap();
    assert!(html.contains("session-used"));
    assert_eq!(outcome(&html, "error"), "used");

    // an expired link
    let path = w.connect_path(json!({ "end_user_id": "u2" })).await;
    sqlx::query("UPDATE connect_sessions SET expires_at = 0")
        .execute(w.app.state.db.pool())
        .await
        .unwrap();
    let res = w.app.get(&format!("{path}?display=popup")).await;
    assert_eq!(res.status(), StatusCode::GONE);
    let html = res.text().await.unwrap();
    assert_eq!(outcome(&html, "status"), "error");
    assert_eq!(outcome(&html, "error"), "expired");
    assert_eq!(outcome(&html, "origins"), "https://app.example.com");

    // a link that names no session tells no one
    let res = w.app.get("/connect/ovcs_unknown?display=popup").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let html = res.text().await.unwrap();
    assert_eq!(outcome(&html, "origins"), "");
    assert_eq!(outcome(&html, "error"), "invalid_session");
}
