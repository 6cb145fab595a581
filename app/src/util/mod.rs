//! Small helpers any layer may use.

pub mod time;
