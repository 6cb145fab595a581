//! Services: the use cases. They combine stores, the protocol client and
//! infrastructure, and know nothing of HTTP handlers or pages.

pub mod connect;
pub mod context;
pub mod oauth;
pub mod revocation;
pub mod rotation;
pub mod tokens;
pub mod usage;
pub mod webhooks;
pub mod worker;
