//! The operator's CLI against a running instance: administrators,
//! migrations and the configuration check.
use crate::common;

use common::TestApp;
use std::{io::Write, process::Stdio};

on_both_databases!(
    administrators_are_managed_from_the_cli,
    migrate_and_check_report_clearly
);

/// Runs a CLI command with `stdin`; returns (exit code, stdout, stderr).
fn run(app: &TestApp, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = app
        .cli(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

async fn role(app: &TestApp, email: &str) -> String {
    sqlx::query_scalar("SELECT role FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

async fn administrators_are_managed_from_the_cli(app: TestApp) {
    app.set_up_admin("first@example.com", "correct horse battery")
        .await;
    app.second_browser()
        .sign_up("dev@example.com", "correct horse battery")
        .await;
    assert_eq!(role(&app, "dev@example.com").await, "developer");

    let (code, out, err) = run(
        &app,
        &["admin", "create", "--email", "Ops@Example.com"],
        "a long enough password\n",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("administrator ops@example.com created"),
        "{out}"
    );
    assert_eq!(role(&app, "ops@example.com").await, "admin");
    // the new administrator signs in with that password
    let res = app
        .second_browser()
        .sign_in("ops@example.com", "a long enough password")
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);

    // mistakes are explained and change nothing
    let (code, _, err) = run(
        &app,
        &["admin", "create", "--email", "ops@example.com"],
        "a long enough password\n",
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("already has an account") && err.contains("admin grant"),
        "{err}"
    );
    let (code, _, err) = run(
        &app,
        &["admin", "create", "--email", "short@example.com"],
        "short\n",
    );
    assert_eq!(code, 1);
    assert!(err.contains("12"), "{err}");
    assert_eq!(
        app.count("users WHERE email = 'short@example.com'").await,
        0
    );
    let (code, _, err) = run(
        &app,
        &["admin", "grant", "--email", "nobody@example.com"],
        "",
    );
    assert_eq!(code, 1);
    assert!(err.contains("no account"), "{err}");

    let (code, _, err) = run(&app, &["admin", "grant", "--email", "dev@example.com"], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(role(&app, "dev@example.com").await, "admin");
    for email in ["dev@example.com", "ops@example.com"] {
        let (code, _, err) = run(&app, &["admin", "revoke", "--email", email], "");
        assert_eq!(code, 0, "{err}");
        assert_eq!(role(&app, email).await, "developer");
    }
    // never the last administrator
    let (code, _, err) = run(
        &app,
        &["admin", "revoke", "--email", "first@example.com"],
        "",
    );
    assert_eq!(code, 1);
    assert!(err.contains("last administrator"), "{err}");
    assert_eq!(role(&app, "first@example.com").await, "admin");

    let (code, _, err) = run(&app, &["admin", "frobnicate"], "");
    assert_eq!(code, 2);
    assert!(
        err.contains("'frobnicate'") && err.contains("Usage:"),
        "{err}"
    );
}

async fn migrate_and_check_report_clearly(app: TestApp) {
    let (code, out, err) = run(&app, &["migrate"], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("migrations applied"), "{out}");
    assert!(!out.contains("password"));

    let (code, out, err) = run(&app, &["check"], "");
    assert_eq!(code, 0, "{err}");
    for expected in [
        "ok: configuration",
        "ok: provider catalogue",
        "ok: keys",
        "ok: database",
        // a fresh instance: nothing sealed yet
        "ok: no secrets stored yet",
    ] {
        assert!(out.contains(expected), "{expected}: {out}");
    }

    let (code, out, _) = run(&app, &["keys", "generate"], "");
    assert_eq!(code, 0);
    let entry = out.trim();
    assert!(
        app::infra::crypto::Keyring::parse(entry).is_ok(),
        "a usable key line"
    );

    // a broken catalogue folder is reported with the fix, exit 1
    let mut cmd = app.cli(&["check"]);
    cmd.env("OAUTH_VAULT_PROVIDERS_DIR", "/nonexistent/providers");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error: catalogue"), "{err}");

    // a dropped-in definition with a placeholder that is no parameter: the
    // check names the file and the field, and the server would not start
    let dir = tempfile::tempdir().unwrap();
    let attio = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("providers/attio.toml"),
    )
    .unwrap()
    .replace(
        "https://app.attio.com/authorize",
        "https://{workspace}.attio.com/authorize",
    );
    std::fs::write(dir.path().join("attio.toml"), attio).unwrap();
    let mut cmd = app.cli(&["check"]);
    cmd.env("OAUTH_VAULT_PROVIDERS_DIR", dir.path());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("attio.toml")
            && err.contains("oauth.authorization_url")
            && err.contains("{workspace}"),
        "{err}"
    );
}
