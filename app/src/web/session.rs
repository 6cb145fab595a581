//! Who is asking, for server functions and pages.

use crate::{domain::users::CurrentUser, store::sessions as session, web::state::AppState};
use axum::http::{request::Parts, StatusCode};
use leptos::prelude::*;

/// Errors of server functions, as the page shows them.
pub fn not_found() -> ServerFnError {
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(StatusCode::NOT_FOUND);
    }
    ServerFnError::new("not found")
}

pub fn internal(error: impl std::fmt::Display) -> ServerFnError {
    let id = crate::infra::failure::report("a server function", &error);
    ServerFnError::new(crate::infra::failure::general_message(&id))
}

/// The state and the signed-in user, or an `unauthorized` error.
pub async fn require_user() -> Result<(AppState, CurrentUser), ServerFnError> {
    let state = use_context::<AppState>().ok_or_else(|| internal("no app state"))?;
    let parts = use_context::<Parts>().ok_or_else(|| internal("no request"))?;
    match session::current_user(&state.db, &parts.headers, state.settings.secure_cookies).await {
        Ok(Some(user)) => Ok((state, user)),
        Ok(None) => Err(ServerFnError::new("unauthorized")),
        Err(e) => Err(internal(e)),
    }
}

/// The app `app_id` of the signed-in developer's organisation, with the
/// state and the developer's email; another organisation's app is "not
/// found".
pub async fn owned_app(
    app_id: &str,
) -> Result<(AppState, String, crate::domain::apps::AppSummary), ServerFnError> {
    let (state, user) = require_user().await?;
    let app = crate::store::apps::find(&state.db, &user.organisation_id, app_id)
        .await
        .map_err(internal)?
        .ok_or_else(not_found)?;
    Ok((state, user.email, app))
}
