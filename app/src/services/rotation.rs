//! Key rotation: every sealed secret the vault stores, and re-sealing them
//! under the active key in batches. Rows are updated one by one with a
//! compare-and-swap on the old ciphertext, so a server writing the same row
//! meanwhile wins and nothing is lost; a rotation stopped midway is simply
//! run again and continues where it left off (rows already under the active
//! key are skipped).

use crate::{
    infra::crypto::{Aad, Keyring},
    infra::db::Db,
};
use sqlx::Row;
use std::collections::BTreeMap;

/// (table, column) of every sealed secret; the row id is always `id`.
pub const SEALED: &[(&str, &str)] = &[
    ("provider_configs", "client_secret"),
    ("connections", "access_token"),
    ("connections", "refresh_token"),
    ("revocations", "token"),
    ("revocations", "client_secret"),
    ("apps", "webhook_secret"),
    ("oauth_transactions", "code_verifier"),
];

const BATCH: i64 = 500;

/// How many sealed secrets each key holds ("?" for unreadable blobs).
pub async fn census(db: &Db) -> Result<BTreeMap<String, usize>, sqlx::Error> {
    let mut counts = BTreeMap::new();
    each_sealed(db, |_, _, _, blob| {
        let key = Keyring::key_id_of(&blob).unwrap_or("?").to_string();
        *counts.entry(key).or_insert(0) += 1;
    })
    .await?;
    Ok(counts)
}

/// Calls `each` with `(table, column, row id, sealed value)` of every
/// sealed secret, a batch at a time.
async fn each_sealed(
    db: &Db,
    mut each: impl FnMut(&'static str, &'static str, String, Vec<u8>),
) -> Result<(), sqlx::Error> {
    for (table, column) in SEALED {
        let mut after = String::new();
        loop {
            let rows = page(db, table, column, &after).await?;
            let Some(last) = rows.last() else { break };
            after = last.0.clone();
            for (id, blob) in rows {
                each(table, column, id, blob);
            }
        }
    }
    Ok(())
}

/// A secret the keyring cannot open: `table.column` of row `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unopenable {
    pub table: &'static str,
    pub column: &'static str,
    pub id: String,
}

impl std::fmt::Display for Unopenable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{} of {}", self.table, self.column, self.id)
    }
}

/// Every sealed secret that `keys` cannot open (a missing or wrong key),
/// and how many were tried.
pub async fn unopenable(db: &Db, keys: &Keyring) -> Result<(usize, Vec<Unopenable>), sqlx::Error> {
    let mut tried = 0;
    let mut failed = Vec::new();
    each_sealed(db, |table, column, id, blob| {
        tried += 1;
        if keys.decrypt(&blob, Aad::new(table, column, &id)).is_err() {
            failed.push(Unopenable { table, column, id });
        }
    })
    .await?;
    Ok((tried, failed))
}

async fn page(
    db: &Db,
    table: &str,
    column: &str,
    after: &str,
) -> Result<Vec<(String, Vec<u8>)>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT id, {column} AS blob FROM {table} WHERE {column} IS NOT NULL AND id > $1 ORDER BY id LIMIT {BATCH}"
    ))
    .bind(after)
    .fetch_all(db.pool())
    .await?
    .into_iter()
    .map(|r| Ok((r.try_get("id")?, r.try_get("blob")?)))
    .collect()
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resealed {
    /// Secrets moved to the active key.
    pub resealed: usize,
    /// Already under the active key.
    pub current: usize,
    /// Changed by someone else meanwhile (they wrote under the active key).
    pub skipped: usize,
    /// True when `max_rows` stopped the run before the end.
    pub interrupted: bool,
}

/// Re-seals every secret not under the active key. `max_rows` stops after
/// that many re-sealed rows (to bound one run); run again to continue.
pub async fn reseal_all(
    db: &Db,
    keys: &Keyring,
    max_rows: Option<usize>,
) -> Result<Resealed, String> {
    reseal_all_reporting(db, keys, max_rows, &mut |_, _| {}).await
}

/// [`reseal_all`], telling `progress` the counts so far after each
/// batch, with the `table.column` being worked on.
pub async fn reseal_all_reporting(
    db: &Db,
    keys: &Keyring,
    max_rows: Option<usize>,
    progress: &mut dyn FnMut(&str, &Resealed),
) -> Result<Resealed, String> {
    let active = keys.active_key_id();
    let mut report = Resealed::default();
    for (table, column) in SEALED {
        let mut after = String::new();
        loop {
            let rows = page(db, table, column, &after)
                .await
                .map_err(|e| e.to_string())?;
            let Some(last) = rows.last() else { break };
            progress(&format!("{table}.{column}"), &report);
            after = last.0.clone();
            for (id, blob) in rows {
                let key = Keyring::key_id_of(&blob)
                    .map_err(|e| format!("{table}.{column} of {id}: {e}"))?;
                if key == active {
                    report.current += 1;
                    continue;
                }
                if max_rows.is_some_and(|max| report.resealed >= max) {
                    report.interrupted = true;
                    return Ok(report);
                }
                let aad = Aad::new(table, column, &id);
                let plain = keys
                    .decrypt(&blob, aad)
                    .map_err(|e| format!("{table}.{column} of {id}: {e}"))?;
                let sealed = keys.encrypt(&plain, aad).map_err(|e| e.to_string())?;
                let done = sqlx::query(&format!(
                    "UPDATE {table} SET {column} = $1 WHERE id = $2 AND {column} = $3"
                ))
                .bind(sealed)
                .bind(&id)
                .bind(blob)
                .execute(db.pool())
                .await
                .map_err(|e| e.to_string())?;
                if done.rows_affected() == 1 {
                    report.resealed += 1;
                } else {
                    report.skipped += 1;
                }
            }
        }
    }
    Ok(report)
}
