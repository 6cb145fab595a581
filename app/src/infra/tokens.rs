//! Random bearer values and their hashes: session ids, connect-session
//! tokens, OAuth `state`. Only the hash is ever stored.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64URL, Engine as _};
use sha2::{Digest, Sha256};

/// 32 random bytes, base64url.
pub fn random_token() -> String {
    use aes_gcm::aead::{rand_core::RngCore, OsRng};
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    B64URL.encode(bytes)
}

pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random number, e.g. to spread retries ([`crate::domain::backoff`]).
pub fn random_u64() -> u64 {
    use aes_gcm::aead::{rand_core::RngCore, OsRng};
    OsRng.next_u64()
}
