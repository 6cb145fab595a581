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

/// `GET /readyz`: the database answers, every migration is applied and the
/// audit writer commits. While the writer's commits fail, the answer says so
/// (`audit_writer`); after
/// [`app::services::usage::UNREADY_AFTER`] of failing, it is not ready.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let writer = state.usage.status();
    let audit_writer = match writer.failing_since {
        None => json!({ "status": "ok" }),
        Some(since) => json!({
            "status": "failing",
            "failing_since": app::util::time::rfc3339(since),
            "failed_commits": writer.failures,
            "pending_entries": writer.pending,
        }),
    };
    match state.db.check_ready().await {
        Ok(()) if !writer.unready => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({
                "status": "ready",
                "database": state.db.kind().as_str(),
                "audit_writer": audit_writer,
            })),
        ),
        Ok(()) => {
            tracing::warn!(
                failed_commits = writer.failures,
                pending_entries = writer.pending,
                "not ready: the audit writer keeps failing"
            );
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CACHE_CONTROL, "no-store")],
                Json(json!({
                    "status": "unavailable",
                    "reason": "audit_writer",
                    "audit_writer": audit_writer,
                })),
            )
        }
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
