//! The admin area on the server: who may see it, its form posts and the
//! audit log's CSV export.

use crate::{
    domain::admin::AuditQuery,
    domain::audit::{csv_line, AuditView, CSV_HEADER},
    domain::users::{CurrentUser, Role, UserAction},
    store::admin,
    store::audit::{self as audit, Actor, Entry},
    store::users::{self, UserChange},
    util::time::day_start,
    web::form_post::{not_found, render_shown_once, rerender, see_other, server_error, Submission},
    web::forms::FormFeedback,
    web::session::require_user,
    web::state::AppState,
};
use axum::{
    body::Body,
    extract::{Path, Query, State},
    http::{header, Request, StatusCode},
    response::{IntoResponse, Response},
};
use leptos::prelude::ServerFnError;

/// The signed-in administrator; anyone else gets "not found".
pub async fn require_admin() -> Result<(AppState, CurrentUser), ServerFnError> {
    match require_user().await {
        Ok((state, user)) if user.role == Role::Admin => Ok((state, user)),
        Ok(_) | Err(_) => Err(crate::web::session::not_found()),
    }
}

pub fn audit_filter(q: &AuditQuery) -> audit::Filter {
    audit::Filter {
        organisation_id: q.organisation.clone(),
        app_id: q.app.clone(),
        actor: q.actor.clone(),
        action: q.action.clone(),
        kind: None,
        from: q.from.as_deref().and_then(day_start),
        to: q.to.as_deref().and_then(day_start).map(|t| t + 86_400_000),
    }
}

/// Reads an admin form; anyone but an administrator gets 404.
async fn admin_form(
    state: &AppState,
    request: Request<Body>,
) -> Result<(Submission, CurrentUser), Response> {
    let form = Submission::read(state, request).await?;
    match crate::store::sessions::current_user(
        &state.db,
        &form.parts.headers,
        state.settings.secure_cookies,
    )
    .await
    {
        Ok(Some(user)) if user.role == Role::Admin => Ok((form, user)),
        Ok(_) => Err(not_found()),
        Err(e) => Err(server_error(e)),
    }
}

pub async fn post_connection(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request<Body>,
) -> Response {
    let (form, user) = match admin_form(&state, request).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let row = match admin::find(&state.db, &state.catalogue, &id).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(),
        Err(e) => return server_error(e),
    };
    let reason = form.get("reason").trim().to_string();
    if reason.is_empty() || reason.chars().count() > 500 {
        let mut feedback = FormFeedback::new("admin-action");
        feedback.keep("reason", &reason);
        feedback.add_error(
            "reason",
            "Say why (1 to 500 characters): it goes into the audit log",
        );
        return rerender(&state, form.parts, feedback).await;
    }
    let actor = Actor::user(&user);
    let app_id = row.connection.app_id.clone();
    let outcome = match form.get("_action").as_str() {
        "disconnect" => {
            match crate::services::revocation::disconnect(
                &state,
                &app_id,
                &id,
                &actor,
                Some(&reason),
            )
            .await
            {
                Ok(_) => Ok(()),
                Err(e) => return server_error(e),
            }
        }
        "refresh" => {
            let detail = match crate::services::tokens::usable_token(&state, &id, true).await {
                Ok(_) => "refreshed".to_string(),
                Err(e) => format!("refresh failed: {e}"),
            };
            let entry = Entry::new("admin.connection_refreshed").detail(&detail);
            record_action(&state, &actor, entry, &app_id, &id, &reason).await
        }
        "check" => {
            let detail = match crate::services::tokens::health_check(&state, &id).await {
                Ok(()) => "health checked".to_string(),
                Err(e) => format!("health check failed: {e}"),
            };
            let entry = Entry::new("admin.connection_checked").detail(&detail);
            record_action(&state, &actor, entry, &app_id, &id, &reason).await
        }
        _ => return (StatusCode::BAD_REQUEST, "Unknown action").into_response(),
    };
    match outcome {
        Ok(()) => see_other(&format!("/admin/connections/{id}")),
        Err(e) => server_error(e),
    }
}

/// Audits an administrator's action on connection `id`, with its reason.
async fn record_action(
    state: &AppState,
    actor: &Actor,
    entry: Entry<'_>,
    app_id: &str,
    id: &str,
    reason: &str,
) -> Result<(), crate::services::InternalError> {
    let entry = entry
        .app(None, app_id)
        .target("connection", id)
        .reason(reason);
    Ok(audit::record_alone(&state.db, actor, entry).await?)
}

pub async fn post_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request<Body>,
) -> Response {
    let (form, admin) = match admin_form(&state, request).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(action) = UserAction::parse(&form.get("_action")) else {
        return (StatusCode::BAD_REQUEST, "Unknown action").into_response();
    };
    let result = users::apply(&state.db, &Actor::user(&admin), &admin.id, &id, action).await;
    match result {
        Ok(UserChange::Done) => see_other("/admin/users"),
        Ok(UserChange::NotFound) => not_found(),
        Ok(UserChange::Refused(message)) => {
            let mut feedback = FormFeedback::new("admin-user");
            feedback.add_error("", message);
            // the form posts to the user's address; the page is the list
            let mut parts = form.parts;
            parts.uri = axum::http::Uri::from_static("/admin/users");
            rerender(&state, parts, feedback).await
        }
        Err(e) => server_error(e),
    }
}

/// `POST /admin/invitations`: a new invitation link, shown once.
pub async fn post_invitation(State(state): State<AppState>, request: Request<Body>) -> Response {
    let (form, admin) = match admin_form(&state, request).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut feedback = FormFeedback::new("invite");
    let email_text = form.get("email");
    feedback.keep("email", &email_text);
    let email = match crate::domain::users::normalise_email(&email_text) {
        Ok(e) => e,
        Err(message) => {
            feedback.add_error("email", message);
            return rerender(&state, form.parts, feedback).await;
        }
    };
    match crate::store::accounts::credentials(&state.db, &email).await {
        Ok(Some(_)) => {
            feedback.add_error("email", "This address already has an account.");
            return rerender(&state, form.parts, feedback).await;
        }
        Ok(None) => {}
        Err(e) => return server_error(e),
    }
    let token = crate::infra::tokens::random_token();
    match crate::store::account_links::create_invitation(&state.db, &admin, &email, &token).await {
        Ok(_) => {
            let link = format!("{}/invite/{token}", state.settings.public_url);
            render_shown_once(&state, form.parts, link, StatusCode::CREATED).await
        }
        Err(e) => server_error(e),
    }
}

/// `POST /admin/invitations/{id}`: revokes a pending invitation.
pub async fn post_invitation_revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request<Body>,
) -> Response {
    let (_, admin) = match admin_form(&state, request).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match crate::store::account_links::revoke_invitation(&state.db, &admin, &id).await {
        Ok(true) => see_other("/admin/invitations"),
        Ok(false) => not_found(),
        Err(e) => server_error(e),
    }
}

/// Rows the CSV export reads at a time.
const CSV_BATCH: i64 = 1_000;

/// `GET /admin/audit.csv`: every entry of the filtered audit log as CSV,
/// streamed in batches (keyset pagination over `(at, id)`), so that memory
/// stays bounded however long the log is.
pub async fn audit_csv(
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
    request: Request<Body>,
) -> Response {
    let (parts, _) = request.into_parts();
    match crate::store::sessions::current_user(
        &state.db,
        &parts.headers,
        state.settings.secure_cookies,
    )
    .await
    {
        Ok(Some(user)) if user.role == Role::Admin => {}
        Ok(_) => return not_found(),
        Err(e) => return server_error(e),
    }
    let filter = audit_filter(&query);
    // the first batch before the answer starts, so that a failing
    // database is a clear error page, not a cut-off file
    let first = match audit::list(&state.db, &filter, CSV_BATCH, None).await {
        Ok(e) => e,
        Err(e) => return server_error(e),
    };
    let body = Body::from_stream(csv_batches(state.db.clone(), filter, first));
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit-log.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The CSV: the header, then `first` and the batches after it, one chunk
/// per batch. A failure midway ends the stream with an error, which cuts
/// the download off visibly rather than ending it early as if complete.
fn csv_batches(
    db: crate::infra::db::Db,
    filter: audit::Filter,
    first: Vec<AuditView>,
) -> impl futures_util::Stream<Item = Result<String, std::io::Error>> {
    let header = futures_util::stream::once(async { Ok(CSV_HEADER.to_string()) });
    let rows = futures_util::stream::unfold(Some(first), move |batch| {
        let (db, filter) = (db.clone(), filter.clone());
        async move {
            let batch = batch?;
            if batch.is_empty() {
                return None;
            }
            let chunk: String = batch.iter().map(csv_line).collect();
            let full = batch.len() as i64 == CSV_BATCH;
            let next = match batch.last() {
                Some(last) if full => {
                    let after = Some((last.at, last.id.clone()));
                    match audit::list(&db, &filter, CSV_BATCH, after).await {
                        Ok(next) => Some(next),
                        Err(e) => {
                            crate::infra::failure::report("the audit log export", &e);
                            return Some((
                                Err(std::io::Error::other("the audit log export failed")),
                                None,
                            ));
                        }
                    }
                }
                _ => Some(Vec::new()),
            };
            Some((Ok(chunk), next))
        }
    });
    futures_util::StreamExt::chain(header, rows)
}

/// This feature's form posts and other server routes (its pages are in the
/// Leptos router).
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/admin/connections/{id}", post(post_connection))
        .route("/admin/users/{id}", post(post_user))
        .route("/admin/invitations", post(post_invitation))
        .route("/admin/invitations/{id}", post(post_invitation_revoke))
        .route("/admin/audit.csv", get(audit_csv))
}
