//! The state every handler and server function shares: the services'
//! context, plus what only the web layer needs (Leptos options and the
//! page shell).

use crate::services::context::{Context, Settings};
use axum::extract::FromRef;
use leptos::prelude::{AnyView, LeptosOptions};
use std::sync::Arc;

/// Renders the HTML document of a page (the UI's shell), handed in at
/// start-up so that form handlers can render pages without naming the UI.
pub type Shell = fn(LeptosOptions) -> AnyView;

/// The state handlers share: one pointer, so that the several clones every
/// request makes (one per extractor and middleware) cost one counter each.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl FromRef<AppState> for Arc<Settings> {
    fn from_ref(state: &AppState) -> Self {
        state.services.settings.clone()
    }
}

pub struct Shared {
    pub leptos_options: LeptosOptions,
    pub shell: Shell,
    pub services: Context,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

/// Handlers read the services' context through the state (`state.db`).
impl std::ops::Deref for Shared {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.services
    }
}
