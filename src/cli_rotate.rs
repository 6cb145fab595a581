//! `oauth-vault keys rotate`: a new active key in the key file, then every
//! secret re-sealed under it, online, saying what it does as it goes.

use super::{database, load_config};
use crate::{
    config::KeySource,
    keys::{self, KeyOrigin},
};
use app::infra::{crypto::Keyring, db::now_ms};
use secrecy::ExposeSecret;
use std::{io::Write, path::Path, time::Duration};

/// Writes the key file atomically (owner-only), keys in this order.
fn write_key_file(path: &Path, entries: &[String]) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp{}", now_ms()));
    let contents = format!(
        "# OAuth Vault encryption keys: one `<id>:<base64 key>` per line; the first seals new secrets.\n\
         # Back this file up: without it, the stored secrets cannot be decrypted.\n{}\n",
        entries.join("\n")
    );
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))
}

/// The `<id>:<key>` entries of a key file, in order.
fn key_entries(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .flat_map(|l| l.split([',', ' ', '\t']))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect())
}

/// Rotation with a key file: (1) the new key joins the file as a second key,
/// so every server can read what it will seal; (2) after servers reloaded
/// the file, it becomes the first (active) key; (3) every secret is re-sealed
/// under it in batches. Old keys stay until the operator removes them.
pub async fn run(wait_secs: Option<u64>, max_rows: Option<usize>) -> Result<String, String> {
    let config = load_config()?;
    let wait = Duration::from_secs(wait_secs.unwrap_or(crate::keys::RELOAD_INTERVAL_SECS * 2 + 2));
    let path = match &config.keys {
        KeySource::File { path, .. } => path.clone(),
        KeySource::Inline(_) => {
            // Keys from the environment cannot be edited here: re-seal under
            // whichever key the operator put first.
            let (ring, origin) = keys::load_keyring(&config.keys).map_err(|e| e.to_string())?;
            debug_assert_eq!(origin, KeyOrigin::Env);
            let db = database(&config).await?;
            let done = app::services::rotation::reseal_all(&db, &ring, max_rows).await;
            db.close().await;
            let done = done?;
            return Ok(format!(
                "keys come from OAUTH_VAULT_KEYS: re-sealed {} secrets under the first key there ({}); {} were already under it{}",
                done.resealed,
                ring.active_key_id(),
                done.current,
                if done.interrupted { "; stopped early, run again to finish" } else { "" }
            ));
        }
    };
    let mut entries = key_entries(&path)?;
    let current = Keyring::parse(&entries.join("\n")).map_err(|e| e.to_string())?;
    // A rotation that stopped midway has its new key first already: finish it.
    let census = {
        let db = database(&config).await?;
        let c = app::services::rotation::census(&db)
            .await
            .map_err(|e| e.to_string());
        db.close().await;
        c?
    };
    let unfinished = census.keys().any(|k| *k != current.active_key_id());
    let mut out = Vec::new();
    if !unfinished {
        let new = Keyring::generate_entry().expose_secret().to_string();
        let new_id = new.split(':').next().unwrap_or_default().to_string();
        entries.push(new.clone());
        write_key_file(&path, &entries)?;
        out.push(format!(
            "added key {new_id} to {} (not active yet)",
            path.display()
        ));
        eprintln!(
            "[1/3] added key {new_id} to {} (not active yet); waiting {} s for running servers to load it",
            path.display(),
            wait.as_secs()
        );
        tokio::time::sleep(wait).await;
        entries.retain(|e| *e != new);
        entries.insert(0, new);
        write_key_file(&path, &entries)?;
        out.push(format!("key {new_id} is now the active key"));
        eprintln!(
            "[2/3] key {new_id} is now the active key; waiting {} s for running servers to seal with it",
            wait.as_secs()
        );
        tokio::time::sleep(wait).await;
    } else {
        out.push(format!(
            "secrets not yet under the active key {}: finishing the earlier rotation",
            current.active_key_id()
        ));
    }
    let ring = Keyring::parse(&entries.join("\n")).map_err(|e| e.to_string())?;
    let db = database(&config).await?;
    eprintln!(
        "[3/3] re-sealing every secret under key {}",
        ring.active_key_id()
    );
    let done = app::services::rotation::reseal_all_reporting(
        &db,
        &ring,
        max_rows,
        &mut |place, so_far| {
            eprintln!(
                "      {place}: {} re-sealed, {} already under the key so far",
                so_far.resealed, so_far.current
            )
        },
    )
    .await;
    db.close().await;
    let done = done?;
    out.push(format!(
        "re-sealed {} secrets under key {} ({} already were{})",
        done.resealed,
        ring.active_key_id(),
        done.current,
        if done.skipped > 0 {
            format!(", {} changed meanwhile — run again to check", done.skipped)
        } else {
            String::new()
        }
    ));
    if done.interrupted {
        out.push("stopped early: run `oauth-vault keys rotate` again to finish".into());
    } else {
        out.push("rotation finished: older keys may be removed from the key file once backups no longer need them".into());
    }
    Ok(out.join("\n"))
}
