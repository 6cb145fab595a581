//! The provider pages' form posts: add a provider, edit, disable, enable,
//! delete it, and run a test connection.

use crate::{
    catalogue::CUSTOM_PROVIDER,
    domain::apps::AppSummary,
    domain::provider_configs::ConfigStatus,
    domain::provider_configs::ConfigView,
    domain::provider_form::validate,
    domain::users::CurrentUser,
    store::audit::Actor,
    store::connect::{create_session, NewSession},
    store::provider_configs::{self as configs, SaveError},
    web::form_post::Submission,
    web::form_post::{app_form, not_found, rerender, see_other, server_error},
    web::forms::FormFeedback,
    web::state::AppState,
};
use axum::{
    body::Body,
    extract::{Path, State},
    http::{Request, StatusCode},
    response::{IntoResponse, Response},
};

pub async fn post_new(
    State(state): State<AppState>,
    Path((app_id, provider)): Path<(String, String)>,
    request: Request<Body>,
) -> Response {
    let (form, app, user) = match app_form(&state, &app_id, request).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let actor = Actor::user(&user);
    if provider != CUSTOM_PROVIDER && state.catalogue.get(&provider).is_none() {
        return not_found();
    }
    let mut feedback = FormFeedback::new("provider");
    feedback.keep_all(&form.fields, &["client_secret"]);
    let input = match validate(
        &provider,
        &form.fields,
        &state.catalogue,
        &state.outbound,
        false,
    ) {
        Ok(input) => input,
        Err(errors) => {
            feedback.add_errors(&errors);
            return rerender(&state, form.parts, feedback).await;
        }
    };
    match configs::create(&state.db, &state.keyring, &app.id, &input, &actor).await {
        Ok(id) => {
            tracing::info!(app_id = %app.id, config_id = %id, provider = %input.provider, "provider configured");
            see_other(&format!("/apps/{}/providers/{id}", app.id))
        }
        Err(SaveError::Duplicate) => {
            if provider == CUSTOM_PROVIDER {
                feedback.add_error(
                    "slug",
                    "This app already has a provider with this id; choose another",
                );
            } else {
                feedback.add_error(
                    "",
                    format!(
                        "{} is already configured for this app. Edit its configuration instead.",
                        input.display_name
                    ),
                );
            }
            rerender(&state, form.parts, feedback).await
        }
        Err(e) => server_error(e),
    }
}

pub async fn post_config(
    State(state): State<AppState>,
    Path((app_id, config_id)): Path<(String, String)>,
    request: Request<Body>,
) -> Response {
    let (form, app, user) = match app_form(&state, &app_id, request).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let config = match configs::find(&state.db, &state.keyring, &app.id, &config_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return not_found(),
        Err(e) => return server_error(e),
    };
    let actor = Actor::user(&user);
    match form.get("_action").as_str() {
        "update" => update(&state, form, &config, &actor).await,
        action @ ("disable" | "enable" | "delete") => {
            change(&state, form, &app, &config, &actor, action).await
        }
        "test" => test_connection(&state, form, &app, &config, &user).await,
        _ => (StatusCode::BAD_REQUEST, "Unknown action").into_response(),
    }
}

/// Edits the configuration (a blank secret keeps the stored one).
async fn update(
    state: &AppState,
    form: Submission,
    config: &ConfigView,
    actor: &Actor,
) -> Response {
    let back = format!("/apps/{}/providers/{}", config.app_id, config.id);
    let mut feedback = FormFeedback::new("provider");
    feedback.keep_all(&form.fields, &["client_secret"]);
    let input = match validate(
        &config.provider,
        &form.fields,
        &state.catalogue,
        &state.outbound,
        true,
    ) {
        Ok(input) => input,
        Err(errors) => {
            feedback.add_errors(&errors);
            return rerender(state, form.parts, feedback).await;
        }
    };
    let updated = configs::update(&state.db, &state.keyring, &config.id, &input, actor).await;
    state.caches.configuration_changed();
    match updated {
        Ok(()) => see_other(&back),
        Err(SaveError::Duplicate) => {
            feedback.add_error(
                "slug",
                "This app already has a provider with this id; choose another",
            );
            rerender(state, form.parts, feedback).await
        }
        Err(e) => server_error(e),
    }
}

/// Disables, enables or deletes the configuration.
async fn change(
    state: &AppState,
    form: Submission,
    app: &AppSummary,
    config: &ConfigView,
    actor: &Actor,
    action: &str,
) -> Response {
    let changed = match action {
        "delete" => {
            if form.get("confirm") != "yes" {
                let mut feedback = FormFeedback::new("delete-provider");
                feedback.add_error("", "Tick the box to confirm the deletion");
                return rerender(state, form.parts, feedback).await;
            }
            crate::services::revocation::delete_config(state, &app.id, &config.id, actor)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        _ => {
            let status = if action == "disable" {
                ConfigStatus::Disabled
            } else {
                ConfigStatus::Active
            };
            configs::set_status(&state.db, &app.id, &config.id, status, actor)
                .await
                .map_err(|e| e.to_string())
        }
    };
    state.caches.configuration_changed();
    match changed {
        Ok(()) if action == "delete" => see_other(&format!("/apps/{}", app.id)),
        Ok(()) => see_other(&format!("/apps/{}/providers/{}", app.id, config.id)),
        Err(e) => server_error(e),
    }
}

/// The developer connects themself, as an end user would, and comes back
/// to the app's connections.
async fn test_connection(
    state: &AppState,
    form: Submission,
    app: &AppSummary,
    config: &ConfigView,
    user: &CurrentUser,
) -> Response {
    if config.status != ConfigStatus::Active {
        let mut feedback = FormFeedback::new("test-connection");
        feedback.add_error("", "Enable the provider before testing a connection");
        return rerender(state, form.parts, feedback).await;
    }
    let session = NewSession {
        end_user_id: format!("developer:{}", user.id),
        end_user_name: Some(user.email.clone()),
        end_user_email: Some(user.email.clone()),
        providers: vec![config.slug.clone()],
        return_url: Some(format!(
            "{}/apps/{}/connections",
            state.settings.public_url, app.id
        )),
        reconnect_id: None,
    };
    let public_url = &state.settings.public_url;
    match create_session(&state.db, public_url, &app.id, &session, &Actor::user(user)).await {
        Ok(created) => see_other(&created.connect_url),
        Err(e) => server_error(e),
    }
}

/// This feature's form posts and other server routes (its pages are in the
/// Leptos router).
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::post;
    axum::Router::new()
        .route("/apps/{app_id}/providers/new/{provider}", post(post_new))
        .route("/apps/{app_id}/providers/{config_id}", post(post_config))
}
