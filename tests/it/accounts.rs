//! Sign-up, sign-in, sessions, CSRF and throttling.
use crate::common;

use common::TestApp;
use reqwest::StatusCode;

on_both_databases!(
    signing_up_makes_a_developer_never_an_administrator,
    bad_sign_up_input_is_rejected_and_kept,
    sign_in_and_out,
    wrong_password_is_refused_without_saying_why,
    sign_in_is_throttled_per_account,
    forms_without_a_valid_csrf_token_are_refused,
    cross_site_posts_are_refused,
    session_ids_are_stored_hashed,
    server_functions_refuse_cross_site_calls,
    idle_and_absolute_session_expiry_end_the_session,
    sign_in_is_throttled_per_client_address,
    a_new_session_id_is_issued_at_sign_in,
);

fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("ov_session=") && !c.starts_with("ov_session=;"))
        .map(|c| {
            c["ov_session=".len()..]
                .split(';')
                .next()
                .unwrap()
                .to_string()
        })
}

async fn idle_and_absolute_session_expiry_end_the_session(app: TestApp) {
    app.sign_up("dev@example.com", "correct horse battery")
        .await;
    assert_eq!(app.get("/apps").await.status(), StatusCode::OK);
    // 13 hours without use: past the 12-hour idle limit
    let idle = app::infra::db::now_ms() - 13 * 3600 * 1000;
    sqlx::query("UPDATE sessions SET last_seen_at = $1")
        .bind(idle)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(app.get("/apps").await.status(), StatusCode::SEE_OTHER);
    let left = app.count("sessions").await;
    assert_eq!(left, 0, "an expired session is removed");

    // absolute: in use, but signed in more than 7 days ago
    app.sign_in("dev@example.com", "correct horse battery")
        .await;
    assert_eq!(app.get("/apps").await.status(), StatusCode::OK);
    sqlx::query("UPDATE sessions SET expires_at = $1")
        .bind(app::infra::db::now_ms() - 1)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(app.get("/apps").await.status(), StatusCode::SEE_OTHER);
}

async fn sign_in_is_throttled_per_client_address(app: TestApp) {
    let browser = app.second_browser();
    for i in 0..20 {
        browser
            .sign_in(&format!("nobody{i}@example.com"), "wrong horse battery")
            .await;
    }
    let res = browser
        .sign_in("someone-else@example.com", "wrong horse battery")
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-ins"));
}

async fn a_new_session_id_is_issued_at_sign_in(app: TestApp) {
    let first = session_cookie(
        &app.sign_up("dev@example.com", "correct horse battery")
            .await,
    )
    .unwrap();
    // signing in again from a signed-in browser (the token comes from any page's form)
    let again = app
        .submit(
            "/apps",
            "/login",
            &[
                ("email", "dev@example.com"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    let second = session_cookie(&again).unwrap();
    assert_ne!(first, second);
    // the session the browser brought is ended, not reused
    let sessions = app.count("sessions").await;
    assert_eq!(sessions, 1);
}

async fn signing_up_makes_a_developer_never_an_administrator(app: TestApp) {
    let res = app
        .sign_up("First@Example.com", "correct horse battery")
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/apps");
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("ov_session="))
        .unwrap();
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    let role: String =
        sqlx::query_scalar("SELECT role FROM users WHERE email = 'first@example.com'")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    // not even the first account of an instance: only the setup link makes one
    assert_eq!(role, "developer");

    let other = app.second_browser();
    let res = other
        .sign_up("second@example.com", "another good passphrase")
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let role: String =
        sqlx::query_scalar("SELECT role FROM users WHERE email = 'second@example.com'")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(role, "developer");
}

async fn bad_sign_up_input_is_rejected_and_kept(app: TestApp) {
    let res = app.sign_up("not-an-email", "short").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Enter an email address like name@example.com"),
        "{html}"
    );
    assert!(html.contains("Use at least 12 characters"));
    assert!(html.contains(r#"value="not-an-email""#), "input kept");
    assert!(!html.contains("short\""), "password never echoed");
    let users = app.count("users").await;
    assert_eq!(users, 0);

    app.sign_up("dev@example.com", "correct horse battery")
        .await;
    let again = app
        .second_browser()
        .sign_up("DEV@example.com", "correct horse battery")
        .await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // the answer does not say that the address has an account
    let html = again.text().await.unwrap();
    assert!(
        html.contains("We could not create an account with these details"),
        "{html}"
    );
    assert!(!html.contains("already exists"), "{html}");
}

async fn sign_in_and_out(app: TestApp) {
    app.sign_up("dev@example.com", "correct horse battery")
        .await;
    app.sign_out().await;
    // signed out: the session is gone from the database
    let sessions = app.count("sessions").await;
    assert_eq!(sessions, 0);
    let res = app
        .sign_in("dev@example.com", "correct horse battery")
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let sessions = app.count("sessions").await;
    assert_eq!(sessions, 1);
}

async fn wrong_password_is_refused_without_saying_why(app: TestApp) {
    app.sign_up("dev@example.com", "correct horse battery")
        .await;
    let browser = app.second_browser();
    let wrong = browser
        .sign_in("dev@example.com", "wrong horse battery")
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let wrong_html = wrong.text().await.unwrap();
    let unknown = browser
        .sign_in("nobody@example.com", "wrong horse battery")
        .await;
    let unknown_html = unknown.text().await.unwrap();
    let message = "The email or password is not correct";
    assert!(wrong_html.contains(message));
    assert!(unknown_html.contains(message));
    assert!(!wrong_html.contains("wrong horse battery"));
}

async fn sign_in_is_throttled_per_account(app: TestApp) {
    app.sign_up("dev@example.com", "correct horse battery")
        .await;
    let browser = app.second_browser();
    for _ in 0..5 {
        browser
            .sign_in("dev@example.com", "wrong horse battery")
            .await;
    }
    // even the right password waits now
    let res = browser
        .sign_in("dev@example.com", "correct horse battery")
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-ins"));
}

async fn forms_without_a_valid_csrf_token_are_refused(app: TestApp) {
    app.get("/signup").await; // sets the CSRF cookie
    for token in [None, Some("wrong-token")] {
        let mut form = vec![
            ("email", "dev@example.com"),
            ("password", "correct horse battery"),
        ];
        if let Some(t) = token {
            form.push(("csrf", t));
        }
        let res = app
            .client
            .post(app.url("/signup"))
            .header("origin", &app.address)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    let users = app.count("users").await;
    assert_eq!(users, 0);
}

async fn cross_site_posts_are_refused(app: TestApp) {
    let token = app.csrf_token("/signup").await;
    let res = app
        .client
        .post(app.url("/signup"))
        .header("origin", "https://evil.example")
        .form(&[
            ("email", "dev@example.com"),
            ("password", "correct horse battery"),
            ("csrf", token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

async fn server_functions_refuse_cross_site_calls(app: TestApp) {
    app.sign_up("dev@example.com", "correct horse battery")
        .await;
    let res = app
        .client
        .post(app.url("/api/apps/list"))
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // the same call from the vault's own pages works
    let res = app
        .client
        .post(app.url("/api/apps/list"))
        .header("origin", &app.address)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("dev@example.com"));
}

async fn session_ids_are_stored_hashed(app: TestApp) {
    let res = app
        .sign_up("dev@example.com", "correct horse battery")
        .await;
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("ov_session="))
        .unwrap();
    let token = cookie["ov_session=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let stored: String = sqlx::query_scalar("SELECT id_hash FROM sessions")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_ne!(stored, token);
    assert_eq!(stored.len(), 64);
}
