//! Online key rotation: every secret re-sealed while the vault serves.
use crate::common;
use crate::refresh::SETUP;
use common::World;
use reqwest::{Method, StatusCode};

with_world!(SETUP; key_rotation_reseals_every_secret_while_serving);

/// Runs the operator CLI of this instance; returns (exit code, stdout, stderr).
fn cli(w: &World, args: &[&str]) -> (i32, String, String) {
    let out = w.app.cli(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

async fn key_rotation_reseals_every_secret_while_serving(w: World) {
    let id = w.connect_oauth("user-1").await;
    let settings = format!("/apps/{}/settings", w.app_id);
    w.app
        .submit(&settings, &settings, &[("_action", "rotate_secret")])
        .await;
    let old_key = w.app.state.keyring.active_key_id();
    let census = app::services::rotation::census(&w.app.state.db)
        .await
        .unwrap();
    assert_eq!(
        census.keys().cloned().collect::<Vec<_>>(),
        vec![old_key.clone()]
    );
    let sealed: usize = census.values().sum();
    assert!(
        sealed >= 5,
        "client secrets, tokens, webhook secret: {census:?}"
    );

    // the rotation is stopped after two secrets, as a crash would
    let (code, out, err) = cli(
        &w,
        &["keys", "rotate", "--wait-secs", "6", "--max-rows", "2"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("stopped early"), "{out}");
    // it says what it does while it does it: phases, waits, counts
    for progress in [
        "[1/3] added key",
        "waiting 6 s",
        "[2/3]",
        "[3/3] re-sealing",
        "re-sealed",
    ] {
        assert!(err.contains(progress), "{progress} in {err}");
    }
    let new_key = w.app.state.keyring.active_key_id();
    assert_ne!(new_key, old_key, "the running server reloaded the key file");
    // meanwhile the server keeps working: old and new secrets both open
    let (status, body) = w.token(&id).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // run again: it finishes the same rotation instead of starting another
    let (code, out, err) = cli(&w, &["keys", "rotate", "--wait-secs", "0"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("finishing the earlier rotation"), "{out}");
    assert!(out.contains("rotation finished"), "{out}");
    let census = app::services::rotation::census(&w.app.state.db)
        .await
        .unwrap();
    assert_eq!(
        census.keys().cloned().collect::<Vec<_>>(),
        vec![new_key.clone()]
    );
    assert_eq!(census.values().sum::<usize>(), sealed);

    // new writes use the new key; everything still works
    let (status, body, _) = w
        .call(
            &w.app.address,
            Method::GET,
            &format!("/v1/connections/{id}/access-token?force_refresh=true"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let blob: Vec<u8> = sqlx::query_scalar("SELECT access_token FROM connections WHERE id = $1")
        .bind(&id)
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(
        app::infra::crypto::Keyring::key_id_of(&blob).unwrap(),
        new_key
    );

    // the old key can go; a missing key is reported clearly
    let key_file = std::path::Path::new(&w.app.var("OAUTH_VAULT_DATA_DIR")).join("vault.keys");
    let text = std::fs::read_to_string(&key_file).unwrap();
    let entries: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(entries.len(), 2);
    let (new_entry, old_entry) = (entries[0].to_string(), entries[1].to_string());
    std::fs::write(&key_file, format!("{new_entry}\n")).unwrap();
    let (code, out, err) = cli(&w, &["check"]);
    assert_eq!(code, 0, "{out}{err}");
    std::fs::write(&key_file, format!("{old_entry}\n")).unwrap();
    let (code, _, err) = cli(&w, &["check"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "sealed with key '{new_key}', which is not in the keyring"
        )),
        "{err}"
    );
    assert!(
        !err.contains(new_entry.split(':').nth(1).unwrap()),
        "no key material in messages"
    );
    std::fs::write(&key_file, format!("{new_entry}\n")).unwrap();
}
