//! `POST /v1/connect/sessions`

use super::{ApiError, ErrorBody, FieldError};
use app::{
    domain::connect::{return_url_allowed, END_USER_ID_MAX},
    domain::provider_configs::ConfigStatus,
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

/// Characters that are never part of a text field: control characters.
const NO_CONTROL: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";
/// An id: 1-255 characters, no control characters, no white space at
/// either end (the characters Unicode calls white space).
const ID_PATTERN: &str = r"^[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?$";
/// An address: one `@`, a domain with a dot inside, no white space or
/// control characters; or empty (no address).
const EMAIL_PATTERN: &str = r"^$|^[^@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+@[^.@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*\.[^@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^.@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$";

/// Either `end_user_id` or `connection_id` (a reconnect) is given.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "end_user_id": "user-42",
    "end_user_email": "ada@example.com",
    "providers": ["attio"],
    "return_url": "https://app.example.com/integrations/done"
}))]
pub struct CreateSessionRequest {
    /// Your own id for the end user: 1-255 characters, no control
    /// characters, no white space at either end. Connections are listed and
    /// re-authorized by it. Required, unless `connection_id` is given.
    #[schema(min_length = 1, max_length = 255)]
    pub end_user_id: Option<String>,
    /// Shown on the connect page and in the portal; at most 200 characters,
    /// no control characters (trimmed; empty is none).
    #[schema(max_length = 200)]
    pub end_user_name: Option<String>,
    /// At most 254 characters; empty is none.
    #[schema(max_length = 254)]
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

/// In the OpenAPI document: the fields' patterns (an attribute takes only
/// literals), and that `end_user_id` or `connection_id` must be a string
/// (the struct's own schema cannot say "one of the two").
pub struct OneOfTheTwo;

impl utoipa::Modify for OneOfTheTwo {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{
            schema::{AllOfBuilder, AnyOfBuilder, Schema},
            ObjectBuilder, RefOr, Type,
        };
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let Some(RefOr::T(Schema::Object(mut object))) =
            components.schemas.remove("CreateSessionRequest")
        else {
            return;
        };
        for (field, pattern) in [
            ("end_user_id", ID_PATTERN),
            ("end_user_name", NO_CONTROL),
            ("end_user_email", EMAIL_PATTERN),
        ] {
            if let Some(RefOr::T(Schema::Object(property))) = object.properties.get_mut(field) {
                property.pattern = Some(pattern.to_string());
            }
        }
        let given = |field: &str, min: usize| {
            ObjectBuilder::new().required(field).property(
                field,
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(min)),
            )
        };
        let either = AnyOfBuilder::new()
            .item(given("end_user_id", 1))
            .item(given("connection_id", 1))
            .description(Some(
                "Give `end_user_id`, or `connection_id` to re-authorize a connection.",
            ));
        let whole = AllOfBuilder::new().item(object).item(either);
        components.schemas.insert(
            "CreateSessionRequest".into(),
            RefOr::T(Schema::AllOf(whole.build())),
        );
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "token": "ovcs_5Jm2qN8rT1vX4zB7cE0gH3kL6pS9uW2y",
    "connect_url": "https://vault.example.com/connect/ovcs_5Jm2qN8rT1vX4zB7cE0gH3kL6pS9uW2y",
    "expires_at": "2026-12-02T10:00:00Z"
}))]
pub struct ConnectSession {
    /// The session's secret; it is also the last part of `connect_url`.
    pub token: String,
    /// Send the end user here (a link or a redirect). Valid once, for 30 minutes.
    pub connect_url: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub expires_at: String,
}

fn optional_text(
    value: Option<String>,
    field: &str,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let raw = value?;
    if raw.chars().count() > max || raw.chars().any(char::is_control) {
        errors.push(FieldError {
            field: field.into(),
            message: format!("Use at most {max} characters, without control characters"),
        });
        return None;
    }
    Some(raw.trim().to_string()).filter(|t| !t.is_empty())
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
        .unwrap_or_default();
    if let Some(problem) = id_problem(&id) {
        errors.push(FieldError {
            field: "end_user_id".into(),
            message: problem.into(),
        });
    } else if reconnect.is_some_and(|c| c.end_user_id != id) {
        errors.push(FieldError {
            field: "end_user_id".into(),
            message: "Leave it out or give the connection's own end user id".into(),
        });
    }
    let name = optional_text(body.end_user_name.clone(), "end_user_name", 200, errors);
    let email = check_email(body.end_user_email.clone(), errors);
    EndUser { id, name, email }
}

/// White space or a control character: what an id may not start or end
/// with, and an address may not hold.
fn blank(c: char) -> bool {
    c.is_whitespace() || c.is_control()
}

/// What is wrong with an end user id (`ID_PATTERN`), if anything.
fn id_problem(id: &str) -> Option<&'static str> {
    let n = id.chars().count();
    if n == 0 || n > END_USER_ID_MAX {
        Some("Give your id for the end user: 1-255 characters")
    } else if id.chars().any(char::is_control) {
        Some("Leave out control characters")
    } else if id.starts_with(blank) || id.ends_with(blank) {
        Some("Remove the white space at the start or end")
    } else {
        None
    }
}

/// The end user's address (`EMAIL_PATTERN`), lower-cased; empty is none.
fn check_email(value: Option<String>, errors: &mut Vec<FieldError>) -> Option<String> {
    let raw = value.filter(|v| !v.is_empty())?;
    let well_formed = raw.chars().count() <= 254
        && !raw.chars().any(blank)
        && raw.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if well_formed {
        return Some(raw.to_lowercase());
    }
    errors.push(FieldError {
        field: "end_user_email".into(),
        message: "Give an address like name@example.com (at most 254 characters, no spaces), or leave it out".into(),
    });
    None
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
