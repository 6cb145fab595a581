//! What an authorization grants: the tokens a provider issued and the
//! account they belong to.

use secrecy::SecretString;

/// Tokens as a provider issued them. `Debug` never shows a token.
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub token_type: String,
    /// Seconds, as the provider said.
    pub expires_in: Option<i64>,
    pub scopes: Option<Vec<String>>,
    /// Values the definition keeps from the answer (not secrets: an API
    /// host, an account id), name → value.
    pub returned: std::collections::BTreeMap<String, String>,
    /// The account, where the definition reads it from the answer.
    pub identity: Option<AccountIdentity>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[REDACTED]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// The longest token lifetime the vault believes: ten years. A provider's
/// `expires_in` beyond it is taken as this much.
pub const MAX_LIFETIME_SECS: i64 = 10 * 365 * 24 * 60 * 60;
/// The longest `Retry-After` the vault honours: a day.
pub const MAX_RETRY_AFTER_SECS: u64 = 24 * 60 * 60;

/// When a token that lives `secs` seconds from `now_ms` expires: the
/// lifetime is clamped to `0..=`[`MAX_LIFETIME_SECS`], and nothing overflows
/// whatever the provider sent.
pub fn expiry_ms(now_ms: i64, secs: i64) -> i64 {
    now_ms.saturating_add(secs.clamp(0, MAX_LIFETIME_SECS) * 1000)
}

/// A provider's `Retry-After` in milliseconds, at most
/// [`MAX_RETRY_AFTER_SECS`].
pub fn retry_after_ms(secs: u64) -> i64 {
    // at most 86,400,000: fits
    (secs.min(MAX_RETRY_AFTER_SECS) * 1000) as i64
}

/// The provider account behind a token, as its identity endpoint tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountIdentity {
    pub id: String,
    pub name: Option<String>,
    pub slug: Option<String>,
    pub picture: Option<String>,
    pub scopes: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_numbers_cannot_overflow() {
        let now = 1_800_000_000_000;
        assert_eq!(expiry_ms(now, 3600), now + 3_600_000);
        assert_eq!(expiry_ms(now, i64::MAX), now + MAX_LIFETIME_SECS * 1000);
        assert_eq!(expiry_ms(now, -5), now);
        assert_eq!(expiry_ms(i64::MAX, 3600), i64::MAX);
        assert_eq!(retry_after_ms(30), 30_000);
        assert_eq!(retry_after_ms(u64::MAX), 86_400_000);
    }
}
