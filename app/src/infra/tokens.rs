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
    to_hex(&Sha256::digest(token.as_bytes()))
}

/// Lowercase hexadecimal, two digits a byte (on the API's hot path: no
/// formatting machinery).
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        hex.push(DIGITS[usize::from(b >> 4)] as char);
        hex.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    hex
}

/// A random number, e.g. to spread retries ([`crate::domain::backoff`]).
pub fn random_u64() -> u64 {
    use aes_gcm::aead::{rand_core::RngCore, OsRng};
    OsRng.next_u64()
}

#[cfg(test)]
mod hex_tests {
    #[test]
    fn hex_is_two_lowercase_digits_a_byte() {
        assert_eq!(super::to_hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(super::to_hex(&[]), "");
    }
}
