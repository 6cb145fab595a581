//! Stores: one module per family of tables. All SQL lives here. A store
//! takes what it needs (`&Db`, `&Keyring`, a connection inside the caller's
//! transaction) and returns domain types.

pub mod account_links;
pub mod accounts;
pub mod admin;
pub mod api_keys;
pub mod apps;
pub mod audit;
pub mod connect;
pub mod connections;
pub mod orgs;
pub mod outbox;
pub mod paging;
pub mod provider_configs;
pub mod sessions;
pub mod stats;
pub mod throttle;
pub mod users;
