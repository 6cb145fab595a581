//! Organisations and memberships: who belongs where with which role, the
//! organisation a user works in, and changes to members under the rules of
//! [`crate::domain::orgs::check_member_change`], each in one transaction with
//! its audit entry.

use crate::domain::orgs::{check_member_change, MemberChange, MemberView, OrgRef, OrgRole};
use crate::domain::users::CurrentUser;
use crate::infra::db::{new_id, now_ms, Db};
use crate::store::audit::{self, Actor, Entry};
use sqlx::Row;

fn role_of(text: &str) -> Result<OrgRole, sqlx::Error> {
    OrgRole::parse(text).ok_or_else(|| sqlx::Error::Decode(format!("unknown role {text}").into()))
}

/// The organisations `user_id` belongs to, by name.
pub async fn of_user(db: &Db, user_id: &str) -> Result<Vec<OrgRef>, sqlx::Error> {
    sqlx::query(
        "SELECT o.id, o.name, m.role FROM memberships m JOIN organisations o ON o.id = m.organisation_id \
         WHERE m.user_id = $1 ORDER BY o.name, o.id",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        Ok(OrgRef {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            role: role_of(&r.try_get::<String, _>("role")?)?,
        })
    })
    .collect()
}

/// The organisation `org_id` with `user_id`'s role in it, if they belong.
pub async fn membership(
    db: &Db,
    org_id: &str,
    user_id: &str,
) -> Result<Option<OrgRef>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT o.id, o.name, m.role FROM memberships m JOIN organisations o ON o.id = m.organisation_id \
         WHERE m.organisation_id = $1 AND m.user_id = $2",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(OrgRef {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            role: role_of(&r.try_get::<String, _>("role")?)?,
        })
    })
    .transpose()
}

/// The organisation of app `app_id`, if it exists.
pub async fn of_app(db: &Db, app_id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT organisation_id FROM apps WHERE id = $1")
        .bind(app_id)
        .fetch_optional(db.pool())
        .await
}

/// The members of `org_id`: owners first, then by email.
pub async fn members(db: &Db, org_id: &str) -> Result<Vec<MemberView>, sqlx::Error> {
    let mut members = sqlx::query(
        "SELECT u.id, u.email, m.role, m.created_at, u.last_login_at FROM memberships m \
         JOIN users u ON u.id = m.user_id WHERE m.organisation_id = $1 ORDER BY u.email",
    )
    .bind(org_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        Ok(MemberView {
            user_id: r.try_get("id")?,
            email: r.try_get("email")?,
            role: role_of(&r.try_get::<String, _>("role")?)?,
            joined_at: r.try_get("created_at")?,
            last_login_at: r.try_get("last_login_at")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    members.sort_by(|a, b| b.role.cmp(&a.role).then_with(|| a.email.cmp(&b.email)));
    Ok(members)
}

/// Makes `org_id` the organisation `user_id` works in, if they belong to it.
pub async fn switch(db: &Db, user_id: &str, org_id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET organisation_id = $1 WHERE id = $2 \
         AND EXISTS (SELECT 1 FROM memberships WHERE organisation_id = $1 AND user_id = $2)",
    )
    .bind(org_id)
    .bind(user_id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Inserts an organisation with `user_id` as its owner (the caller's
/// transaction), and makes it the one they work in.
pub(crate) async fn insert_owned(
    tx: &mut sqlx::AnyConnection,
    user_id: &str,
    name: &str,
) -> Result<String, sqlx::Error> {
    let org_id = new_id("org");
    let now = now_ms();
    sqlx::query("INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(&org_id)
        .bind(name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    insert_member(tx, &org_id, user_id, OrgRole::Owner).await?;
    Ok(org_id)
}

/// Adds a member (the caller's transaction); a member already there keeps
/// their role. True if they were added.
pub(crate) async fn insert_member(
    tx: &mut sqlx::AnyConnection,
    org_id: &str,
    user_id: &str,
    role: OrgRole,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO memberships (organisation_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (organisation_id, user_id) DO NOTHING",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Creates an organisation owned by `user`, who then works in it.
pub async fn create(db: &Db, user: &CurrentUser, name: &str) -> Result<String, sqlx::Error> {
    let mut tx = db.begin().await?;
    let org_id = insert_owned(&mut tx, &user.id, name).await?;
    sqlx::query("UPDATE users SET organisation_id = $1 WHERE id = $2")
        .bind(&org_id)
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
    let entry = org_entry("organisation.created", &org_id)
        .target("organisation", &org_id)
        .detail(name);
    audit::record(&mut tx, &Actor::user(user), entry).await?;
    tx.commit().await?;
    Ok(org_id)
}

fn org_entry<'a>(action: &'a str, org_id: &'a str) -> Entry<'a> {
    let mut entry = Entry::new(action);
    entry.organisation_id = Some(org_id);
    entry
}

/// Renames `org_id`.
pub async fn rename(
    db: &Db,
    actor: &CurrentUser,
    org_id: &str,
    name: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE organisations SET name = $1 WHERE id = $2")
        .bind(name)
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
    let entry = org_entry("organisation.renamed", org_id)
        .target("organisation", org_id)
        .detail(name);
    audit::record(&mut tx, &Actor::user(actor), entry).await?;
    tx.commit().await
}

/// What became of a change to a member.
#[derive(Debug, PartialEq, Eq)]
pub enum MemberOutcome {
    Done,
    NotFound,
    /// A rule refused it; the message says which.
    Refused(&'static str),
}

/// Changes or removes member `target_id` of `org_id`, as `actor` (whose
/// role is `acting`), in one transaction with its audit entry. The
/// organisation's row is locked first, so that two owners demoting each
/// other at once cannot both succeed.
pub async fn change_member(
    db: &Db,
    actor: &CurrentUser,
    acting: OrgRole,
    org_id: &str,
    target_id: &str,
    change: MemberChange,
) -> Result<MemberOutcome, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE organisations SET name = name WHERE id = $1")
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query(
        "SELECT m.role, u.email, (SELECT COUNT(*) FROM memberships o WHERE o.organisation_id = $1 AND o.role = 'owner') AS owners \
         FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.organisation_id = $1 AND m.user_id = $2",
    )
    .bind(org_id)
    .bind(target_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(MemberOutcome::NotFound);
    };
    let target = role_of(&row.try_get::<String, _>("role")?)?;
    let email: String = row.try_get("email")?;
    let owners: i64 = row.try_get("owners")?;
    let themselves = actor.id == target_id && change == MemberChange::Remove;
    if let Err(why) = check_member_change(acting, target, change, owners, themselves) {
        return Ok(MemberOutcome::Refused(why));
    }
    let (action, detail) = match change {
        MemberChange::SetRole(role) => {
            sqlx::query(
                "UPDATE memberships SET role = $1 WHERE organisation_id = $2 AND user_id = $3",
            )
            .bind(role.as_str())
            .bind(org_id)
            .bind(target_id)
            .execute(&mut *tx)
            .await?;
            let detail = format!("{email}: {} → {}", target.as_str(), role.as_str());
            ("member.role_changed", detail)
        }
        MemberChange::Remove => {
            sqlx::query("DELETE FROM memberships WHERE organisation_id = $1 AND user_id = $2")
                .bind(org_id)
                .bind(target_id)
                .execute(&mut *tx)
                .await?;
            rehome(&mut tx, target_id, &email).await?;
            let action = if themselves {
                "member.left"
            } else {
                "member.removed"
            };
            (action, format!("{email} ({})", target.as_str()))
        }
    };
    let entry = org_entry(action, org_id)
        .target("user", target_id)
        .detail(&detail);
    audit::record(&mut tx, &Actor::user(actor), entry).await?;
    tx.commit().await?;
    Ok(MemberOutcome::Done)
}

/// After `user_id` left an organisation: if it was the one they work in,
/// they move to another of theirs, or, having none left, to a new one of
/// their own (every account has an organisation, as at sign-up).
pub(crate) async fn rehome(
    tx: &mut sqlx::AnyConnection,
    user_id: &str,
    email: &str,
) -> Result<(), sqlx::Error> {
    let current: Option<String> = sqlx::query_scalar(
        "SELECT u.organisation_id FROM users u WHERE u.id = $1 AND EXISTS \
         (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.organisation_id = u.organisation_id)",
    )
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    if current.is_some() {
        return Ok(());
    }
    let other: Option<String> = sqlx::query_scalar(
        "SELECT organisation_id FROM memberships WHERE user_id = $1 ORDER BY created_at LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let org_id = match other {
        Some(id) => id,
        None => insert_owned(tx, user_id, email).await?,
    };
    sqlx::query("UPDATE users SET organisation_id = $1 WHERE id = $2")
        .bind(&org_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Deletes organisation `org_id` (its apps are already gone, in the
/// caller's transaction): its members move on, its invitations and
/// memberships go with it.
pub async fn delete(
    tx: &mut sqlx::AnyConnection,
    actor: &CurrentUser,
    org_id: &str,
    name: &str,
) -> Result<(), sqlx::Error> {
    let members: Vec<(String, String)> = sqlx::query_as(
        "SELECT u.id, u.email FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.organisation_id = $1",
    )
    .bind(org_id)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM memberships WHERE organisation_id = $1")
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
    for (user_id, email) in &members {
        rehome(tx, user_id, email).await?;
    }
    sqlx::query("DELETE FROM account_links WHERE organisation_id = $1")
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM organisations WHERE id = $1")
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
    let detail = format!("{name}; {} member(s)", members.len());
    let entry = org_entry("organisation.deleted", org_id)
        .target("organisation", org_id)
        .detail(&detail);
    audit::record(tx, &Actor::user(actor), entry).await
}
