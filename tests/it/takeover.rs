//! A refresh whose process died mid-call: its short lease is taken over
//! within seconds, the stored refresh token is tried once more, and a
//! connection lost because the provider had already rotated the token says
//! why. Against the strict fake provider, with and without a grace period
//! for the previous token.
use crate::common::{
    fake_oauth::{CLIENT_ID, CLIENT_SECRET},
    Setup, World,
};
use reqwest::{Method, StatusCode};
use std::time::{Duration, Instant};

with_world!(
    SETUP;
    a_dead_holders_lease_is_taken_over_and_the_loss_explained,
    with_a_grace_period_nothing_is_lost,
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
    let explained = w
        .app
        .count(&format!(
            "connection_events WHERE connection_id = '{id}' AND kind = 'needs_reauthorization' \
             AND message LIKE '%interrupted by a restart%'"
        ))
        .await;
    assert_eq!(explained, 1, "the event says why");
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
