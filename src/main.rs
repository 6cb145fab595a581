//! The `oauth-vault` binary.

use oauth_vault::{cli, config::Config, startup::Application, telemetry};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["--version" | "-V"] => {
            println!("oauth-vault {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        ["--help" | "-h" | "help"] => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    match cli::run(&args).await {
        Ok(None) => {}
        Ok(Some(output)) => {
            println!("{output}");
            return ExitCode::SUCCESS;
        }
        Err(message) if message.starts_with("unknown command") => {
            eprintln!("oauth-vault: {message}");
            return ExitCode::from(2);
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
    telemetry::init(config.log_format)?;
    let application = Application::build(config)
        .await
        .map_err(|e| e.to_string())?;
    let addr = application.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(
        %addr,
        public_url = %application.state().settings.public_url,
        "OAuth Vault is listening"
    );
    println!(
        "OAuth Vault is running at {}",
        application.state().settings.public_url
    );
    if let Some(link) = application.setup_link() {
        // its own lines, easy to spot among the log
        println!();
        println!("  No administrator yet. Create the first one with this one-time link:");
        println!();
        println!("  {link}");
        println!();
    }
    application
        .run_until_stopped(shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
