//! The harness's command line, as `scripts/bench` uses it. (It also makes
//! `cargo test` build the harness, so that `scripts/test` runs the smoke
//! benchmark without building anything again.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_oauth-vault-bench"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn help_prints_the_usage() {
    let out = bench(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("usage: oauth-vault-bench --server PATH"),
        "{text}"
    );
}

#[test]
fn a_run_without_a_server_is_refused_with_the_usage() {
    let out = bench(&["--smoke"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("--server is required"), "{text}");
    assert!(text.contains("usage:"), "{text}");
}
