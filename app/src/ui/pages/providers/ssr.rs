//! The provider pages' form posts: add a provider, edit, disable, enable,
//! delete it, and run a test connection.

use crate::{
    catalogue::CUSTOM_PROVIDER,
    domain::provider_configs::ConfigStatus,
    domain::provider_form::validate,
    store::audit::Actor,
    store::connect::{create_session, NewSession},
    store::provider_configs::{self as configs, SaveError},
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
    let back = format!("/apps/{}/providers/{}", app.id, config.id);
    let actor = Actor::user(&user);
    match form.get("_action").as_str() {
        "update" => {
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
                    return rerender(&state, form.parts, feedback).await;
                }
            };
            let updated =
                configs::update(&state.db, &state.keyring, &config.id, &input, &actor).await;
            state.caches.configuration_changed();
            match updated {
                Ok(()) => see_other(&back),
                Err(SaveError::Duplicate) => {
                    feedback.add_error(
                        "slug",
                        "This app already has a provider with this id; choose another",
                    );
                    rerender(&state, form.parts, feedback).await
                }
                Err(e) => server_error(e),
            }
        }
        "disable" | "enable" => {
            let status = if form.get("_action") == "disable" {
                ConfigStatus::Disabled
            } else {
                ConfigStatus::Active
            };
            let changed = configs::set_status(&state.db, &app.id, &config.id, status, &actor).await;
            state.caches.configuration_changed();
            match changed {
                Ok(()) => see_other(&back),
                Err(e) => server_error(e),
            }
        }
        "delete" => {
            if form.get("confirm") != "yes" {
                let mut feedback = FormFeedback::new("delete-provider");
                feedback.add_error("", "Tick the box to confirm the deletion");
                return rerender(&state, form.parts, feedback).await;
            }
            let deleted = configs::delete(&state.db, &app.id, &config.id, &actor).await;
            state.caches.configuration_changed();
            match deleted {
                Ok(()) => see_other(&format!("/apps/{}", app.id)),
                Err(e) => server_error(e),
            }
        }
        "test" => {
            // The developer connects themself, as an end user would, and
            // comes back to the app's connections.
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
            if config.status != ConfigStatus::Active {
                let mut feedback = FormFeedback::new("test-connection");
                feedback.add_error("", "Enable the provider before testing a connection");
                return rerender(&state, form.parts, feedback).await;
            }
            match create_session(
                &state.db,
                &state.settings.public_url,
                &app.id,
                &session,
                &actor,
            )
            .await
            {
                Ok(created) => see_other(&created.connect_url),
                Err(e) => server_error(e),
            }
        }
        _ => (StatusCode::BAD_REQUEST, "Unknown action").into_response(),
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
