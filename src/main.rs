//! The `oauth-vault` binary.

use oauth_vault::{config::Config, startup::Application, telemetry};
use std::process::ExitCode;

const USAGE: &str = "Usage: oauth-vault [serve]

Starts the OAuth Vault server. Configuration comes from environment variables
(and a .env file in the working directory); see .env.example.

Commands:
  serve       start the server (the default)
  --version   print the version
  --help      print this help";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["serve"] => {}
        ["--version" | "-V"] => {
            println!("oauth-vault {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        ["--help" | "-h" | "help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!(
                "oauth-vault: unknown command '{}'\n\n{USAGE}",
                other.join(" ")
            );
            return ExitCode::from(2);
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
