//! Services: the use cases. They combine stores, the protocol client and
//! infrastructure, and know nothing of HTTP handlers or pages.

pub mod access;
pub mod connect;
pub mod context;
pub mod discovery;
pub mod oauth;
pub mod revocation;
pub mod rotation;
pub mod sso;
pub mod teams;
pub mod tokens;
pub mod usage;
pub mod values;
pub mod webhooks;
pub mod worker;

/// What failed underneath a service: kept typed up to the layer that
/// answers, which reports it (`infra::failure`) and answers in general
/// terms.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("encryption: {0}")]
    Crypto(#[from] crate::infra::crypto::CryptoError),
    #[error("outbound HTTP client: {0}")]
    Outbound(#[from] crate::infra::outbound::OutboundError),
    #[error("provider configuration: {0}")]
    ProviderConfig(#[from] crate::store::provider_configs::SaveError),
    #[error("usage writer: {0}")]
    Usage(#[from] crate::services::usage::UsageError),
    /// Something that must not happen did (a stored row the code cannot
    /// use, a provider gone from the catalogue).
    #[error("{0}")]
    Broken(&'static str),
}
