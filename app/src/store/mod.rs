//! Stores: one module per family of tables. All SQL lives here. A store
//! takes what it needs (`&Db`, `&Keyring`, a connection inside the caller's
//! transaction) and returns domain types.

pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod connections;
pub mod provider_configs;
pub mod sessions;
pub mod throttle;
