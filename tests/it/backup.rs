//! Backups: a copy taken while the server serves token reads, restored
//! into a new data folder, checked and served; the check naming the secrets
//! a wrong key file cannot open; a clear line for a path that cannot be
//! written.
use crate::common::{self, start_binary, Setup, World};
use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

with_world!(SETUP; a_backup_under_load_restores_and_serves_the_same_tokens);

const SETUP: Setup = Setup {
    return_url: "https://app.example.com/done",
    attio_scopes: &["record_permission:read"],
    fake_oauth: true,
};

/// Runs a CLI command of `w`'s app (on another data folder and database
/// when `restored` is given): (exit code, stdout, stderr).
async fn cli(w: &World, args: &[&str], restored: Option<&Path>) -> (i32, String, String) {
    let mut cmd = w.app.cli(args);
    if let Some(dir) = restored {
        cmd.env("OAUTH_VAULT_DATA_DIR", dir).env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("vault.db").display()),
        );
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

async fn a_backup_under_load_restores_and_serves_the_same_tokens(w: World) {
    let id = w.connect_oauth("user-1").await;
    let (_, before) = w.token(&id).await;
    let token = before["access_token"].as_str().unwrap().to_string();
    let file = w.app.data_dir.path().join("copy.db");
    let file_arg = file.display().to_string();

    if w.app.var("DATABASE_URL").starts_with("postgres") {
        // PostgreSQL has its own tool: the exact command, no password
        let (code, out, err) = cli(&w, &["backup", &file_arg], None).await;
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("pg_dump --format=custom --file="), "{out}");
        assert!(out.contains("vault.keys"), "names the key file: {out}");
        assert!(!file.exists());
        return;
    }

    // a stream of token reads while the copy is taken
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (client, url, key, stop) = (
            w.app.client.clone(),
            w.app.url(&format!("/v1/connections/{id}/access-token")),
            w.key.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut served = 0;
            for _ in 0..5000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let res = client.get(&url).bearer_auth(&key).send().await.unwrap();
                assert_eq!(res.status(), reqwest::StatusCode::OK);
                served += 1;
            }
            served
        })
    };
    let (code, out, err) = cli(&w, &["backup", &file_arg], None).await;
    stop.store(true, Ordering::Relaxed);
    let served = load.await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("bytes") && out.contains("vault.keys"), "{out}");
    assert!(served > 0, "the server kept serving");
    // a second backup to the same file is refused, the first kept
    let (code, _, err) = cli(&w, &["backup", &file_arg], None).await;
    assert_eq!(code, 1);
    assert!(err.contains("exists"), "{err}");
    // a path that cannot be written: one clear line
    let (code, _, err) = cli(&w, &["backup", "/proc/no-such-place/copy.db"], None).await;
    assert_eq!(code, 1);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("cannot write the backup"), "{err}");
    assert!(
        lines[0].contains("the folder /proc/no-such-place does not exist"),
        "{err}"
    );

    // restored into a new data folder, with the key file
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&file, restored.path().join("vault.db")).unwrap();
    let keys = w.app.data_dir.path().join("vault.keys");
    std::fs::copy(&keys, restored.path().join("vault.keys")).unwrap();
    let (code, out, err) = cli(&w, &["check"], Some(restored.path())).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("secrets open with these keys"), "{out}");
    let mut server = w.app.cli(&[]);
    server.env("OAUTH_VAULT_DATA_DIR", restored.path()).env(
        "DATABASE_URL",
        format!("sqlite://{}", restored.path().join("vault.db").display()),
    );
    let (mut child, url) = start_binary(&mut server);
    let res = common::sent(
        w.app
            .client
            .get(format!("{url}/v1/connections/{id}/access-token"))
            .bearer_auth(&w.key)
            .send()
            .await,
    )
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["access_token"], token.as_str(), "the same token");

    // with a wrong key file (the same key id, other key material) the
    // check names the secrets that do not open
    let original = std::fs::read_to_string(&keys).unwrap();
    let key_id = original
        .lines()
        .find(|l| !l.starts_with('#') && l.contains(':'))
        .and_then(|l| l.split(':').next())
        .unwrap()
        .to_string();
    let (_, generated, _) = cli(&w, &["keys", "generate"], None).await;
    let other = generated.trim().split_once(':').unwrap().1.to_string();
    std::fs::write(
        restored.path().join("vault.keys"),
        format!("{key_id}:{other}\n"),
    )
    .unwrap();
    let (code, out, err) = cli(&w, &["check"], Some(restored.path())).await;
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("do not open with these keys"), "{err}");
    assert!(
        err.contains(&format!("connections.access_token of {id}")),
        "names the secret: {err}"
    );
}
