//! A refresh whose process died mid-call: its short lease is taken over
//! within seconds, the stored refresh token is tried once more, and a
//! connection lost because the provider had already rotated the token says
//! why. Against the strict fake provider, with and without a grace period
//! for the previous token. And the real thing: a server process killed
//! (SIGKILL) while its refreshes are at the provider, and started again on
//! the same data.
use crate::common::{
    fake_oauth::{CLIENT_ID, CLIENT_SECRET},
    start_binary, Setup, World,
};
use reqwest::{Method, StatusCode};
use std::time::{Duration, Instant};

with_world!(
    SETUP;
    a_dead_holders_lease_is_taken_over_and_the_loss_explained,
    with_a_grace_period_nothing_is_lost,
    killed_mid_refresh_with_a_grace_period_nothing_is_lost,
    killed_mid_refresh_with_strict_rotation_every_loss_says_why,
);

const SETUP: Setup = Setup {
    return_url: "https://app.example.com/done",
    attio_scopes: &["record_permission:read"],
    fake_oauth: true,
};

/// As if a process had taken the lease of `id` (renewed it a moment ago: the
/// worst case, a whole lease to run out), reached the provider (which
/// rotated the refresh token) and died before storing the answer.
async fn die_mid_refresh(w: &World, id: &str) {
    let stored = w.oauth.current_refresh_token().unwrap();
    let answer = reqwest::Client::new()
        .post(format!("{}/token", w.oauth.address))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &stored)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK, "the provider rotated");
    let now = app::infra::db::now_ms();
    w.sql(&format!(
        "UPDATE connections SET lease_owner = 'lease_dead', lease_until = {}, refresh_started_at = {} WHERE id = '{id}'",
        now + 4000,
        now - 200
    ))
    .await;
}

/// How many of `id`'s events say it was lost to an interrupted refresh.
async fn explained(w: &World, id: &str) -> i64 {
    w.app
        .count(&format!(
            "connection_events WHERE connection_id = '{id}' AND kind = 'needs_reauthorization' \
             AND message LIKE '%interrupted by a restart%'"
        ))
        .await
}

/// A forced refresh of `id`: its status, body and how long it took.
async fn forced(w: &World, id: &str) -> (StatusCode, serde_json::Value, Duration) {
    let started = Instant::now();
    let (status, body) = w
        .json(
            Method::GET,
            &format!("/v1/connections/{id}/access-token?force_refresh=true"),
        )
        .await;
    (status, body, started.elapsed())
}

async fn a_dead_holders_lease_is_taken_over_and_the_loss_explained(w: World) {
    let id = w.connect_oauth("user-1").await;
    die_mid_refresh(&w, &id).await;
    let (status, body, took) = forced(&w, &id).await;
    eprintln!("strict rotation: the dead holder's lease was taken over after {took:?}");
    assert!(
        took < Duration::from_secs(5),
        "taken over within 5 s: {took:?}"
    );
    assert_eq!(status, StatusCode::CONFLICT, "no 5xx, no hang: {body}");
    assert_eq!(body["error"]["code"], "needs_reauthorization");
    assert!(body["error"]["reconnect_url"].is_string());
    assert_eq!(explained(&w, &id).await, 1, "the event says why");
    // the admin overview counts it
    let overview =
        app::store::admin::overview(&w.app.state.db, &w.app.state.catalogue, String::new())
            .await
            .unwrap();
    assert_eq!(overview.interrupted_24h, 1);
    let cleared = w
        .app
        .count(&format!(
            "connections WHERE id = '{id}' AND lease_owner IS NULL AND refresh_started_at IS NULL"
        ))
        .await;
    assert_eq!(cleared, 1);
}

async fn with_a_grace_period_nothing_is_lost(w: World) {
    w.oauth.set_grace_period(true);
    let id = w.connect_oauth("user-1").await;
    die_mid_refresh(&w, &id).await;
    let (status, body, took) = forced(&w, &id).await;
    eprintln!("grace period: the dead holder's lease was taken over after {took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(w.status(&id).await, "active");
    assert!(!w.oauth.grant_revoked());
    // and the connection keeps refreshing normally
    let (status, _, _) = forced(&w, &id).await;
    assert_eq!(status, StatusCode::OK);
}

/// Connections refreshed at once when the server is killed.
const CONNECTIONS: usize = 4;

/// One round of the real thing: a server process (the binary, on the same
/// database and keys) gets a forced refresh of every connection and is
/// killed with SIGKILL once the provider has rotated every refresh token and
/// before its answers arrive; then a new process starts on the same data and
/// gets the same forced refreshes. Returns the new process's answers, each
/// with how long it took, and the process, to stop.
async fn kill_mid_refresh_and_restart(
    w: &World,
    ids: &[String],
) -> (
    Vec<(StatusCode, serde_json::Value, Duration)>,
    std::process::Child,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let forced_at = |url: &str, id: &str| {
        client
            .get(format!(
                "{url}/v1/connections/{id}/access-token?force_refresh=true"
            ))
            .bearer_auth(&w.key)
            .send()
    };
    let (mut doomed, url) = start_binary(&mut w.app.cli(&[]));
    let before = w.oauth.refresh_requests();
    let in_flight: Vec<_> = ids
        .iter()
        .map(|id| tokio::spawn(forced_at(&url, id)))
        .collect();
    // every refresh has reached the provider, which rotated at once and
    // answers only later
    for _ in 0..100 {
        if w.oauth.refresh_requests() >= before + ids.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(w.oauth.refresh_requests(), before + ids.len());
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    // the provider's slowness was only there to be killed in
    let slowness = w.oauth.answer_delay();
    w.oauth.set_answer_delay(0);
    for request in in_flight {
        // the connection dropped: no answer, and certainly no 5xx
        if let Ok(res) = request.await.unwrap() {
            assert!(res.status().as_u16() < 500, "{}", res.status());
        }
    }
    // started again on the same data
    let (restarted, url) = start_binary(&mut w.app.cli(&[]));
    let answers = futures_util::future::join_all(ids.iter().map(|id| {
        let request = forced_at(&url, id);
        async move {
            let started = Instant::now();
            let res = request.await.expect("an answer, not a hang");
            let status = res.status();
            let body: serde_json::Value = res.json().await.unwrap_or_default();
            (status, body, started.elapsed())
        }
    }))
    .await;
    w.oauth.set_answer_delay(slowness);
    (answers, restarted)
}

async fn killed_mid_refresh_with_a_grace_period_nothing_is_lost(w: World) {
    w.oauth.set_grace_period(true);
    let mut ids = Vec::new();
    for n in 0..CONNECTIONS {
        ids.push(w.connect_oauth(&format!("user-{n}")).await);
    }
    w.oauth.set_answer_delay(1500);
    for round in 1..=2 {
        let (answers, mut server) = kill_mid_refresh_and_restart(&w, &ids).await;
        let slowest = answers.iter().map(|a| a.2).max().unwrap();
        eprintln!("grace period, kill {round}: the new process took the dead one's leases over within {slowest:?}");
        for (status, body, took) in &answers {
            assert_eq!(*status, StatusCode::OK, "{body}");
            assert!(
                *took < Duration::from_secs(5),
                "taken over within 5 s: {took:?}"
            );
        }
        server.kill().unwrap();
        server.wait().unwrap();
    }
    for id in &ids {
        assert_eq!(w.status(id).await, "active", "nothing lost");
    }
    assert!(!w.oauth.grant_revoked());
}

async fn killed_mid_refresh_with_strict_rotation_every_loss_says_why(w: World) {
    let mut ids = Vec::new();
    for n in 0..CONNECTIONS {
        ids.push(w.connect_oauth(&format!("user-{n}")).await);
    }
    w.oauth.set_answer_delay(1500);
    let (answers, mut server) = kill_mid_refresh_and_restart(&w, &ids).await;
    server.kill().unwrap();
    server.wait().unwrap();
    let slowest = answers.iter().map(|a| a.2).max().unwrap();
    eprintln!(
        "strict rotation: the new process took the dead one's leases over within {slowest:?}"
    );
    for (status, body, took) in &answers {
        assert!(
            *took < Duration::from_secs(5),
            "taken over within 5 s: {took:?}"
        );
        // the provider rotated and forgot the stored token: lost, and said so
        assert_eq!(*status, StatusCode::CONFLICT, "no 5xx: {body}");
        assert_eq!(body["error"]["code"], "needs_reauthorization");
    }
    for id in &ids {
        assert_eq!(explained(&w, id).await, 1, "every loss says why");
    }
}
