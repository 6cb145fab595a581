//! Seeds a benchmark database. The account, app, provider configuration and
//! API key go through the product's own functions; connections are written
//! in bulk with exactly the columns and encryption (AES-256-GCM, AAD bound
//! to the row) that a completed authorization writes, plus its
//! `connected` event.

use app::{
    domain::provider_form::ConfigInput,
    infra::crypto::Keyring,
    infra::db::{new_id, now_ms, Db},
    store::accounts::{create_account, Joining},
    store::api_keys,
    store::audit::Actor,
    store::connections::{access_aad, refresh_aad},
    store::provider_configs::{self as provider_configs},
};
use secrecy::{ExposeSecret, SecretString};

use crate::provider::{self, refresh_token};

/// The app every benchmark connection belongs to.
pub struct Tenant {
    pub app_id: String,
    pub provider_config_id: String,
    pub api_key: SecretString,
}

/// A seeded connection and the access token the vault must serve for it.
#[derive(Clone, Debug)]
pub struct Seeded {
    pub id: String,
    pub access_token: String,
}

pub async fn tenant(db: &Db, keys: &Keyring) -> Result<Tenant, String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("seeding {what}: {e}");
    db.migrate().await.map_err(|e| fail("migrations", &e))?;
    let email = format!("{}@bench.example", new_id("dev"));
    // Nobody signs in: the stored hash matches no password.
    let account = create_account(db, &email, "!bench", Joining::SignUp)
        .await
        .map_err(|e| fail("the account", &e))?;
    let organisation_id: String =
        sqlx::query_scalar("SELECT organisation_id FROM users WHERE id = $1")
            .bind(&account.user_id)
            .fetch_one(db.pool())
            .await
            .map_err(|e| fail("the account", &e))?;
    let app_id = new_id("app");
    let now = now_ms();
    sqlx::query(
        "INSERT INTO apps (id, organisation_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&app_id)
    .bind(&organisation_id)
    .bind("Benchmark")
    .bind(now)
    .bind(now)
    .execute(db.pool())
    .await
    .map_err(|e| fail("the app", &e))?;
    let actor = Actor::operator();
    let provider_config_id = provider_configs::create(
        db,
        keys,
        &app_id,
        None,
        &ConfigInput {
            provider: provider::PROVIDER_ID.into(),
            slug: provider::PROVIDER_ID.into(),
            display_name: "Bench OAuth".into(),
            client_id: provider::CLIENT_ID.into(),
            client_secret: Some(SecretString::from(provider::CLIENT_SECRET)),
            scopes: vec!["read".into()],
            custom: None,
            parameters: Default::default(),
        },
        &actor,
    )
    .await
    .map_err(|e| fail("the provider configuration", &e))?;
    let (_, api_key) = api_keys::create(db, &app_id, "benchmark", &actor)
        .await
        .map_err(|e| fail("the API key", &e))?;
    Ok(Tenant {
        app_id,
        provider_config_id,
        api_key,
    })
}

/// How the seeded tokens stand.
#[derive(Clone, Copy, Debug)]
pub enum Freshness {
    /// An hour to go: served as they are.
    Fresh,
    /// Inside the refresh margin: the worker refreshes every one.
    Due,
}

const COLUMNS: &[&str] = &[
    "id",
    "app_id",
    "provider_config_id",
    "end_user_id",
    "end_user_name",
    "end_user_email",
    "account_id",
    "account_name",
    "status",
    "access_token",
    "refresh_token",
    "token_type",
    "expires_at",
    "granted_scopes",
    "created_at",
    "updated_at",
    "last_refreshed_at",
    "last_checked_at",
];
const EVENT_COLUMNS: &[&str] = &[
    "id",
    "app_id",
    "connection_id",
    "provider_config_id",
    "end_user_id",
    "kind",
    "message",
    "at",
];
/// Rows per INSERT. SQLite finds each bound parameter by a linear search,
/// so binding costs the square of a statement's parameters: keep them few.
const BATCH: u64 = 50;

fn insert_sql(table: &str, columns: &[&str], rows: usize) -> String {
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    let mut n = 0;
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..columns.len() {
            n += 1;
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${n}"));
        }
        sql.push(')');
    }
    sql
}

/// Adds connections numbered `from..to` to the tenant's app.
pub async fn connections(
    db: &Db,
    keys: &Keyring,
    tenant: &Tenant,
    from: u64,
    to: u64,
    freshness: Freshness,
) -> Result<Vec<Seeded>, String> {
    let fail = |e: &dyn std::fmt::Display| format!("seeding connections: {e}");
    let mut seeded = Vec::with_capacity((to - from) as usize);
    let mut start = from;
    while start < to {
        let end = (start + BATCH).min(to);
        let now = now_ms();
        let expires_at = match freshness {
            Freshness::Fresh => now + 3_600_000,
            Freshness::Due => now + 30_000,
        };
        let mut rows = Vec::with_capacity((end - start) as usize);
        for number in start..end {
            let id = new_id("conn");
            let access = format!("at.{number}.0");
            let sealed_access = keys
                .encrypt_str(&access, access_aad(&id))
                .map_err(|e| fail(&e))?;
            let sealed_refresh = keys
                .encrypt_str(&refresh_token(number, 0), refresh_aad(&id))
                .map_err(|e| fail(&e))?;
            rows.push((number, id, access, sealed_access, sealed_refresh));
        }
        let sql = insert_sql("connections", COLUMNS, rows.len());
        let mut query = sqlx::query(&sql);
        for (number, id, _, sealed_access, sealed_refresh) in &rows {
            query = query
                .bind(id.clone())
                .bind(tenant.app_id.clone())
                .bind(tenant.provider_config_id.clone())
                .bind(format!("user-{number}"))
                .bind(format!("User {number}"))
                .bind(format!("user-{number}@bench.example"))
                .bind(format!("account-{number}"))
                .bind(format!("Account {number}"))
                .bind("active")
                .bind(sealed_access.clone())
                .bind(sealed_refresh.clone())
                .bind("Bearer")
                .bind(expires_at)
                .bind("read")
                .bind(now)
                .bind(now)
                .bind(now)
                .bind(now);
        }
        let events_sql = insert_sql("connection_events", EVENT_COLUMNS, rows.len());
        let mut events = sqlx::query(&events_sql);
        for (number, id, _, _, _) in &rows {
            events = events
                .bind(new_id("evt"))
                .bind(tenant.app_id.clone())
                .bind(id.clone())
                .bind(tenant.provider_config_id.clone())
                .bind(format!("user-{number}"))
                .bind("connected")
                .bind(format!(
                    "Connected by the end user (account Account {number})"
                ))
                .bind(now);
        }
        let mut tx = db.begin().await.map_err(|e| fail(&e))?;
        query.execute(&mut *tx).await.map_err(|e| fail(&e))?;
        events.execute(&mut *tx).await.map_err(|e| fail(&e))?;
        tx.commit().await.map_err(|e| fail(&e))?;
        seeded.extend(rows.into_iter().map(|(_, id, access, _, _)| Seeded {
            id,
            access_token: access,
        }));
        start = end;
    }
    Ok(seeded)
}

/// How many of the app's connections were refreshed since seeding.
pub async fn refreshed(db: &Db, tenant: &Tenant) -> Result<i64, String> {
    sqlx::query_scalar("SELECT COUNT(*) FROM connections WHERE app_id = $1 AND version > 0")
        .bind(&tenant.app_id)
        .fetch_one(db.pool())
        .await
        .map_err(|e| format!("counting refreshed connections: {e}"))
}

/// The key as `OAUTH_VAULT_KEYS` takes it.
pub fn key_entry() -> (SecretString, Result<Keyring, String>) {
    let entry = Keyring::generate_entry();
    let keyring = Keyring::parse(entry.expose_secret()).map_err(|e| e.to_string());
    (entry, keyring)
}
