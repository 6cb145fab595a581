//! The domain: types, statuses and rules, without I/O. Compiled for both the
//! server and the browser, so pages and server functions share these types.

pub mod admin;
pub mod api_keys;
pub mod apps;
pub mod audit;
pub mod backoff;
pub mod connect;
pub mod connections;
pub mod errors;
pub mod events;
#[cfg(feature = "ssr")]
pub mod grants;
pub mod labels;
pub mod orgs;
pub mod paging;
#[cfg(feature = "ssr")]
pub mod parameters;
pub mod provider_configs;
#[cfg(feature = "ssr")]
pub mod provider_form;
pub mod users;
