//! The domain: types, statuses and rules, without I/O. Compiled for both the
//! server and the browser, so pages and server functions share these types.

pub mod api_keys;
pub mod audit;
pub mod connect;
pub mod connections;
pub mod labels;
pub mod provider_configs;
pub mod users;
