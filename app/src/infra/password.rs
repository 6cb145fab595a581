//! Password hashing with argon2id (m = 19 MiB, t = 2, p = 1), run on the
//! blocking pool so that a burst of sign-ins cannot stall the async workers.
//! At most one hash per core runs at a time: a burst of sign-ups or
//! sign-ins waits its turn instead of taking 19 MiB each at once.

use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use secrecy::{ExposeSecret, SecretString};
use std::sync::{Arc, OnceLock};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A turn to run argon2: at most one per core at once. The turn moves into
/// the blocking task, so it ends when the computation does, even if the
/// request that asked for it is gone.
async fn turn() -> Option<OwnedSemaphorePermit> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    let permits = PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Arc::new(Semaphore::new(cores.max(1)))
    });
    permits.clone().acquire_owned().await.ok()
}

fn hasher() -> Argon2<'static> {
    // The parameters are constants that argon2 accepts; the fallback is never taken.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed")]
    Hash,
    #[error("the hashing task did not complete")]
    Join,
}

pub async fn hash(password: SecretString) -> Result<String, PasswordError> {
    let turn = turn().await.ok_or(PasswordError::Join)?;
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let salt = SaltString::generate(&mut aes_gcm::aead::OsRng);
        hasher()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|_| PasswordError::Hash)
    })
    .await
    .map_err(|_| PasswordError::Join)?
}

/// A hash of a random password, verified when the account does not exist so
/// that the answer takes as long as for a real account.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut aes_gcm::aead::OsRng);
        hasher()
            .hash_password(b"no account has this password, it only costs time", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// Verifies `password` against `stored` (or against a dummy hash when there
/// is no account). Always does the same work.
pub async fn verify(password: SecretString, stored: Option<String>) -> bool {
    let real = stored.is_some();
    let Some(turn) = turn().await else {
        return false;
    };
    let result = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let stored = stored.unwrap_or_else(|| dummy_hash().to_string());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        hasher()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .unwrap_or(false);
    real && result
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_with_argon2id_and_verifies() {
        let h = hash(SecretString::from("correct horse battery"))
            .await
            .unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify(SecretString::from("correct horse battery"), Some(h.clone())).await);
        assert!(!verify(SecretString::from("wrong horse battery"), Some(h)).await);
        assert!(!verify(SecretString::from("anything"), None).await);
    }
}
