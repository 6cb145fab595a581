//! Loading the encryption keyring: from `OAUTH_VAULT_KEYS`, from a key file,
//! or — on the very first start with nothing configured — from a key file
//! generated in the data folder.

use crate::config::KeySource;
use app::infra::crypto::{Keyring, KeyringError};
use secrecy::ExposeSecret;
use std::{
    fs,
    io::{self, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the key file {path}: {source} (check that it exists and that the vault's user may read it)")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "cannot create the key file {path}: {source} (check that the data folder is writable)"
    )]
    Create { path: PathBuf, source: io::Error },
    #[error("the key file {path} is not valid: {source}")]
    InvalidFile { path: PathBuf, source: KeyringError },
    #[error("OAUTH_VAULT_KEYS is not valid: {0}")]
    InvalidEnv(KeyringError),
}

/// How the keyring was obtained, for the start-up log.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    Env,
    File(PathBuf),
    Generated(PathBuf),
}

pub fn load_keyring(source: &KeySource) -> Result<(Keyring, KeyOrigin), KeyError> {
    match source {
        KeySource::Inline(text) => Keyring::parse(text.expose_secret())
            .map(|ring| (ring, KeyOrigin::Env))
            .map_err(KeyError::InvalidEnv),
        KeySource::File { path, generate } => {
            if *generate && !path.exists() {
                generate_key_file(path)?;
                let ring = read_key_file(path)?;
                return Ok((ring, KeyOrigin::Generated(path.clone())));
            }
            let ring = read_key_file(path)?;
            Ok((ring, KeyOrigin::File(path.clone())))
        }
    }
}

fn read_key_file(path: &Path) -> Result<Keyring, KeyError> {
    let text = fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if let Ok(meta) = fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                "the key file is readable by other users; restrict it with `chmod 600`"
            );
        }
    }
    Keyring::parse(&text).map_err(|source| KeyError::InvalidFile {
        path: path.to_path_buf(),
        source,
    })
}

/// How often a running server looks at its key file for a rotation.
pub const RELOAD_INTERVAL_SECS: u64 = 5;

/// Reloads `keyring` from `path` whenever the file changes, until `stop`
/// fires: `oauth-vault keys rotate` reaches running servers without a
/// restart. A file that does not parse is reported and the keys in use kept.
pub async fn watch_key_file(
    path: std::path::PathBuf,
    keyring: std::sync::Arc<Keyring>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let modified = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut seen = modified(&path);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(RELOAD_INTERVAL_SECS)) => {}
            _ = stop.changed() => return,
        }
        let now = modified(&path);
        if now == seen {
            continue;
        }
        seen = now;
        match read_key_file(&path) {
            Ok(ring) => {
                keyring.replace(ring);
                tracing::info!(
                    active_key = %keyring.active_key_id(),
                    keys = keyring.key_ids().len(),
                    "key file changed: keys reloaded"
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "key file changed but cannot be used; keeping the keys in use")
            }
        }
    }
}

/// Writes a new random key to `path`, readable by the owner only. Never
/// overwrites an existing file.
pub fn generate_key_file(path: &Path) -> Result<(), KeyError> {
    let create_err = |source| KeyError::Create {
        path: path.to_path_buf(),
        source,
    };
    let entry = Keyring::generate_entry();
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(create_err)?;
    let contents = format!(
        "# OAuth Vault encryption keys: one `<id>:<base64 key>` per line; the first seals new secrets.\n\
         # Back this file up: without it, the stored secrets cannot be decrypted.\n{}\n",
        entry.expose_secret()
    );
    file.write_all(contents.as_bytes()).map_err(create_err)?;
    file.sync_all().map_err(create_err)?;
    tracing::warn!(
        path = %path.display(),
        "generated a new encryption key; back this file up, and in production supply your own keys \
         through OAUTH_VAULT_KEYS or OAUTH_VAULT_KEYS_FILE"
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn first_start_generates_an_owner_only_key_file_and_later_starts_reuse_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.keys");
        let source = KeySource::File {
            path: path.clone(),
            generate: true,
        };
        let (first, origin) = load_keyring(&source).unwrap();
        assert_eq!(origin, KeyOrigin::Generated(path.clone()));
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (second, origin) = load_keyring(&source).unwrap();
        assert_eq!(origin, KeyOrigin::File(path.clone()));
        assert_eq!(first.active_key_id(), second.active_key_id());
    }

    #[test]
    fn a_configured_key_file_is_never_generated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.keys");
        let error = load_keyring(&KeySource::File {
            path: path.clone(),
            generate: false,
        })
        .err()
        .unwrap();
        assert!(matches!(error, KeyError::Read { .. }));
        assert!(!path.exists());
    }

    #[test]
    fn an_invalid_key_file_is_reported_without_its_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.keys");
        fs::write(&path, "k1:dG9vc2hvcnQ=\n").unwrap();
        let error = load_keyring(&KeySource::File {
            path,
            generate: false,
        })
        .err()
        .unwrap();
        let message = error.to_string();
        assert!(message.contains("not valid"), "{message}");
        assert!(!message.contains("dG9vc2hvcnQ="));
    }
}
