//! Who may become administrator and who may join: the setup link of a
//! fresh instance, sign-up modes, invitations, password change and reset,
//! and throttling that holds under parallel guesses and behind proxies.

use crate::common::{spawn_app_with, Backend, Browser, TestApp};
use reqwest::StatusCode;
use std::process::Stdio;

const PASSWORD: &str = "correct horse battery";

/// Runs each test on SQLite and on PostgreSQL; the test starts its own
/// server (with the variables it needs).
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await;
            }
        }
    )*};
}

on_both!(
    a_fresh_instance_makes_its_first_administrator_with_the_setup_link_once,
    of_two_simultaneous_setups_exactly_one_wins,
    invite_only_sign_up_is_refused_and_an_invitation_lets_one_in,
    closed_sign_up_still_takes_invitations,
    twenty_parallel_wrong_passwords_count_twenty,
    sign_ups_are_throttled_per_address,
    a_password_change_needs_the_current_one_and_ends_other_sessions,
    the_operator_resets_a_password_with_a_one_time_link,
    behind_a_trusted_proxy_the_forwarded_client_is_throttled_and_audited,
);

async fn start(backend: Backend, vars: &[(&str, &str)]) -> Option<TestApp> {
    spawn_app_with(backend, vars).await
}

/// The path of a link the server printed or showed (`/setup/…`).
fn path_of(app: &TestApp, link: &str) -> String {
    let rest = link
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("{link} is not a link of {}", app.address));
    rest[rest.find('/').unwrap()..].to_string()
}

async fn role(app: &TestApp, email: &str) -> Option<String> {
    sqlx::query_scalar("SELECT role FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(app.state.db.pool())
        .await
        .unwrap()
}

async fn a_fresh_instance_makes_its_first_administrator_with_the_setup_link_once(backend: Backend) {
    let Some(app) = start(backend, &[("OAUTH_VAULT_SIGNUP", "invite")]).await else {
        return;
    };
    let link = app
        .setup_link
        .clone()
        .expect("a setup link on a fresh instance");
    assert!(
        link.starts_with(&format!("{}/setup/", app.address)),
        "{link}"
    );
    let path = path_of(&app, &link);

    // signing up makes nobody administrator (and is invitation-only here)
    let page = app.get(&path).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("creates the first administrator"), "{html}");

    // bad input is explained and changes nothing
    let res = app
        .submit(
            &path,
            &path,
            &[("email", "not-an-email"), ("password", "short")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("users").await, 0);

    let res = app
        .submit(
            &path,
            &path,
            &[("email", "Root@Example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/apps");
    assert_eq!(
        role(&app, "root@example.com").await.as_deref(),
        Some("admin")
    );
    // the administrator is signed in and reaches the admin area
    assert_eq!(app.get("/admin").await.status(), StatusCode::OK);

    // the link is spent: its page and its form say why
    let other = app.second_browser();
    let html = other
        .client
        .get(app.url(&path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("already has an administrator"), "{html}");
    let res = other
        .submit(
            "/login",
            &path,
            &[("email", "mallory@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("already has an administrator"));
    assert_eq!(app.count("users").await, 1);
    assert_eq!(
        app.count("audit_events WHERE action = 'instance.setup_completed'")
            .await,
        1
    );

    // a later start prints no link; an unknown link is refused
    let again = app.another_instance().await;
    assert!(again.setup_link.is_none());
    let res = other
        .submit(
            "/login",
            "/setup/not-a-link",
            &[("email", "x@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::GONE);
}

async fn of_two_simultaneous_setups_exactly_one_wins(backend: Backend) {
    let Some(app) = start(backend, &[]).await else {
        return;
    };
    // a second process started before either was used prints its own link
    let second = app.another_instance().await;
    let links = [
        app.setup_link.clone().unwrap(),
        second.setup_link.clone().unwrap(),
    ];
    assert_ne!(links[0], links[1]);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, link) in links.iter().enumerate() {
        let browser = app.second_browser();
        let path = path_of(&app, link);
        let email = format!("admin{i}@example.com");
        tasks.spawn(async move {
            browser
                .submit(&path, &path, &[("email", &email), ("password", PASSWORD)])
                .await
                .status()
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, vec![StatusCode::SEE_OTHER, StatusCode::GONE]);
    assert_eq!(app.count("users WHERE role = 'admin'").await, 1);
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("setup_tokens").await, 0);
}

/// An administrator (made with the setup link) invites `email`: the link.
async fn invite(admin: &TestApp, email: &str) -> String {
    let res = admin
        .submit(
            "/admin/invitations",
            "/admin/invitations",
            &[("email", email)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let html = res.text().await.unwrap();
    crate::common::shown_value(&html, &format!("{}/invite/", admin.address))
}

async fn invite_only_sign_up_is_refused_and_an_invitation_lets_one_in(backend: Backend) {
    let Some(app) = start(backend, &[("OAUTH_VAULT_SIGNUP", "invite")]).await else {
        return;
    };
    let visitor = app.second_browser();
    let html = visitor
        .client
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("invitation-only"),
        "the sign-in page says which applies"
    );
    let signup = visitor
        .client
        .get(app.url("/signup"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(signup.contains("invitation-only") && !signup.contains(r#"action="/signup""#));
    let res = visitor
        .submit(
            "/login",
            "/signup",
            &[("email", "eve@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Ask an administrator for an invitation link"),
        "{html}"
    );
    assert_eq!(app.count("users").await, 0);
    assert_eq!(app.count("organisations").await, 0);

    app.set_up_admin("root@example.com", PASSWORD).await;
    let link = invite(&app, "Ann@Example.com").await;
    let path = path_of(&app, &link);
    // the invitation is listed as pending; the list never shows the link
    let list = app.get("/admin/invitations").await.text().await.unwrap();
    assert!(
        list.contains("ann@example.com") && list.contains("Pending"),
        "{list}"
    );
    assert!(!list.contains(&path));

    let ann = app.second_browser();
    let page = ann
        .client
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("ann@example.com"), "{page}");
    let res = ann.submit(&path, &path, &[("password", "short")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = ann.submit(&path, &path, &[("password", PASSWORD)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        role(&app, "ann@example.com").await.as_deref(),
        Some("developer")
    );
    assert_eq!(
        ann.client
            .get(app.url("/apps"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // used once only
    let res = app
        .second_browser()
        .submit("/login", &path, &[("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("already used"));

    // a revoked invitation says so
    let link = invite(&app, "bob@example.com").await;
    let id: String =
        sqlx::query_scalar("SELECT id FROM account_links WHERE email = 'bob@example.com'")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    let res = app
        .submit(
            "/admin/invitations",
            &format!("/admin/invitations/{id}"),
            &[],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let path = path_of(&app, &link);
    let res = app
        .second_browser()
        .submit("/login", &path, &[("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("revoked"));
    assert!(role(&app, "bob@example.com").await.is_none());
    // only administrators invite
    let res = ann
        .submit("/apps", "/admin/invitations", &[("email", "c@example.com")])
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.count("audit_events WHERE action IN ('invitation.created', 'invitation.revoked', 'user.joined_by_invitation')")
            .await,
        4
    );
}

async fn closed_sign_up_still_takes_invitations(backend: Backend) {
    let Some(app) = start(backend, &[("OAUTH_VAULT_SIGNUP", "closed")]).await else {
        return;
    };
    let res = app
        .second_browser()
        .submit(
            "/login",
            "/signup",
            &[("email", "eve@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("Sign-up is closed"));
    app.set_up_admin("root@example.com", PASSWORD).await;
    let link = invite(&app, "ann@example.com").await;
    let path = path_of(&app, &link);
    let res = app
        .second_browser()
        .submit(&path, &path, &[("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

async fn twenty_parallel_wrong_passwords_count_twenty(backend: Backend) {
    let Some(app) = start(backend, &[]).await else {
        return;
    };
    app.sign_up("dev@example.com", PASSWORD).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let browser = app.second_browser();
        tasks.spawn(async move {
            browser
                .sign_in("dev@example.com", &format!("wrong password number {i}"))
                .await
                .status()
        });
    }
    let mut checked = 0;
    while let Some(status) = tasks.join_next().await {
        match status.unwrap() {
            StatusCode::UNPROCESSABLE_ENTITY => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected answer {other}"),
        }
    }
    // at most the per-account limit were even checked
    assert!(checked <= 5, "{checked} guesses were checked");
    // the right password is refused until the window passes
    let res = app
        .second_browser()
        .sign_in("dev@example.com", PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-ins"));
    sqlx::query("UPDATE login_failures SET at = at - $1")
        .bind(16 * 60 * 1000_i64)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let res = app
        .second_browser()
        .sign_in("dev@example.com", PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

async fn sign_ups_are_throttled_per_address(backend: Backend) {
    let Some(app) = start(backend, &[("OAUTH_VAULT_SIGNUPS_PER_ADDRESS", "2")]).await else {
        return;
    };
    for i in 0..2 {
        let res = app
            .second_browser()
            .sign_up(&format!("dev{i}@example.com"), PASSWORD)
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    let res = app
        .second_browser()
        .sign_up("dev9@example.com", PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let html = res.text().await.unwrap();
    assert!(html.contains("Too many sign-ups"), "{html}");
    assert!(html.contains("dev9@example.com"), "the input is kept");
    // without trusted proxies, X-Forwarded-For is the client's word: ignored
    let browser = app.second_browser();
    let token = browser.csrf_token("/signup").await;
    let res = browser
        .client
        .post(app.url("/signup"))
        .header("origin", &app.address)
        .header("x-forwarded-for", "198.51.100.77")
        .form(&[
            ("email", "dev8@example.com"),
            ("password", PASSWORD),
            ("csrf", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.count("users").await, 2);
}

async fn a_password_change_needs_the_current_one_and_ends_other_sessions(backend: Backend) {
    let Some(app) = start(backend, &[]).await else {
        return;
    };
    app.sign_up("dev@example.com", PASSWORD).await;
    let laptop = app.second_browser();
    assert_eq!(
        laptop.sign_in("dev@example.com", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );

    let page = app.get("/account").await.text().await.unwrap();
    assert!(page.contains("Change password"), "{page}");
    let res = app
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", "not my password at all"),
                ("password", "a new passphrase here"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("not your current password"));
    let res = app
        .submit(
            "/account",
            "/account/password",
            &[("current_password", PASSWORD), ("password", "short")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let res = app
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("password", "a new passphrase here"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/account?changed=password");
    // this browser stays signed in; the other session ended
    assert_eq!(app.get("/apps").await.status(), StatusCode::OK);
    let res = laptop.client.get(app.url("/apps")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("sessions").await, 1);
    let fresh = app.second_browser();
    assert_eq!(
        fresh.sign_in("dev@example.com", PASSWORD).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        fresh
            .sign_in("dev@example.com", "a new passphrase here")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.count("audit_events WHERE action = 'user.password_changed'")
            .await,
        1
    );
}

fn cli(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let out = app
        .cli(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

async fn the_operator_resets_a_password_with_a_one_time_link(backend: Backend) {
    let Some(app) = start(backend, &[]).await else {
        return;
    };
    app.sign_up("dev@example.com", PASSWORD).await;
    let (code, _, err) = cli(&app, &["admin", "reset-password", "nobody@example.com"]);
    assert_eq!(code, 1);
    assert!(err.contains("no account"), "{err}");
    let (code, out, err) = cli(&app, &["admin", "reset-password", "dev@example.com"]);
    assert_eq!(code, 0, "{err}");
    let start = out.find("/reset/").unwrap_or_else(|| panic!("{out}"));
    let path = out[start..].split_whitespace().next().unwrap().to_string();
    // the server's public URL is derived from its bind address: use the path
    let visitor = app.second_browser();
    let page = visitor
        .client
        .get(app.url(&path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("dev@example.com"), "{page}");
    let res = visitor.submit(&path, &path, &[("password", "short")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = visitor
        .submit(&path, &path, &[("password", "the operator's fresh start")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login?reset=1");
    // every session of the account ended; the new password works
    assert_eq!(app.get("/apps").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        visitor
            .sign_in("dev@example.com", "the operator's fresh start")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    // once only
    let res = app
        .second_browser()
        .submit("/login", &path, &[("password", "yet another passphrase")])
        .await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(!out.contains(&app.var("DATABASE_URL")));
}

/// A sign-in through a proxy (the test itself) that says it forwards for
/// `forwarded_for`.
async fn sign_in_via(
    browser: &Browser,
    forwarded_for: &str,
    email: &str,
    password: &str,
) -> StatusCode {
    let token = browser.csrf_token("/login").await;
    browser
        .client
        .post(format!("{}/login", browser.address))
        .header("origin", &browser.address)
        .header("x-forwarded-for", forwarded_for)
        .form(&[("email", email), ("password", password), ("csrf", &token)])
        .send()
        .await
        .unwrap()
        .status()
}

async fn behind_a_trusted_proxy_the_forwarded_client_is_throttled_and_audited(backend: Backend) {
    let Some(app) = start(
        backend,
        &[("OAUTH_VAULT_TRUSTED_PROXIES", "127.0.0.0/8, ::1")],
    )
    .await
    else {
        return;
    };
    app.sign_up("dev@example.com", PASSWORD).await;
    let browser = app.second_browser();
    // 20 failures (against 20 accounts) from addresses of one IPv6 /64, an
    // attacker's whole network, block that network, whatever address of it
    // comes next; the left-most entry is the client's own claim, ignored
    for i in 1..=20 {
        let status = sign_in_via(
            &browser,
            &format!("203.0.113.9, 2001:db8:1:2::{i:x}"),
            &format!("user{i}@example.com"),
            "wrong guess here",
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(
        sign_in_via(
            &browser,
            "2001:db8:1:2:ffff::1",
            "dev@example.com",
            PASSWORD
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // another client behind the same proxy is not locked out
    assert_eq!(
        sign_in_via(&browser, "198.51.100.7", "dev@example.com", PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    // the audit log names the client, not the proxy
    let addresses: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT client_address FROM audit_events WHERE action = 'user.signed_in'",
    )
    .fetch_all(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(addresses, vec![Some("198.51.100.7".to_string())]);
    let failed: i64 = app
        .count("audit_events WHERE action = 'user.sign_in_failed' AND client_address LIKE '2001:db8:1:2::%'")
        .await;
    assert_eq!(failed, 20);
}
