//! Single sign-on for the portal against an in-process OpenID provider:
//! the happy path, every answer that must be refused, an issuer that is down
//! at start-up, password sign-in switched off, and an invitation accepted by
//! single sign-on.

use crate::common::fake_oidc::FakeOidc;
use crate::common::{location, spawn_app_with, Backend, Browser, TestApp};
use reqwest::StatusCode;

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(crate::common::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(crate::common::Backend::Postgres).await;
            }
        }
    )*};
}

on_both!(
    a_company_account_signs_in,
    bad_answers_are_refused,
    an_unreachable_issuer_does_not_stop_the_server,
    password_sign_in_can_be_switched_off,
    nothing_secret_of_teams_or_sso_is_logged,
);

async fn start(backend: Backend, extra: &[(&str, &str)]) -> Option<(TestApp, FakeOidc)> {
    let idp = FakeOidc::start().await;
    let vars = idp.vars();
    let mut all: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(extra);
    let app = spawn_app_with(backend, &all).await?;
    Some((app, idp))
}

async fn get(browser: &Browser, url: &str) -> reqwest::Response {
    let url = if url.starts_with("http") {
        url.to_string()
    } else {
        format!("{}{url}", browser.address)
    };
    browser.client.get(url).send().await.unwrap()
}

/// Runs the flow in `browser` up to the vault's callback URL.
async fn to_callback(browser: &Browser, start: &str) -> String {
    let res = get(browser, start).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "start");
    let at_idp = location(&res);
    assert!(at_idp.contains("code_challenge_method=S256") && at_idp.contains("nonce="));
    let res = get(browser, &at_idp).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the provider approves");
    location(&res)
}

/// The whole flow in `browser`: the vault's answer to the callback.
async fn sign_in(browser: &Browser) -> reqwest::Response {
    let callback = to_callback(browser, "/auth/sso/start").await;
    get(browser, &callback).await
}

async fn signed_in_as(browser: &Browser) -> Option<String> {
    let html = get(browser, "/account").await.text().await.unwrap();
    let at = html.find("data-testid=\"account-email\"")?;
    let text = html[at..].split_once('>')?.1;
    Some(text.split('<').next()?.to_string())
}

/// Posts `fields` to `action` with the CSRF token of the page's meta tag
/// (for pages without a form of their own).
async fn post_from(
    browser: &Browser,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let html = get(browser, page).await.text().await.unwrap();
    let marker = "name=\"csrf-token\" content=\"";
    let at = html.find(marker).expect("the page's CSRF token") + marker.len();
    let token = html[at..].split('"').next().unwrap().to_string();
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    form.push(("csrf", &token));
    browser
        .client
        .post(format!("{}{action}", browser.address))
        .header("origin", &browser.address)
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn a_company_account_signs_in(backend: Backend) {
    let Some((app, _idp)) = start(backend, &[]).await else {
        return;
    };
    let html = get(&app.browser(), "/login").await.text().await.unwrap();
    assert!(html.contains("Sign in with Corp ID"));
    assert!(
        html.contains("password-login"),
        "password sign-in stays by default"
    );

    let alice = app.second_browser();
    let res = sign_in(&alice).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/apps");
    assert_eq!(
        signed_in_as(&alice).await.as_deref(),
        Some("alice@corp.example")
    );
    let users = app.count("users").await;
    // again: the same account
    let again = app.second_browser();
    assert_eq!(sign_in(&again).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("users").await, users);
    let audited = app
        .count("audit_events WHERE action = 'user.signed_in' AND detail = 'single sign-on'")
        .await;
    assert_eq!(audited, 2, "SSO sign-ins are audited");
    assert_eq!(
        app.count("audit_events WHERE action = 'user.signed_up_with_sso'")
            .await,
        1
    );
    // an account made by single sign-on has no password that works
    let res = app
        .second_browser()
        .sign_in("alice@corp.example", "!")
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}

/// A bad answer: what, how the provider misbehaves, the vault's status and
/// a piece of its message.
type Case = (
    &'static str,
    Box<dyn Fn(&mut crate::common::fake_oidc::Knobs)>,
    StatusCode,
    &'static str,
);

async fn bad_answers_are_refused(backend: Backend) {
    let Some((app, idp)) = start(backend, &[]).await else {
        return;
    };
    // an existing account outside the allowed domains signs in by its email
    app.second_browser()
        .sign_up("bob@other.example", "correct horse battery")
        .await;
    idp.set(|k| k.email = "bob@other.example".into());
    let bob = app.second_browser();
    assert_eq!(sign_in(&bob).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        signed_in_as(&bob).await.as_deref(),
        Some("bob@other.example")
    );
    idp.set(|k| *k = Default::default());

    let cases: Vec<Case> = vec![
        (
            "nonce",
            Box::new(|k| k.nonce = Some("another".into())),
            StatusCode::UNAUTHORIZED,
            "could not be verified",
        ),
        (
            "signature",
            Box::new(|k| k.foreign_key = true),
            StatusCode::UNAUTHORIZED,
            "could not be verified",
        ),
        (
            "audience",
            Box::new(|k| k.audience = Some("someone-else".into())),
            StatusCode::UNAUTHORIZED,
            "could not be verified",
        ),
        (
            "expiry",
            Box::new(|k| k.expired = true),
            StatusCode::UNAUTHORIZED,
            "could not be verified",
        ),
        (
            "unverified email",
            Box::new(|k| k.email_verified = false),
            StatusCode::UNAUTHORIZED,
            "did not confirm your email",
        ),
        (
            "domain",
            Box::new(|k| k.email = "mallory@evil.example".into()),
            StatusCode::FORBIDDEN,
            "cannot create one",
        ),
    ];
    for (what, knob, status, message) in cases {
        idp.set(|k| *k = Default::default());
        idp.set(|k| knob(k));
        let users = app.count("users").await;
        let browser = app.second_browser();
        let res = sign_in(&browser).await;
        assert_eq!(res.status(), status, "{what}");
        let html = res.text().await.unwrap();
        assert!(html.contains(message), "{what}: {html}");
        assert!(!html.contains(crate::common::fake_oidc::CLIENT_SECRET));
        assert_eq!(signed_in_as(&browser).await, None, "{what}: not signed in");
        assert_eq!(app.count("users").await, users, "{what}: no account made");
    }
    idp.set(|k| *k = Default::default());

    // a state that is not the browser's: tampered, or from another browser
    let browser = app.second_browser();
    let callback = to_callback(&browser, "/auth/sso/start").await;
    let tampered = callback.replace("state=", "state=x");
    let res = get(&browser, &tampered).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("could not be matched"));
    let res = get(&app.second_browser(), &callback).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "another browser");
    // the provider's refusal
    let res = get(&browser, "/auth/sso/callback?error=access_denied&state=x").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("refused the sign-in (access_denied)"));
    let failures = app
        .count("audit_events WHERE action = 'user.sign_in_failed'")
        .await;
    assert!(failures >= 9, "refusals are audited ({failures})");
    app.stop().await;
}

async fn an_unreachable_issuer_does_not_stop_the_server(backend: Backend) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let vars = [
        ("OAUTH_VAULT_SSO_ISSUER", issuer.as_str()),
        ("OAUTH_VAULT_SSO_CLIENT_ID", "vault"),
        ("OAUTH_VAULT_SSO_CLIENT_SECRET", "secret-value-0123456789"),
    ];
    let Some(app) = spawn_app_with(backend, &vars).await else {
        return;
    };
    let browser = app.browser();
    // discovery runs in the background at start-up
    let mut html = String::new();
    for _ in 0..50 {
        html = get(&browser, "/login").await.text().await.unwrap();
        if html.contains("sso-problem") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(html.contains("sso-problem"), "the button explains: {html}");
    let res = get(&browser, "/auth/sso/start").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let html = res.text().await.unwrap();
    assert!(html.contains("Single sign-on is not available right now"));
    assert!(!html.contains("secret-value"));
    // password sign-in still works
    browser
        .sign_up("dev@example.com", "correct horse battery")
        .await;
    assert_eq!(get(&browser, "/apps").await.status(), StatusCode::OK);
    app.stop().await;
}

async fn password_sign_in_can_be_switched_off(backend: Backend) {
    let Some((app, idp)) = start(backend, &[("OAUTH_VAULT_PASSWORD_LOGIN", "false")]).await else {
        return;
    };
    let html = get(&app.browser(), "/login").await.text().await.unwrap();
    assert!(html.contains("Sign in with Corp ID") && !html.contains("password-login"));
    let fields = [
        ("email", "someone@corp.example"),
        ("password", "correct horse battery"),
    ];
    let res = post_from(&app.browser(), "/login", "/login", &fields).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Password sign-in is off"));
    let html = get(&app.browser(), "/signup").await.text().await.unwrap();
    assert!(html.contains("sso-button") && !html.contains("name=\"password\""));
    let res = post_from(&app.browser(), "/signup", "/signup", &fields).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("users").await, 0);

    // the owner signs in with SSO and invites someone outside the allowed
    // domains; they accept by signing in with SSO too
    let owner = app.browser();
    assert_eq!(sign_in(&owner).await.status(), StatusCode::SEE_OTHER);
    let org = crate::teams::current_org(&owner).await;
    let link = crate::teams::invite(&owner, &org, "carol@partner.example", "viewer").await;
    let path = link.trim_start_matches(&app.address).to_string();
    let carol = app.second_browser();
    let html = get(&carol, &path).await.text().await.unwrap();
    assert!(html.contains("sso-button") && !html.contains("name=\"password\""));
    idp.set(|k| k.email = "carol@partner.example".into());
    let start = format!("/auth/sso/start?next={path}");
    let callback = to_callback(&carol, &start).await;
    let res = get(&carol, &callback).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), path, "back to the invitation");
    let res = carol.submit(&path, &path, &[("_action", "join")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(crate::teams::current_org(&carol).await, org);

    // the operator's reset link still works for recovery
    let out = app
        .cli(&["admin", "reset-password", "carol@partner.example"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    app.stop().await;
}

/// Single sign-on's and invitations' secrets never reach the log: the client
/// secret, the state, nonce, code and ID token, the invitation link's token,
/// the mail server's password (its sending fails here, and is logged).
async fn nothing_secret_of_teams_or_sso_is_logged(backend: Backend) {
    let logs = crate::audit_trail::captured_logs();
    let smtp = crate::common::fake_smtp::FakeSmtp::start().await;
    let smtp_url = smtp.url.replace("smtp://", "smtp://vault:mailpass4242@");
    let extra = [
        ("OAUTH_VAULT_SMTP_URL", smtp_url.as_str()),
        ("OAUTH_VAULT_SMTP_FROM", "vault@example.com"),
    ];
    let Some((app, _idp)) = start(backend, &extra).await else {
        return;
    };
    let marker = format!("capture check {}", uuid::Uuid::new_v4());
    tracing::info!("{marker}");
    let owner = app.browser();
    let callback = to_callback(&owner, "/auth/sso/start").await;
    let res = get(&owner, &callback).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let query = |name: &str| crate::common::query_value(&callback, name).unwrap();
    let (code, state) = (query("code"), query("state"));
    let org = crate::teams::current_org(&owner).await;
    // the fake mail server offers no authentication: sending fails, the
    // link is shown, and the failure is logged
    let link = crate::teams::invite(&owner, &org, "new@example.com", "viewer").await;
    let invitation = link.rsplit('/').next().unwrap().to_string();
    let session = owner
        .client
        .get(app.url("/apps"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(session, StatusCode::OK);
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(text.contains(&marker), "logs are captured");
    assert!(
        text.contains("invitation shown instead of emailed"),
        "the mail failure is logged"
    );
    for (what, secret) in [
        ("SSO client secret", crate::common::fake_oidc::CLIENT_SECRET),
        ("SSO code", code.as_str()),
        ("SSO state", state.as_str()),
        ("invitation token", invitation.as_str()),
        ("mail password", "mailpass4242"),
    ] {
        assert!(!text.contains(secret), "the {what} appears in the logs");
    }
    app.stop().await;
}
