//! Authorization-server mix-up defence (RFC 9700 §4.4): each provider
//! configuration has its own redirect URI, the callback refuses an answer on
//! another configuration's path, custom providers carry an issuer (filled in
//! by Discover) and the answer's `iss` must name it (RFC 9207).

use crate::common::{fake_oauth, location, query_value, Browser, World};
use reqwest::StatusCode;

use crate::refresh::SETUP;

with_world!(SETUP;
    an_answer_on_another_configurations_path_is_refused,
    the_redirect_uri_shown_before_saving_is_the_one_used,
    discover_fills_the_form_and_iss_is_required,
    discover_explains_what_went_wrong,
    switching_pkce_off_needs_a_confirmation,
    older_configurations_keep_the_shared_redirect_uri_until_switched,
);

/// A custom provider on the fake OAuth server, saved with `extra` fields by
/// the signed-in developer of `browser`; returns its id.
async fn custom_provider(
    w: &World,
    browser: &Browser,
    app_id: &str,
    slug: &str,
    extra: &[(&str, &str)],
) -> String {
    let page = format!("/apps/{app_id}/providers/new/custom");
    let authorize = format!("{}/authorize", w.oauth.address);
    let token = format!("{}/token", w.oauth.address);
    let mut form = vec![
        ("display_name", "Fake IdP"),
        ("slug", slug),
        ("authorization_url", authorize.as_str()),
        ("token_url", token.as_str()),
        ("scope_list", "read"),
        ("scope_separator", "space"),
        ("client_auth", "basic"),
        ("client_id", fake_oauth::CLIENT_ID),
        ("client_secret", fake_oauth::CLIENT_SECRET),
    ];
    form.extend_from_slice(extra);
    let res = browser.submit(&page, &page, &form).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap()
    );
    location(&res).rsplit('/').next().unwrap().to_string()
}

/// The developer of `browser` runs "Test connection" for `config_id` up to
/// the provider: the end user's browser (with its binding cookie) and the
/// provider's authorize URL.
async fn start_test_connection(
    w: &World,
    browser: &Browser,
    app_id: &str,
    config_id: &str,
) -> String {
    let page = format!("/apps/{app_id}/providers/{config_id}");
    let res = browser.submit(&page, &page, &[("_action", "test")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let connect = location(&res);
    let connect = connect.trim_start_matches(&w.app.address).to_string();
    let res = browser
        .submit(&connect, &connect, &[("provider_config", config_id)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    location(&res)
}

/// The provider's answer to an authorization request: where it sends the
/// browser back (the vault's callback with code, state and iss).
async fn provider_answer(authorize: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client.get(authorize).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND, "{authorize}");
    location(&res)
}

async fn failure_code(browser: &Browser, url: &str) -> (StatusCode, String) {
    let res = browser.client.get(url).send().await.unwrap();
    let status = res.status();
    (status, res.text().await.unwrap())
}

async fn an_answer_on_another_configurations_path_is_refused(w: World) {
    // the honest configuration: the World's app, on the fake server
    let honest = w.oauth_config.clone();
    // an attacker's tenant with its own custom provider
    let mallory = w.app.second_browser();
    mallory
        .sign_up("mallory@example.com", "correct horse battery")
        .await;
    let made = World::new_app(
        &mallory,
        "Mallory's app",
        &crate::common::Setup {
            return_url: SETUP.return_url,
            attio_scopes: SETUP.attio_scopes,
            fake_oauth: false,
        },
    )
    .await;
    let evil = custom_provider(&w, &mallory, &made.app_id, "evil", &[("pkce", "on")]).await;
    // an authorization for the attacker's configuration is under way
    let authorize = start_test_connection(&w, &mallory, &made.app_id, &evil).await;
    let state = query_value(&authorize, "state").unwrap();
    let evil_redirect = query_value(&authorize, "redirect_uri").unwrap();
    assert_eq!(
        evil_redirect,
        format!("{}/oauth/callback/{evil}", w.app.address)
    );
    let exchanges = w.oauth.token_requests().len();

    // the honest server's answer arrives at the honest configuration's
    // redirect URI with that authorization's state (the mix-up): refused,
    // and the code goes to no token endpoint
    let mixed = format!(
        "{}/oauth/callback/{honest}?code=honest-code&state={state}",
        w.app.address
    );
    let (status, html) = failure_code(&mallory, &mixed).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(
        html.contains("redirect_mismatch") || html.contains("wrong address"),
        "{html}"
    );
    // the shared path is refused as well
    let shared = format!(
        "{}/oauth/callback?code=honest-code&state={state}",
        w.app.address
    );
    let (_, html) = failure_code(&mallory, &shared).await;
    assert!(html.contains("wrong address"), "{html}");
    assert_eq!(w.oauth.token_requests().len(), exchanges);
    assert_eq!(w.app.count("connections").await, 0);
}

async fn the_redirect_uri_shown_before_saving_is_the_one_used(w: World) {
    let browser = w.app.browser();
    let page = format!("/apps/{}/providers/new/custom", w.app_id);
    let html = w.app.get(&page).await.text().await.unwrap();
    let marker = r#"name="config_id" value=""#;
    let start = html.find(marker).unwrap() + marker.len();
    let id = html[start..].split('"').next().unwrap().to_string();
    let shown = format!("{}/oauth/callback/{id}", w.app.address);
    assert!(html.contains(&shown), "the form shows {shown}");
    // a submission with errors keeps the id, and so the URI
    let res = browser
        .submit(&page, &page, &[("config_id", &id), ("display_name", "X")])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains(&shown));
    // a forged id is refused
    let authorize = format!("{}/authorize", w.oauth.address);
    let token = format!("{}/token", w.oauth.address);
    let base = [
        ("display_name", "Fake IdP"),
        ("slug", "fake-idp"),
        ("authorization_url", authorize.as_str()),
        ("token_url", token.as_str()),
        ("scope_list", "read"),
        ("client_auth", "basic"),
        ("pkce", "on"),
        ("client_id", fake_oauth::CLIENT_ID),
        ("client_secret", fake_oauth::CLIENT_SECRET),
    ];
    let mut forged = base.to_vec();
    forged.push(("config_id", "../../admin"));
    let res = browser.submit(&page, &page, &forged).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("out of date"));

    let mut form = base.to_vec();
    form.push(("config_id", &id));
    let res = browser.submit(&page, &page, &form).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).ends_with(&format!("/providers/{id}")));
    // the provider is asked to answer at exactly that URI, and the answer
    // there completes the connection
    let authorize = start_test_connection(&w, &browser, &w.app_id, &id).await;
    assert_eq!(query_value(&authorize, "redirect_uri").unwrap(), shown);
    let answer = provider_answer(&authorize).await;
    assert!(answer.starts_with(&shown), "{answer}");
    let res = browser.client.get(&answer).send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap()
    );
    assert_eq!(w.app.count("connections").await, 1);
}

async fn discover_fills_the_form_and_iss_is_required(w: World) {
    let browser = w.app.browser();
    let page = format!("/apps/{}/providers/new/custom", w.app_id);
    let issuer = w.oauth.address.clone();
    // works without JavaScript: a form post that comes back filled in
    let res = browser
        .submit(
            &page,
            &page,
            &[
                ("_action", "discover"),
                ("issuer", &issuer),
                ("display_name", "Kept name"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("Filled in from the issuer"), "{html}");
    assert!(
        html.contains(&format!(r#"value="{issuer}/authorize""#)),
        "{html}"
    );
    assert!(html.contains(&format!(r#"value="{issuer}/token""#)));
    assert!(html.contains(&format!(r#"value="{issuer}/revoke""#)));
    assert!(html.contains("Kept name"), "the developer's input is kept");
    assert!(
        html.contains(r#"name="authorization_response_iss" value="on" checked"#),
        "{html}"
    );
    assert_eq!(w.app.count("provider_configs").await, 2, "nothing saved");

    let id = custom_provider(
        &w,
        &browser,
        &w.app_id,
        "fake-idp",
        &[
            ("pkce", "on"),
            ("issuer", &issuer),
            ("authorization_response_iss", "on"),
        ],
    )
    .await;
    // the server names itself correctly: connected
    let authorize = start_test_connection(&w, &browser, &w.app_id, &id).await;
    let answer = provider_answer(&authorize).await;
    assert_eq!(
        query_value(&answer, "iss").as_deref(),
        Some(issuer.as_str())
    );
    let res = browser.client.get(&answer).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(w.app.count("connections").await, 1);

    // another issuer's name, or none where one is required: refused
    for iss in [Some("https://other-issuer.example"), None] {
        w.oauth.set_iss_in_answers(iss);
        let authorize = start_test_connection(&w, &browser, &w.app_id, &id).await;
        let answer = provider_answer(&authorize).await;
        let exchanges = w.oauth.token_requests().len();
        // the test connection goes back to the portal, saying why
        let res = browser.client.get(&answer).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{iss:?}");
        assert_eq!(
            query_value(&location(&res), "error").as_deref(),
            Some("issuer_mismatch"),
            "{iss:?}"
        );
        assert_eq!(
            w.oauth.token_requests().len(),
            exchanges,
            "no code exchanged"
        );
    }
}

async fn discover_explains_what_went_wrong(w: World) {
    let browser = w.app.browser();
    let page = format!("/apps/{}/providers/new/custom", w.app_id);
    for (issuer, message) in [
        ("https://10.1.2.3", "The issuer is refused"),
        (
            &format!("{}/no-such-tenant", w.oauth.address) as &str,
            "publishes no metadata",
        ),
        ("not a url", "Enter the issuer"),
        ("", "Enter the issuer"),
    ] {
        let res = browser
            .submit(
                &page,
                &page,
                &[
                    ("_action", "discover"),
                    ("issuer", issuer),
                    ("slug", "kept-slug"),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{issuer}");
        let html = res.text().await.unwrap();
        assert!(html.contains(message), "{issuer}: {html}");
        assert!(html.contains("kept-slug"), "input kept");
    }
    // metadata naming another issuer is refused (RFC 8414 §3.3)
    let res = browser
        .submit(
            &page,
            &page,
            &[
                ("_action", "discover"),
                ("issuer", &format!("{}/", w.oauth.address)),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn switching_pkce_off_needs_a_confirmation(w: World) {
    let browser = w.app.browser();
    let page = format!("/apps/{}/providers/new/custom", w.app_id);
    let authorize = format!("{}/authorize", w.oauth.address);
    let token = format!("{}/token", w.oauth.address);
    let form = [
        ("display_name", "Fake IdP"),
        ("slug", "no-pkce"),
        ("authorization_url", authorize.as_str()),
        ("token_url", token.as_str()),
        ("scope_list", "read"),
        ("client_auth", "basic"),
        ("client_id", fake_oauth::CLIENT_ID),
        ("client_secret", fake_oauth::CLIENT_SECRET),
    ];
    let res = browser.submit(&page, &page, &form).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("I understand the risk"));
    let mut confirmed = form.to_vec();
    confirmed.push(("pkce_off_confirmed", "on"));
    let res = browser.submit(&page, &page, &confirmed).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = w.app.get(&location(&res)).await.text().await.unwrap();
    assert!(html.contains(r#"data-testid="pkce-off""#), "the page warns");
}

async fn older_configurations_keep_the_shared_redirect_uri_until_switched(w: World) {
    let browser = w.app.browser();
    let id = w.oauth_config.clone();
    sqlx::query("UPDATE provider_configs SET legacy_callback = 1 WHERE id = $1")
        .bind(&id)
        .execute(w.app.state.db.pool())
        .await
        .unwrap();
    let page = format!("/apps/{}/providers/{id}", w.app_id);
    let own = format!("{}/oauth/callback/{id}", w.app.address);
    let html = w.app.get(&page).await.text().await.unwrap();
    assert!(html.contains(r#"data-testid="legacy-redirect""#), "{html}");
    assert!(html.contains(&own));
    // it still works on the shared URI
    let authorize = start_test_connection(&w, &browser, &w.app_id, &id).await;
    assert_eq!(
        query_value(&authorize, "redirect_uri").unwrap(),
        format!("{}/oauth/callback", w.app.address)
    );
    let answer = provider_answer(&authorize).await;
    let res = browser.client.get(&answer).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    // the developer registered the new one and switches
    let res = browser
        .submit(&page, &page, &[("_action", "use_own_callback")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = w.app.get(&page).await.text().await.unwrap();
    assert!(!html.contains(r#"data-testid="legacy-redirect""#));
    let authorize = start_test_connection(&w, &browser, &w.app_id, &id).await;
    assert_eq!(query_value(&authorize, "redirect_uri").unwrap(), own);
    assert_eq!(
        w.app
            .count("audit_events WHERE action = 'provider.redirect_uri_changed'")
            .await,
        1
    );
}
