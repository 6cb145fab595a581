//! Webhooks to the developer: signed per Standard Webhooks, queued with
//! their event, retried, logged.
use crate::common;
use crate::refresh::SETUP;
use common::{Backend, World};
use reqwest::{Method, StatusCode};
use serde_json::Value;

mod webhooks_are_signed_queued_and_retried {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::webhooks_are_signed_queued_and_retried(super::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::webhooks_are_signed_queued_and_retried(super::Backend::Postgres).await;
    }
}

/// The developer's webhook endpoint: records what it receives and answers
/// with the status it is told to.
pub(crate) struct Receiver {
    pub(crate) address: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<(reqwest::header::HeaderMap, String)>>>,
    status: std::sync::Arc<std::sync::atomic::AtomicU16>,
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        use std::sync::{atomic::AtomicU16, Arc, Mutex};
        let received = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let (r, s) = (received.clone(), status.clone());
        let router = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let (r, s) = (r.clone(), s.clone());
                async move {
                    r.lock().unwrap().push((headers, body));
                    axum::http::StatusCode::from_u16(s.load(std::sync::atomic::Ordering::SeqCst))
                        .unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Receiver {
            address,
            received,
            status,
        }
    }

    fn answer(&self, status: u16) {
        self.status
            .store(status, std::sync::atomic::Ordering::SeqCst);
    }

    pub(crate) fn messages(&self) -> Vec<(reqwest::header::HeaderMap, String)> {
        self.received.lock().unwrap().clone()
    }
}

async fn webhooks_are_signed_queued_and_retried(backend: Backend) {
    let receiver = Receiver::start().await;
    let host = receiver.address.trim_start_matches("http://").to_string();
    let Some(w) = World::start(backend, &SETUP, &[], &host).await else {
        return;
    };
    let settings = format!("/apps/{}/settings", w.app_id);
    // a private endpoint the operator did not allow is refused, input kept
    let res = w
        .app
        .submit(
            &settings,
            &settings,
            &[
                ("_action", "webhook"),
                ("webhook_url", "http://10.0.0.1/hook"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("http://10.0.0.1/hook"));
    let hook = format!("{}/hook", receiver.address);
    let res = w
        .app
        .submit(
            &settings,
            &settings,
            &[("_action", "webhook"), ("webhook_url", &hook)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = w
        .app
        .submit(&settings, &settings, &[("_action", "rotate_secret")])
        .await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    let secret = crate::common::shown_value(&html, "whsec_");
    let page = w.app.get(&settings).await.text().await.unwrap();
    assert!(!page.contains(&secret), "shown once");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT webhook_secret FROM apps WHERE id = $1")
        .bind(&w.app_id)
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    assert!(
        !stored
            .windows(secret.len())
            .any(|win| win == secret.as_bytes()),
        "sealed"
    );

    // the event is queued with the connection, in the same transaction
    receiver.answer(500);
    let id = w.connect_oauth("user-1").await;
    assert_eq!(
        w.app
            .count("webhook_deliveries WHERE status = 'pending'")
            .await,
        1
    );
    let report = app::services::worker::run_once(&w.app.state).await.unwrap();
    assert_eq!(report.webhooks_failed, 1);
    assert_eq!(receiver.messages().len(), 1);
    // not retried before its time
    let report = app::services::worker::run_once(&w.app.state).await.unwrap();
    assert_eq!(report.webhooks_failed + report.webhooks_delivered, 0);

    receiver.answer(204);
    w.sql("UPDATE webhook_deliveries SET next_attempt_at = 0")
        .await;
    let report = app::services::worker::run_once(&w.app.state).await.unwrap();
    assert_eq!(report.webhooks_delivered, 1);
    let report = app::services::worker::run_once(&w.app.state).await.unwrap();
    assert_eq!(report.webhooks_delivered, 0, "delivered once, then done");

    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    let messages = receiver.messages();
    assert_eq!(messages.len(), 2);
    for (headers, body) in &messages {
        verifier
            .verify(body.as_bytes(), headers)
            .expect("the signature verifies with an independent implementation");
        let event: Value = serde_json::from_str(body).unwrap();
        assert_eq!(event["type"], "connection.created");
        assert_eq!(event["data"]["connection_id"], id.as_str());
        assert_eq!(event["data"]["provider"], "fakeoauth");
    }
    assert_eq!(
        messages[0].0["webhook-id"], messages[1].0["webhook-id"],
        "a retry is the same message"
    );
    let mut tampered = messages[1].1.clone();
    tampered.push(' ');
    assert!(verifier
        .verify(tampered.as_bytes(), &messages[1].0)
        .is_err());

    // state changes are webhooks too
    w.oauth.revoke_grants();
    w.call(
        &w.app.address,
        Method::GET,
        &format!("/v1/connections/{id}/access-token?force_refresh=true"),
    )
    .await;
    w.call(
        &w.app.address,
        Method::DELETE,
        &format!("/v1/connections/{id}"),
    )
    .await;
    app::services::worker::run_once(&w.app.state).await.unwrap();
    let types: Vec<String> = receiver
        .messages()
        .iter()
        .map(|(_, body)| {
            serde_json::from_str::<Value>(body).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        types.contains(&"connection.needs_reauthorization".to_string()),
        "{types:?}"
    );
    assert!(
        types.contains(&"connection.deleted".to_string()),
        "{types:?}"
    );

    // Send test event delivers at once; the log shows every attempt
    let res = w
        .app
        .submit(&settings, &settings, &[("_action", "test_event")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let last: Value = serde_json::from_str(&receiver.messages().last().unwrap().1).unwrap();
    assert_eq!(last["type"], "test");
    // the admin's connection page lists the deliveries about it
    let admin = w.app.second_browser();
    let setup = w.app.setup_link.clone().unwrap();
    let setup = setup.trim_start_matches(&w.app.address);
    let res = admin
        .submit(
            setup,
            setup,
            &[
                ("email", "root@example.com"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let admin_page = admin
        .client
        .get(w.app.url(&format!("/admin/connections/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(admin_page.contains("connection.created") && admin_page.contains("connection.deleted"));
    assert!(admin_page.contains("data-testid=\"deliveries\""));
    let page = w.app.get(&settings).await.text().await.unwrap();
    assert!(page.contains("HTTP 500"));
    assert!(page.contains("HTTP 204"));
    assert!(page.contains("connection.created"));
}
