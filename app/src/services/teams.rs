//! Teams: inviting people into an organisation (by email when a mail server
//! is configured) and deleting an organisation with everything in it. The
//! caller has checked the role ([`crate::services::access`]).

use crate::domain::apps::AppSummary;
use crate::domain::orgs::{OrgRef, OrgRole};
use crate::domain::users::CurrentUser;
use crate::services::context::Context;
use crate::services::tokens::{internal, CareError};
use crate::services::InternalError;
use crate::store::{account_links, apps, audit::Actor, orgs};

/// What became of an invitation.
#[derive(Debug)]
pub struct Invited {
    /// The link, for the page to show once: when no email was sent.
    pub link: Option<String>,
    /// The address it was emailed to.
    pub emailed: bool,
    /// Why the email could not be sent (the link is shown instead).
    pub mail_problem: Option<String>,
}

/// Why an invitation was not made.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    #[error("{0} is already a member of this organisation.")]
    AlreadyMember(String),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// Invites `email` into `org` with `role`: a single-use link valid for
/// seven days, emailed when a mail server is configured (else, or when
/// sending fails, handed back to show once).
pub async fn invite(
    ctx: &Context,
    by: &CurrentUser,
    org: &OrgRef,
    email: &str,
    role: OrgRole,
) -> Result<Invited, InviteError> {
    let members = orgs::members(&ctx.db, &org.id)
        .await
        .map_err(InternalError::from)?;
    if members.iter().any(|m| m.email == email) {
        return Err(InviteError::AlreadyMember(email.to_string()));
    }
    let token = crate::infra::tokens::random_token();
    account_links::create_org_invitation(&ctx.db, by, &org.id, email, role, &token)
        .await
        .map_err(InternalError::from)?;
    let link = format!("{}/invite/{token}", ctx.settings.public_url);
    let Some(mailer) = &ctx.mailer else {
        return Ok(Invited {
            link: Some(link),
            emailed: false,
            mail_problem: None,
        });
    };
    let subject = format!("{} invited you to {} on OAuth Vault", by.email, org.name);
    let body = format!(
        "{inviter} invited you to join the organisation {org} on OAuth Vault, as {role}.\n\n\
         Accept the invitation:\n{link}\n\n\
         The link works once and expires in 7 days. If you did not expect it, ignore this email.\n",
        inviter = by.email,
        org = org.name,
        role = role.as_str(),
    );
    match mailer.send(email, &subject, body).await {
        Ok(()) => {
            tracing::info!(organisation_id = %org.id, "invitation emailed");
            Ok(Invited {
                link: None,
                emailed: true,
                mail_problem: None,
            })
        }
        Err(e) => {
            tracing::warn!(organisation_id = %org.id, server = %mailer.server(), error = %e, "the invitation email could not be sent; the link is shown to copy");
            Ok(Invited {
                link: Some(link),
                emailed: false,
                mail_problem: Some(e.to_string()),
            })
        }
    }
}

/// Deletes organisation `org` with its apps (each app's connections are
/// revoked at their providers, as when an app is deleted), its invitations
/// and memberships. Members move to another of their organisations, or to a
/// new one of their own. Each app goes in its own transaction, then the
/// organisation in one: repeated after a failure, it finishes the job.
pub async fn delete_organisation(
    ctx: &Context,
    by: &CurrentUser,
    org: &OrgRef,
) -> Result<usize, CareError> {
    let actor = Actor::user(by);
    let apps: Vec<AppSummary> = apps::list(&ctx.db, &org.id).await.map_err(internal)?;
    for app in &apps {
        let deleted = crate::services::revocation::delete_app(ctx, &actor, &org.id, app).await;
        ctx.caches.app_deleted(&app.id);
        deleted?;
    }
    let mut tx = ctx.db.begin().await.map_err(internal)?;
    orgs::delete(&mut tx, by, &org.id, &org.name)
        .await
        .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok(apps.len())
}
