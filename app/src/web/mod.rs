//! The web layer: the state handlers share, form submissions, the signed-in
//! user of a request, CSRF, security headers' nonce and the hosted connect
//! pages. Only `forms` (what a submission hands back to its page) is compiled
//! for the browser too.

#[cfg(feature = "ssr")]
pub mod client;
#[cfg(feature = "ssr")]
pub mod connect;
#[cfg(feature = "ssr")]
pub mod csrf;
#[cfg(feature = "ssr")]
pub mod form_post;
pub mod forms;
#[cfg(feature = "ssr")]
pub mod security;
#[cfg(feature = "ssr")]
pub mod session;
#[cfg(feature = "ssr")]
pub mod state;
