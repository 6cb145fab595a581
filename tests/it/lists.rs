//! The portal's lists page through any number of rows: keyset pages
//! ("Older"/"Newer" links carrying a cursor) without duplicates or gaps,
//! filters and search in the URL, a bad page link or filter value answered
//! with a message, and another organisation's app still 404.
use crate::common;

use common::{Setup, TestApp, World};
use reqwest::StatusCode;
use std::collections::HashSet;

with_world!(
    SETUP;
    connections_page_filter_and_search,
    activity_keys_and_deliveries_page,
);

on_both_databases!(the_admin_audit_log_pages_beyond_its_first_entries,);

const SETUP: Setup = Setup {
    return_url: "https://app.example.com/done",
    attio_scopes: &["record_permission:read"],
    fake_oauth: true,
};

/// 2024-01-01T00:00:00Z.
const BASE: i64 = 1_704_067_200_000;

async fn page(app: &TestApp, path: &str) -> String {
    let res = app.get(path).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.text().await.unwrap()
}

/// The `href` of the link marked `testid`, if the page has one.
fn link(html: &str, testid: &str) -> Option<String> {
    let at = html.find(&format!("data-testid=\"{testid}\""))?;
    let start = html[..at].rfind("href=\"")? + 6;
    Some(html[start..].split('"').next()?.replace("&amp;", "&"))
}

/// Every `marker…` token on the page, in order of first appearance (a
/// token ends at a character that is not alphanumeric, `_` or `-`; the
/// page also carries its data for the browser, hence once each).
fn tokens(html: &str, marker: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    html.match_indices(marker)
        .map(|(i, _)| {
            html[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect::<String>()
        })
        .filter(|t| seen.insert(t.clone()))
        .collect()
}

/// Walks from `start` through every "Older" page and back through every
/// "Newer" page: each row once, in the same order both ways.
async fn walk(app: &TestApp, start: &str, marker: &str) -> Vec<String> {
    let mut pages: Vec<Vec<String>> = Vec::new();
    let mut html = page(app, start).await;
    loop {
        pages.push(tokens(&html, marker));
        assert!(pages.len() < 50, "the pages end");
        match link(&html, "older-page") {
            Some(next) => html = page(app, &next).await,
            None => break,
        }
    }
    let all: Vec<String> = pages.concat();
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "a row on two pages: {all:?}");
    // and back, newest first again
    let mut back: Vec<Vec<String>> = vec![pages.last().unwrap().clone()];
    while let Some(prev) = link(&html, "newer-page") {
        html = page(app, &prev).await;
        back.push(tokens(&html, marker));
        assert!(back.len() <= pages.len(), "no more pages back than forward");
    }
    back.reverse();
    assert_eq!(
        back, pages,
        "the newer links lead back through the same pages"
    );
    all
}

async fn connections_page_filter_and_search(world: World) {
    let app = &world.app;
    let mut tx = app.state.db.begin().await.unwrap();
    for i in 0..120 {
        let config = if i % 5 == 0 {
            &world.oauth_config
        } else {
            &world.attio_config
        };
        sqlx::query(
            "INSERT INTO connections (id, app_id, provider_config_id, end_user_id, end_user_name, end_user_email, account_id, account_name, \
             status, access_token, token_type, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'Bearer', $11, $11)",
        )
        .bind(format!("conn_l{i:03}"))
        .bind(&world.app_id)
        .bind(config)
        .bind(format!("user-{}", i % 40))
        .bind(format!("User {i}"))
        .bind(format!("u{i}@example.com"))
        .bind(format!("acct_{i}"))
        .bind(if i == 77 { "Lucky Co" } else { "Workspace" })
        .bind(if i % 4 == 0 { "needs_reauthorization" } else { "active" })
        .bind(vec![0u8; 40])
        // three connections share each timestamp: the id breaks the tie
        .bind(BASE - (i / 3) as i64)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let list = format!("/apps/{}/connections", world.app_id);

    let all = walk(app, &list, "conn_l").await;
    assert_eq!(all.len(), 120);
    assert_eq!(all[0], "conn_l002", "newest first, ties by id");
    let html = page(app, &list).await;
    assert_eq!(html.matches("/connections/conn_l").count(), 50, "50 a page");

    let slug: String = sqlx::query_scalar("SELECT slug FROM provider_configs WHERE id = $1")
        .bind(&world.oauth_config)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    for (query, expected) in [
        ("status=needs_reauthorization".to_string(), 30),
        (format!("provider={slug}"), 24),
        (format!("provider={slug}&status=needs_reauthorization"), 6),
        ("end_user=user-7".to_string(), 3),
        ("q=lucky".to_string(), 1),
        ("q=U101%40EXAMPLE".to_string(), 1),
        ("q=acct_5".to_string(), 11),
        ("q=User+11".to_string(), 11),
        ("q=nobody-at-all".to_string(), 0),
    ] {
        let found = walk(app, &format!("{list}?{query}"), "conn_l").await;
        assert_eq!(found.len(), expected, "{query}: {found:?}");
    }
    let html = page(app, &format!("{list}?q=lucky")).await;
    assert!(html.contains("conn_l077"));
    let html = page(app, &format!("{list}?q=nobody")).await;
    assert!(html.contains("No connections match."));

    // bad input: a message, the unfiltered first page, never an error
    for query in [
        "status=bogus",
        "provider=nope",
        "older=garbage",
        "newer=1:x'--",
        "older=abc:def",
    ] {
        let html = page(app, &format!("{list}?{query}")).await;
        assert!(html.contains("data-testid=\"list-notice\""), "{query}");
        assert_eq!(html.matches("/connections/conn_l").count(), 50, "{query}");
    }

    // another organisation: its app is not found, and its list has none of ours
    let other = app.second_browser();
    other
        .sign_up("other@example.com", "correct horse battery")
        .await;
    let theirs = World::new_app(&other, "Theirs", &SETUP).await;
    let res = app
        .get(&format!(
            "/apps/{}/connections?{}",
            theirs.app_id, "status=active"
        ))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let cursor = link(&page(app, &list).await, "older-page").unwrap();
    let cursor = cursor.split("older=").nth(1).unwrap().to_string();
    let res = common::sent(
        other
            .client
            .get(app.url(&format!(
                "/apps/{}/connections?older={cursor}",
                theirs.app_id
            )))
            .send()
            .await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!res.text().await.unwrap().contains("conn_l"));
}

async fn activity_keys_and_deliveries_page(world: World) {
    let app = &world.app;
    let org: String = sqlx::query_scalar("SELECT organisation_id FROM apps WHERE id = $1")
        .bind(&world.app_id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    let mut tx = app.state.db.begin().await.unwrap();
    for i in 0..120i64 {
        let action = if i % 2 == 0 {
            "connection.refreshed"
        } else {
            "webhook.endpoint_set"
        };
        sqlx::query(
            "INSERT INTO audit_events (id, at, actor_type, action, organisation_id, app_id, target_type, target_id) \
             VALUES ($1, $2, 'system', $3, $4, $5, 'connection', $6)",
        )
        .bind(format!("aud_l{i:03}"))
        // an hour apart, from 2024-01-01
        .bind(BASE + i * 3_600_000)
        .bind(action)
        .bind(&org)
        .bind(&world.app_id)
        .bind(format!("tgt_l{i:03}"))
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO api_keys (id, app_id, name, prefix, key_hash, created_by, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, 'seed', $6, $7)",
        )
        .bind(format!("key_l{i:03}"))
        .bind(&world.app_id)
        .bind(format!("key {i}"))
        .bind(format!("ovk_seed-l{i:03}"))
        .bind(format!("hash-l{i:03}"))
        .bind(BASE + i / 2)
        .bind((i % 3 == 0).then_some(BASE + 10_000))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, app_id, event_type, payload, status, attempts, next_attempt_at, created_at) \
         VALUES ('msg_l', $1, 'connection.created', '{}', 'failed', 120, $2, $2)",
    )
    .bind(&world.app_id)
    .bind(BASE)
    .execute(&mut *tx)
    .await
    .unwrap();
    for i in 0..120i64 {
        sqlx::query(
            "INSERT INTO webhook_attempts (id, delivery_id, app_id, attempt, at, error) VALUES ($1, 'msg_l', $2, $3, $4, $5)",
        )
        .bind(format!("att_l{i:03}"))
        .bind(&world.app_id)
        .bind(i + 1)
        .bind(BASE + i / 4)
        .bind(format!("err-l{i:03}"))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();

    // activity: every page, then its filters
    let activity = format!("/apps/{}/activity", world.app_id);
    assert_eq!(walk(app, &activity, "tgt_l").await.len(), 120);
    let refreshed = walk(app, &format!("{activity}?kind=connection"), "tgt_l").await;
    assert_eq!(refreshed.len(), 60);
    assert!(refreshed
        .iter()
        .all(|t| t[5..].parse::<u32>().unwrap() % 2 == 0));
    let set = walk(
        app,
        &format!("{activity}?action=webhook.endpoint_set"),
        "tgt_l",
    )
    .await;
    assert_eq!(set.len(), 60);
    // the second day: entries 24 to 47
    let day = walk(
        app,
        &format!("{activity}?from=2024-01-02&to=2024-01-02"),
        "tgt_l",
    )
    .await;
    assert_eq!(day.first().map(String::as_str), Some("tgt_l047"));
    assert_eq!(day.len(), 24);
    let html = page(app, &format!("{activity}?kind=connection&who=system")).await;
    assert_eq!(tokens(&html, "tgt_l").len(), 50);
    for query in ["kind=nope", "who=nobody", "from=yesterday", "older=%3A%3A"] {
        let html = page(app, &format!("{activity}?{query}")).await;
        assert!(html.contains("data-testid=\"list-notice\""), "{query}");
    }

    // API keys, then only the revoked ones
    let keys = format!("/apps/{}/api-keys", world.app_id);
    assert_eq!(walk(app, &keys, "ovk_seed-l").await.len(), 120);
    assert_eq!(
        walk(app, &format!("{keys}?state=revoked"), "ovk_seed-l")
            .await
            .len(),
        40
    );
    assert_eq!(
        walk(app, &format!("{keys}?state=active"), "ovk_seed-l")
            .await
            .len(),
        80
    );
    let html = page(app, &format!("{keys}?state=maybe")).await;
    assert!(html.contains("data-testid=\"list-notice\""));

    // the webhook delivery log
    let settings = format!("/apps/{}/settings", world.app_id);
    let attempts = walk(app, &settings, "err-l").await;
    assert_eq!(attempts.len(), 120);
    assert_eq!(attempts[0], "err-l119");

    // the admin's page of one connection: its own webhook deliveries, paged
    let id = world.connect_oauth("lister").await;
    let mut tx = app.state.db.begin().await.unwrap();
    for i in 0..130i64 {
        // ten of them about another connection
        let about = if i < 120 { id.as_str() } else { "con_other" };
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, app_id, event_type, payload, status, attempts, next_attempt_at, created_at, connection_id) \
             VALUES ($1, $2, $3, '{}', 'delivered', 1, $4, $4, $5)",
        )
        .bind(format!("msg_d{i:03}"))
        .bind(&world.app_id)
        .bind(format!("test_d{i:03}"))
        .bind(BASE + i / 3)
        .bind(about)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    world
        .sql("UPDATE users SET role = 'admin' WHERE email = 'dev@example.com'")
        .await;
    let deliveries = walk(app, &format!("/admin/connections/{id}"), "test_d").await;
    assert_eq!(deliveries.len(), 120, "{deliveries:?}");
    assert_eq!(deliveries[0], "test_d119");
    world
        .sql("UPDATE users SET role = 'developer' WHERE email = 'dev@example.com'")
        .await;

    // another organisation's developer sees none of it
    let other = app.second_browser();
    other
        .sign_up("other@example.com", "correct horse battery")
        .await;
    for path in [&activity, &keys, &settings] {
        let res = common::sent(other.client.get(app.url(path)).send().await).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

async fn the_admin_audit_log_pages_beyond_its_first_entries(app: TestApp) {
    app.set_up_admin("admin@example.com", "correct horse battery")
        .await;
    let mut tx = app.state.db.begin().await.unwrap();
    for i in 0..250i64 {
        sqlx::query(
            "INSERT INTO audit_events (id, at, actor_type, action, target_type, target_id) \
             VALUES ($1, $2, 'system', 'instance.checked', 'instance', $3)",
        )
        .bind(format!("aud_l{i:03}"))
        // pairs share a timestamp
        .bind(BASE + i / 2)
        .bind(format!("tgt_l{i:03}"))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let all = walk(&app, "/admin/audit", "tgt_l").await;
    assert_eq!(all.len(), 250);
    assert_eq!(all[0], "tgt_l249");
    let filtered = walk(&app, "/admin/audit?action=instance.checked", "tgt_l").await;
    assert_eq!(filtered.len(), 250);
    let html = page(&app, "/admin/audit?older=oops").await;
    assert!(html.contains("data-testid=\"list-notice\""));
    // the export link is of the whole log, not of the page
    let html = page(
        &app,
        &format!("/admin/audit?older={}", "1704067200100:aud_l200"),
    )
    .await;
    let csv = link(&html, "csv").unwrap();
    assert!(!csv.contains("older"), "{csv}");
}
