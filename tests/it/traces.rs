//! Following one request: the binary's JSON log carries the request id on
//! every line of the request, and (feature `otel`) the binary exports its
//! spans over OTLP/HTTP to a collector, here an in-process receiver that
//! decodes them: the request joined to the caller's trace, its statements,
//! the refresh and its call to the provider, a webhook delivery; no probe,
//! and no secret anywhere in what was sent.
use crate::common::{self, start_binary_logging, Backend, World};
use crate::refresh::SETUP;
use reqwest::StatusCode;
use std::time::Duration;

mod the_json_log_names_the_request_on_each_of_its_lines {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::the_json_log_names_the_request_on_each_of_its_lines(super::Backend::Sqlite).await;
    }
}

/// The binary on `w`'s data, with `vars` added, its log in `log`.
fn binary(
    w: &World,
    vars: &[(&str, &str)],
    log: &std::path::Path,
) -> (std::process::Child, String) {
    let mut cmd = w.app.cli(&[]);
    cmd.envs(vars.iter().copied());
    start_binary_logging(&mut cmd, log)
}

async fn the_json_log_names_the_request_on_each_of_its_lines(backend: Backend) {
    let Some(w) = World::start(backend, &SETUP, &[], "").await else {
        return;
    };
    let id = w.connect_oauth("user-1").await;
    let log = w.app.data_dir.path().join("server.log");
    let (mut server, url) = binary(&w, &[("OAUTH_VAULT_LOG_FORMAT", "json")], &log);
    let res = common::sent(
        reqwest::Client::new()
            .get(format!(
                "{url}/v1/connections/{id}/access-token?force_refresh=true"
            ))
            .bearer_auth(&w.key)
            .send()
            .await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    // the refresh logs a line of its own within the request
    let mut lines = Vec::new();
    for _ in 0..50 {
        lines = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("every line is JSON"))
            .filter(|l| l.to_string().contains(&request_id))
            .collect();
        if lines
            .iter()
            .any(|l| l["message"] == "finished processing request")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
    assert!(messages.contains(&"access token refreshed"), "{messages:?}");
    assert!(
        messages.contains(&"finished processing request"),
        "{messages:?}"
    );
    // each line names the request at its top level, and has the request's
    // span, with its id and route, among its spans (the refresh's line is
    // in the refresh's span, within it)
    for line in &lines {
        assert_eq!(line["request_id"], request_id.as_str(), "{line}");
        let request = line["spans"]
            .as_array()
            .and_then(|spans| spans.iter().find(|s| s["name"] == "http"))
            .unwrap_or_else(|| panic!("no request span: {line}"));
        assert_eq!(request["request_id"], request_id.as_str());
        assert_eq!(request["route"], "/v1/connections/{id}/access-token");
    }
    let refreshed = lines
        .iter()
        .find(|l| l["message"] == "access token refreshed")
        .unwrap();
    assert_eq!(refreshed["span"]["name"], "refresh");
    assert_eq!(refreshed["span"]["connection_id"], id.as_str());
}

#[cfg(feature = "otel")]
mod otlp {
    use super::*;
    use opentelemetry_proto::tonic::{
        collector::trace::v1::ExportTraceServiceRequest,
        common::v1::{any_value::Value, KeyValue},
        trace::v1::{span::SpanKind, Span},
    };
    use prost::Message;
    use std::sync::{Arc, Mutex};

    mod spans_go_to_the_collector_joined_to_the_callers_trace {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sqlite() {
            super::spans_go_to_the_collector_joined_to_the_callers_trace(super::Backend::Sqlite)
                .await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn postgres() {
            super::spans_go_to_the_collector_joined_to_the_callers_trace(super::Backend::Postgres)
                .await;
        }
    }

    /// An OTLP/HTTP collector: keeps every request's body and its spans.
    #[derive(Clone, Default)]
    struct Collector {
        bodies: Arc<Mutex<Vec<Vec<u8>>>>,
        spans: Arc<Mutex<Vec<Span>>>,
    }

    impl Collector {
        async fn start(&self) -> String {
            let me = self.clone();
            let router = axum::Router::new().route(
                "/v1/traces",
                axum::routing::post(
                    move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                        let me = me.clone();
                        async move {
                            assert_eq!(headers["content-type"], "application/x-protobuf");
                            let request = ExportTraceServiceRequest::decode(body.as_ref())
                                .expect("an OTLP trace export");
                            me.bodies.lock().unwrap().push(body.to_vec());
                            let mut spans = me.spans.lock().unwrap();
                            for resource in request.resource_spans {
                                let resource_attributes =
                                    resource.resource.map(|r| r.attributes).unwrap_or_default();
                                assert_eq!(
                                    text(&resource_attributes, "service.name"),
                                    Some("oauth-vault".into())
                                );
                                for scope in resource.scope_spans {
                                    spans.extend(scope.spans);
                                }
                            }
                            (
                                [("content-type", "application/x-protobuf")],
                                Vec::<u8>::new(),
                            )
                        }
                    },
                ),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, router).await });
            address
        }

        fn spans(&self) -> Vec<Span> {
            self.spans.lock().unwrap().clone()
        }

        /// Waits (10 s at most) until a span satisfies `found`.
        async fn wait_for(&self, what: &str, found: impl Fn(&Span) -> bool) -> Span {
            for _ in 0..100 {
                if let Some(span) = self.spans().into_iter().find(|s| found(s)) {
                    return span;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let names: Vec<String> = self.spans().into_iter().map(|s| s.name).collect();
            panic!("no span {what} among {names:?}");
        }
    }

    fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
        attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .map(|v| match v {
                Value::StringValue(s) => s.clone(),
                Value::IntValue(i) => i.to_string(),
                Value::BoolValue(b) => b.to_string(),
                other => format!("{other:?}"),
            })
    }

    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const CALLER_SPAN: &str = "00f067aa0ba902b7";

    async fn spans_go_to_the_collector_joined_to_the_callers_trace(backend: Backend) {
        let hooks = crate::webhooks::Receiver::start().await;
        let host = hooks.address.trim_start_matches("http://").to_string();
        let Some(w) = World::start(backend, &SETUP, &[], &host).await else {
            return;
        };
        let collector = Collector::default();
        let endpoint = collector.start().await;
        let log = w.app.data_dir.path().join("server.log");
        let (mut server, url) = binary(
            &w,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
                ("OTEL_BSP_SCHEDULE_DELAY", "100"),
                ("OAUTH_VAULT_WORKER_INTERVAL_SECS", "1"),
            ],
            &log,
        );
        // the developer's webhook endpoint, and its secret
        let settings = format!("/apps/{}/settings", w.app_id);
        let hook = format!("{}/hook", hooks.address);
        let form = [("_action", "webhook"), ("webhook_url", hook.as_str())];
        w.app.submit(&settings, &settings, &form).await;
        let res = w
            .app
            .submit(&settings, &settings, &[("_action", "rotate_secret")])
            .await;
        let webhook_secret = common::shown_value(&res.text().await.unwrap(), "whsec_");
        let id = w.connect_oauth("user-1").await;

        // a probe, then a forced refresh in the caller's trace
        let client = reqwest::Client::new();
        let probe = common::sent(client.get(format!("{url}/healthz")).send().await).await;
        assert_eq!(probe.status(), StatusCode::OK);
        let res = common::sent(
            client
                .get(format!(
                    "{url}/v1/connections/{id}/access-token?force_refresh=true"
                ))
                .bearer_auth(&w.key)
                .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
                .send()
                .await,
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);

        let request = collector
            .wait_for("for the token request", |s| {
                s.name == "GET /v1/connections/{id}/access-token"
            })
            .await;
        assert_eq!(hex(&request.trace_id), TRACE_ID, "the caller's trace");
        assert_eq!(hex(&request.parent_span_id), CALLER_SPAN);
        assert_eq!(request.kind, SpanKind::Server as i32);
        assert_eq!(
            text(&request.attributes, "http.response.status_code").as_deref(),
            Some("200")
        );
        assert_eq!(
            text(&request.attributes, "http.route").as_deref(),
            Some("/v1/connections/{id}/access-token")
        );
        let refresh = collector
            .wait_for("refresh", |s| {
                s.name == "refresh" && s.trace_id == request.trace_id
            })
            .await;
        assert_eq!(text(&refresh.attributes, "connection_id"), Some(id.clone()));
        let call = collector
            .wait_for("for the call to the provider", |s| {
                s.name == "POST" && s.parent_span_id == refresh.span_id
            })
            .await;
        assert_eq!(call.kind, SpanKind::Client as i32);
        assert_eq!(
            text(&call.attributes, "server.address").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            text(&call.attributes, "http.response.status_code").as_deref(),
            Some("200")
        );
        let system = if backend == Backend::Sqlite {
            "sqlite"
        } else {
            "postgresql"
        };
        let statement = collector
            .wait_for("for a statement of the refresh", |s| {
                s.trace_id == request.trace_id
                    && s.kind == SpanKind::Client as i32
                    && text(&s.attributes, "db.system.name").as_deref() == Some(system)
                    && text(&s.attributes, "db.query.text")
                        .is_some_and(|q| q.contains("UPDATE connections"))
            })
            .await;
        assert!(statement.start_time_unix_nano <= statement.end_time_unix_nano);

        // the worker delivers the connection's webhook, in a trace of its own
        let delivery = collector
            .wait_for("webhook.delivery", |s| s.name == "webhook.delivery")
            .await;
        collector
            .wait_for("for the delivery's call", |s| {
                s.name == "POST" && s.parent_span_id == delivery.span_id
            })
            .await;
        assert!(!hooks.messages().is_empty());

        server.kill().unwrap();
        server.wait().unwrap();
        let spans = collector.spans();
        assert!(
            !spans
                .iter()
                .any(|s| s.name.contains("healthz") || s.name == "http.probe"),
            "probes are not traced"
        );
        // no secret in anything exported
        let mut secrets: Vec<String> = w.oauth.issued_access_tokens();
        secrets.extend(w.oauth.issued_refresh_tokens());
        secrets.extend([
            w.key.clone(),
            webhook_secret,
            common::fake_oauth::CLIENT_SECRET.to_string(),
        ]);
        let bodies = collector.bodies.lock().unwrap().clone();
        assert!(!bodies.is_empty());
        for body in &bodies {
            for secret in &secrets {
                assert!(
                    !body.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "a secret was exported"
                );
            }
        }
        eprintln!(
            "exported {} spans in {} requests",
            spans.len(),
            bodies.len()
        );
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
