//! The admin area on the server: who may see it, its form posts and the
//! audit log's CSV export.

use crate::{
    domain::admin::AuditQuery,
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

/// `GET /admin/audit.csv`: the filtered audit log as CSV (at most 100,000 rows).
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
    let entries = match audit::list(&state.db, &audit_filter(&query), 100_000, None).await {
        Ok(e) => e,
        Err(e) => return server_error(e),
    };
    let cell = |v: &str| {
        // quoted, and never starting a spreadsheet formula
        let v = if v.starts_with(['=', '+', '-', '@']) {
            format!("'{v}")
        } else {
            v.to_string()
        };
        format!("\"{}\"", v.replace('"', "\"\""))
    };
    let mut csv = String::from(
        "time,actor_type,actor,action,organisation_id,app_id,target_type,target_id,detail,reason\n",
    );
    for e in entries {
        let row = [
            crate::util::time::rfc3339(e.at),
            e.actor_type,
            e.actor_label.unwrap_or_default(),
            e.action,
            e.organisation_id.unwrap_or_default(),
            e.app_id.unwrap_or_default(),
            e.target_type.unwrap_or_default(),
            e.target_id.unwrap_or_default(),
            e.detail.unwrap_or_default(),
            e.reason.unwrap_or_default(),
        ];
        csv.push_str(&row.iter().map(|v| cell(v)).collect::<Vec<_>>().join(","));
        csv.push('\n');
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit-log.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        csv,
    )
        .into_response()
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
