//! HTTP plumbing that is not part of the application's pages: health
//! endpoints, security headers, caching headers, request ids and request
//! tracing.

pub mod assets;
pub mod cache_control;
pub mod csrf;
pub mod health;
pub mod portal_guard;
pub mod request_id;
pub mod security_headers;
pub mod trace;
