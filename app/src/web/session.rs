//! Who is asking, for server functions and pages.

use crate::domain::orgs::{Need, Seat};
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

/// A role too low for what was asked: the page says which role is needed.
pub fn forbidden(message: &str) -> ServerFnError {
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(StatusCode::FORBIDDEN);
    }
    ServerFnError::new(format!("{FORBIDDEN_PREFIX}{message}"))
}

use crate::domain::orgs::FORBIDDEN_PREFIX;

fn denied(e: crate::services::access::Denied) -> ServerFnError {
    use crate::services::access::Denied;
    match e {
        Denied::NotFound => not_found(),
        Denied::Forbidden(message) => forbidden(&message),
        Denied::Db(e) => internal(e),
    }
}

/// The signed-in user with their organisations (the one they work in
/// first).
pub async fn require_seat() -> Result<(AppState, CurrentUser, Seat), ServerFnError> {
    let (state, user) = require_user().await?;
    let seat = crate::services::access::seat(&state.db, &user)
        .await
        .map_err(internal)?;
    Ok((state, user, seat))
}

/// The app `app_id`, if the signed-in user's role in its organisation
/// allows `need`; another organisation's app is "not found".
pub async fn app_access(
    app_id: &str,
    need: Need,
) -> Result<(AppState, Seat, crate::domain::apps::AppSummary), ServerFnError> {
    let (state, user) = require_user().await?;
    let (seat, app) = crate::services::access::app(&state.db, &user, app_id, need)
        .await
        .map_err(denied)?;
    Ok((state, seat, app))
}

/// Organisation `org_id`, if the signed-in user's role in it allows `need`.
pub async fn org_access(
    org_id: &str,
    need: Need,
) -> Result<(AppState, CurrentUser, Seat), ServerFnError> {
    let (state, user) = require_user().await?;
    let seat = crate::services::access::organisation(&state.db, &user, org_id, need)
        .await
        .map_err(denied)?;
    Ok((state, user, seat))
}
