//! The admin area: only administrators see it; connections across every
//! organisation with filters, search and pagination; actions with a reason,
//! each audited; user management; the audit log and its CSV export.
use crate::common;

use common::{Browser, TestApp};
use reqwest::StatusCode;

on_both_databases!(
    admin_pages_answer_404_to_everyone_else,
    connections_are_filtered_searched_and_paged,
    admin_actions_need_a_reason_and_are_audited,
    disabling_a_user_ends_their_session,
    the_audit_log_filters_and_exports,
);

const PASSWORD: &str = "correct horse battery";

/// The admin (made with the setup link) and a developer with an Attio app.
async fn setup(app: &TestApp) -> (Browser, String, String) {
    app.set_up_admin("admin@example.com", PASSWORD).await;
    let dev = app.second_browser();
    dev.sign_up("dev@example.com", PASSWORD).await;
    let res = dev.submit("/apps", "/apps", &[("name", "Dev App")]).await;
    let app_id = res.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("/apps/")
        .to_string();
    let page = format!("/apps/{app_id}/providers/new/attio");
    let res = dev
        .submit(
            &page,
            &page,
            &[
                ("client_id", "client"),
                ("client_secret", "a-secret-value-1234"),
                ("scopes", "record_permission:read"),
            ],
        )
        .await;
    let config_id = res.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    (dev, app_id, config_id)
}

/// Inserts `n` connections: every 10th needs re-authorization, every 7th
/// has an error, the rest are active; end users `user-0000`…
async fn seed(app: &TestApp, app_id: &str, config_id: &str, n: usize) {
    let mut tx = app.state.db.begin().await.unwrap();
    let now = app::infra::db::now_ms();
    for i in 0..n {
        let status = if i % 10 == 0 {
            "needs_reauthorization"
        } else if i % 7 == 0 {
            "error"
        } else {
            "active"
        };
        let granted = if i % 50 == 0 {
            "list_entry:read"
        } else {
            "record_permission:read"
        };
        sqlx::query(
            "INSERT INTO connections (id, app_id, provider_config_id, end_user_id, end_user_name, end_user_email, account_id, account_name, \
             status, access_token, token_type, granted_scopes, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'Bearer', $11, $12, $13)",
        )
        .bind(format!("conn_seed{i:05}"))
        .bind(app_id)
        .bind(config_id)
        .bind(format!("user-{i:04}"))
        .bind(format!("User {i}"))
        .bind(format!("user{i}@example.com"))
        .bind(format!("ws_{i}"))
        .bind(if i == 777 { "Lucky Workspace" } else { "Workspace" })
        .bind(status)
        .bind(vec![0u8; 40])
        .bind(granted)
        .bind(now - i as i64)
        .bind(now - i as i64)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

async fn text(res: reqwest::Response) -> (StatusCode, String) {
    let status = res.status();
    (status, res.text().await.unwrap())
}

async fn admin_pages_answer_404_to_everyone_else(app: TestApp) {
    let (dev, _, _) = setup(&app).await;
    let anonymous = app.second_browser();
    let user_id: String =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'dev@example.com'")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    for (browser, form_page) in [(&dev, "/apps"), (&anonymous, "/login")] {
        for path in [
            "/admin",
            "/admin/connections",
            "/admin/connections/conn_x",
            "/admin/users",
            "/admin/audit",
            "/admin/audit.csv",
        ] {
            let res = common::sent(browser.client.get(app.url(path)).send().await).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        }
        for path in [
            "/admin/connections/conn_x",
            &format!("/admin/users/{user_id}"),
        ] {
            let res = browser
                .submit(form_page, path, &[("_action", "grant"), ("reason", "x")])
                .await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "POST {path}");
        }
        for (function, args) in [
            ("overview", ""),
            ("users", ""),
            ("audit", "query[actor]=dev"),
            ("connections", "query[mismatch]=false"),
            ("connection", "id=conn_x"),
        ] {
            let res = common::sent(
                browser
                    .client
                    .post(app.url(&format!("/api/admin/{function}")))
                    .header("origin", &app.address)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(args)
                    .send()
                    .await,
            )
            .await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{function}");
            let body = res.text().await.unwrap();
            assert!(
                !body.contains("dev@example.com"),
                "{function} leaks nothing"
            );
        }
    }
    assert_eq!(
        sqlx::query_scalar::<_, String>("SELECT role FROM users WHERE email = 'dev@example.com'")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap(),
        "developer"
    );
    // the administrator sees them
    for path in [
        "/admin",
        "/admin/connections",
        "/admin/users",
        "/admin/audit",
    ] {
        let (status, _) = text(app.get(path).await).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
}

async fn connections_are_filtered_searched_and_paged(app: TestApp) {
    let (_, app_id, config_id) = setup(&app).await;
    seed(&app, &app_id, &config_id, 1200).await;

    let (status, html) = text(app.get("/admin").await).await;
    assert_eq!(status, StatusCode::OK);
    // 120 need re-authorization (every 10th), error: multiples of 7 that are not of 10
    let errors = (0..1200).filter(|i| i % 10 != 0 && i % 7 == 0).count();
    assert!(
        html.contains("Needs re-authorization: 120"),
        "overview counts"
    );
    assert!(html.contains(&format!("Error: {errors}")));
    assert!(html.contains(&format!("Active: {}", 1200 - 120 - errors)));
    assert!(html.contains("attio: 1200"));

    // walk every page of one filter: each row once, all of them
    let mut seen = std::collections::HashSet::new();
    let mut path = "/admin/connections?status=needs_reauthorization".to_string();
    for _ in 0..10 {
        let (status, html) = text(app.get(&path).await).await;
        assert_eq!(status, StatusCode::OK);
        for (start, _) in html.match_indices("href=\"/admin/connections/conn_seed") {
            let id: String = html[start + 25..]
                .chars()
                .take_while(|c| *c != '"')
                .collect();
            assert!(seen.insert(id), "a row on two pages");
        }
        assert!(!html.contains("user-0001<"), "only the filtered status");
        match html.find("data-testid=\"next-page\"") {
            Some(_) => {
                let start = html.find("href=\"/admin/connections?").unwrap() + 6;
                path = html[start..]
                    .split('"')
                    .next()
                    .unwrap()
                    .replace("&amp;", "&");
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 120);

    // search by end user, email and account name
    for (q, expected) in [
        ("user-0042", "conn_seed00042"),
        ("user777@example", "conn_seed00777"),
        ("lucky", "conn_seed00777"),
    ] {
        let (_, html) = text(app.get(&format!("/admin/connections?q={q}")).await).await;
        assert!(html.contains(expected), "{q}");
        assert_eq!(
            html.matches("href=\"/admin/connections/conn_").count(),
            1,
            "{q}"
        );
    }
    // scope mismatch and an unknown organisation
    let (_, html) = text(app.get("/admin/connections?mismatch=on").await).await;
    assert_eq!(html.matches("href=\"/admin/connections/conn_").count(), 24);
    let (_, html) = text(app.get("/admin/connections?organisation=org_none").await).await;
    assert!(html.contains("No connections match."));
}

async fn admin_actions_need_a_reason_and_are_audited(app: TestApp) {
    let (_, app_id, config_id) = setup(&app).await;
    seed(&app, &app_id, &config_id, 3).await;
    let page = "/admin/connections/conn_seed00001";
    let (status, html) = text(app.get(page).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Dev App") && html.contains("user-0001"));
    let audits =
        || app.count("audit_events WHERE action LIKE 'admin.%' OR action = 'connection.revoked'");

    // no reason: refused, nothing done, nothing audited
    let res = app
        .submit(page, page, &[("_action", "disconnect"), ("reason", " ")])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(audits().await, 0);
    assert_eq!(app.count("connections WHERE status = 'revoked'").await, 0);

    let res = app
        .submit(
            page,
            page,
            &[("_action", "check"), ("reason", "customer asked")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(audits().await, 1);
    let res = app
        .submit(
            page,
            page,
            &[("_action", "disconnect"), ("reason", "abuse report 42")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(audits().await, 2);
    let (actor, reason): (String, Option<String>) = sqlx::query_as(
        "SELECT actor_label, reason FROM audit_events WHERE action = 'connection.revoked'",
    )
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(actor, "admin@example.com");
    assert_eq!(reason.as_deref(), Some("abuse report 42"));
    assert_eq!(
        app.count("connections WHERE id = 'conn_seed00001' AND status = 'revoked'")
            .await,
        1
    );
    let (_, html) = text(app.get(page).await).await;
    assert!(html.contains("Revoked"));
}

async fn disabling_a_user_ends_their_session(app: TestApp) {
    let (dev, _, _) = setup(&app).await;
    let dev_id: String = sqlx::query_scalar("SELECT id FROM users WHERE email = 'dev@example.com'")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    let admin_id: String =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'admin@example.com'")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    let res = common::sent(dev.client.get(app.url("/apps")).send().await).await;
    assert_eq!(res.status(), StatusCode::OK, "signed in");

    let res = app
        .submit(
            "/admin/users",
            &format!("/admin/users/{dev_id}"),
            &[("_action", "disable")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = common::sent(dev.client.get(app.url("/apps")).send().await).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the live session ended"
    );
    assert_eq!(
        app.count(&format!("sessions WHERE user_id = '{dev_id}'"))
            .await,
        0
    );
    let res = app
        .second_browser()
        .sign_in("dev@example.com", PASSWORD)
        .await;
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "cannot sign in"
    );
    assert_eq!(
        app.count("audit_events WHERE action = 'user.disabled'")
            .await,
        1
    );

    // never yourself, never the last administrator
    let res = app
        .submit(
            "/admin/users",
            &format!("/admin/users/{admin_id}"),
            &[("_action", "disable")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .submit(
            "/admin/users",
            &format!("/admin/users/{admin_id}"),
            &[("_action", "revoke")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("last administrator"));

    let res = app
        .submit(
            "/admin/users",
            &format!("/admin/users/{dev_id}"),
            &[("_action", "enable")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = app
        .second_browser()
        .sign_in("dev@example.com", PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "enabled again");
    let res = app
        .submit(
            "/admin/users",
            &format!("/admin/users/{dev_id}"),
            &[("_action", "grant")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("users WHERE role = 'admin'").await, 2);
}

async fn the_audit_log_filters_and_exports(app: TestApp) {
    let (_, app_id, _) = setup(&app).await;
    let (status, html) = text(app.get("/admin/audit?action=provider.created").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("provider.created"));
    assert!(!html.contains("app.created"));
    let (_, html) = text(app.get(&format!("/admin/audit?app={app_id}")).await).await;
    assert!(html.contains("app.created") && html.contains("provider.created"));
    assert!(!html.contains("user.signed_up"), "not an app's entry");
    let (_, html) = text(app.get("/admin/audit?actor=dev@example.com").await).await;
    assert!(html.contains("app.created"));
    let (_, html) = text(app.get("/admin/audit?from=2000-01-01&to=2000-01-02").await).await;
    assert!(!html.contains("app.created"), "nothing that day");

    let res = app.get("/admin/audit.csv?action=app.created").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("time,actor_type,actor,action"));
    assert!(lines[1].contains("\"app.created\"") && lines[1].contains("dev@example.com"));
}
