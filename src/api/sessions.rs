//! `POST /v1/connect/sessions`

use super::{ApiError, ErrorBody, FieldError};
use app::{
    domain::connect::{return_url_allowed, END_USER_ID_MAX},
    domain::provider_configs::ConfigStatus,
    domain::users::normalise_email,
    store::api_keys::ApiCaller,
    store::connect::{allowed_return_urls, create_session as create, NewSession},
    store::provider_configs::{self as configs},
    web::state::AppState,
};
use axum::{
    extract::{rejection::JsonRejection, State},
    http::StatusCode,
    Extension, Json,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateSessionRequest {
    /// Your own id for the end user (1-255 characters). Connections are
    /// listed and re-authorized by it. Required, unless `connection_id` is
    /// given.
    pub end_user_id: Option<String>,
    /// Shown on the connect page and in the portal.
    pub end_user_name: Option<String>,
    pub end_user_email: Option<String>,
    /// Provider ids (e.g. `attio`) the end user may connect; all active
    /// providers of the app when left out.
    pub providers: Option<Vec<String>>,
    /// Where the end user is sent afterwards, with `connection_id` and
    /// `status=success`, or `status=error&error=<code>`. Must be one of the
    /// app's allowed return URLs (portal › Settings); any query is kept.
    pub return_url: Option<String>,
    /// Re-authorize this connection (e.g. after `needs_reauthorization`):
    /// it keeps its id and becomes active again.
    pub connection_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectSession {
    /// The session's secret; it is also the last part of `connect_url`.
    pub token: String,
    /// Send the end user here (a link or a redirect). Valid once, for 30 minutes.
    pub connect_url: String,
    /// RFC 3339.
    pub expires_at: String,
}

fn optional_text(
    value: Option<String>,
    field: &str,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let text = value?.trim().to_string();
    if text.is_empty() {
        return None;
    }
    if text.chars().count() > max || text.chars().any(char::is_control) {
        errors.push(FieldError {
            field: field.into(),
            message: format!("Use at most {max} characters, without control characters"),
        });
        return None;
    }
    Some(text)
}

/// Create a connect session
///
/// Mints a short-lived link for one end user. Open `connect_url` in the end
/// user's browser; they choose a provider, authorize, and come back to your
/// `return_url` (or see a success page).
#[utoipa::path(
    post,
    path = "/v1/connect/sessions",
    tag = "connect",
    request_body = CreateSessionRequest,
    responses(
        (status = 201, description = "Session created", body = ConnectSession),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 400, description = "The body is not JSON of the documented shape (`invalid_json`); nothing was created", body = ErrorBody),
        (status = 422, description = "Invalid field; nothing was created", body = ErrorBody),
    ),
)]
pub async fn create_session(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    body: Result<Json<CreateSessionRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<ConnectSession>), ApiError> {
    // not JSON at all: 400; JSON whose fields have the wrong types: 422
    let Json(body) = body.map_err(|e| match e {
        JsonRejection::JsonDataError(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("A field has the wrong type: {}", e.body_text()),
        ),
        e => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!(
                "The body must be a JSON object (Content-Type: application/json): {}",
                e.body_text()
            ),
        ),
    })?;
    let mut errors = Vec::new();
    let reconnect =
        reconnect_target(&state, &caller, body.connection_id.as_deref(), &mut errors).await?;
    let end_user = check_end_user(&body, reconnect.as_ref(), &mut errors);
    let active: Vec<String> = configs::list(&state.db, &state.keyring, &caller.app_id)
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .filter(|c| c.status == ConfigStatus::Active)
        .map(|c| c.slug)
        .collect();
    let providers = match &reconnect {
        Some(c) => vec![c.provider.clone()],
        None => body.providers.clone().unwrap_or_default(),
    };
    check_providers(&active, &providers, &mut errors);
    let return_url =
        check_return_url(&state, &caller, body.return_url.as_deref(), &mut errors).await?;
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let mut deduplicated = Vec::new();
    for p in providers {
        if !deduplicated.contains(&p) {
            deduplicated.push(p);
        }
    }
    let created = create(
        &state.db,
        &state.settings.public_url,
        &caller.app_id,
        &NewSession {
            end_user_id: end_user.id,
            end_user_name: end_user.name,
            end_user_email: end_user.email,
            providers: deduplicated,
            return_url,
            reconnect_id: reconnect.map(|c| c.id),
        },
        &app::store::audit::Actor::api_key(&caller.key_id),
    )
    .await
    .map_err(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        Json(ConnectSession {
            token: created.token.expose_secret().to_string(),
            connect_url: created.connect_url,
            expires_at: app::util::time::rfc3339(created.expires_at),
        }),
    ))
}

/// The connection a reconnect session is for, if one is named; another
/// app's connection is "no connection".
async fn reconnect_target(
    state: &AppState,
    caller: &ApiCaller,
    connection_id: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Result<Option<app::domain::connections::ConnectionView>, ApiError> {
    let Some(id) = connection_id.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let found = app::store::connections::find(&state.db, &state.catalogue, &caller.app_id, id)
        .await
        .map_err(ApiError::internal)?;
    match &found {
        None => errors.push(FieldError {
            field: "connection_id".into(),
            message: "No connection with this id in this app".into(),
        }),
        Some(c) if c.status == app::domain::connections::ConnectionStatus::Revoked => {
            errors.push(FieldError {
                field: "connection_id".into(),
                message: "This connection was disconnected; leave out connection_id to let the end user connect again".into(),
            })
        }
        Some(_) => {}
    }
    Ok(found)
}

/// Who the session is for.
struct EndUser {
    id: String,
    name: Option<String>,
    email: Option<String>,
}

fn check_end_user(
    body: &CreateSessionRequest,
    reconnect: Option<&app::domain::connections::ConnectionView>,
    errors: &mut Vec<FieldError>,
) -> EndUser {
    let id = body
        .end_user_id
        .clone()
        .or_else(|| reconnect.map(|c| c.end_user_id.clone()))
        .unwrap_or_default()
        .trim()
        .to_string();
    if reconnect.is_some_and(|c| c.end_user_id != id) {
        errors.push(FieldError {
            field: "end_user_id".into(),
            message: "Leave it out or give the connection's own end user id".into(),
        });
    }
    if id.is_empty() || id.chars().count() > END_USER_ID_MAX || id.chars().any(char::is_control) {
        errors.push(FieldError {
            field: "end_user_id".into(),
            message: format!("Give your id for the end user: 1-{END_USER_ID_MAX} characters"),
        });
    }
    let name = optional_text(body.end_user_name.clone(), "end_user_name", 200, errors);
    let email = optional_text(body.end_user_email.clone(), "end_user_email", 254, errors).and_then(
        |text| match normalise_email(&text) {
            Ok(email) => Some(email),
            Err(message) => {
                errors.push(FieldError {
                    field: "end_user_email".into(),
                    message: message.to_string(),
                });
                None
            }
        },
    );
    EndUser { id, name, email }
}

/// Every requested provider must be an active one of the app.
fn check_providers(active: &[String], providers: &[String], errors: &mut Vec<FieldError>) {
    let unknown: Vec<&str> = providers
        .iter()
        .filter(|p| !active.contains(p))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        let active = if active.is_empty() {
            "none".to_string()
        } else {
            active.join(", ")
        };
        errors.push(FieldError {
            field: "providers".into(),
            message: format!(
                "Not an active provider of this app: {}. Active: {active}",
                unknown.join(", ")
            ),
        });
    } else if active.is_empty() {
        errors.push(FieldError {
            field: "providers".into(),
            message: "This app has no active provider yet: add one in the portal first".into(),
        });
    }
}

/// The return URL, which must be one the app allows.
async fn check_return_url(
    state: &AppState,
    caller: &ApiCaller,
    return_url: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Result<Option<String>, ApiError> {
    let Some(url) = return_url.map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let allowed = allowed_return_urls(&state.db, &caller.app_id)
        .await
        .map_err(ApiError::internal)?;
    if return_url_allowed(&allowed, url) {
        return Ok(Some(url.to_string()));
    }
    errors.push(FieldError {
        field: "return_url".into(),
        message: "Not one of the app's allowed return URLs: add it in the portal under Settings"
            .into(),
    });
    Ok(None)
}
