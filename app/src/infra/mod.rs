//! Infrastructure: what the layers above build on, knowing nothing of them.

pub mod cache;
pub mod crypto;
pub mod db;
pub mod failure;
pub mod mail;
pub mod net;
pub mod outbound;
pub mod password;
pub mod request_id;
pub mod tokens;
