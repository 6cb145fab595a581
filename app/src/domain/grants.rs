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

/// The provider account behind a token, as its identity endpoint tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountIdentity {
    pub id: String,
    pub name: Option<String>,
    pub slug: Option<String>,
    pub picture: Option<String>,
    pub scopes: Option<Vec<String>>,
}
