//! Encryption of secrets at rest.
//!
//! Every secret the vault stores (client secrets, access and refresh tokens,
//! webhook signing secrets) is sealed with AES-256-GCM under the keyring's
//! active key, with a fresh random 96-bit nonce. The ciphertext names the key
//! that sealed it, so older keys keep decrypting while a rotation runs.
//!
//! Each ciphertext is bound to the place it is stored in — table, column and
//! row id — through the associated data: a ciphertext copied into another row
//! or column fails to decrypt instead of leaking one tenant's token into
//! another's.

use aes_gcm::{
    aead::{rand_core::RngCore, Aead, KeyInit, OsRng, Payload},
    Aes256Gcm, Nonce,
};
use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use secrecy::{zeroize::Zeroizing, SecretString};
use std::fmt;

/// Length of a data-encryption key in bytes (AES-256).
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const FORMAT_V1: u8 = 1;
const AAD_CONTEXT: &[u8] = b"oauth-vault/secret/v1";

/// Where a ciphertext lives; bound into it as associated data.
#[derive(Debug, Clone, Copy)]
pub struct Aad<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row_id: &'a str,
}

impl<'a> Aad<'a> {
    pub fn new(table: &'a str, column: &'a str, row_id: &'a str) -> Self {
        Self {
            table,
            column,
            row_id,
        }
    }

    /// Length-prefixed fields, so that ("a/b", "c") and ("a", "b/c") differ.
    fn to_bytes(self, key_id: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(AAD_CONTEXT);
        for field in [self.table, self.column, self.row_id, key_id] {
            out.extend_from_slice(&(field.len() as u32).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the ciphertext was sealed with key '{0}', which is not in the keyring")]
    UnknownKey(String),
    #[error("the ciphertext is malformed")]
    Malformed,
    #[error("the ciphertext does not authenticate (wrong key, wrong row, or tampered)")]
    Authentication,
    #[error("the decrypted secret is not valid UTF-8")]
    NotUtf8,
    #[error("the secret is too large to encrypt")]
    TooLarge,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyringError {
    #[error("no encryption key given")]
    Empty,
    #[error("key #{position}: expected `<id>:<base64 of 32 bytes>`")]
    Syntax { position: usize },
    #[error("key #{position}: the id '{id}' must be 1-32 characters of A-Z, a-z, 0-9, '-' or '_'")]
    BadId { position: usize, id: String },
    #[error("key '{id}': the key must be exactly 32 bytes, base64-encoded (generate one with `oauth-vault keys generate`)")]
    BadKey { id: String },
    #[error("key id '{id}' appears twice")]
    Duplicate { id: String },
}

struct DataKey {
    id: String,
    cipher: Aes256Gcm,
}

/// The set of keys the vault can decrypt with; the first is the active one,
/// used for every new encryption.
pub struct Keyring {
    /// Replaced as a whole when the key file changes (see [`Keyring::replace`]).
    keys: std::sync::RwLock<Vec<DataKey>>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("key_ids", &self.key_ids())
            .field("keys", &"[REDACTED]")
            .finish()
    }
}

fn valid_key_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Keyring {
    /// Parses keys written as `<id>:<base64>`, separated by newlines, commas or
    /// spaces; `#` starts a comment. The first key is the active one.
    pub fn parse(text: &str) -> Result<Self, KeyringError> {
        let entries = text
            .lines()
            .map(|line| line.split('#').next().unwrap_or_default())
            .flat_map(|line| line.split([',', ' ', '\t']))
            .map(str::trim)
            .filter(|entry| !entry.is_empty());
        let mut keys: Vec<DataKey> = Vec::new();
        for (index, entry) in entries.enumerate() {
            let position = index + 1;
            let (id, encoded) = entry
                .split_once(':')
                .ok_or(KeyringError::Syntax { position })?;
            if !valid_key_id(id) {
                return Err(KeyringError::BadId {
                    position,
                    id: id.chars().take(40).collect(),
                });
            }
            let bytes = Zeroizing::new(
                B64.decode(encoded)
                    .map_err(|_| KeyringError::BadKey { id: id.to_string() })?,
            );
            if bytes.len() != KEY_LEN {
                return Err(KeyringError::BadKey { id: id.to_string() });
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(KeyringError::Duplicate { id: id.to_string() });
            }
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| KeyringError::BadKey { id: id.to_string() })?;
            keys.push(DataKey {
                id: id.to_string(),
                cipher,
            });
        }
        if keys.is_empty() {
            return Err(KeyringError::Empty);
        }
        Ok(Self {
            keys: std::sync::RwLock::new(keys),
        })
    }

    /// A new random key, as one `<id>:<base64>` line for a key file or
    /// `OAUTH_VAULT_KEYS`.
    pub fn generate_entry() -> SecretString {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(key.as_mut());
        let mut id_bytes = [0u8; 4];
        OsRng.fill_bytes(&mut id_bytes);
        let id = crate::infra::tokens::to_hex(&id_bytes);
        SecretString::from(format!("k{id}:{}", B64.encode(key.as_ref())))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<DataKey>> {
        // A poisoned lock still holds a complete key list: replace() swaps
        // the whole vector in one assignment.
        self.keys.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the keys of `other` (a re-read key file): running servers learn
    /// a rotated key without a restart.
    pub fn replace(&self, other: Keyring) {
        let keys = other.keys.into_inner().unwrap_or_else(|e| e.into_inner());
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
    }

    /// The id of the key that seals new secrets.
    pub fn active_key_id(&self) -> String {
        self.read()
            .first()
            .map(|k| k.id.clone())
            .unwrap_or_default()
    }

    pub fn key_ids(&self) -> Vec<String> {
        self.read().iter().map(|k| k.id.clone()).collect()
    }

    /// Whether the keyring can open secrets sealed with `key_id`.
    pub fn has_key(&self, key_id: &str) -> bool {
        self.read().iter().any(|k| k.id == key_id)
    }

    /// Seals `plaintext` under the active key, bound to `aad`.
    ///
    /// Layout: version (1 byte) · key-id length (1) · key id · nonce (12) ·
    /// ciphertext with tag.
    pub fn encrypt(&self, plaintext: &[u8], aad: Aad<'_>) -> Result<Vec<u8>, CryptoError> {
        let keys = self.read();
        let key = keys.first().ok_or(CryptoError::UnknownKey(String::new()))?;
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let aad_bytes = aad.to_bytes(&key.id);
        // AES-GCM refuses only inputs beyond 64 GiB.
        let sealed = key
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad_bytes,
                },
            )
            .map_err(|_| CryptoError::TooLarge)?;
        let mut out = Vec::with_capacity(2 + key.id.len() + NONCE_LEN + sealed.len());
        out.push(FORMAT_V1);
        out.push(key.id.len() as u8);
        out.extend_from_slice(key.id.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The id of the key that sealed `blob`, without decrypting it.
    pub fn key_id_of(blob: &[u8]) -> Result<&str, CryptoError> {
        let (&version, rest) = blob.split_first().ok_or(CryptoError::Malformed)?;
        let (&id_len, rest) = rest.split_first().ok_or(CryptoError::Malformed)?;
        if version != FORMAT_V1 || rest.len() < id_len as usize + NONCE_LEN + 16 {
            return Err(CryptoError::Malformed);
        }
        std::str::from_utf8(&rest[..id_len as usize]).map_err(|_| CryptoError::Malformed)
    }

    /// Opens `blob`, which must have been sealed for exactly `aad`.
    pub fn decrypt(&self, blob: &[u8], aad: Aad<'_>) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let key_id = Self::key_id_of(blob)?;
        let keys = self.read();
        let key = keys
            .iter()
            .find(|k| k.id == key_id)
            .ok_or_else(|| CryptoError::UnknownKey(key_id.to_string()))?;
        let body = &blob[2 + key_id.len()..];
        let (nonce, sealed) = body.split_at(NONCE_LEN);
        let aad_bytes = aad.to_bytes(key_id);
        key.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad_bytes,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Authentication)
    }

    pub fn encrypt_str(&self, plaintext: &str, aad: Aad<'_>) -> Result<Vec<u8>, CryptoError> {
        self.encrypt(plaintext.as_bytes(), aad)
    }

    pub fn decrypt_string(&self, blob: &[u8], aad: Aad<'_>) -> Result<SecretString, CryptoError> {
        let bytes = self.decrypt(blob, aad)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| CryptoError::NotUtf8)?;
        Ok(SecretString::from(text.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn ring(text: &str) -> Keyring {
        Keyring::parse(text).unwrap()
    }

    fn two_keys() -> (String, String) {
        (
            Keyring::generate_entry().expose_secret().to_string(),
            Keyring::generate_entry().expose_secret().to_string(),
        )
    }

    #[test]
    fn round_trip_binds_the_row() {
        let (a, _) = two_keys();
        let keys = ring(&a);
        let aad = Aad::new("provider_configs", "client_secret", "row-1");
        let blob = keys.encrypt_str("s3cret-value", aad).unwrap();
        assert!(!blob.windows(12).any(|w| w == b"s3cret-value"));
        let back = keys.decrypt_string(&blob, aad).unwrap();
        assert_eq!(back.expose_secret(), "s3cret-value");
    }

    #[test]
    fn same_plaintext_encrypts_differently_each_time() {
        let keys = ring(&two_keys().0);
        let aad = Aad::new("t", "c", "r");
        assert_ne!(
            keys.encrypt_str("x", aad).unwrap(),
            keys.encrypt_str("x", aad).unwrap()
        );
    }

    #[test]
    fn wrong_associated_data_fails() {
        let keys = ring(&two_keys().0);
        let blob = keys
            .encrypt_str("token", Aad::new("connections", "access_token", "a"))
            .unwrap();
        for wrong in [
            Aad::new("connections", "access_token", "b"),
            Aad::new("connections", "refresh_token", "a"),
            Aad::new("provider_configs", "access_token", "a"),
        ] {
            assert_eq!(
                keys.decrypt(&blob, wrong).err(),
                Some(CryptoError::Authentication)
            );
        }
    }

    #[test]
    fn tampered_ciphertext_fails() {
        let keys = ring(&two_keys().0);
        let aad = Aad::new("t", "c", "r");
        let blob = keys.encrypt_str("token", aad).unwrap();
        for i in 2 + keys.active_key_id().len()..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x01;
            assert!(keys.decrypt(&bad, aad).is_err(), "byte {i} flipped");
        }
        assert_eq!(
            keys.decrypt(&blob[..10], aad).err(),
            Some(CryptoError::Malformed)
        );
    }

    #[test]
    fn older_keys_still_decrypt_and_new_writes_use_the_active_key() {
        let (old, new) = two_keys();
        let aad = Aad::new("t", "c", "r");
        let blob = ring(&old).encrypt_str("v", aad).unwrap();
        let rotated = ring(&format!("{new}\n{old}"));
        assert_eq!(
            rotated.decrypt_string(&blob, aad).unwrap().expose_secret(),
            "v"
        );
        let fresh = rotated.encrypt_str("v", aad).unwrap();
        assert_eq!(Keyring::key_id_of(&fresh).unwrap(), rotated.active_key_id());
        let without_old = ring(&new);
        assert!(matches!(
            without_old.decrypt(&blob, aad),
            Err(CryptoError::UnknownKey(_))
        ));
    }

    #[test]
    fn parse_reports_precise_errors_without_key_material() {
        assert_eq!(
            Keyring::parse(" # nothing\n").err(),
            Some(KeyringError::Empty)
        );
        assert_eq!(
            Keyring::parse("novalue").err(),
            Some(KeyringError::Syntax { position: 1 })
        );
        let err = Keyring::parse("k1:c2hvcnQ=").err().unwrap();
        assert_eq!(err, KeyringError::BadKey { id: "k1".into() });
        assert!(!err.to_string().contains("c2hvcnQ="));
        assert!(matches!(
            Keyring::parse("bad.id!:AAAA").err(),
            Some(KeyringError::BadId { .. })
        ));
        let (a, _) = two_keys();
        assert!(matches!(
            Keyring::parse(&format!("{a},{a}")).err(),
            Some(KeyringError::Duplicate { .. })
        ));
    }

    #[test]
    fn debug_redacts_key_material() {
        let entry = Keyring::generate_entry();
        let keys = ring(entry.expose_secret());
        let debug = format!("{keys:?}");
        let material = entry.expose_secret().split_once(':').unwrap().1;
        assert!(!debug.contains(material));
        assert!(debug.contains(&keys.active_key_id()));
        assert!(!format!("{entry:?}").contains(material));
    }
}
