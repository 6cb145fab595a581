//! Runs the fake Attio (OAuth authorization server and API) on its own, for
//! browser tests and manual trials of the vault, and beside it a generic,
//! strict OAuth 2.0 server that publishes RFC 8414 metadata (for custom
//! providers and Discover).
//!
//! `cargo run --example fake_attio -- [--port N] [--catalogue-dir DIR]`
//!
//! With `--catalogue-dir`, writes `DIR/attio.toml` pointing at the fake (and,
//! with `--with-fake-oauth`, `DIR/fakeoauth.toml` pointing at the generic
//! server, a provider whose tokens expire and refresh). Prints
//! `Fake Attio is running at http://127.0.0.1:PORT`, then
//! `Fake OAuth is running at http://127.0.0.1:PORT2` (a free port), then
//! `Fake OpenID is running at http://127.0.0.1:PORT3` (an OpenID
//! provider for the portal's single sign-on: it signs in
//! `alice@corp.example` at once; client `vault-portal`), and serves until
//! SIGTERM or Ctrl-C.
#[path = "../tests/common/fake_attio.rs"]
mod fake_attio;
#[path = "../tests/common/fake_oauth.rs"]
mod fake_oauth;
#[path = "../tests/common/fake_oidc.rs"]
mod fake_oidc;
#[path = "../tests/common/fake_server.rs"]
mod fake_server;

use std::{io::Write, net::SocketAddr, path::PathBuf, process::ExitCode};

const USAGE: &str = "usage: fake_attio [--port N] [--catalogue-dir DIR] [--with-fake-oauth]";

struct Args {
    port: u16,
    catalogue_dir: Option<PathBuf>,
    with_fake_oauth: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        port: 0,
        catalogue_dir: None,
        with_fake_oauth: false,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let value = args.next().ok_or("--port needs a value")?;
                parsed.port = value
                    .parse()
                    .map_err(|_| format!("--port: {value} is not a port number"))?;
            }
            "--catalogue-dir" => {
                let value = args.next().ok_or("--catalogue-dir needs a value")?;
                parsed.catalogue_dir = Some(PathBuf::from(value));
            }
            "--with-fake-oauth" => parsed.with_fake_oauth = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(parsed)
}

async fn stopped() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("{problem}");
            }
            eprintln!("{USAGE}");
            return if problem.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let fake = match fake_attio::FakeAttio::start_on(addr).await {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!("cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(dir) = &args.catalogue_dir {
        if let Err(e) = fake.write_catalogue(dir) {
            eprintln!("cannot write {}: {e}", dir.join("attio.toml").display());
            return ExitCode::FAILURE;
        }
    }
    let generic = match fake_oauth::FakeOAuth::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let (Some(dir), true) = (&args.catalogue_dir, args.with_fake_oauth) {
        if let Err(e) = generic.write_catalogue(dir) {
            eprintln!("cannot write {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    }
    let oidc = fake_oidc::FakeOidc::start().await;
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "Fake Attio is running at {}", fake.address);
    let _ = writeln!(stdout, "Fake OAuth is running at {}", generic.address);
    let _ = writeln!(stdout, "Fake OpenID is running at {}", oidc.issuer());
    let _ = stdout.flush();
    stopped().await;
    drop(fake);
    drop(generic);
    drop(oidc);
    ExitCode::SUCCESS
}
