//! Structured logs through `tracing`: human-readable text by default, JSON for
//! log pipelines. Levels come from `RUST_LOG`.
//!
//! Lines are formatted where they happen and written to standard error by a
//! thread of their own, in batches: a busy server does not make a system
//! call per request line. No line is dropped (a request waits when that
//! thread falls far behind); the lines still queued are written when the
//! [`LogGuard`] is dropped, at the end of `main`.

mod json;

use crate::config::LogFormat;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer};

const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_http=info";

/// Keeps the log writer (and the trace export, when there is one) running;
/// dropping it writes what is queued.
#[must_use = "logs are written until the guard is dropped"]
pub struct LogGuard {
    // dropped first: its last warnings still reach the log
    #[cfg(feature = "otel")]
    _traces: Option<crate::otel::Export>,
    _writer: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// Lines the writer thread may hold before a request waits for it.
const QUEUED_LINES: usize = 64 * 1024;

/// The request span's name for health checks, readiness probes and metric
/// scrapes (`http::trace::make_span`): logged like any request, never
/// exported as traces.
pub const PROBE_SPAN: &str = "http.probe";

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// True when spans are exported (OpenTelemetry): request spans then carry
/// the attributes tracing back ends expect, which log lines do without.
pub fn exporting_traces() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Installs the global subscriber; a second call (tests) changes nothing.
/// `db_system` names the database engine in exported statement spans.
pub fn init(format: LogFormat, db_system: &'static str) -> Result<LogGuard, String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) if !value.trim().is_empty() => EnvFilter::try_new(&value)
            .map_err(|e| format!("RUST_LOG: '{value}' is not a valid filter ({e}); use e.g. info or oauth_vault=debug,info"))?,
        _ => EnvFilter::new(DEFAULT_FILTER),
    };
    let ansi = std::io::stderr().is_terminal();
    // the writer thread flushes whenever its queue is empty
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("oauth-vault-log")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let lines = match format {
        LogFormat::Text => fmt::layer().with_writer(writer).with_ansi(ansi).boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .map_event_format(json::WithRequestId)
            .with_writer(writer)
            .boxed(),
    };
    let mut layers = vec![lines.with_filter(filter).boxed()];
    if format == LogFormat::Json {
        // only the request spans: a filterless layer would turn on every
        // callsite the log filter leaves off
        let request_spans = tracing_subscriber::filter::filter_fn(|meta| {
            meta.is_span() && meta.name().starts_with("http")
        });
        layers.push(json::RequestIds.with_filter(request_spans).boxed());
    }
    #[cfg(feature = "otel")]
    let traces = if crate::otel::configured() {
        let (more, export) = crate::otel::layers(db_system, PROBE_SPAN)?;
        layers.extend(more);
        Some(export)
    } else {
        None
    };
    #[cfg(not(feature = "otel"))]
    let _ = db_system;
    let installed = tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .is_ok();
    #[cfg(feature = "otel")]
    if installed && traces.is_some() {
        EXPORTING.store(true, Ordering::Relaxed);
        tracing::info!("exporting traces over OTLP");
    }
    #[cfg(not(feature = "otel"))]
    if installed
        && (std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
            || std::env::var_os("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some())
    {
        tracing::warn!("OTEL_EXPORTER_OTLP_ENDPOINT is set, but this build cannot export traces: use the release archive, or build with --features otel");
    }
    Ok(LogGuard {
        #[cfg(feature = "otel")]
        _traces: if installed { traces } else { None },
        _writer: installed.then_some(guard),
    })
}
