//! The organisation forms: switching, creating, and the members page's
//! actions. Each checks the user's role in the organisation through
//! [`crate::services::access`] before it changes anything.

use crate::{
    domain::orgs::{check_org_name, MemberChange, Need, OrgRole, Seat},
    domain::users::{normalise_email, CurrentUser},
    services::{access, teams},
    store::orgs::{self, MemberOutcome},
    web::form_post::{
        denied, forbidden, render_shown_once, rerender, see_other, server_error, Submission,
    },
    web::forms::FormFeedback,
    web::state::AppState,
};
use axum::{
    body::Body,
    extract::{Path, State},
    http::{Request, StatusCode},
    response::{IntoResponse, Response},
};

/// `POST /orgs/switch`: work in another of one's organisations (or go and
/// create one).
pub async fn post_switch(State(state): State<AppState>, request: Request<Body>) -> Response {
    let (form, user) = match Submission::read_signed_in(&state, request).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let org_id = form.get("organisation_id");
    if org_id == "new" {
        return see_other("/orgs/new");
    }
    match orgs::switch(&state.db, &user.id, &org_id).await {
        Ok(true) => see_other("/apps"),
        Ok(false) => crate::web::form_post::not_found(),
        Err(e) => server_error(e),
    }
}

/// `POST /orgs/new`: creates an organisation owned by the user.
pub async fn post_create(State(state): State<AppState>, request: Request<Body>) -> Response {
    let (form, user) = match Submission::read_signed_in(&state, request).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut feedback = FormFeedback::new("create-org");
    let text = form.get("name");
    feedback.keep("name", &text);
    let name = match check_org_name(&text) {
        Ok(n) => n,
        Err(e) => {
            feedback.add_error("name", e);
            return rerender(&state, form.parts, feedback).await;
        }
    };
    match orgs::create(&state.db, &user, &name).await {
        Ok(id) => {
            tracing::info!(organisation_id = %id, "organisation created");
            see_other("/apps")
        }
        Err(e) => server_error(e),
    }
}

/// What an action of the members page needs.
fn need_of(action: &str) -> Option<Need> {
    Some(match action {
        "leave" => Need::Read,
        "invite" | "revoke" | "set_role" | "remove" | "rename" => Need::ManageMembers,
        "delete" => Need::Own,
        _ => return None,
    })
}

/// `POST /orgs/{org_id}/members`.
pub async fn post_members(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    request: Request<Body>,
) -> Response {
    let (form, user) = match Submission::read_signed_in(&state, request).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let action = form.get("_action");
    let Some(need) = need_of(&action) else {
        return (StatusCode::BAD_REQUEST, "Unknown action").into_response();
    };
    let seat = match access::organisation(&state.db, &user, &org_id, need).await {
        Ok(seat) => seat,
        Err(e) => return denied(&state, form.parts, e).await,
    };
    let page = format!("/orgs/{org_id}/members");
    match action.as_str() {
        "invite" => invite(&state, form, &user, &seat).await,
        "revoke" => {
            let id = form.get("invitation_id");
            let done =
                crate::store::account_links::revoke_org_invitation(&state.db, &user, &org_id, &id)
                    .await;
            match done {
                Ok(true) => see_other(&page),
                Ok(false) => crate::web::form_post::not_found(),
                Err(e) => server_error(e),
            }
        }
        "set_role" | "remove" | "leave" => {
            let change = match action.as_str() {
                "set_role" => match OrgRole::parse(&form.get("role")) {
                    Some(role) => MemberChange::SetRole(role),
                    None => return member_error(&state, form, "Choose a role.").await,
                },
                _ => MemberChange::Remove,
            };
            let target = if action == "leave" {
                user.id.clone()
            } else {
                form.get("user_id")
            };
            change_member(&state, form, &user, &seat, &target, change).await
        }
        "rename" => {
            let mut feedback = FormFeedback::new("rename-org");
            let text = form.get("name");
            feedback.keep("name", &text);
            match check_org_name(&text) {
                Ok(name) => match orgs::rename(&state.db, &user, &org_id, &name).await {
                    Ok(()) => see_other(&page),
                    Err(e) => server_error(e),
                },
                Err(e) => {
                    feedback.add_error("name", e);
                    rerender(&state, form.parts, feedback).await
                }
            }
        }
        _ => delete(&state, form, &user, &seat).await,
    }
}

async fn member_error(state: &AppState, form: Submission, message: &str) -> Response {
    let mut feedback = FormFeedback::new("member");
    feedback.add_error("", message);
    rerender(state, form.parts, feedback).await
}

async fn change_member(
    state: &AppState,
    form: Submission,
    user: &CurrentUser,
    seat: &Seat,
    target: &str,
    change: MemberChange,
) -> Response {
    let org = &seat.organisation;
    match orgs::change_member(&state.db, user, org.role, &org.id, target, change).await {
        Ok(MemberOutcome::Done) if target == user.id && change == MemberChange::Remove => {
            tracing::info!(organisation_id = %org.id, "left an organisation");
            see_other("/apps")
        }
        Ok(MemberOutcome::Done) => {
            tracing::info!(organisation_id = %org.id, "membership changed");
            see_other(&format!("/orgs/{}/members", org.id))
        }
        Ok(MemberOutcome::NotFound) => crate::web::form_post::not_found(),
        Ok(MemberOutcome::Refused(why)) if why == crate::domain::orgs::OWNERS_ONLY => {
            forbidden(state, form.parts, why).await
        }
        Ok(MemberOutcome::Refused(why)) => {
            let mut feedback = FormFeedback::new("member");
            feedback.add_error("", why);
            crate::web::form_post::render_page(
                state,
                form.parts,
                feedback,
                (),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(e) => server_error(e),
    }
}

async fn invite(state: &AppState, form: Submission, user: &CurrentUser, seat: &Seat) -> Response {
    let mut feedback = FormFeedback::new("invite");
    let email_text = form.get("email");
    let role_text = form.get("role");
    feedback.keep("email", &email_text);
    feedback.keep("role", &role_text);
    let email = normalise_email(&email_text);
    let role = OrgRole::parse(&role_text);
    if let Err(e) = &email {
        feedback.add_error("email", *e);
    }
    if role.is_none() {
        feedback.add_error("role", "Choose a role: owner, admin, developer or viewer.");
    }
    let (Ok(email), Some(role)) = (email, role) else {
        return rerender(state, form.parts, feedback).await;
    };
    if role == OrgRole::Owner && !seat.can(Need::Own) {
        let message = crate::domain::orgs::forbidden_message(Need::Own, seat.organisation.role);
        return forbidden(state, form.parts, &message).await;
    }
    match teams::invite(state, user, &seat.organisation, &email, role).await {
        Ok(invited) => {
            if let Some(link) = invited.link {
                if let Some(problem) = invited.mail_problem {
                    tracing::warn!(problem = %problem, "invitation shown instead of emailed");
                }
                render_shown_once(state, form.parts, link, StatusCode::CREATED).await
            } else {
                see_other(&format!(
                    "/orgs/{}/members?sent={}",
                    seat.organisation.id, invited.emailed
                ))
            }
        }
        Err(teams::InviteError::AlreadyMember(_)) => {
            let message = format!("{email} is already a member of this organisation.");
            feedback.add_error("email", message);
            rerender(state, form.parts, feedback).await
        }
        Err(teams::InviteError::Internal(e)) => server_error(e),
    }
}

async fn delete(state: &AppState, form: Submission, user: &CurrentUser, seat: &Seat) -> Response {
    let org = &seat.organisation;
    let confirm = form.get("confirm");
    if confirm.trim() != org.name {
        let mut feedback = FormFeedback::new("delete-org");
        feedback.keep("confirm", &confirm);
        let message = format!(
            "Type the organisation's name, {}, exactly to confirm",
            org.name
        );
        feedback.add_error("confirm", message);
        return rerender(state, form.parts, feedback).await;
    }
    match teams::delete_organisation(state, user, org).await {
        Ok(apps) => {
            tracing::info!(organisation_id = %org.id, apps, "organisation deleted");
            see_other("/apps")
        }
        Err(e) => server_error(e),
    }
}

/// This feature's form posts.
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::post;
    axum::Router::new()
        .route("/orgs/new", post(post_create))
        .route("/orgs/switch", post(post_switch))
        .route("/orgs/{org_id}/members", post(post_members))
}
