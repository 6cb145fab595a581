//! OpenTelemetry trace export (cargo feature `otel`): when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//! is set, spans go to that collector over OTLP/HTTP in protobuf, in
//! batches, from a thread of their own.
//!
//! What is traced: every HTTP request (joining the caller's trace when it
//! sends a W3C `traceparent`), each database statement made within one,
//! outbound calls to providers and webhook endpoints, refreshes, health
//! checks and webhook deliveries. Span names and attributes are the same
//! fields the log lines carry (route templates, ids, hosts, statuses) and
//! the statements' SQL text, whose values are always bound, never written
//! into it: no token, secret or code.
//!
//! The standard variables configure the rest: `OTEL_SERVICE_NAME` (default
//! `oauth-vault`), `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`, and
//! `OTEL_BSP_SCHEDULE_DELAY`.

use opentelemetry::{
    trace::{Span as _, SpanKind, TraceContextExt, Tracer as _, TracerProvider as _},
    KeyValue,
};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    propagation::TraceContextPropagator,
    trace::{SdkTracerProvider, Tracer},
    Resource,
};
use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, SystemTime},
};
use tracing::{field::Field, Subscriber};
use tracing_subscriber::{
    filter::{EnvFilter, FilterExt, Targets},
    layer::Context,
    Layer,
};

/// True when the operator asked for trace export.
pub fn configured() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim() == "true");
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// Exports what is left when dropped.
pub struct Export {
    provider: SdkTracerProvider,
}

impl Drop for Export {
    fn drop(&mut self) {
        // the batch thread sends through the runtime: it must not be this
        // thread that waits for it if it is one of the runtime's
        let provider = self.provider.clone();
        let flushed = std::thread::Builder::new()
            .name("oauth-vault-otel-flush".into())
            .spawn(move || provider.shutdown_with_timeout(Duration::from_secs(5)))
            .map(|handle| handle.join());
        if !matches!(flushed, Ok(Ok(Ok(())))) {
            eprintln!("oauth-vault: the last spans could not be exported");
        }
    }
}

type BoxedLayer<S> = Box<dyn Layer<S> + Send + Sync>;

/// The layers that turn spans into exported traces (spans at info and
/// above, except those named `untraced`; the statements sqlx reports become
/// spans of their own), and what keeps the export running. Needs a Tokio
/// runtime: the export's requests run on it.
pub fn layers<S>(
    db_system: &'static str,
    untraced: &'static str,
) -> Result<(Vec<BoxedLayer<S>>, Export), String>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a> + Send + Sync,
{
    let client = ExportClient::new()?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_http_client(client)
        .build()
        .map_err(|e| format!("OpenTelemetry export: {e}"))?;
    let mut resource = Resource::builder();
    let named_by_env = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.trim().is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name="));
    if !named_by_env {
        resource = resource.with_service_name("oauth-vault");
    }
    let resource = resource
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("oauth-vault");
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    // probes (health, readiness, scrapes) are logged, not traced
    let spans = tracing_subscriber::filter::filter_fn(move |meta| meta.name() != untraced)
        .and(EnvFilter::new("info,sqlx=warn"));
    let layers: Vec<BoxedLayer<S>> = vec![
        tracing_opentelemetry::layer()
            .with_tracer(tracer.clone())
            .with_threads(false)
            .with_filter(spans)
            .boxed(),
        QuerySpans { tracer, db_system }
            .with_filter(Targets::new().with_target("sqlx::query", tracing::Level::DEBUG))
            .boxed(),
    ];
    Ok((layers, Export { provider }))
}

/// Continues the trace the caller names in its `traceparent` header.
pub fn adopt_remote_parent(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    if !headers.contains_key("traceparent") {
        return;
    }
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&opentelemetry_http::HeaderExtractor(headers))
    });
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// Turns each statement sqlx reports (at debug, with its duration) into a
/// client span under the span it ran in; statements outside any traced
/// work (the worker's polling) are left out.
struct QuerySpans {
    tracer: Tracer,
    db_system: &'static str,
}

#[derive(Default)]
struct Statement {
    summary: String,
    text: String,
    rows_returned: i64,
    rows_affected: i64,
    elapsed_secs: f64,
}

impl tracing::field::Visit for Statement {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.trim_end_matches(" …").to_string(),
            "db.statement" => self.text = value.trim().to_string(),
            _ => {}
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        let value = i64::try_from(value).unwrap_or(i64::MAX);
        match field.name() {
            "rows_returned" => self.rows_returned = value,
            "rows_affected" => self.rows_affected = value,
            _ => {}
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = value;
        }
    }
    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber> Layer<S> for QuerySpans {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let parent = opentelemetry::Context::current();
        if !parent.has_active_span() {
            return;
        }
        let mut statement = Statement::default();
        event.record(&mut statement);
        let end = SystemTime::now();
        let took = Duration::try_from_secs_f64(statement.elapsed_secs).unwrap_or_default();
        let start = end.checked_sub(took).unwrap_or(end);
        let operation = statement
            .summary
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_uppercase();
        let text = if statement.text.is_empty() {
            statement.summary.clone()
        } else {
            statement.text
        };
        let mut span = self
            .tracer
            .span_builder(statement.summary)
            .with_kind(SpanKind::Client)
            .with_start_time(start)
            .with_attributes([
                KeyValue::new("db.system.name", self.db_system),
                KeyValue::new("db.operation.name", operation),
                KeyValue::new("db.query.text", text),
                KeyValue::new("db.response.returned_rows", statement.rows_returned),
                KeyValue::new("db.response.affected_rows", statement.rows_affected),
            ])
            .start_with_context(&self.tracer, &parent);
        span.end_with_timestamp(end);
    }
}

/// Sends the export's requests with the server's own HTTP client, on its
/// runtime: no redirects, a timeout, rustls. The collector is the
/// operator's own choice, so private addresses are allowed.
#[derive(Debug)]
struct ExportClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
    failing: AtomicBool,
}

impl ExportClient {
    fn new() -> Result<Self, String> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "OpenTelemetry export needs the server's runtime".to_string())?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .user_agent(concat!("oauth-vault/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the OpenTelemetry export's HTTP client: {e}"))?;
        Ok(Self {
            client,
            runtime,
            failing: AtomicBool::new(false),
        })
    }

    /// Logs the first failure of a run of them, and the recovery.
    fn note(&self, outcome: &Result<u16, String>) {
        match outcome {
            Ok(status) if *status < 300 => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("OpenTelemetry export works again");
                }
            }
            Ok(status) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(status, "the OpenTelemetry collector refused spans; check OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS");
                }
            }
            Err(error) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, "cannot reach the OpenTelemetry collector; spans are dropped until it answers");
                }
            }
        }
    }
}

/// Largest answer of a collector that is read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

#[async_trait::async_trait]
impl HttpClient for ExportClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let sent = self
            .runtime
            .spawn(async move {
                let mut answer = client.execute(request).await?;
                let mut body = Vec::new();
                while let Some(chunk) = answer.chunk().await? {
                    if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                let mut response = Response::new(Bytes::from(body));
                *response.status_mut() = answer.status();
                *response.headers_mut() = answer.headers().clone();
                Ok::<_, reqwest::Error>(response)
            })
            .await;
        let sent: Result<Response<Bytes>, HttpError> = match sent {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(Box::new(e.without_url())),
            Err(e) => Err(Box::new(e)),
        };
        self.note(&match &sent {
            Ok(response) => Ok(response.status().as_u16()),
            Err(e) => Err(e.to_string()),
        });
        sent
    }
}
