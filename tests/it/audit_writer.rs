//! The audit writer of the token API: token reads counted in one entry per
//! API key, connection and window, committed before the answer when the
//! audit is durable, never dropped when the database fails.
use crate::common;

use common::World;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};

with_world!(
    SETUP;
    parallel_reads_are_counted_exactly_in_one_entry with DURABLE_HOUR_WINDOW,
    a_crash_after_durable_answers_loses_no_read with DURABLE,
    a_failing_database_keeps_the_reads_and_readyz_says_so with BUFFERED,
);

use super::refresh::SETUP;

/// A window long enough that a test's reads fall in one, almost always
/// (the test accepts two adjacent windows).
const DURABLE_HOUR_WINDOW: &[(&str, &str)] = &[
    ("OAUTH_VAULT_TOKEN_READ_AUDIT_WINDOW_SECS", "3600"),
    ("OAUTH_VAULT_TOKEN_READ_AUDIT", "durable"),
];
const DURABLE: &[(&str, &str)] = &[("OAUTH_VAULT_TOKEN_READ_AUDIT", "durable")];
const BUFFERED: &[(&str, &str)] = &[("OAUTH_VAULT_TOKEN_READ_AUDIT", "buffered")];

/// The `token.read` entries of a connection: (at, last_at, occurrences).
async fn read_entries(w: &World, id: &str) -> Vec<(i64, Option<i64>, Option<i64>)> {
    sqlx::query_as(
        "SELECT at, last_at, occurrences FROM audit_events \
         WHERE action = 'token.read' AND target_id = $1 AND actor_type = 'api_key' ORDER BY at",
    )
    .bind(id)
    .fetch_all(w.app.state.db.pool())
    .await
    .unwrap()
}

async fn reads_counted(w: &World, id: &str) -> i64 {
    read_entries(w, id)
        .await
        .iter()
        .map(|(_, _, n)| n.unwrap_or(1))
        .sum()
}

async fn parallel_reads_are_counted_exactly_in_one_entry(w: World) {
    let id = w.connect_oauth("user-1").await;
    const N: usize = 60;
    let path = format!("/v1/connections/{id}/access-token");
    let reads = (0..N).map(|_| w.call(&w.app.address, reqwest::Method::GET, &path));
    for (status, body, _) in futures_util::future::join_all(reads).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // durable: counted when answered, no waiting
    let entries = read_entries(&w, &id).await;
    let total: i64 = entries.iter().map(|e| e.2.unwrap_or(0)).sum();
    assert_eq!(total, N as i64, "{entries:?}");
    let windows: Vec<i64> = entries.iter().map(|e| e.0 / 3_600_000).collect();
    assert!(
        entries.len() == 1 || (entries.len() == 2 && windows[0] + 1 == windows[1]),
        "one entry per window: {entries:?}"
    );
    for (first, last, _) in &entries {
        assert!(last.is_some_and(|l| l >= *first), "{entries:?}");
    }

    // the Activity page says how many and when
    let html = w
        .app
        .get(&format!("/apps/{}/activity", w.app_id))
        .await
        .text()
        .await
        .unwrap();
    if entries.len() == 1 {
        assert!(html.contains(&format!("{N} times between")), "{html}");
    }
}

/// Starts the real binary, configured like `w`'s server, and returns it
/// with its URL.
fn start_binary(w: &World) -> (std::process::Child, String) {
    crate::common::start_binary(&mut w.app.cli(&[]))
}

async fn a_crash_after_durable_answers_loses_no_read(w: World) {
    let id = w.connect_oauth("user-1").await;
    let (mut child, url) = start_binary(&w);
    const K: usize = 100;
    let path = format!("/v1/connections/{id}/access-token");
    for _ in 0..K / 20 {
        let reads = (0..20).map(|_| w.call(&url, reqwest::Method::GET, &path));
        for (status, body, _) in futures_util::future::join_all(reads).await {
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    // kill -9 right after the answers: no graceful stop writes anything
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(reads_counted(&w, &id).await, K as i64);
}

async fn readyz(w: &World) -> (StatusCode, Value) {
    let res = w.app.get("/readyz").await;
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn a_failing_database_keeps_the_reads_and_readyz_says_so(w: World) {
    let id = w.connect_oauth("user-1").await;
    let (status, body) = readyz(&w).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["audit_writer"]["status"], "ok", "{body}");

    // the audit table refuses every write for a while
    let sqlite = w.app.state.db.kind().as_str() == "sqlite";
    if sqlite {
        w.sql("CREATE TRIGGER refuse_insert BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'refused for the test'); END")
            .await;
        w.sql("CREATE TRIGGER refuse_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'refused for the test'); END")
            .await;
    } else {
        w.sql("CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused for the test'; END $$ LANGUAGE plpgsql")
            .await;
        w.sql("CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse()")
            .await;
    }
    const K: i64 = 30;
    for _ in 0..K {
        let (status, body) = w.token(&id).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // readiness says so at once, and is withdrawn after 10 s of failing
    let started = Instant::now();
    let mut seen_failing = false;
    loop {
        let (status, body) = readyz(&w).await;
        if body["audit_writer"]["status"] == "failing" {
            seen_failing = true;
            assert!(
                body["audit_writer"]["pending_entries"]
                    .as_u64()
                    .unwrap_or(0)
                    > 0,
                "{body}"
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(seen_failing, "{body}");
            assert_eq!(body["reason"], "audit_writer", "{body}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never unready: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(reads_counted(&w, &id).await, 0, "nothing could be written");

    // the database accepts writes again: every read is counted
    if sqlite {
        w.sql("DROP TRIGGER refuse_insert").await;
        w.sql("DROP TRIGGER refuse_update").await;
    } else {
        w.sql("DROP TRIGGER refuse ON audit_events").await;
    }
    let started = Instant::now();
    while reads_counted(&w, &id).await < K {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the reads were not written after the database recovered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reads_counted(&w, &id).await, K);
    let (status, body) = readyz(&w).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["audit_writer"]["status"], "ok", "{body}");
}
