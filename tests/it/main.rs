//! The integration tests, in one binary so that it links once. Each module
//! is a suite; `common` (in `tests/common`) is the one harness they share:
//! `spawn_app` (a server on port 0 with a fresh database), `World` (a whole
//! installation with the fake providers), the fakes themselves, and the
//! macros that run a test on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod admin;
mod api;
mod apps;
mod assets;
mod audit_trail;
mod audit_writer;
mod backup;
mod catalogue;
mod cli;
mod connect;
mod fake_attio;
mod fake_oauth;
mod hardening;
mod health;
mod layers;
mod lists;
mod metrics;
mod mixup;
mod operator;
mod outbound;
mod pages;
mod popup;
mod providers;
mod proxy;
mod rate_limit;
mod refresh;
mod rotation;
mod setup;
mod sso;
mod takeover;
mod teams;
mod traces;
mod values;
mod webhooks;
