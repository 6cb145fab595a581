//! Structured logs through `tracing`: human-readable text by default, JSON for
//! log pipelines. Levels come from `RUST_LOG`.
//!
//! Lines are formatted where they happen and written to standard error by a
//! thread of their own, in batches: a busy server does not make a system
//! call per request line. No line is dropped (a request waits when that
//! thread falls far behind); the lines still queued are written when the
//! [`LogGuard`] is dropped, at the end of `main`.

use crate::config::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::{fmt, EnvFilter};

const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_http=info";

/// Keeps the log writer running; dropping it writes what is queued.
#[must_use = "logs are written until the guard is dropped"]
pub struct LogGuard {
    _writer: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// Lines the writer thread may hold before a request waits for it.
const QUEUED_LINES: usize = 64 * 1024;

/// Installs the global subscriber; a second call (tests) changes nothing.
pub fn init(format: LogFormat) -> Result<LogGuard, String> {
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
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    Ok(LogGuard {
        _writer: installed.is_ok().then_some(guard),
    })
}
