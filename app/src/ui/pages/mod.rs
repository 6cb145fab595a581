//! One module per page of the portal.

pub mod account;
pub mod activity;
pub mod admin;
pub mod apps;
pub mod connections;
pub mod keys;
pub mod landing;
pub mod not_found;
pub mod orgs;
pub mod paging;
pub mod providers;
pub mod settings;
