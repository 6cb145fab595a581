//! Who may do what: every page, form and server function of the portal asks
//! here before it reads or changes an organisation's objects. Another
//! organisation's object is "not found"; a role that is too low is
//! "forbidden", with a message naming the role needed.

use crate::domain::apps::AppSummary;
use crate::domain::orgs::{forbidden_message, Need, OrgRef, Seat};
use crate::domain::users::CurrentUser;
use crate::infra::db::Db;
use crate::store::{apps, orgs};

/// Why access was refused.
#[derive(Debug, thiserror::Error)]
pub enum Denied {
    /// Not there, or not in one of the user's organisations.
    #[error("not found")]
    NotFound,
    /// A member whose role is too low; the message says which is needed.
    #[error("{0}")]
    Forbidden(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// The user's organisations, and the one they work in (which the header
/// shows). A user always has one: the stores keep it so.
pub async fn seat(db: &Db, user: &CurrentUser) -> Result<Seat, sqlx::Error> {
    let organisations = orgs::of_user(db, &user.id).await?;
    let organisation = organisations
        .iter()
        .find(|o| o.id == user.organisation_id)
        .or_else(|| organisations.first())
        .cloned()
        .ok_or_else(|| sqlx::Error::RowNotFound)?;
    Ok(Seat {
        email: user.email.clone(),
        organisation,
        organisations,
    })
}

/// Checks `user`'s role in organisation `org_id` against `need`.
pub async fn organisation(
    db: &Db,
    user: &CurrentUser,
    org_id: &str,
    need: Need,
) -> Result<Seat, Denied> {
    let mut seat = seat(db, user).await?;
    let Some(org) = seat.organisations.iter().find(|o| o.id == org_id).cloned() else {
        return Err(Denied::NotFound);
    };
    check(&org, need)?;
    seat.organisation = org;
    Ok(seat)
}

/// App `app_id`, if `user` belongs to its organisation with a role that
/// allows `need`. Opening an app of another of the user's organisations
/// makes that one the organisation they work in.
pub async fn app(
    db: &Db,
    user: &CurrentUser,
    app_id: &str,
    need: Need,
) -> Result<(Seat, AppSummary), Denied> {
    let org_id = orgs::of_app(db, app_id).await?.ok_or(Denied::NotFound)?;
    let seat = organisation(db, user, &org_id, need).await?;
    let app = apps::find(db, &org_id, app_id)
        .await?
        .ok_or(Denied::NotFound)?;
    if user.organisation_id != org_id {
        orgs::switch(db, &user.id, &org_id).await?;
    }
    Ok((seat, app))
}

fn check(org: &OrgRef, need: Need) -> Result<(), Denied> {
    if org.role.allows(need) {
        Ok(())
    } else {
        Err(Denied::Forbidden(forbidden_message(need, org.role)))
    }
}
