//! Keeping tokens alive: refresh on demand under a lease shared by all
//! server processes, rotation, failure handling, health checks of Attio's
//! long-lived tokens, reconnecting and disconnecting with revocation.
use crate::common;

use common::{fake_oauth::RefreshFailure, Setup, World};
use reqwest::{Method, StatusCode};
use serde_json::json;

with_world!(
    SETUP;
    concurrent_requests_refresh_once,
    two_server_processes_refresh_once,
    a_dead_processes_lease_is_taken_over,
    rotated_refresh_tokens_are_never_sent_again,
    a_dead_grant_needs_reauthorization_and_reconnect_restores_it,
    another_processes_rotation_is_no_false_alarm,
    the_background_worker_refreshes_before_expiry,
    attio_health_checks_find_dead_tokens_and_scope_changes,
    disconnect_revokes_at_the_provider_and_retries_later,
    transient_failures_back_off_and_recover with FAST_BACKOFF,
    the_api_cache_follows_this_processes_changes with CACHE_ON,
    a_connection_in_use_sees_another_processes_change_within_the_ttl with CACHE_ONE_SECOND,
    durable_token_read_audit_is_committed_before_the_answer with DURABLE_AUDIT,
);

const FAST_BACKOFF: &[(&str, &str)] = &[
    ("OAUTH_VAULT_REFRESH_BACKOFF_SECS", "1"),
    ("OAUTH_VAULT_REFRESH_FAILURES_BEFORE_ERROR", "3"),
];
const CACHE_ON: &[(&str, &str)] = &[("OAUTH_VAULT_API_CACHE_TTL_MS", "60000")];
const CACHE_ONE_SECOND: &[(&str, &str)] = &[("OAUTH_VAULT_API_CACHE_TTL_MS", "1000")];
const DURABLE_AUDIT: &[(&str, &str)] = &[("OAUTH_VAULT_TOKEN_READ_AUDIT", "durable")];
const RETURN_URL: &str = "https://app.example.com/done";

/// The app of these suites: Attio and the fake RFC 6749 provider.
pub const SETUP: Setup = Setup {
    return_url: RETURN_URL,
    attio_scopes: &["record_permission:read"],
    fake_oauth: true,
};

async fn concurrent_requests_refresh_once(w: World) {
    let id = w.connect_oauth("user-1").await;
    let (status, first) = w.token(&id).await;
    assert_eq!(status, StatusCode::OK);
    assert!(first["expires_at"].is_string());
    assert_eq!(
        w.oauth.refresh_requests(),
        0,
        "a fresh token is served as is"
    );

    w.expire(&id).await;
    w.oauth.set_refresh_delay(300);
    let calls = (0..100).map(|_| w.token(&id));
    let answers = futures_join_all(calls).await;
    assert_eq!(
        w.oauth.refresh_requests(),
        1,
        "exactly one refresh reached the provider"
    );
    let newest = w.oauth.current_access_token().unwrap();
    for (status, body) in answers {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["access_token"], newest.as_str());
    }
    assert!(!w.oauth.grant_revoked());
    assert_eq!(w.events(&id, "refreshed").await, 1);
}

/// Awaits all futures concurrently.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    futures_util::future::join_all(futures).await
}

async fn two_server_processes_refresh_once(w: World) {
    let id = w.connect_oauth("user-1").await;
    let other = w.app.another_instance().await;
    w.expire(&id).await;
    w.oauth.set_refresh_delay(300);
    let calls = (0..20).map(|i| {
        let base = if i % 2 == 0 {
            w.app.address.clone()
        } else {
            other.address.clone()
        };
        let path = format!("/v1/connections/{id}/access-token");
        let w = &w;
        async move { w.call(&base, Method::GET, &path).await }
    });
    let answers = futures_join_all(calls).await;
    assert_eq!(
        w.oauth.refresh_requests(),
        1,
        "one refresh across both processes"
    );
    let newest = w.oauth.current_access_token().unwrap();
    for (status, body, _) in answers {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["access_token"], newest.as_str());
    }
    other.stop().await;
}

async fn a_dead_processes_lease_is_taken_over(w: World) {
    let id = w.connect_oauth("user-1").await;
    w.expire(&id).await;
    // a process took the lease and died before storing anything
    let until = app::infra::db::now_ms() + 1500;
    w.sql(&format!(
        "UPDATE connections SET lease_owner = 'lease_dead', lease_until = {until} WHERE id = '{id}'"
    ))
    .await;
    let (status, body) = w.token(&id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        app::infra::db::now_ms() >= until,
        "waited for the lease to run out"
    );
    assert_eq!(
        body["access_token"],
        w.oauth.current_access_token().unwrap().as_str()
    );
    assert_eq!(w.oauth.refresh_requests(), 1);
    let owner: Option<String> =
        sqlx::query_scalar("SELECT lease_owner FROM connections WHERE id = $1")
            .bind(&id)
            .fetch_one(w.app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(owner, None, "the lease is released with the new tokens");
}

async fn rotated_refresh_tokens_are_never_sent_again(w: World) {
    let id = w.connect_oauth("user-1").await;
    for _ in 0..3 {
        let (status, _, _) = w
            .call(
                &w.app.address,
                Method::GET,
                &format!("/v1/connections/{id}/access-token?force_refresh=true"),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let sent: Vec<String> = w
        .oauth
        .token_requests()
        .into_iter()
        .filter_map(|form| {
            form.into_iter()
                .find(|(k, _)| k == "refresh_token")
                .map(|(_, v)| v)
        })
        .collect();
    assert_eq!(sent.len(), 3);
    let mut unique = sent.clone();
    unique.dedup();
    assert_eq!(unique.len(), 3, "each refresh token is sent once");
    assert!(!w.oauth.grant_revoked(), "the provider never saw a reuse");

    // an answer without a refresh token keeps the stored one
    w.oauth.set_refresh_token_in_response(false);
    let (status, _, _) = w
        .call(
            &w.app.address,
            Method::GET,
            &format!("/v1/connections/{id}/access-token?force_refresh=true"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    w.oauth.set_refresh_token_in_response(true);
    let (status, body, _) = w
        .call(
            &w.app.address,
            Method::GET,
            &format!("/v1/connections/{id}/access-token?force_refresh=true"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!w.oauth.grant_revoked());
    // no refresh token ever leaves the vault, and none is stored in clear
    assert!(body.get("refresh_token").is_none());
    let current = w.oauth.current_refresh_token().unwrap();
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT refresh_token FROM connections WHERE id = $1")
        .bind(&id)
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    assert!(!sealed
        .windows(current.len())
        .any(|win| win == current.as_bytes()));
}

async fn a_dead_grant_needs_reauthorization_and_reconnect_restores_it(w: World) {
    let id = w.connect_oauth("user-1").await;
    w.oauth.revoke_grants();
    let (status, body) = {
        let (s, b, _) = w
            .call(
                &w.app.address,
                Method::GET,
                &format!("/v1/connections/{id}/access-token?force_refresh=true"),
            )
            .await;
        (s, b)
    };
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "needs_reauthorization");
    let reconnect_url = body["error"]["reconnect_url"].as_str().unwrap().to_string();
    assert!(reconnect_url.contains("/connect/ovcs_"));
    assert_eq!(w.status(&id).await, "needs_reauthorization");
    assert_eq!(w.events(&id, "needs_reauthorization").await, 1);
    // asking again does not call the provider again
    let before = w.oauth.refresh_requests();
    let (status, _) = w.token(&id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(w.oauth.refresh_requests(), before);

    // the portal offers a reconnect link for the connection
    let page = format!("/apps/{}/connections/{id}", w.app_id);
    let res = w
        .app
        .submit(&page, &page, &[("_action", "reconnect")])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert!(html.contains("data-testid=\"reconnect-link\""));
    assert!(html.contains(&format!("{}/connect/ovcs_", w.app.address)));

    // the backend creates a reconnect session; the same id is active again
    let again = w
        .connect_with(
            json!({ "connection_id": id, "return_url": RETURN_URL }),
            &w.oauth_config.clone(),
            false,
        )
        .await;
    assert_eq!(again, id);
    assert_eq!(w.status(&id).await, "active");
    let (status, body) = w.token(&id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["access_token"],
        w.oauth.current_access_token().unwrap().as_str()
    );
    assert_eq!(w.events(&id, "reconnected").await, 1);

    // a reconnect session for another app's or an unknown connection is refused
    let res = common::sent(
        w.app
            .client
            .post(w.app.url("/v1/connect/sessions"))
            .bearer_auth(&w.key)
            .json(&json!({ "connection_id": "conn_unknown" }))
            .send()
            .await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn another_processes_rotation_is_no_false_alarm(w: World) {
    let id = w.connect_oauth("user-1").await;
    w.expire(&id).await;
    w.oauth.set_refresh_delay(1500);
    let request = w.token(&id);
    let meanwhile = async {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        // Another process (whose lease had run out) rotated the grant: our
        // in-flight refresh token is now stale and the provider refuses it.
        let sealed: Vec<u8> =
            sqlx::query_scalar("SELECT access_token FROM connections WHERE id = $1")
                .bind(&id)
                .fetch_one(w.app.state.db.pool())
                .await
                .unwrap();
        sqlx::query("UPDATE connections SET version = version + 1, expires_at = $1, access_token = $2 WHERE id = $3")
            .bind(app::infra::db::now_ms() + 3_600_000)
            .bind(sealed)
            .bind(&id)
            .execute(w.app.state.db.pool())
            .await
            .unwrap();
        w.oauth.revoke_grants();
    };
    let ((status, body), ()) = tokio::join!(request, meanwhile);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        w.status(&id).await,
        "active",
        "no false needs_reauthorization"
    );
    assert_eq!(w.events(&id, "needs_reauthorization").await, 0);
}

async fn transient_failures_back_off_and_recover(w: World) {
    let id = w.connect_oauth("user-1").await;

    // a token still valid keeps being served while the provider is down
    w.sql(&format!(
        "UPDATE connections SET expires_at = {} WHERE id = '{id}'",
        app::infra::db::now_ms() + 60_000
    ))
    .await;
    w.oauth.fail_refresh(
        RefreshFailure::Unavailable {
            retry_after: Some(2),
        },
        1,
    );
    let (status, body) = w.token(&id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(w.oauth.refresh_requests(), 1);
    assert_eq!(w.status(&id).await, "active");

    // expired now: the caller is told to retry, and the vault waits at
    // least the provider's Retry-After before calling it again
    w.expire(&id).await;
    let (status, body, headers) = w
        .call(
            &w.app.address,
            Method::GET,
            &format!("/v1/connections/{id}/access-token"),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "provider_unavailable");
    let retry: i64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    assert_eq!(w.oauth.refresh_requests(), 1, "backing off: no new call");

    // wait out the backoff; the provider fails once more: two 503s in a
    // row stay below the error threshold (3 here), so the status holds
    w.oauth
        .fail_refresh(RefreshFailure::Unavailable { retry_after: None }, 1);
    wait_for_next_attempt(&w, &id).await;
    let (status, _) = w.token(&id).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(w.oauth.refresh_requests(), 2);
    assert_eq!(w.status(&id).await, "active");
    assert_eq!(w.events(&id, "refresh_failed").await, 2);

    // the provider is back: served, still active, one recovered event
    wait_for_next_attempt(&w, &id).await;
    let (status, body) = w.token(&id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(w.oauth.refresh_requests(), 3);
    assert_eq!(w.status(&id).await, "active");
    assert_eq!(w.events(&id, "recovered").await, 1);

    // three failures in a row: the connection shows an error until a success
    w.expire(&id).await;
    w.oauth
        .fail_refresh(RefreshFailure::TooManyRequests { retry_after: 1 }, 3);
    for attempt in 1..=3 {
        wait_for_next_attempt(&w, &id).await;
        let (status, _) = w.token(&id).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "attempt {attempt}");
    }
    assert_eq!(w.status(&id).await, "error");
    assert_eq!(w.events(&id, "error").await, 1);
    let (_, conn, _) = w
        .call(
            &w.app.address,
            Method::GET,
            &format!("/v1/connections/{id}"),
        )
        .await;
    assert_eq!(conn["status"], "error");
    wait_for_next_attempt(&w, &id).await;
    let (status, body) = w.token(&id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(w.status(&id).await, "active");
    assert_eq!(w.events(&id, "recovered").await, 2);
}

/// Sleeps until the connection's backoff has passed (bounded).
async fn wait_for_next_attempt(w: &World, id: &str) {
    for _ in 0..100 {
        let next: Option<i64> =
            sqlx::query_scalar("SELECT next_attempt_at FROM connections WHERE id = $1")
                .bind(id)
                .fetch_one(w.app.state.db.pool())
                .await
                .unwrap();
        match next {
            Some(at) if at > app::infra::db::now_ms() => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            _ => return,
        }
    }
    panic!("the backoff did not end within 10 s");
}

async fn the_background_worker_refreshes_before_expiry(w: World) {
    let id = w.connect_oauth("user-1").await;
    let fresh = app::services::worker::run_once(&w.app.state).await.unwrap();
    assert_eq!(fresh.refreshed, 0, "nothing is due yet");
    // due within the margin
    w.sql(&format!(
        "UPDATE connections SET expires_at = {} WHERE id = '{id}'",
        app::infra::db::now_ms() + 60_000
    ))
    .await;
    let report = app::services::worker::run_once(&w.app.state).await.unwrap();
    assert_eq!(report.refreshed, 1);
    assert_eq!(w.oauth.refresh_requests(), 1);
    let (_, body) = w.token(&id).await;
    assert_eq!(
        body["access_token"],
        w.oauth.current_access_token().unwrap().as_str()
    );
    assert_eq!(
        w.oauth.refresh_requests(),
        1,
        "the token API serves the refreshed token"
    );
}

async fn attio_health_checks_find_dead_tokens_and_scope_changes(w: World) {
    let id = w
        .connect_with(
            json!({ "end_user_id": "user-1", "providers": ["attio"], "return_url": RETURN_URL }),
            &w.attio_config.clone(),
            true,
        )
        .await;
    let report = app::services::worker::run_once(&w.app.state).await.unwrap();
    assert_eq!(report.checked, 0, "checked at connect time; not due yet");
    w.sql("UPDATE connections SET next_check_at = 0").await;
    let report = app::services::worker::run_once(&w.app.state).await.unwrap();
    assert_eq!(report.checked, 1);
    assert_eq!(w.status(&id).await, "active");
    assert_eq!(w.events(&id, "scope_mismatch").await, 0);

    // a scope removed at Attio: the next check shows the mismatch
    w.attio.set_issued_token_scopes("list_entry:read");
    w.sql("UPDATE connections SET next_check_at = 0").await;
    app::services::worker::run_once(&w.app.state).await.unwrap();
    assert_eq!(w.status(&id).await, "active");
    assert_eq!(w.events(&id, "scope_mismatch").await, 1);
    let (_, conn, _) = w
        .call(
            &w.app.address,
            Method::GET,
            &format!("/v1/connections/{id}"),
        )
        .await;
    assert_eq!(conn["scopes"]["granted"], json!(["list_entry:read"]));
    assert_eq!(conn["scopes"]["missing"], json!(["record_permission:read"]));
    let next: i64 = sqlx::query_scalar("SELECT next_check_at FROM connections WHERE id = $1")
        .bind(&id)
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    assert!(
        next > app::infra::db::now_ms() + 60 * 60 * 1000,
        "the next check is hours away"
    );

    // Attio answers `active: false`: needs re-authorization
    w.attio.deactivate_tokens();
    w.sql("UPDATE connections SET next_check_at = 0").await;
    app::services::worker::run_once(&w.app.state).await.unwrap();
    assert_eq!(w.status(&id).await, "needs_reauthorization");
    assert_eq!(w.events(&id, "needs_reauthorization").await, 1);
    let (status, body) = w.token(&id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "needs_reauthorization");
    // the portal's connection page tells the story
    let html = w
        .app
        .get(&format!("/apps/{}/connections/{id}", w.app_id))
        .await
        .text()
        .await
        .unwrap();
    for kind in ["connected", "scope_mismatch", "needs_reauthorization"] {
        assert!(html.contains(kind), "{kind}");
    }
}

async fn disconnect_revokes_at_the_provider_and_retries_later(w: World) {
    let id = w.connect_oauth("user-1").await;
    let refresh_token = w.oauth.current_refresh_token().unwrap();
    let (status, _, _) = w
        .call(
            &w.app.address,
            Method::DELETE,
            &format!("/v1/connections/{id}"),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let revoked = w.oauth.revocations();
    assert_eq!(revoked.len(), 1);
    assert!(revoked[0].contains(&("token".into(), refresh_token)));
    assert!(revoked[0].contains(&("token_type_hint".into(), "refresh_token".into())));
    assert!(w.oauth.grant_revoked());
    assert_eq!(w.status(&id).await, "revoked");
    assert_eq!(
        w.app
            .count(&format!(
                "connections WHERE id = '{id}' AND access_token IS NULL AND refresh_token IS NULL"
            ))
            .await,
        1
    );

    // the provider is down: the vault forgets the tokens now, revokes later
    let other = w.connect_oauth("user-2").await;
    w.oauth.fail_revocation(Some(503));
    let (status, _, _) = w
        .call(
            &w.app.address,
            Method::DELETE,
            &format!("/v1/connections/{other}"),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(w.status(&other).await, "revoked");
    assert_eq!(w.app.count("revocations").await, 1);
    w.oauth.fail_revocation(None);
    w.sql("UPDATE revocations SET next_attempt_at = 0").await;
    let report = app::services::worker::run_once(&w.app.state).await.unwrap();
    assert_eq!(report.revocations_settled, 1);
    assert_eq!(w.app.count("revocations").await, 0);
    assert_eq!(w.oauth.revocations().len(), 3);
    assert_eq!(w.events(&other, "revocation").await, 1);
}

/// A connection read all the time stays in the cache (renewed in the
/// background), yet what another process changes is seen within the TTL.
async fn a_connection_in_use_sees_another_processes_change_within_the_ttl(w: World) {
    let id = w.connect_oauth("user-1").await;
    let other = w.app.another_instance().await;
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(2500) {
        let (status, body) = w.token(&id).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    w.sql(&format!(
        "UPDATE connections SET account_name = 'Renamed' WHERE id = '{id}'"
    ))
    .await;
    let (status, _, _) = w
        .call(
            &other.address,
            Method::DELETE,
            &format!("/v1/connections/{id}"),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let changed = std::time::Instant::now();
    loop {
        let (status, body) = w.token(&id).await;
        if status != StatusCode::OK {
            assert_eq!(body["error"]["code"], "connection_revoked", "{body}");
            break;
        }
        assert!(
            changed.elapsed() < std::time::Duration::from_millis(1200),
            "still served {:?} after another process disconnected it",
            changed.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    other.stop().await;
}

async fn the_api_cache_follows_this_processes_changes(w: World) {
    let id = w.connect_oauth("user-1").await;
    let (status, first) = w.token(&id).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    // a change behind the server's back stays unseen while the entry lives
    w.sql(&format!(
        "UPDATE connections SET account_name = 'Renamed' WHERE id = '{id}'"
    ))
    .await;
    let (_, cached) = w.token(&id).await;
    assert_eq!(cached["access_token"], first["access_token"]);
    assert_ne!(
        cached["account"]["name"], "Renamed",
        "served from the cache"
    );
    assert_eq!(w.oauth.refresh_requests(), 0);

    // a refresh in this process drops the entry: no stale token afterwards
    let (status, forced, _) = w
        .call(
            &w.app.address,
            Method::GET,
            &format!("/v1/connections/{id}/access-token?force_refresh=true"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{forced}");
    assert_ne!(forced["access_token"], first["access_token"]);
    let (_, after) = w.token(&id).await;
    assert_eq!(after["access_token"], forced["access_token"]);
    assert_eq!(after["account"]["name"], "Renamed", "read again");
    assert_eq!(w.oauth.refresh_requests(), 1);

    // a disconnect in this process is seen at once
    let (status, _, _) = w
        .call(
            &w.app.address,
            Method::DELETE,
            &format!("/v1/connections/{id}"),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = w.token(&id).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(body["error"]["code"], "connection_revoked");

    // the cache is per app: another app's key still gets 404 for the id
    let other = w.connect_oauth("user-2").await;
    assert_eq!(w.token(&other).await.0, StatusCode::OK);
    w.sql(&format!(
        "INSERT INTO apps (id, organisation_id, name, created_at, updated_at) \
         SELECT 'app_other', organisation_id, 'Other', 0, 0 FROM apps WHERE id = '{}'",
        w.app_id
    ))
    .await;
    let (_, other_key) = app::store::api_keys::create(
        &w.app.state.db,
        "app_other",
        "other",
        &app::store::audit::Actor::operator(),
    )
    .await
    .unwrap();
    let res = common::sent(
        w.app
            .client
            .get(w.app.url(&format!("/v1/connections/{other}/access-token")))
            .bearer_auth(secrecy::ExposeSecret::expose_secret(&other_key))
            .send()
            .await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

async fn durable_token_read_audit_is_committed_before_the_answer(w: World) {
    let id = w.connect_oauth("user-1").await;
    for n in 1..=3 {
        let (status, body) = w.token(&id).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // no waiting: the read is counted when the answer is
        let counted: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(SUM(occurrences) AS BIGINT) FROM audit_events WHERE action = 'token.read' AND target_id = $1 AND actor_type = 'api_key'",
        )
        .bind(&id)
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
        assert_eq!(counted, Some(n));
    }
    let stamped: Option<i64> =
        sqlx::query_scalar("SELECT last_used_at FROM connections WHERE id = $1")
            .bind(&id)
            .fetch_one(w.app.state.db.pool())
            .await
            .unwrap();
    assert!(stamped.is_some(), "last used is recorded");
}
