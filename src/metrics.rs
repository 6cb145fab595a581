//! Prometheus metrics at `/metrics`, never open to the public by default:
//! on the main port only with `OAUTH_VAULT_METRICS_TOKEN` (as a bearer
//! token), or on an address of their own, `OAUTH_VAULT_METRICS_BIND`.
//!
//! Counters and histograms are recorded where things happen (through the
//! `metrics` facade); the gauges of stored state (connections by status,
//! the refresh backlog, the webhook outbox, pending revocations, the
//! database pool) are sampled from the database every
//! [`SAMPLE_EVERY`] by each process. Labels are low-cardinality: route
//! templates, methods, status classes, providers and outcomes, never an id.

use axum::{
    body::Body,
    extract::{MatchedPath, State},
    http::{header, HeaderValue, Request, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use secrecy::{ExposeSecret, SecretString};
use std::{
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};
use subtle::ConstantTimeEq;

/// How often each process samples the gauges of stored state.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(15);

/// Latency buckets, in seconds: from a cached token read to a slow provider.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder (installed once; later calls share it).
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // a second recorder (another crate's) keeps its place; ours
            // still renders what it was given
            let _ = metrics::set_global_recorder(recorder);
            describe();
            metrics::gauge!("oauth_vault_build_info", "version" => env!("CARGO_PKG_VERSION"))
                .set(1.0);
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!("oauth_vault_build_info", "The running version (always 1).");
    describe_counter!(
        "oauth_vault_http_requests_total",
        "HTTP requests by route template, method and status class."
    );
    describe_histogram!(
        "oauth_vault_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by route template and method."
    );
    describe_counter!(
        "oauth_vault_token_requests_total",
        "Token API answers by outcome."
    );
    describe_counter!(
        "oauth_vault_refreshes_total",
        "Token refreshes by provider and outcome."
    );
    describe_histogram!(
        "oauth_vault_refresh_duration_seconds",
        Unit::Seconds,
        "Token refresh latency by provider."
    );
    describe_counter!(
        "oauth_vault_health_checks_total",
        "Health checks of long-lived tokens by provider and outcome."
    );
    describe_gauge!(
        "oauth_vault_refresh_backlog",
        "Connections whose refresh is due now."
    );
    describe_gauge!(
        "oauth_vault_refresh_oldest_due_seconds",
        "How long the longest-waiting due refresh has waited."
    );
    describe_gauge!("oauth_vault_connections", "Connections by status.");
    describe_counter!(
        "oauth_vault_webhook_deliveries_total",
        "Webhook delivery attempts by outcome."
    );
    describe_gauge!(
        "oauth_vault_webhook_outbox_backlog",
        "Webhook deliveries waiting to be sent."
    );
    describe_gauge!(
        "oauth_vault_revocations_pending",
        "Revocations at providers still to be sent."
    );
    describe_counter!(
        "oauth_vault_cache_requests_total",
        "Cache lookups by cache and result (hit, miss)."
    );
    describe_gauge!(
        "oauth_vault_audit_queue_length",
        "Audit entries queued for the writer."
    );
    describe_histogram!(
        "oauth_vault_audit_commit_duration_seconds",
        Unit::Seconds,
        "How long the audit writer's commits take."
    );
    describe_gauge!(
        "oauth_vault_db_pool_connections",
        "Database connections of this process by state (idle, in_use)."
    );
    describe_gauge!(
        "oauth_vault_db_pool_max",
        "The most database connections this process opens."
    );
}

/// Counts and times every request by its route template (the path of an
/// unrouted request is never a label: it would be unbounded).
pub async fn track(request: Request<Body>, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let class = match response.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::counter!("oauth_vault_http_requests_total",
        "route" => route.clone(), "method" => method.clone(), "status_class" => class)
    .increment(1);
    metrics::histogram!("oauth_vault_http_request_duration_seconds",
        "route" => route, "method" => method)
    .record(started.elapsed().as_secs_f64());
    response
}

/// Who may read `/metrics`.
#[derive(Clone)]
struct Gate {
    handle: PrometheusHandle,
    /// `None`: anyone who reaches the address (the metrics address only).
    token: Option<Arc<SecretString>>,
}

async fn render(State(gate): State<Gate>, request: Request<Body>) -> Response {
    if let Some(token) = &gate.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let same: bool = given
            .as_bytes()
            .ct_eq(token.expose_secret().as_bytes())
            .into();
        if !same {
            let mut refused = (
                StatusCode::UNAUTHORIZED,
                "Send the metrics token: Authorization: Bearer <OAUTH_VAULT_METRICS_TOKEN>\n",
            )
                .into_response();
            refused.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"oauth-vault-metrics\""),
            );
            return refused;
        }
    }
    gate.handle.run_upkeep();
    let mut answer = gate.handle.render().into_response();
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    answer
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer
}

/// `/metrics` for the main port, guarded by `token`.
pub fn guarded(token: SecretString) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(Gate {
            handle: handle(),
            token: Some(Arc::new(token)),
        })
}

/// `/metrics` on an address of its own (`OAUTH_VAULT_METRICS_BIND`),
/// guarded by `token` when one is set too.
pub fn standalone(token: Option<SecretString>) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(Gate {
            handle: handle(),
            token: token.map(Arc::new),
        })
}

/// Samples the gauges of stored state until `stop` turns true.
pub async fn sample(
    state: app::services::context::Context,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = sample_once(&state).await {
            tracing::warn!(error = %e, "sampling the metrics of stored state failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(SAMPLE_EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One sample of the gauges of stored state.
pub async fn sample_once(state: &app::services::context::Context) -> Result<(), sqlx::Error> {
    let pool = state.db.pool();
    let size = pool.size();
    let idle = pool.num_idle() as u32;
    metrics::gauge!("oauth_vault_db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("oauth_vault_db_pool_connections", "state" => "in_use")
        .set(f64::from(size.saturating_sub(idle)));
    metrics::gauge!("oauth_vault_db_pool_max").set(f64::from(pool.options().get_max_connections()));
    let margin = state.settings.token_care.refresh_margin_ms;
    let stored = app::store::stats::sample(&state.db, app::infra::db::now_ms(), margin).await?;
    for (status, count) in stored.connections {
        metrics::gauge!("oauth_vault_connections", "status" => status).set(count as f64);
    }
    metrics::gauge!("oauth_vault_refresh_backlog").set(stored.refresh_due as f64);
    metrics::gauge!("oauth_vault_refresh_oldest_due_seconds")
        .set(stored.oldest_due_ms as f64 / 1000.0);
    metrics::gauge!("oauth_vault_webhook_outbox_backlog").set(stored.outbox as f64);
    metrics::gauge!("oauth_vault_revocations_pending").set(stored.revocations as f64);
    metrics::gauge!("oauth_vault_audit_queue_length").set(state.usage.status().pending as f64);
    Ok(())
}
