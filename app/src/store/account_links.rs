//! One-time account links: invitations to sign up (made by an administrator)
//! and password resets (made by the operator's command line). The token is
//! stored as a SHA-256 hash; a link is used up in the same transaction as
//! what it does.

pub use crate::domain::admin::InvitationRow;
use crate::domain::orgs::{OrgInvitationView, OrgRole};
use crate::domain::users::CurrentUser;
use crate::infra::db::{new_id, now_ms, Db};
use crate::infra::tokens::hash_token;
use crate::store::accounts::{use_link, LinkError};
use crate::store::audit::{self, Actor, Entry};
use sqlx::Row;

/// How long an invitation stays valid.
pub const INVITATION_TTL_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// How long a password reset link stays valid.
pub const RESET_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Invitation,
    PasswordReset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
            Self::PasswordReset => "password_reset",
        }
    }
}

/// A link as its page sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Live {
        id: String,
        email: String,
        user_id: Option<String>,
        /// An invitation into an organisation: which, and with what role.
        organisation: Option<InvitedInto>,
    },
    Used,
    Revoked,
    Expired,
    Unknown,
}

/// The organisation an invitation leads into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitedInto {
    pub id: String,
    pub name: String,
    pub role: OrgRole,
}

/// The state of the link of `token`.
pub async fn find(db: &Db, purpose: Purpose, token: &str) -> Result<LinkState, sqlx::Error> {
    let row = sqlx::query(
        "SELECT l.id, l.email, l.user_id, l.expires_at, l.used_at, l.revoked_at, l.role, o.id AS org_id, o.name AS org_name \
         FROM account_links l LEFT JOIN organisations o ON o.id = l.organisation_id WHERE l.token_hash = $1 AND l.purpose = $2",
    )
    .bind(hash_token(token))
    .bind(purpose.as_str())
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(LinkState::Unknown);
    };
    if row.try_get::<Option<i64>, _>("used_at")?.is_some() {
        return Ok(LinkState::Used);
    }
    if row.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
        return Ok(LinkState::Revoked);
    }
    if row.try_get::<i64, _>("expires_at")? <= now_ms() {
        return Ok(LinkState::Expired);
    }
    let org_id: Option<String> = row.try_get("org_id")?;
    let role: Option<String> = row.try_get("role")?;
    let organisation = match (org_id, role.as_deref().and_then(OrgRole::parse)) {
        (Some(id), Some(role)) => Some(InvitedInto {
            id,
            name: row.try_get("org_name")?,
            role,
        }),
        _ => None,
    };
    Ok(LinkState::Live {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        user_id: row.try_get("user_id")?,
        organisation,
    })
}

/// Creates an invitation for `email`, with its audit entry; the caller
/// shows `token` once.
pub async fn create_invitation(
    db: &Db,
    by: &CurrentUser,
    email: &str,
    token: &str,
) -> Result<String, sqlx::Error> {
    let id = new_id("inv");
    let now = now_ms();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO account_links (id, token_hash, purpose, email, created_by, created_at, expires_at) VALUES ($1, $2, 'invitation', $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(hash_token(token))
    .bind(email)
    .bind(&by.id)
    .bind(now)
    .bind(now + INVITATION_TTL_MS)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &Actor::user(by),
        Entry::new("invitation.created")
            .target("invitation", &id)
            .detail(email),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The most recent invitations, newest first.
pub async fn invitations(db: &Db) -> Result<Vec<InvitationRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT l.id, l.email, u.email AS invited_by, l.created_at, l.expires_at, l.used_at, l.revoked_at \
         FROM account_links l LEFT JOIN users u ON u.id = l.created_by \
         WHERE l.purpose = 'invitation' AND l.organisation_id IS NULL ORDER BY l.created_at DESC, l.id DESC LIMIT 200",
    )
    .fetch_all(db.pool())
    .await?;
    let now = now_ms();
    rows.iter()
        .map(|r| {
            let used_at: Option<i64> = r.try_get("used_at")?;
            let revoked_at: Option<i64> = r.try_get("revoked_at")?;
            let expires_at: i64 = r.try_get("expires_at")?;
            Ok(InvitationRow {
                pending: used_at.is_none() && revoked_at.is_none() && expires_at > now,
                id: r.try_get("id")?,
                email: r.try_get("email")?,
                invited_by: r.try_get("invited_by")?,
                created_at: r.try_get("created_at")?,
                expires_at,
                used_at,
                revoked_at,
            })
        })
        .collect()
}

/// Revokes a live invitation of the admin area (one to an account of one's
/// own): false if there is none by that id.
pub async fn revoke_invitation(db: &Db, by: &CurrentUser, id: &str) -> Result<bool, sqlx::Error> {
    revoke(db, by, id, None).await
}

/// Revokes a live invitation, of the admin area (`org_id` none) or into
/// organisation `org_id`, with its audit entry: false if there is none by
/// that id there.
async fn revoke(
    db: &Db,
    by: &CurrentUser,
    id: &str,
    org_id: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let done = sqlx::query(
        "UPDATE account_links SET revoked_at = $1 WHERE id = $2 AND purpose = 'invitation' \
         AND COALESCE(organisation_id, '') = $3 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(id)
    .bind(org_id.unwrap_or_default())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let mut entry = Entry::new("invitation.revoked").target("invitation", id);
    entry.organisation_id = org_id;
    audit::record(&mut tx, &Actor::user(by), entry).await?;
    tx.commit().await?;
    Ok(true)
}

/// Creates a password reset link for the account `email` (the operator's
/// command line): `None` if there is no such account. Earlier live reset
/// links of the account stop working.
pub async fn create_reset(
    db: &Db,
    email: &str,
    token: &str,
) -> Result<Option<String>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let user: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(user_id) = user else {
        return Ok(None);
    };
    let now = now_ms();
    sqlx::query(
        "UPDATE account_links SET revoked_at = $1 WHERE purpose = 'password_reset' AND user_id = $2 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(&user_id)
    .execute(&mut *tx)
    .await?;
    let id = new_id("rst");
    sqlx::query(
        "INSERT INTO account_links (id, token_hash, purpose, email, user_id, created_at, expires_at) VALUES ($1, $2, 'password_reset', $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(hash_token(token))
    .bind(email)
    .bind(&user_id)
    .bind(now)
    .bind(now + RESET_TTL_MS)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &Actor::operator(),
        Entry::new("user.password_reset_link_created").target("user", &user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(user_id))
}

/// Sets a new password with a reset link, in one transaction: the link is
/// used up, the password replaced and every session of the account ended.
pub async fn complete_reset(
    db: &Db,
    link_id: &str,
    user_id: &str,
    password_hash: &str,
    client_address: &str,
) -> Result<(), LinkError> {
    let mut tx = db.begin().await?;
    use_link(&mut tx, link_id).await?;
    replace_password(&mut tx, user_id, password_hash, None).await?;
    audit::record(
        &mut tx,
        &Actor {
            kind: "developer",
            id: Some(user_id.to_string()),
            label: None,
        },
        Entry::new("user.password_reset")
            .target("user", user_id)
            .from_address(client_address),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Changes the password of a signed-in user, in one transaction: every other
/// session of the account ends; the one with `keep_session_hash` stays.
pub async fn change_password(
    db: &Db,
    user: &CurrentUser,
    password_hash: &str,
    keep_session_hash: &str,
    client_address: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    replace_password(&mut tx, &user.id, password_hash, Some(keep_session_hash)).await?;
    audit::record(
        &mut tx,
        &Actor::user(user),
        Entry::new("user.password_changed")
            .target("user", &user.id)
            .from_address(client_address),
    )
    .await?;
    tx.commit().await
}

async fn replace_password(
    tx: &mut sqlx::AnyConnection,
    user_id: &str,
    password_hash: &str,
    keep_session_hash: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(password_hash)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
        .bind(user_id)
        .bind(keep_session_hash.unwrap_or(""))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Creates an invitation into organisation `org_id` with `role`, with its
/// audit entry; earlier live invitations of the same address into the same
/// organisation stop working. The caller shows or sends `token`.
pub async fn create_org_invitation(
    db: &Db,
    by: &CurrentUser,
    org_id: &str,
    email: &str,
    role: OrgRole,
    token: &str,
) -> Result<String, sqlx::Error> {
    let id = new_id("inv");
    let now = now_ms();
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE account_links SET revoked_at = $1 WHERE purpose = 'invitation' AND organisation_id = $2 AND email = $3 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(org_id)
    .bind(email)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO account_links (id, token_hash, purpose, email, created_by, created_at, expires_at, organisation_id, role) VALUES ($1, $2, 'invitation', $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(hash_token(token))
    .bind(email)
    .bind(&by.id)
    .bind(now)
    .bind(now + INVITATION_TTL_MS)
    .bind(org_id)
    .bind(role.as_str())
    .execute(&mut *tx)
    .await?;
    let detail = format!("{email} ({})", role.as_str());
    let mut entry = Entry::new("invitation.created")
        .target("invitation", &id)
        .detail(&detail);
    entry.organisation_id = Some(org_id);
    audit::record(&mut tx, &Actor::user(by), entry).await?;
    tx.commit().await?;
    Ok(id)
}

/// The live invitations into `org_id`, newest first.
pub async fn org_invitations(db: &Db, org_id: &str) -> Result<Vec<OrgInvitationView>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT l.id, l.email, l.role, u.email AS invited_by, l.created_at, l.expires_at \
         FROM account_links l LEFT JOIN users u ON u.id = l.created_by \
         WHERE l.purpose = 'invitation' AND l.organisation_id = $1 AND l.used_at IS NULL \
         AND l.revoked_at IS NULL AND l.expires_at > $2 ORDER BY l.created_at DESC, l.id DESC LIMIT 200",
    )
    .bind(org_id)
    .bind(now_ms())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("role")?;
            Ok(OrgInvitationView {
                id: r.try_get("id")?,
                email: r.try_get("email")?,
                role: OrgRole::parse(&role).unwrap_or(OrgRole::Viewer),
                invited_by: r.try_get("invited_by")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .collect()
}

/// Revokes a live invitation into `org_id`: false if there is none by that
/// id there.
pub async fn revoke_org_invitation(
    db: &Db,
    by: &CurrentUser,
    org_id: &str,
    id: &str,
) -> Result<bool, sqlx::Error> {
    revoke(db, by, id, Some(org_id)).await
}

/// Whether a live invitation (into an organisation or to an account) waits
/// for `email`.
pub async fn has_live_invitation(db: &Db, email: &str) -> Result<bool, sqlx::Error> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT id FROM account_links WHERE purpose = 'invitation' AND email = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2 LIMIT 1",
    )
    .bind(email)
    .bind(now_ms())
    .fetch_optional(db.pool())
    .await?;
    Ok(found.is_some())
}
