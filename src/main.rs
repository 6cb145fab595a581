//! The `oauth-vault` binary.

// as the library's: the release build of the portal's view types needs it
#![recursion_limit = "512"]

use oauth_vault::{cli, config::Config, startup::Application, telemetry};
use std::process::ExitCode;

/// mimalloc keeps a cache per thread: the token API allocates and frees
/// many small buffers per request, which the system allocator serves
/// through shared arenas (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Stack of each runtime thread. Rendering a large page walks deeply nested
/// view types; a debug build needs more than the 2 MiB default for that.
const THREAD_STACK_BYTES: usize = 8 * 1024 * 1024;

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(THREAD_STACK_BYTES)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("oauth-vault: error: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    use clap::Parser;
    // --help and --version (in any position) print and end with 0; a wrong
    // command line prints its usage and ends with 2
    let parsed = match cli::Cli::try_parse() {
        Ok(parsed) => parsed,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match cli::run(parsed.command).await {
        Ok(None) => {}
        Ok(Some(output)) => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            return match writeln!(out, "{output}").and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                // a reader that stopped early (`| head`) is not a failure
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("oauth-vault: error: cannot write the output: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Err(message) => {
            eprintln!("oauth-vault: error: {message}");
            return ExitCode::FAILURE;
        }
    }
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("oauth-vault: error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), String> {
    if let Err(error) = dotenvy::dotenv() {
        if !error.not_found() {
            return Err(format!(".env: {error}"));
        }
    }
    let config = Config::from_env().map_err(|e| e.to_string())?;
    // the portal without its client code would half work: refuse, in one
    // line, before anything is logged
    if oauth_vault::http::assets::build_id(&config.site_root).is_none() {
        return Err(format!(
            "the client assets are missing in {}: build them with scripts/build-client, or set OAUTH_VAULT_SITE_ROOT to a built site folder",
            config.site_root.display()
        ));
    }
    let db_system = {
        use secrecy::ExposeSecret;
        match app::infra::db::DbKind::from_url(config.database_url.expose_secret()) {
            Some(app::infra::db::DbKind::Postgres) => "postgresql",
            _ => "sqlite",
        }
    };
    let _log = telemetry::init(config.log_format, db_system)?;
    let application = Application::build(config)
        .await
        .map_err(|e| e.to_string())?;
    let addr = application.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(
        %addr,
        public_url = %application.state().settings.public_url,
        "OAuth Vault is listening"
    );
    let shutdown = shutdown_signal()?;
    // Standard output may be a closed pipe (a supervisor that read the
    // first line): what cannot be printed is not worth stopping for.
    let mut lines = vec![format!(
        "OAuth Vault is running at {}",
        application.state().settings.public_url
    )];
    if let Some(link) = application.setup_link() {
        // its own lines, easy to spot among the log
        lines.extend([
            String::new(),
            "  No administrator yet. Create the first one with this one-time link:".into(),
            String::new(),
            format!("  {link}"),
            String::new(),
        ]);
    }
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for line in lines {
            if writeln!(out, "{line}").is_err() {
                break;
            }
        }
        let _ = out.flush();
    }
    application
        .run_until_stopped(shutdown)
        .await
        .map_err(|e| format!("server error: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed
/// when this is called, not when the future is first polled: a supervisor
/// that sends SIGTERM as soon as it has read the first line must get a
/// graceful stop, not the signal's default (an abrupt end).
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let listen = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|e| format!("cannot listen for {name}: {e}"))
    };
    let mut interrupt = listen(SignalKind::interrupt(), "SIGINT")?;
    let mut terminate = listen(SignalKind::terminate(), "SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutting down: finishing in-flight requests");
    })
}
