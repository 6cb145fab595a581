//! Invitations: into an organisation (made by its admins) or, from the admin
//! area, to an account of one's own. Accepting one signs up, or signs in
//! and joins.

use super::sso::{use_sso, SsoButton};
use super::{LinkPage, NewAccountForm};
use crate::ui::forms::{CsrfField, FormError};
use crate::web::forms::FormFeedback;
use leptos::prelude::*;

/// The invitation page of an invitation into an organisation: join as the
/// signed-in invitee, sign in first, or create the account.
#[component]
pub fn JoinOrganisation(
    page: LinkPage,
    action: String,
    csrf: String,
    feedback: FormFeedback,
    token: String,
) -> impl IntoView {
    let (org, role) = page.organisation.clone().unwrap_or_default();
    let invited = page.email.clone().unwrap_or_default();
    let article = if role == crate::domain::orgs::OrgRole::Admin
        || role == crate::domain::orgs::OrgRole::Owner
    {
        "an"
    } else {
        "a"
    };
    let intro = format!(
        "You are invited to join the organisation “{org}” on OAuth Vault as {article} {}.",
        role.as_str()
    );
    let sso = use_sso();
    let body = match page.signed_in_as.clone() {
        Some(me) if me == invited => view! {
            <FormError error=feedback.error("") />
            <form method="post" action=action class="form">
                <CsrfField token=csrf />
                <input type="hidden" name="_action" value="join" />
                <button type="submit" class="btn btn-primary" data-testid="join">{format!("Join {org}")}</button>
            </form>
        }
        .into_any(),
        Some(me) => view! {
            <p role="alert" data-testid="link-problem">
                {format!("This invitation is for {invited}, and you are signed in as {me}. Sign out, then open this link again and sign in as {invited}.")}
            </p>
        }
        .into_any(),
        None if page.has_account => view! {
            <p>"Sign in as " <strong data-testid="invited-email">{invited.clone()}</strong> " to accept it."</p>
            <p><a class="btn btn-primary" href=format!("/login?next=/invite/{token}") data-testid="sign-in-to-join">"Sign in to join"</a></p>
        }
        .into_any(),
        None if !sso.password_login => view! {
            <p>"Sign in with your company account as " <strong data-testid="invited-email">{invited.clone()}</strong> " to accept it."</p>
            <FormError error=feedback.error("") />
            <SsoButton view=sso.clone() next=format!("/invite/{token}") />
        }
        .into_any(),
        None => view! {
            <SsoButton view=sso.clone() next=format!("/invite/{token}") />
            <p>"Choose a password to create your account."</p>
            <FormError error=feedback.error("") />
            <NewAccountForm action csrf feedback email=Some(invited) button="Create account and join" />
        }
        .into_any(),
    };
    view! {
        <p data-testid="invitation-intro">{intro}</p>
        {body}
    }
}

#[cfg(feature = "ssr")]
pub use ssr::post_invitation;

#[cfg(feature = "ssr")]
mod ssr {
    use super::super::links::ssr::spent_message;
    use super::super::links::LinkStatus;
    use super::super::ssr::{
        admit_link_use, gone, hash_new, new_credentials, refuse, start_session,
    };
    use crate::{
        store::account_links::{self as links, LinkState, Purpose},
        store::accounts::{self as store, LinkError},
        store::throttle,
        web::client::ClientAddress,
        web::form_post::{see_other, server_error, Submission},
        web::forms::FormFeedback,
        web::state::AppState,
    };
    use axum::{
        body::Body,
        extract::{Path, State},
        http::{Request, StatusCode},
        response::Response,
    };

    /// `POST /invite/{token}`: creates an account with an invitation (also
    /// where sign-up is by invitation or closed), or, with `_action=join`,
    /// the signed-in invitee joins the organisation.
    pub async fn post_invitation(
        State(state): State<AppState>,
        Path(token): Path<String>,
        request: Request<Body>,
    ) -> Response {
        let form = match Submission::read(&state, request).await {
            Ok(f) => f,
            Err(r) => return r,
        };
        let feedback = FormFeedback::new("invite");
        let client = ClientAddress::of(&form.parts);
        let attempt = match admit_link_use(&state, &form.parts, &feedback).await {
            Ok(a) => a,
            Err(r) => return r,
        };
        let (link_id, email, into) =
            match links::find(&state.db, Purpose::Invitation, token.trim()).await {
                Ok(LinkState::Live {
                    id,
                    email,
                    organisation,
                    ..
                }) => (id, email, organisation),
                Ok(other) => {
                    let message = spent_message(other, "invitation");
                    return gone(&state, form.parts, feedback, message).await;
                }
                Err(e) => return server_error(e),
            };
        if form.get("_action") == "join" {
            let Some(into) = into else {
                return gone(
                    &state,
                    form.parts,
                    feedback,
                    LinkStatus::Unknown.message("invitation"),
                )
                .await;
            };
            let signed_in = crate::store::sessions::current_user(
                &state.db,
                &form.parts.headers,
                state.settings.secure_cookies,
            )
            .await;
            let user = match signed_in {
                Ok(Some(user)) => user,
                Ok(None) => return see_other(&format!("/login?next=/invite/{}", token.trim())),
                Err(e) => return server_error(e),
            };
            if user.email != email {
                let message = "This invitation is for another email address. Sign out, then open the link again and sign in as the invited address.";
                return refuse(&state, form.parts, feedback, StatusCode::FORBIDDEN, message).await;
            }
            let joined = store::accept_invitation(
                &state.db,
                &link_id,
                &user,
                &into.id,
                into.role,
                &client.to_string(),
            )
            .await;
            return match joined {
                Ok(_) => {
                    let _ = throttle::withdraw(&state.db, attempt).await;
                    tracing::info!(user_id = %user.id, organisation_id = %into.id, "joined an organisation by invitation");
                    see_other("/apps")
                }
                Err(LinkError::Spent) => {
                    let message = LinkStatus::Used.message("invitation");
                    gone(&state, form.parts, feedback, message).await
                }
                Err(LinkError::Account(e)) => server_error(e),
            };
        }
        if !state.settings.password_login {
            let message = super::super::ssr::PASSWORD_LOGIN_OFF;
            return refuse(&state, form.parts, feedback, StatusCode::FORBIDDEN, message).await;
        }
        let mut feedback = feedback;
        let Some((email, password_text)) = new_credentials(&form, &mut feedback, Some(&email))
        else {
            return crate::web::form_post::rerender(&state, form.parts, feedback).await;
        };
        let hash = match hash_new(password_text).await {
            Ok(h) => h,
            Err(r) => return r,
        };
        let into = into.as_ref().map(|o| (o.id.as_str(), o.role));
        let address = client.to_string();
        match store::join_by_invitation(&state.db, &link_id, &email, &hash, &address, into).await {
            Ok(account) => {
                let _ = throttle::withdraw(&state.db, attempt).await;
                tracing::info!(user_id = %account.user_id, "account created with an invitation");
                start_session(&state, &form.parts, &account.user_id, "/apps").await
            }
            Err(LinkError::Spent) => {
                let message = LinkStatus::Used.message("invitation");
                gone(&state, form.parts, feedback, message).await
            }
            Err(LinkError::Account(store::AccountError::EmailTaken)) => {
                refuse(
                    &state,
                    form.parts,
                    feedback,
                    StatusCode::CONFLICT,
                    "There is already an account with this email address. Sign in to it instead.",
                )
                .await
            }
            Err(LinkError::Account(e)) => server_error(e),
        }
    }
}
