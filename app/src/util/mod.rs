//! Small helpers any layer may use.

pub mod time;

/// The file name (without extension) of the client bundle in `/pkg`.
pub const OUTPUT_NAME: &str = "oauth_vault";
