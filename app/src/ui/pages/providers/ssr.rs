//! The provider pages' form posts: add a provider, edit, disable, enable,
//! delete it, and run a test connection.

use crate::{
    catalogue::{ClientAuth, CUSTOM_PROVIDER},
    domain::apps::AppSummary,
    domain::provider_configs::is_config_id,
    domain::provider_configs::ConfigStatus,
    domain::provider_configs::ConfigView,
    domain::provider_form::validate,
    domain::users::CurrentUser,
    services::discovery,
    store::audit::Actor,
    store::connect::{create_session, NewSession},
    store::provider_configs::{self as configs, SaveError},
    web::form_post::Submission,
    web::form_post::{app_form, not_found, render_page, rerender, see_other, server_error},
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
    let (form, app, user) =
        match app_form(&state, &app_id, crate::domain::orgs::Need::Develop, request).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let actor = Actor::user(&user);
    if provider != CUSTOM_PROVIDER && state.catalogue.get(&provider).is_none() {
        return not_found();
    }
    if form.get("_action") == "discover" {
        return discover(&state, form).await;
    }
    let mut feedback = FormFeedback::new("provider");
    feedback.keep_all(&form.fields, &["client_secret"]);
    // the id its redirect URI was shown for; none (a form posted by a
    // script that never showed one) gets a fresh id
    let config_id = Some(form.get("config_id")).filter(|id| !id.is_empty());
    let id_ok = config_id.as_deref().is_none_or(is_config_id);
    let validated = validate(
        &provider,
        &form.fields,
        &state.catalogue,
        &state.outbound,
        false,
    );
    let input = match (validated, id_ok) {
        (Ok(input), true) => input,
        (result, id_ok) => {
            if let Err(errors) = result {
                feedback.add_errors(&errors);
            }
            if !id_ok {
                feedback.add_error(
                    "",
                    "This form is out of date. Reload the page, copy its redirect URI again and save.",
                );
            }
            return rerender(&state, form.parts, feedback).await;
        }
    };
    match configs::create(
        &state.db,
        &state.keyring,
        &app.id,
        config_id.as_deref(),
        &input,
        &actor,
    )
    .await
    {
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
    let (form, app, user) =
        match app_form(&state, &app_id, crate::domain::orgs::Need::Develop, request).await {
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
        "discover" if config.custom.is_some() => discover(&state, form).await,
        "use_own_callback" => {
            let changed = configs::use_own_callback(&state.db, &app.id, &config.id, &actor).await;
            state.caches.configuration_changed();
            match changed {
                Ok(()) => see_other(&format!("/apps/{}/providers/{}", app.id, config.id)),
                Err(e) => server_error(e),
            }
        }
        _ => (StatusCode::BAD_REQUEST, "Unknown action").into_response(),
    }
}

/// Fills a custom provider's form from its issuer's metadata (RFC 8414 or
/// OpenID Connect discovery), without saving: the form comes back filled
/// in, or with the reason next to the issuer field.
async fn discover(state: &AppState, form: Submission) -> Response {
    let mut feedback = FormFeedback::new("provider");
    feedback.keep_all(
        &form.fields,
        &["client_secret", "_action", "pkce_off_confirmed"],
    );
    let issuer = form.get("issuer");
    if issuer.trim().is_empty() {
        feedback.add_error("issuer", "Enter the issuer's URL to discover its endpoints");
        return rerender(state, form.parts, feedback).await;
    }
    match discovery::discover(&state.http, &issuer).await {
        Ok(found) => {
            let on = |b: bool| b.then_some("on");
            feedback.set("issuer", Some(&found.issuer));
            feedback.set("authorization_url", Some(&found.authorization_url));
            feedback.set("token_url", Some(&found.token_url));
            feedback.set("revocation_url", found.revocation_url.as_deref());
            feedback.set("introspection_url", found.introspection_url.as_deref());
            feedback.set("userinfo_url", found.userinfo_url.as_deref());
            if let Some(auth) = found.client_auth {
                let value = if auth == ClientAuth::Basic {
                    "basic"
                } else {
                    "body"
                };
                feedback.set("client_auth", Some(value));
            }
            feedback.set("pkce", on(found.pkce));
            feedback.set(
                "authorization_response_iss",
                on(found.authorization_response_iss),
            );
            let mut notes = vec!["Filled in from the issuer's metadata. Check the fields, enter the client secret, and save.".to_string()];
            if !found.pkce {
                notes.push("The server does not advertise PKCE with S256.".into());
            }
            feedback.set("_discovered", Some(&notes.join(" ")));
            render_page(state, form.parts, feedback, (), StatusCode::OK).await
        }
        Err(e) => {
            tracing::info!(error = %e, "discovery failed");
            feedback.add_error("issuer", e.to_string());
            rerender(state, form.parts, feedback).await
        }
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
