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
#[serde(deny_unknown_fields)]
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
        (status = 422, description = "Invalid field; nothing was created", body = ErrorBody),
    ),
)]
pub async fn create_session(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    body: Result<Json<CreateSessionRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<ConnectSession>), ApiError> {
    let Json(body) = body.map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_json",
            format!(
                "The body must be a JSON object of the documented fields: {}",
                e.body_text()
            ),
        )
    })?;
    let mut errors = Vec::new();
    let reconnect = match body
        .connection_id
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(id) => {
            let found =
                app::store::connections::find(&state.db, &state.catalogue, &caller.app_id, id)
                    .await
                    .map_err(ApiError::internal)?;
            if found.is_none() {
                errors.push(FieldError {
                    field: "connection_id".into(),
                    message: "No connection with this id in this app".into(),
                });
            }
            found
        }
        None => None,
    };
    let end_user_id = body
        .end_user_id
        .clone()
        .or_else(|| reconnect.as_ref().map(|c| c.end_user_id.clone()))
        .unwrap_or_default()
        .trim()
        .to_string();
    if let Some(c) = &reconnect {
        if c.end_user_id != end_user_id {
            errors.push(FieldError {
                field: "end_user_id".into(),
                message: "Leave it out or give the connection's own end user id".into(),
            });
        }
    }
    if end_user_id.is_empty()
        || end_user_id.chars().count() > END_USER_ID_MAX
        || end_user_id.chars().any(char::is_control)
    {
        errors.push(FieldError {
            field: "end_user_id".into(),
            message: format!("Give your id for the end user: 1-{END_USER_ID_MAX} characters"),
        });
    }
    let end_user_name = optional_text(body.end_user_name, "end_user_name", 200, &mut errors);
    let end_user_email =
        match optional_text(body.end_user_email, "end_user_email", 254, &mut errors) {
            Some(text) => match normalise_email(&text) {
                Ok(email) => Some(email),
                Err(message) => {
                    errors.push(FieldError {
                        field: "end_user_email".into(),
                        message: message.to_string(),
                    });
                    None
                }
            },
            None => None,
        };
    let active: Vec<String> = configs::list(&state.db, &state.keyring, &caller.app_id)
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .filter(|c| c.status == ConfigStatus::Active)
        .map(|c| c.slug)
        .collect();
    let providers = match &reconnect {
        Some(c) => vec![c.provider.clone()],
        None => body.providers.unwrap_or_default(),
    };
    let unknown: Vec<&String> = providers.iter().filter(|p| !active.contains(p)).collect();
    if !unknown.is_empty() {
        errors.push(FieldError {
            field: "providers".into(),
            message: format!(
                "Not an active provider of this app: {}. Active: {}",
                unknown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                if active.is_empty() {
                    "none".to_string()
                } else {
                    active.join(", ")
                }
            ),
        });
    } else if active.is_empty() {
        errors.push(FieldError {
            field: "providers".into(),
            message: "This app has no active provider yet: add one in the portal first".into(),
        });
    }
    let return_url = match body
        .return_url
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
    {
        Some(url) => {
            let allowed = allowed_return_urls(&state.db, &caller.app_id)
                .await
                .map_err(ApiError::internal)?;
            if return_url_allowed(&allowed, &url) {
                Some(url)
            } else {
                errors.push(FieldError {
                    field: "return_url".into(),
                    message: "Not one of the app's allowed return URLs: add it in the portal under Settings".into(),
                });
                None
            }
        }
        None => None,
    };
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
            end_user_id,
            end_user_name,
            end_user_email,
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
