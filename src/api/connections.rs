//! `/v1/connections`: metadata, access tokens, deletion.

use super::{ApiError, ErrorBody, FieldError};
use app::{
    domain::connections::{ConnectionStatus, ConnectionView},
    services::tokens::{self as refresh, CareError},
    services::usage::Writes,
    store::api_keys::ApiCaller,
    store::audit::Actor,
    store::connect::{create_session, NewSession},
    store::connections::{self as store},
    util::time::rfc3339,
    web::state::AppState,
};
use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    http::StatusCode,
    Extension, Json,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
pub struct EndUser {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// The provider account (for Attio: the workspace).
#[derive(Debug, Serialize, ToSchema)]
pub struct Account {
    /// Stable id at the provider; empty when the provider names none.
    pub id: String,
    pub name: Option<String>,
    pub slug: Option<String>,
    pub picture_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Scopes {
    /// What the provider granted; null when it does not say.
    pub granted: Option<Vec<String>>,
    /// What the app's provider configuration selects.
    pub configured: Vec<String>,
    /// Configured scopes the grant does not cover.
    pub missing: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "conn_3f2a9c1d0b7e4a5f8e6d2c1b0a9f8e7d",
    "provider": "attio",
    "provider_config_id": "pc_8cfc5fe603d1476faf8b90d62f88c4fc",
    "status": "active",
    "end_user": {"id": "user-42", "name": "Ada Lovelace", "email": "ada@example.com"},
    "account": {"id": "b7a1c0de-0000-4000-8000-000000000001", "name": "Acme", "slug": "acme", "picture_url": null},
    "scopes": {"granted": ["record_permission:read", "list_entry:read"], "configured": ["record_permission:read", "list_entry:read"], "missing": []},
    "created_at": "2026-12-02T09:30:00Z",
    "updated_at": "2026-12-02T09:30:00Z",
    "last_refreshed_at": null,
    "last_used_at": "2026-12-02T10:02:13Z",
    "last_health_check_at": "2026-12-02T10:00:00Z"
}))]
pub struct Connection {
    pub id: String,
    /// The provider id of the app's configuration, e.g. `attio`.
    pub provider: String,
    pub provider_config_id: String,
    #[schema(value_type = ConnectionStatusName)]
    pub status: String,
    pub end_user: EndUser,
    pub account: Account,
    pub scopes: Scopes,
    /// RFC 3339 timestamps; null for "never".
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(format = DateTime)]
    pub last_refreshed_at: Option<String>,
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
    #[schema(format = DateTime)]
    pub last_health_check_at: Option<String>,
}

/// A connection's status.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ConnectionStatusName {
    /// Tokens work.
    Active,
    /// The end user must authorize again (a rejected grant).
    NeedsReauthorization,
    /// Refreshes keep failing; the vault keeps trying.
    Error,
    /// Disconnected.
    Revoked,
}

fn account(c: &ConnectionView) -> Account {
    Account {
        id: c.account_id.clone(),
        name: c.account_name.clone(),
        slug: c.account_slug.clone(),
        picture_url: c.account_picture.clone(),
    }
}

impl From<ConnectionView> for Connection {
    fn from(c: ConnectionView) -> Self {
        Self {
            account: account(&c),
            id: c.id,
            provider: c.provider,
            provider_config_id: c.provider_config_id,
            status: c.status.as_str().to_string(),
            end_user: EndUser {
                id: c.end_user_id,
                name: c.end_user_name,
                email: c.end_user_email,
            },
            scopes: Scopes {
                granted: c.granted_scopes,
                configured: c.configured_scopes,
                missing: c.missing_scopes,
            },
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
            last_refreshed_at: c.last_refreshed_at.map(rfc3339),
            last_used_at: c.last_used_at.map(rfc3339),
            last_health_check_at: c.last_checked_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionList {
    pub data: Vec<Connection>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this end user's connections.
    pub end_user_id: Option<String>,
    /// Only this provider's, e.g. `attio`.
    pub provider: Option<String>,
    /// Only connections with this status. Without it, disconnected
    /// (`revoked`) connections are left out.
    #[param(value_type = Option<ConnectionStatusName>)]
    pub status: Option<String>,
    /// 1-100, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page, unchanged (empty: the first page).
    #[param(pattern = r"^([0-9]{1,18}:[A-Za-z0-9_-]{1,100})?$")]
    pub cursor: Option<String>,
}

/// A page's position: the last connection's creation time and id.
fn encode_cursor(c: &ConnectionView) -> String {
    format!("{}:{}", c.created_at, c.id)
}

/// A cursor as the document's pattern describes it, or nothing.
fn decode_cursor(text: &str) -> Option<(i64, String)> {
    let (at, id) = text.split_once(':')?;
    let digits = (1..=18).contains(&at.len()) && at.bytes().all(|b| b.is_ascii_digit());
    let id_ok = (1..=100).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !(digits && id_ok) {
        return None;
    }
    Some((at.parse().ok()?, id.to_string()))
}

/// List connections
///
/// The app's connections, newest first, optionally for one end user,
/// provider or status. Disconnected connections are left out unless
/// `status=revoked` asks for them. Never includes tokens.
#[utoipa::path(
    get,
    path = "/v1/connections",
    tag = "connections",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of connections", body = ConnectionList),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 422, description = "Invalid parameter", body = ErrorBody),
    ),
)]
pub async fn list_connections(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<ConnectionList>, ApiError> {
    let Query(query) = query.map_err(unreadable_query)?;
    let mut errors = Vec::new();
    // an integer, as the document says: an empty `limit=` is not one
    let limit = match query.limit.as_deref().map(str::parse::<i64>) {
        None => 50,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            errors.push(FieldError {
                field: "limit".into(),
                message: "Use a whole number from 1 to 100".into(),
            });
            50
        }
    };
    let after = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => match decode_cursor(text) {
            Some(c) => Some(c),
            None => {
                errors.push(FieldError {
                    field: "cursor".into(),
                    message: "Pass the next_cursor of a previous page unchanged".into(),
                });
                None
            }
        },
    };
    let status = match query.status.as_deref() {
        None => None,
        Some(s) => match ConnectionStatus::ALL.into_iter().find(|c| c.as_str() == s) {
            Some(status) => Some(status),
            None => {
                errors.push(FieldError {
                    field: "status".into(),
                    message: "Use active, needs_reauthorization, error or revoked".into(),
                });
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let filter = store::Filter {
        end_user_id: query.end_user_id.filter(|s| !s.is_empty()),
        provider: query.provider.filter(|s| !s.is_empty()),
        status: status.map(|s| s.as_str().to_string()),
        live_only: status.is_none(),
        ..Default::default()
    };
    let mut rows = store::list(
        &state.db,
        &state.catalogue,
        &caller.app_id,
        &filter,
        limit + 1,
        after,
    )
    .await
    .map_err(ApiError::internal)?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(encode_cursor)
    } else {
        None
    };
    Ok(Json(ConnectionList {
        data: rows.into_iter().map(Connection::from).collect(),
        next_cursor,
    }))
}

/// Get a connection
///
/// Status, provider account, granted and configured scopes, timestamps.
/// Never tokens. A disconnected connection answers 410
/// `connection_revoked` (the portal keeps its history).
#[utoipa::path(
    get,
    path = "/v1/connections/{id}",
    tag = "connections",
    params(("id" = String, Path, description = "Connection id")),
    responses(
        (status = 200, description = "The connection", body = Connection),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such connection in this app", body = ErrorBody),
        (status = 410, description = "`connection_revoked`: the connection was disconnected", body = ErrorBody),
    ),
)]
pub async fn get_connection(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Path(id): Path<String>,
) -> Result<Json<Connection>, ApiError> {
    let found = live_connection(&state, &caller, &id).await?;
    Ok(Json(found.into()))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "access_token": "eyJhbGciOi…",
    "token_type": "Bearer",
    "expires_at": "2026-12-02T11:00:00Z",
    "scopes": ["record_permission:read", "list_entry:read"],
    "account": {"id": "b7a1c0de-0000-4000-8000-000000000001", "name": "Acme", "slug": "acme", "picture_url": null}
}))]
pub struct AccessToken {
    pub access_token: String,
    /// Use as the scheme of the `Authorization` header, e.g. `Bearer`.
    pub token_type: String,
    /// RFC 3339; null for tokens that do not expire (Attio).
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// The granted scopes (the configured ones when the provider does not say).
    pub scopes: Vec<String>,
    pub account: Account,
}

/// Get an access token
///
/// A working access token of the connection, to call the provider's API.
/// Fetch it when you need it rather than storing it: the vault refreshes it
/// when it is within the refresh margin of its expiry (at most one refresh
/// per connection at a time, across all server processes). Never returns the
/// refresh token.
#[utoipa::path(
    get,
    path = "/v1/connections/{id}/access-token",
    tag = "connections",
    params(("id" = String, Path, description = "Connection id"), TokenQuery),
    responses(
        (status = 200, description = "The access token", body = AccessToken),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such connection in this app", body = ErrorBody),
        (status = 409, description = "`needs_reauthorization`: the end user must connect again (`reconnect_url`); `provider_disabled`: the provider is switched off in the portal", body = ErrorBody),
        (status = 410, description = "`connection_revoked`: the connection was disconnected", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `force_refresh` is not true or false, or the query string cannot be read", body = ErrorBody),
        (status = 503, description = "`provider_unavailable`: the token expired and the provider did not answer the refresh; `audit_unavailable`: the audit log cannot record the read right now. See `Retry-After`", body = ErrorBody),
    ),
)]
pub async fn access_token(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Path(id): Path<String>,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Json<AccessToken>, ApiError> {
    let Query(query) = query.map_err(unreadable_query)?;
    let force = match query.force_refresh.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::field("force_refresh", "Use true or false")),
    };
    // one read: the connection and its sealed tokens
    let loaded = refresh::load_for_app(&state, &caller.app_id, &id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| counted(ApiError::not_found("connection")))?;
    let connection = &loaded.connection;
    if !connection.provider_active {
        return Err(counted(ApiError::provider_disabled()));
    }
    let usable = match refresh::usable_loaded(&state, &loaded, force).await {
        Ok(u) => u,
        Err(e) => return Err(counted(care_error(&state, &caller, connection, e).await)),
    };
    // The read is counted in its audit entry (and, at most once a minute,
    // the last-used stamp written) with other requests' writes: before the
    // token leaves when token-read audit is durable, else right after.
    let writes = Writes::default()
        .token_read(
            &caller.key_id,
            &caller.organisation_id,
            &caller.app_id,
            &connection.id,
        )
        .touch_connection(&connection.id, Some(loaded.last_used_at()));
    state
        .usage
        .write(writes, state.settings.durable_read_audit)
        .await
        .map_err(ApiError::usage)?;
    loaded.used_now();
    // After a refresh the granted scopes may have changed: read them again.
    let refreshed = if usable.refreshed {
        store::find(&state.db, &state.catalogue, &caller.app_id, &id)
            .await
            .map_err(ApiError::internal)?
    } else {
        None
    };
    let connection = refreshed.as_ref().unwrap_or(connection);
    let outcome = if usable.refreshed {
        "refreshed"
    } else {
        "served"
    };
    metrics::counter!("oauth_vault_token_requests_total", "outcome" => outcome).increment(1);
    Ok(Json(AccessToken {
        access_token: usable.access_token.expose_secret().to_string(),
        token_type: usable.token_type,
        expires_at: usable.expires_at.map(rfc3339),
        account: account(connection),
        scopes: connection
            .granted_scopes
            .clone()
            .unwrap_or_else(|| connection.configured_scopes.clone()),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// `true`: refresh now, even if the token is still fresh.
    #[param(value_type = Option<bool>)]
    pub force_refresh: Option<String>,
}

/// The app's connection `id`, while it is not disconnected: 404 for none,
/// 410 for a disconnected one.
async fn live_connection(
    state: &AppState,
    caller: &ApiCaller,
    id: &str,
) -> Result<ConnectionView, ApiError> {
    let found = store::find(&state.db, &state.catalogue, &caller.app_id, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("connection"))?;
    if found.status == ConnectionStatus::Revoked {
        return Err(ApiError::revoked());
    }
    Ok(found)
}

/// A token API refusal, counted by its outcome.
fn counted(error: ApiError) -> ApiError {
    let outcome = match error.code() {
        "connection_revoked" => "revoked",
        "needs_reauthorization" | "provider_disabled" | "provider_unavailable" | "not_found" => {
            error.code()
        }
        _ => "other",
    };
    metrics::counter!("oauth_vault_token_requests_total", "outcome" => outcome.to_string())
        .increment(1);
    error
}

/// The API's answer when no usable token can be served.
pub async fn care_error(
    state: &AppState,
    caller: &ApiCaller,
    connection: &ConnectionView,
    e: CareError,
) -> ApiError {
    match e {
        CareError::NeedsReauthorization => {
            // A link the end user can follow right away to connect again.
            let reconnect = create_session(
                &state.db,
                &state.settings.public_url,
                &connection.app_id,
                &NewSession {
                    end_user_id: connection.end_user_id.clone(),
                    end_user_name: connection.end_user_name.clone(),
                    end_user_email: connection.end_user_email.clone(),
                    providers: vec![connection.provider.clone()],
                    return_url: None,
                    reconnect_id: Some(connection.id.clone()),
                },
                &Actor::api_key(&caller.key_id),
            )
            .await;
            let mut error = ApiError::new(
                StatusCode::CONFLICT,
                "needs_reauthorization",
                "The provider no longer accepts this connection: send the end user to reconnect_url (valid 30 minutes), or create a session with connection_id.",
            );
            if let Ok(session) = reconnect {
                error = error.with_reconnect_url(session.connect_url);
            }
            error
        }
        CareError::Revoked => ApiError::revoked(),
        CareError::Unavailable { retry_after_ms } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "provider_unavailable",
            "The provider did not answer the refresh; retry later.",
        )
        .with_retry_after(retry_after_ms.map(|ms| (ms + 999) / 1000)),
        CareError::Internal(e) => ApiError::internal(e),
    }
}

/// Disconnect a connection
///
/// Revokes the grant at the provider where the provider offers revocation
/// (RFC 7009; retried later if the provider is unavailable), then deletes
/// the tokens. Afterwards every operation on the id answers 410
/// `connection_revoked`, and the list leaves it out unless asked with
/// `status=revoked`; the portal keeps its history. A new connect session
/// for the same end user and provider account brings it back, with its id.
#[utoipa::path(
    delete,
    path = "/v1/connections/{id}",
    tag = "connections",
    params(("id" = String, Path, description = "Connection id")),
    responses(
        (status = 204, description = "Disconnected"),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such connection in this app", body = ErrorBody),
        (status = 410, description = "`connection_revoked`: it was already disconnected", body = ErrorBody),
    ),
)]
pub async fn delete_connection(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    live_connection(&state, &caller, &id).await?;
    let deleted = app::services::revocation::disconnect(
        &state,
        &caller.app_id,
        &id,
        &Actor::api_key(&caller.key_id),
        None,
    )
    .await
    .map_err(ApiError::internal)?;
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("connection"))
    }
}

/// A query string that cannot be read (a parameter given twice, bytes that
/// are not UTF-8): 422 with the reason, as for any other bad parameter.
fn unreadable_query(e: QueryRejection) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        format!("The query string cannot be read: {}", e.body_text()),
    )
}
