//! HTTP plumbing that is not part of the application's pages: health
//! endpoints, security headers and request tracing.

pub mod health;
pub mod security_headers;
pub mod trace;
