//! The HTTP API for developers' backends: `/v1`, JSON, authenticated with an
//! app's API key (`Authorization: Bearer ovk_…`). A key sees its own app
//! only: another app's ids answer 404, like ids that do not exist.
//!
//! Every answer carries `Cache-Control: no-store`; errors are
//! `{"error": {"code", "message", "errors"?: [{"field", "message"}]}}` with
//! stable codes, and carry the code in `OAuth-Vault-Error` too. Each key
//! has a rate limit (`OAUTH_VAULT_API_RATE_LIMIT`, see [`rate_limit`]):
//! every answer to an authenticated request carries
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`, and a key
//! over its limit gets `429 rate_limited` with `Retry-After`. The OpenAPI 3
//! description is generated from this module and served at
//! `/v1/openapi.json`.

mod connections;
mod proxy;
pub mod rate_limit;
mod sessions;

use app::{
    store::api_keys::{authenticate_cached, bearer, ApiCaller},
    web::state::AppState,
};
use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{any, get, post},
    Json, Router,
};
use rate_limit::{Decision, RateLimiter};
use serde::Serialize;
use sessions::OneOfTheTwo;
use std::sync::Arc;
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi, ToSchema,
};

/// One field's problem in a rejected request.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldError {
    /// The JSON field or query parameter at fault.
    pub field: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: branch on it.
    #[schema(value_type = ErrorCode)]
    pub code: String,
    /// For people: what went wrong and what to do.
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// With `needs_reauthorization`: a connect link that re-authorizes this
    /// connection (same id), valid 30 minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconnect_url: Option<String>,
    /// The request's id (also in `X-Request-Id`): quote it when you ask
    /// about this answer; the vault's log lines of the request carry it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Every error code the API answers with.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ErrorCode {
    /// No or a wrong API key.
    Unauthorized,
    /// No such connection, or an unknown route.
    NotFound,
    /// A field is wrong; `errors` names each.
    ValidationFailed,
    /// The body is not JSON of the documented shape.
    InvalidJson,
    /// The end user must authorize again: see `reconnect_url`.
    NeedsReauthorization,
    /// The connection was disconnected.
    ConnectionRevoked,
    /// The app's provider configuration is disabled.
    ProviderDisabled,
    /// The provider does not answer right now; retry after `Retry-After`.
    ProviderUnavailable,
    /// The provider's API could not be reached through the proxy.
    ProviderUnreachable,
    /// The provider has no API base for the proxy.
    ProxyUnavailable,
    /// The proxy refused the target (an address the vault may not call).
    ProxyRefused,
    /// The request body is larger than the proxy takes.
    BodyTooLarge,
    /// The proxy does not forward this method (TRACE, CONNECT).
    MethodNotAllowed,
    /// The API key's rate limit is reached; retry after `Retry-After`.
    RateLimited,
    /// The audit log cannot record the request now; retry shortly.
    AuditUnavailable,
    /// A failure on the vault's side; quote the error id.
    InternalError,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "error": {
        "code": "validation_failed",
        "message": "return_url: Not one of the app's allowed return URLs: add it in the portal under Settings",
        "errors": [{"field": "return_url", "message": "Not one of the app's allowed return URLs: add it in the portal under Settings"}]
    }
}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// An API failure, answered as JSON.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    /// Boxed: results carrying an error stay small.
    body: Box<ErrorBody>,
    retry_after_secs: Option<i64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody {
                error: ErrorDetail {
                    code: code.to_string(),
                    message: message.into(),
                    errors: Vec::new(),
                    reconnect_url: None,
                    request_id: app::infra::request_id::current(),
                },
            }),
            retry_after_secs: None,
        }
    }

    pub fn with_reconnect_url(mut self, url: String) -> Self {
        self.body.error.reconnect_url = Some(url);
        self
    }

    /// The error's stable code, e.g. `not_found`.
    pub fn code(&self) -> &str {
        &self.body.error.code
    }

    pub fn with_retry_after(mut self, secs: Option<i64>) -> Self {
        self.retry_after_secs = secs;
        self
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Send a valid API key of this app as `Authorization: Bearer ovk_…`.",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("No {what} with this id in this app."),
        )
    }

    /// Any operation on a disconnected connection.
    pub fn revoked() -> Self {
        Self::new(
            StatusCode::GONE,
            "connection_revoked",
            "The connection was disconnected and its tokens deleted; connect the end user again with a new connect session.",
        )
    }

    pub fn provider_disabled() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "provider_disabled",
            "The app's provider configuration is disabled: enable it in the portal to use its connections again.",
        )
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let message = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        let mut error = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            message,
        );
        error.body.error.errors = errors;
        error
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.to_string(),
            message: message.into(),
        }])
    }

    /// The audit writer could not record the request: refused, not served
    /// unrecorded.
    pub fn usage(error: app::services::usage::UsageError) -> Self {
        match error {
            app::services::usage::UsageError::Busy => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit_unavailable",
                "The vault cannot record this request in its audit log right now; retry shortly.",
            )
            .with_retry_after(Some(1)),
            other => Self::internal(other),
        }
    }

    /// A failure on our side: logged in full, answered in general terms.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        let id = app::infra::failure::report("an API request", &error);
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            app::infra::failure::general_message(&id),
        )
    }
}

/// The header that marks an answer as the vault's own error, with its
/// code: through the proxy, it tells the vault's refusals from the
/// provider's answers (the proxy never passes a provider's header of this
/// name on).
pub const ERROR_HEADER: &str = "oauth-vault-error";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = HeaderValue::from_str(&self.body.error.code).ok();
        let mut response = (self.status, Json(*self.body)).into_response();
        if let Some(code) = code {
            response.headers_mut().insert(ERROR_HEADER, code);
        }
        if let Some(secs) = self.retry_after_secs {
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"oauth-vault\""),
            );
        }
        response
    }
}

/// What key authentication needs: the state, and the rate limiter (none
/// when the limit is off).
#[derive(Clone)]
struct KeyGate {
    state: AppState,
    limiter: Option<Arc<RateLimiter>>,
}

/// A key over its limit: when to try again.
fn rate_limited(decision: &Decision) -> Response {
    let wait = decision.retry_after().as_secs().max(1);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "This API key made more than its {} requests a minute; retry in {wait} s (Retry-After).",
            decision.limit
        ),
    )
    .into_response();
    decision.write_headers(response.headers_mut());
    response
}

/// Authenticates the API key, counts the request against the key's rate
/// limit and hands the caller to the handlers.
async fn require_key(State(gate): State<KeyGate>, mut request: Request, next: Next) -> Response {
    let state = &gate.state;
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .map(str::to_string);
    let Some(presented) = presented else {
        return ApiError::unauthorized().into_response();
    };
    match authenticate_cached(&state.db, &state.caches.api_keys, &presented).await {
        Ok(Some(caller)) => {
            let decision = gate.limiter.as_ref().map(|l| l.check(&caller.key_id));
            if let Some(refused) = decision.filter(|d| !d.allowed) {
                return rate_limited(&refused);
            }
            request.extensions_mut().insert::<ApiCaller>(caller);
            let mut response = next.run(request).await;
            if let Some(decision) = decision {
                decision.write_headers(response.headers_mut());
            }
            response
        }
        Ok(None) => ApiError::unauthorized().into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// Nothing the API answers may be stored by a cache.
async fn no_store(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn unknown_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "No such API route. The API is described at /v1/openapi.json.",
    )
}

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ovk_…")
                    .description(Some(
                        "An API key of the app, created in the portal under API Keys.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The rate limit in the document: the `RateLimit-*` headers on every
/// answer to an authenticated request, and a `429` on every operation.
struct RateLimitDoc;

impl Modify for RateLimitDoc {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{
            header::HeaderBuilder,
            schema::{ObjectBuilder, Type},
            Content, Ref, RefOr, ResponseBuilder,
        };
        let seconds = |description: &str| {
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer))
                .description(Some(description))
                .build()
        };
        let headers = [
            (
                "RateLimit-Limit",
                seconds("Requests a minute this API key may make (per server process)."),
            ),
            (
                "RateLimit-Remaining",
                seconds("Requests the key may make now."),
            ),
            (
                "RateLimit-Reset",
                seconds("Seconds until the key's whole allowance is back."),
            ),
        ];
        let mut too_many = ResponseBuilder::new()
            .description("`rate_limited`: the API key is over its rate limit; retry after `Retry-After` seconds")
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .header(
                "Retry-After",
                seconds("Seconds until the key may make its next request."),
            );
        for (name, header) in &headers {
            too_many = too_many.header(*name, header.clone());
        }
        let too_many = too_many.build();
        // any operation can fail on the vault's side
        let failed = ResponseBuilder::new()
            .description("`internal_error`: a failure on the vault's side; the message holds an error id to quote")
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, response) in operation.responses.responses.iter_mut() {
                    if let (false, RefOr::T(response)) = (status == "401", response) {
                        for (name, header) in &headers {
                            response.headers.insert(name.to_string(), header.clone());
                        }
                    }
                }
                operation
                    .responses
                    .responses
                    .insert("429".into(), RefOr::T(too_many.clone()));
                operation
                    .responses
                    .responses
                    .entry("500".into())
                    .or_insert_with(|| RefOr::T(failed.clone()));
            }
        }
    }
}

/// The proxy takes every method: its GET operation, described once, is
/// repeated for the others, which may carry a body.
struct ProxyMethods;

impl Modify for ProxyMethods {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{
            request_body::RequestBodyBuilder, Content, ObjectBuilder, Required, Type,
        };
        let Some(item) = openapi.paths.paths.get_mut("/v1/proxy/{id}/{path}") else {
            return;
        };
        let Some(get) = item.get.clone() else {
            return;
        };
        let body = RequestBodyBuilder::new()
            .description(Some(
                "Forwarded as it is, with its Content-Type (any media type; at most 10 MiB).",
            ))
            .content(
                "application/octet-stream",
                Content::new(Some(ObjectBuilder::new().schema_type(Type::String).format(
                    Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Binary,
                    )),
                ))),
            )
            .required(Some(Required::False))
            .build();
        let with_body = |name: &str| {
            let mut operation = get.clone();
            operation.operation_id = Some(format!("proxy_{name}"));
            operation.request_body = Some(body.clone());
            Some(operation)
        };
        let mut head = get.clone();
        head.operation_id = Some("proxy_head".into());
        item.head = Some(head);
        let mut options = get.clone();
        options.operation_id = Some("proxy_options".into());
        item.options = Some(options);
        item.post = with_body("post");
        item.put = with_body("put");
        item.patch = with_body("patch");
        let mut delete = get.clone();
        delete.operation_id = Some("proxy_delete".into());
        item.delete = Some(delete);
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "OAuth Vault API",
        description = "Create connect sessions for your end users, list their connections, and fetch working access tokens. Authenticate with an app's API key: `Authorization: Bearer ovk_…`.",
    ),
    paths(
        sessions::create_session,
        connections::list_connections,
        connections::get_connection,
        connections::delete_connection,
        connections::access_token,
        proxy::proxy,
    ),
    modifiers(&BearerKey, &OneOfTheTwo, &ProxyMethods, &RateLimitDoc),
    security(("api_key" = [])),
    tags(
        (name = "connect", description = "Connect sessions: links that let an end user connect"),
        (name = "connections", description = "Connections and their tokens"),
    ),
)]
pub struct ApiDoc;

/// `GET /v1/openapi.json`, with this server's public URL as its server.
async fn openapi(State(state): State<AppState>) -> Response {
    Json(document(&state.settings.public_url)).into_response()
}

/// The OpenAPI document, with `server` (a public URL) as its server.
pub fn document(server: &str) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc.servers = Some(vec![utoipa::openapi::Server::new(server)]);
    doc
}

/// The `/v1` routes, to be nested under `/v1`; `rate_limit`: requests a
/// minute per API key (0: no limit).
pub fn router(state: AppState, rate_limit: u32) -> Router<AppState> {
    let gate = KeyGate {
        state,
        limiter: RateLimiter::new(rate_limit).map(Arc::new),
    };
    let authenticated = Router::new()
        .route("/connect/sessions", post(sessions::create_session))
        .route("/connections", get(connections::list_connections))
        .route(
            "/connections/{id}",
            get(connections::get_connection).delete(connections::delete_connection),
        )
        .route(
            "/connections/{id}/access-token",
            get(connections::access_token),
        )
        .route("/proxy/{id}", any(proxy::proxy))
        .route("/proxy/{id}/{*path}", any(proxy::proxy))
        .route_layer(middleware::from_fn_with_state(gate, require_key));
    Router::new()
        .merge(authenticated)
        .route("/openapi.json", get(openapi))
        .fallback(unknown_route)
        .layer(middleware::from_fn(no_store))
}
