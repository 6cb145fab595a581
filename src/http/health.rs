//! Liveness and readiness probes for load balancers and orchestrators.

use app::web::state::AppState;
use axum::{
    extract::State,
    http::{header, StatusCode},
    response::IntoResponse,
    Json,
};
use serde_json::json;

/// `GET /healthz`: the process is up and serving requests.
pub async fn healthz() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "status": "ok" })),
    )
}

/// `GET /readyz`: the database answers and every migration is applied.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.db.check_ready().await {
        Ok(()) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({ "status": "ready", "database": state.db.kind().as_str() })),
        ),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CACHE_CONTROL, "no-store")],
                Json(json!({ "status": "unavailable", "reason": "database" })),
            )
        }
    }
}
