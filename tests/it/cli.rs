//! The binary as an operator meets it: first start, restart, shutdown, and
//! the one-line errors for wrong configuration.

use std::{
    os::unix::fs::PermissionsExt,
    path::Path,
    process::{Child, Command},
    time::Duration,
};

const BIN: &str = env!("CARGO_BIN_EXE_oauth-vault");

fn vault(data_dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("OAUTH_VAULT_DATA_DIR", data_dir)
        .env("OAUTH_VAULT_BIND", "127.0.0.1:0")
        .env(
            "OAUTH_VAULT_SITE_ROOT",
            crate::common::fake_site(&data_dir.join("site")),
        )
        .current_dir(data_dir);
    cmd
}

/// Runs the binary to completion and returns (exit code, error lines).
fn fails(cmd: &mut Command) -> (i32, Vec<String>) {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let errors: Vec<String> = stderr
        .lines()
        .filter(|l| l.starts_with("oauth-vault: error:"))
        .map(str::to_string)
        .collect();
    (out.status.code().unwrap_or(-1), errors)
}

/// Starts the server and returns it with its URL, read from its first line.
fn start(cmd: &mut Command) -> (Child, String) {
    crate::common::start_binary(cmd)
}

fn get(url: &str) -> u16 {
    // a tiny blocking client so this file needs no runtime
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::get(url)
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    })
}

fn terminate(mut child: Child) -> i32 {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    panic!("the server did not stop within 10 s of SIGTERM");
}

/// A supervisor may send SIGTERM as soon as it has read the first line:
/// the handlers are in place by then, so the stop is graceful (exit 0), not
/// the signal's default.
#[test]
fn sigterm_right_after_the_first_line_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..3 {
        let (child, _) = start(&mut vault(dir.path()));
        assert_eq!(terminate(child), 0, "graceful shutdown exits 0");
    }
}

#[test]
fn first_start_creates_database_and_key_file_and_restart_reuses_them() {
    let dir = tempfile::tempdir().unwrap();
    let (child, url) = start(&mut vault(dir.path()));
    assert_eq!(get(&format!("{url}/readyz")), 200);
    assert_eq!(terminate(child), 0, "graceful shutdown exits 0");

    let key_file = dir.path().join("vault.keys");
    let db_file = dir.path().join("oauth-vault.db");
    assert!(db_file.exists());
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let key = std::fs::read_to_string(&key_file).unwrap();

    let (child, url) = start(&mut vault(dir.path()));
    assert_eq!(get(&format!("{url}/readyz")), 200);
    assert_eq!(terminate(child), 0);
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap(),
        key,
        "key reused"
    );
}

#[test]
fn unsupported_database_url_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let (code, errors) =
        fails(vault(dir.path()).env("DATABASE_URL", "mysql://root:pw@localhost/vault"));
    assert_ne!(code, 0);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("DATABASE_URL"), "{}", errors[0]);
    assert!(!errors[0].contains(":pw@"));
}

#[test]
fn unreachable_database_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let (code, errors) =
        fails(vault(dir.path()).env("DATABASE_URL", "postgres://vault:hunter2@127.0.0.1:1/vault"));
    assert_ne!(code, 0);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("cannot open the database"),
        "{}",
        errors[0]
    );
    assert!(!errors[0].contains("hunter2"));
}

#[test]
fn unreadable_key_file_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    // a folder where the key file should be: exists, but cannot be read
    std::fs::create_dir(dir.path().join("vault.keys")).unwrap();
    let (code, errors) = fails(&mut vault(dir.path()));
    assert_ne!(code, 0);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("cannot read the key file"),
        "{}",
        errors[0]
    );

    let bad = dir.path().join("bad.keys");
    std::fs::write(&bad, "not a key\n").unwrap();
    let (code, errors) = fails(vault(dir.path()).env("OAUTH_VAULT_KEYS_FILE", &bad));
    assert_ne!(code, 0);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("is not valid"), "{}", errors[0]);
}

#[test]
fn port_in_use_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, errors) = fails(vault(dir.path()).env("OAUTH_VAULT_BIND", &addr));
    assert_ne!(code, 0);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains(&format!("cannot listen on {addr}")),
        "{}",
        errors[0]
    );
}

#[test]
fn wrong_setting_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let (code, errors) = fails(vault(dir.path()).env("OAUTH_VAULT_LOG_FORMAT", "xml"));
    assert_ne!(code, 0);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("OAUTH_VAULT_LOG_FORMAT"));
}

/// The OpenAPI document the clients are generated from comes from the
/// binary, with the server named on the command line, and it is the one the
/// server serves.
#[test]
fn the_openapi_document_is_printed_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let out = vault(dir.path())
        .args(["openapi", "--server", "https://vault.example.com/"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["servers"][0]["url"], "https://vault.example.com");
    let proxy = &doc["paths"]["/v1/proxy/{id}/{path}"];
    for method in ["get", "post", "put", "patch", "delete"] {
        assert!(proxy[method].is_object(), "the proxy's {method}");
        for status in ["401", "404", "409", "410", "413", "422", "502", "503"] {
            assert!(
                proxy[method]["responses"][status].is_object(),
                "{method} answers {status}"
            );
        }
    }
    assert!(proxy["post"]["requestBody"].is_object());
    let list = doc["paths"]["/v1/connections"]["get"]["parameters"].to_string();
    assert!(list.contains("ConnectionStatusName"), "{list}");
    assert!(
        doc["paths"]["/v1/connections/{id}"]["get"]["responses"]["410"].is_object(),
        "a disconnected connection is gone"
    );
    assert!(
        !dir.path().join("oauth-vault.db").exists(),
        "no database opened"
    );
}

/// Without its client assets the server would half work: it refuses to
/// start, in one line naming the folder.
#[test]
fn missing_client_assets_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("no-site");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, errors) = fails(vault(dir.path()).env("OAUTH_VAULT_SITE_ROOT", &empty));
    assert_ne!(code, 0);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("client assets are missing"),
        "{errors:?}"
    );
    assert!(errors[0].contains("no-site"), "{errors:?}");
}

/// Runs the binary with `args`: (exit code, stdout, stderr).
fn output(args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = vault(dir.path()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Help on every command, the version anywhere, completions, and exit
/// code 2 with the usage for a wrong command line.
#[test]
fn the_cli_explains_itself() {
    let (code, out, _) = output(&["--help"]);
    assert_eq!(code, 0);
    for command in [
        "serve",
        "migrate",
        "check",
        "admin",
        "keys",
        "backup",
        "openapi",
        "completions",
        "Exit codes",
    ] {
        assert!(out.contains(command), "{command} in {out}");
    }
    for (args, expected) in [
        (&["backup", "--help"][..], "FILE"),
        (&["keys", "rotate", "--help"][..], "--wait-secs"),
        (&["admin", "create", "--help"][..], "--email"),
        (&["admin", "reset-password", "--help"][..], "EMAIL"),
    ] {
        let (code, out, err) = output(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains(expected), "{args:?}: {out}");
    }
    for args in [
        &["--version"][..],
        &["admin", "--version"][..],
        &["keys", "rotate", "--version"][..],
    ] {
        let (code, out, _) = output(args);
        assert_eq!(code, 0, "{args:?}");
        assert!(out.starts_with("oauth-vault"), "{out}");
        assert!(out.trim().ends_with(env!("CARGO_PKG_VERSION")), "{out}");
    }
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef oauth-vault"),
        ("fish", "complete -c oauth-vault"),
    ] {
        let (code, out, err) = output(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.contains(marker), "{shell}: {out}");
        assert!(out.contains("backup"), "{shell} completes the commands");
    }
    for args in [
        &["--bogus"][..],
        &["admin", "frobnicate"][..],
        &["backup"][..],
    ] {
        let (code, _, err) = output(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains("Usage:"), "{args:?}: {err}");
    }
}

/// Asks the bash completion for the words that complete `$2`, as bash
/// does: it splits the line into COMP_WORDS and calls the function with
/// the command, the current word and the previous one.
const COMPLETE: &str = r#"source "$1"
COMP_LINE="$2"; COMP_POINT=${#COMP_LINE}
read -r -a COMP_WORDS <<<"$COMP_LINE"
[[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
_oauth__vault oauth-vault "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}""#;

/// The bash completion completes past the first word: commands,
/// subcommands and their options, as bash itself runs it.
#[test]
fn bash_completes_every_level() {
    let (code, script, err) = output(&["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oauth-vault.bash");
    std::fs::write(&path, script).unwrap();
    for (line, expected) in [
        ("oauth-vault ke", &["keys"][..]),
        ("oauth-vault keys ", &["generate", "rotate"][..]),
        ("oauth-vault keys rotate --", &["--wait-secs", "--help"][..]),
        ("oauth-vault admin ", &["create", "reset-password"][..]),
        ("oauth-vault completions ", &["bash", "zsh", "fish"][..]),
    ] {
        let out = std::process::Command::new("bash")
            .args(["-c", COMPLETE, "bash"])
            .arg(&path)
            .arg(line)
            .output()
            .unwrap();
        let words = String::from_utf8_lossy(&out.stdout).to_string();
        for word in expected {
            assert!(
                words.lines().any(|w| w == *word),
                "{line:?} completes {word}, got {words:?} {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Output into a pipe whose reader has gone (`| head`) ends quietly with
/// 0, not with a panic.
#[test]
fn a_closed_pipe_is_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = vault(dir.path())
        .args(["completions", "bash"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.is_empty(), "nothing on standard error: {err}");
}
