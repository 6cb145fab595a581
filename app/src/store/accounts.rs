//! Accounts in the database: sign-up creates the organisation and the user in
//! one transaction. The first administrator comes from the instance's setup
//! link (or the operator's command line), never from signing up.

use crate::domain::orgs::OrgRole;
use crate::domain::users::Role;
use crate::infra::db::{new_id, now_ms, Db};
use crate::store::audit::{self, Actor, Entry};
use sqlx::Row;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub struct NewAccount {
    pub user_id: String,
    pub role: Role,
}

/// How an account comes to exist, which decides its role and audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joining<'a> {
    /// Open sign-up: a developer.
    SignUp,
    /// An administrator's invitation (the link's id): a developer.
    Invitation(&'a str),
    /// The operator's command line: an administrator.
    Operator,
    /// A first sign-in with single sign-on: a developer without a password.
    SingleSignOn,
}

/// The password hash of an account made by single sign-on: no password
/// matches it (the operator's reset link sets one).
pub const NO_PASSWORD: &str = "!";

/// Creates an account with its own organisation for `email`, from a request
/// of `client_address`, in one transaction with its audit entry.
pub async fn create_account_from(
    db: &Db,
    email: &str,
    joining: Joining<'_>,
    client_address: &str,
) -> Result<NewAccount, AccountError> {
    let mut tx = db.begin().await?;
    let account = insert_account(
        &mut tx,
        email,
        NO_PASSWORD,
        joining,
        Some(client_address),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(account)
}

/// Creates an account with its own organisation, in one transaction with
/// its audit entry. Nobody becomes administrator by signing up: only the
/// operator's command line and the instance's setup link make one.
pub async fn create_account(
    db: &Db,
    email: &str,
    password_hash: &str,
    joining: Joining<'_>,
) -> Result<NewAccount, AccountError> {
    let mut tx = db.begin().await?;
    let account = insert_account(&mut tx, email, password_hash, joining, None, None).await?;
    if joining == Joining::Operator {
        mark_setup_done(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(account)
}

/// Inserts the organisation and the user, and the audit entry.
async fn insert_account(
    tx: &mut sqlx::AnyConnection,
    email: &str,
    password_hash: &str,
    joining: Joining<'_>,
    client_address: Option<&str>,
    into: Option<(&str, OrgRole)>,
) -> Result<NewAccount, AccountError> {
    let taken: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(&mut *tx)
        .await?;
    if taken.is_some() {
        return Err(AccountError::EmailTaken);
    }
    let role = match joining {
        Joining::Operator => Role::Admin,
        Joining::SignUp | Joining::Invitation(_) | Joining::SingleSignOn => Role::Developer,
    };
    let now = now_ms();
    let user_id = new_id("usr");
    // the user row names the organisation it works in, which must exist
    // first; an invited account works in the organisation it joins
    let org_id = match into {
        Some((org_id, _)) => org_id.to_string(),
        None => {
            let org_id = new_id("org");
            sqlx::query("INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(&org_id)
                .bind(email)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            org_id
        }
    };
    let inserted = sqlx::query(
        "INSERT INTO users (id, email, password_hash, role, organisation_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&user_id)
    .bind(email)
    .bind(password_hash)
    .bind(role.as_str())
    .bind(&org_id)
    .bind(now)
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {}
        // two sign-ups racing for one address: the unique index decides
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(AccountError::EmailTaken)
        }
        Err(e) => return Err(e.into()),
    }
    let org_role = into.map_or(OrgRole::Owner, |(_, role)| role);
    crate::store::orgs::insert_member(tx, &org_id, &user_id, org_role).await?;
    let developer = Actor {
        kind: "developer",
        id: Some(user_id.clone()),
        label: Some(email.to_string()),
    };
    let (actor, action) = match joining {
        Joining::Operator => (Actor::operator(), "user.created_admin"),
        Joining::SignUp => (developer, "user.signed_up"),
        Joining::Invitation(_) => (developer, "user.joined_by_invitation"),
        Joining::SingleSignOn => (developer, "user.signed_up_with_sso"),
    };
    let detail = match into {
        Some((_, role)) => format!("{email} ({})", role.as_str()),
        None => email.to_string(),
    };
    let mut entry = Entry::new(action).target("user", &user_id).detail(&detail);
    if let Some((org_id, _)) = into {
        entry.organisation_id = Some(org_id);
    }
    if let Some(address) = client_address {
        entry = entry.from_address(address);
    }
    audit::record(tx, &actor, entry).await?;
    Ok(NewAccount { user_id, role })
}

/// Marks the instance's setup as done (the first administrator exists):
/// true if this call did it. Of simultaneous callers exactly one sees
/// true: the update takes the row's lock, and the others then find it set.
async fn mark_setup_done(tx: &mut sqlx::AnyConnection) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE instance SET setup_completed_at = $1 WHERE id = 1 AND setup_completed_at IS NULL",
    )
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether the instance still needs its first administrator.
pub async fn setup_needed(db: &Db) -> Result<bool, sqlx::Error> {
    let (done, admins): (Option<i64>, i64) = sqlx::query_as(
        "SELECT setup_completed_at, (SELECT COUNT(*) FROM users WHERE role = 'admin') FROM instance WHERE id = 1",
    )
    .fetch_one(db.pool())
    .await?;
    Ok(done.is_none() && admins == 0)
}

/// Remembers a new setup link (its hash). Each server process that starts
/// while the instance has no administrator prints one.
pub async fn add_setup_token(db: &Db, token_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO setup_tokens (token_hash, created_at) VALUES ($1, $2)")
        .bind(token_hash)
        .bind(now_ms())
        .execute(db.pool())
        .await?;
    Ok(())
}

/// What a setup link is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupLink {
    /// It creates the first administrator.
    Open,
    /// An administrator exists: the link has done its work (or another did).
    Done,
    /// Not a link this instance issued, or one already used.
    Unknown,
}

pub async fn setup_link(db: &Db, token_hash: &str) -> Result<SetupLink, sqlx::Error> {
    if !setup_needed(db).await? {
        return Ok(SetupLink::Done);
    }
    let known: Option<String> =
        sqlx::query_scalar("SELECT token_hash FROM setup_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(db.pool())
            .await?;
    Ok(if known.is_some() {
        SetupLink::Open
    } else {
        SetupLink::Unknown
    })
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("this setup link is not one this instance issued, or it was used")]
    Unknown,
    #[error("the instance already has an administrator")]
    Done,
    #[error(transparent)]
    Account(#[from] AccountError),
}

impl From<sqlx::Error> for SetupError {
    fn from(e: sqlx::Error) -> Self {
        Self::Account(AccountError::Db(e))
    }
}

/// Creates the first administrator with a setup link, in one transaction:
/// the link is used up, the instance marked as set up, the account created.
/// Of simultaneous setups exactly one wins; the others get `Done`.
pub async fn complete_setup(
    db: &Db,
    token_hash: &str,
    email: &str,
    password_hash: &str,
    client_address: &str,
) -> Result<NewAccount, SetupError> {
    let mut tx = db.begin().await?;
    if !mark_setup_done(&mut tx).await? {
        return Err(SetupError::Done);
    }
    let used = sqlx::query("DELETE FROM setup_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&mut *tx)
        .await?;
    if used.rows_affected() != 1 {
        return Err(SetupError::Unknown);
    }
    let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
        .fetch_one(&mut *tx)
        .await?;
    if admins > 0 {
        return Err(SetupError::Done);
    }
    let account = insert_account(
        &mut tx,
        email,
        password_hash,
        Joining::Operator,
        Some(client_address),
        None,
    )
    .await?;
    // the other links of the instance have no more use
    sqlx::query("DELETE FROM setup_tokens")
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        &Actor {
            kind: "admin",
            id: Some(account.user_id.clone()),
            label: Some(email.to_string()),
        },
        Entry::new("instance.setup_completed")
            .target("user", &account.user_id)
            .from_address(client_address),
    )
    .await?;
    tx.commit().await?;
    Ok(account)
}

/// Creates an account from an invitation link, in one transaction: the
/// link is used up and the account created, or neither.
pub async fn join_by_invitation(
    db: &Db,
    link_id: &str,
    email: &str,
    password_hash: &str,
    client_address: &str,
    into: Option<(&str, OrgRole)>,
) -> Result<NewAccount, LinkError> {
    let mut tx = db.begin().await?;
    use_link(&mut tx, link_id).await?;
    let account = insert_account(
        &mut tx,
        email,
        password_hash,
        Joining::Invitation(link_id),
        Some(client_address),
        into,
    )
    .await?;
    tx.commit().await?;
    Ok(account)
}

/// An existing account accepts an invitation into organisation `org_id`,
/// in one transaction: the link is used up and the account joins (a member
/// already there keeps their role), or neither. The account then works in
/// that organisation.
pub async fn accept_invitation(
    db: &Db,
    link_id: &str,
    user: &crate::domain::users::CurrentUser,
    org_id: &str,
    role: OrgRole,
    client_address: &str,
) -> Result<bool, LinkError> {
    let mut tx = db.begin().await?;
    use_link(&mut tx, link_id).await?;
    let joined = crate::store::orgs::insert_member(&mut tx, org_id, &user.id, role).await?;
    sqlx::query("UPDATE users SET organisation_id = $1 WHERE id = $2")
        .bind(org_id)
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
    let detail = format!("{} ({})", user.email, role.as_str());
    let mut entry = Entry::new("member.joined")
        .target("user", &user.id)
        .detail(&detail)
        .from_address(client_address);
    entry.organisation_id = Some(org_id);
    if joined {
        audit::record(&mut tx, &Actor::user(user), entry).await?;
    }
    tx.commit().await?;
    Ok(joined)
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("this link was used, revoked, or has expired")]
    Spent,
    #[error(transparent)]
    Account(#[from] AccountError),
}

impl From<sqlx::Error> for LinkError {
    fn from(e: sqlx::Error) -> Self {
        Self::Account(AccountError::Db(e))
    }
}

/// Uses up a one-time link inside the caller's transaction: exactly one
/// caller succeeds, and only while the link is live.
pub(crate) async fn use_link(tx: &mut sqlx::AnyConnection, link_id: &str) -> Result<(), LinkError> {
    let now = now_ms();
    let used = sqlx::query(
        "UPDATE account_links SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(link_id)
    .execute(&mut *tx)
    .await?;
    if used.rows_affected() == 1 {
        Ok(())
    } else {
        Err(LinkError::Spent)
    }
}

pub struct StoredCredentials {
    pub user_id: String,
    pub password_hash: String,
    pub disabled: bool,
}

pub async fn credentials(db: &Db, email: &str) -> Result<Option<StoredCredentials>, sqlx::Error> {
    let row = sqlx::query("SELECT id, password_hash, disabled_at FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| {
        Ok(StoredCredentials {
            user_id: r.try_get("id")?,
            password_hash: r.try_get("password_hash")?,
            disabled: r.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
        })
    })
    .transpose()
}

pub async fn record_login(db: &Db, user_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(user_id)
        .execute(db.pool())
        .await?;
    Ok(())
}
