//! Small reusable pieces of the portal's UI.

pub mod layout;
pub mod portal;
pub mod provider;
