//! What one group commit writes: the audit entries, the token reads
//! counted per API key, connection and window, and the `last_used_at`
//! stamps, in a few multi-row statements.

use super::{AuditRow, Pending, TokenRead};
use crate::infra::{
    db::{now_ms, DbKind},
    tokens::to_hex,
};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Executor};
use std::collections::HashMap;

/// The token reads of a group, one row per API key, connection and window.
#[derive(Debug)]
struct ReadCount<'a> {
    id: String,
    first: i64,
    last: i64,
    count: i64,
    read: &'a TokenRead,
}

/// What a group writes.
pub(super) struct Batch<'a> {
    rows: Vec<&'a AuditRow>,
    reads: Vec<ReadCount<'a>>,
    touched: Vec<&'a str>,
    pub(super) entries: usize,
}

/// The id of the `token.read` entry of a key, connection and window:
/// derived, so that every process adds to the same row.
fn read_entry_id(key_id: &str, connection_id: &str, window_start: i64) -> String {
    let mut hash = Sha256::new();
    for part in [key_id.as_bytes(), b"\n", connection_id.as_bytes(), b"\n"] {
        hash.update(part);
    }
    hash.update(window_start.to_be_bytes());
    let digest = hash.finalize();
    format!("aud_{}", to_hex(&digest[..16]))
}

impl<'a> Batch<'a> {
    pub(super) fn of(group: &'a [Pending], window_ms: i64) -> Self {
        let rows: Vec<&AuditRow> = group.iter().flat_map(|p| &p.writes.audit).collect();
        let mut counts: HashMap<(&str, &str, i64), ReadCount<'a>> = HashMap::new();
        for read in group.iter().flat_map(|p| &p.writes.reads) {
            let window = read.at - read.at.rem_euclid(window_ms);
            counts
                .entry((&read.key_id, &read.connection_id, window))
                .and_modify(|c| {
                    c.first = c.first.min(read.at);
                    c.last = c.last.max(read.at);
                    c.count += 1;
                })
                .or_insert_with(|| ReadCount {
                    id: read_entry_id(&read.key_id, &read.connection_id, window),
                    first: read.at,
                    last: read.at,
                    count: 1,
                    read,
                });
        }
        let mut reads: Vec<ReadCount> = counts.into_values().collect();
        // the same order in every process: no deadlock between two writers
        reads.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        let mut touched: Vec<&str> = group
            .iter()
            .flat_map(|p| p.writes.touched.iter().map(String::as_str))
            .collect();
        touched.sort_unstable();
        touched.dedup();
        let entries = group.iter().map(|p| p.writes.entries()).sum();
        Self {
            rows,
            reads,
            touched,
            entries,
        }
    }

    /// One transaction for the group — or, when the group is one statement,
    /// that statement alone (fewer round trips to the database).
    ///
    /// Each kind of write is one statement whatever the group's size: its
    /// rows travel as one JSON array, which the database unpacks
    /// (`json_each` on SQLite, `jsonb_array_elements` on PostgreSQL). A
    /// SQLite statement is a round trip to the connection's own thread, so
    /// a group costs at most three of them and the commit.
    pub(super) async fn commit(
        &self,
        conn: &mut AnyConnection,
        kind: DbKind,
    ) -> Result<(), sqlx::Error> {
        let statements = [
            !self.rows.is_empty(),
            !self.reads.is_empty(),
            !self.touched.is_empty(),
        ]
        .into_iter()
        .filter(|s| *s)
        .count();
        if statements == 0 {
            return Ok(());
        }
        if statements > 1 {
            conn.execute("BEGIN").await?;
        }
        let result = self.write(conn, kind).await;
        if statements > 1 {
            match &result {
                Ok(()) => {
                    conn.execute("COMMIT").await?;
                }
                Err(_) => {
                    let _ = conn.execute("ROLLBACK").await;
                }
            }
        }
        result
    }

    async fn write(&self, conn: &mut AnyConnection, kind: DbKind) -> Result<(), sqlx::Error> {
        let sql = Statements::of(kind);
        if !self.rows.is_empty() {
            let rows: Vec<_> = self
                .rows
                .iter()
                .map(|r| {
                    serde_json::json!([
                        r.id,
                        r.at,
                        r.actor_type,
                        r.actor_id,
                        r.actor_label,
                        r.action,
                        r.organisation_id,
                        r.app_id,
                        r.target_type,
                        r.target_id,
                        r.detail,
                        r.reason
                    ])
                })
                .collect();
            sqlx::query(sql.audit)
                .bind(serde_json::Value::Array(rows).to_string())
                .execute(&mut *conn)
                .await?;
        }
        if !self.reads.is_empty() {
            let reads: Vec<_> = self
                .reads
                .iter()
                .map(|c| {
                    serde_json::json!([
                        c.id,
                        c.first,
                        c.last,
                        c.count,
                        c.read.key_id,
                        c.read.organisation_id,
                        c.read.app_id,
                        c.read.connection_id
                    ])
                })
                .collect();
            sqlx::query(sql.reads)
                .bind(serde_json::Value::Array(reads).to_string())
                .execute(&mut *conn)
                .await?;
        }
        if !self.touched.is_empty() {
            sqlx::query(sql.touched)
                .bind(now_ms())
                .bind(serde_json::json!(self.touched).to_string())
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

/// The three statements of a group commit, in each engine's dialect. The
/// rows arrive as one JSON array of arrays (`$1`).
struct Statements {
    audit: &'static str,
    reads: &'static str,
    touched: &'static str,
}

impl Statements {
    fn of(kind: DbKind) -> &'static Statements {
        match kind {
            DbKind::Sqlite => &SQLITE,
            DbKind::Postgres => &POSTGRES,
        }
    }
}

// A retry after a COMMIT that did succeed writes no audit entry twice (DO
// NOTHING); token reads are added to their window's entry. SQLite needs the
// `WHERE true` to parse an upsert whose rows come from a SELECT.
const SQLITE: Statements = Statements {
    audit: "INSERT INTO audit_events (id, at, actor_type, actor_id, actor_label, action, organisation_id, app_id, target_type, target_id, detail, reason) \
        SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8, value ->> 9, value ->> 10, value ->> 11 \
        FROM json_each($1) WHERE true ON CONFLICT (id) DO NOTHING",
    reads: "INSERT INTO audit_events (id, at, last_at, occurrences, actor_id, organisation_id, app_id, target_id, actor_type, action, target_type) \
        SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, 'api_key', 'token.read', 'connection' \
        FROM json_each($1) WHERE true \
        ON CONFLICT (id) DO UPDATE SET occurrences = audit_events.occurrences + excluded.occurrences, \
        last_at = max(audit_events.last_at, excluded.last_at)",
    touched: "UPDATE connections SET last_used_at = $1 WHERE id IN (SELECT value FROM json_each($2))",
};

const POSTGRES: Statements = Statements {
    audit: "INSERT INTO audit_events (id, at, actor_type, actor_id, actor_label, action, organisation_id, app_id, target_type, target_id, detail, reason) \
        SELECT e ->> 0, (e ->> 1)::BIGINT, e ->> 2, e ->> 3, e ->> 4, e ->> 5, e ->> 6, e ->> 7, e ->> 8, e ->> 9, e ->> 10, e ->> 11 \
        FROM jsonb_array_elements($1::jsonb) AS e ON CONFLICT (id) DO NOTHING",
    reads: "INSERT INTO audit_events (id, at, last_at, occurrences, actor_id, organisation_id, app_id, target_id, actor_type, action, target_type) \
        SELECT e ->> 0, (e ->> 1)::BIGINT, (e ->> 2)::BIGINT, (e ->> 3)::BIGINT, e ->> 4, e ->> 5, e ->> 6, e ->> 7, 'api_key', 'token.read', 'connection' \
        FROM jsonb_array_elements($1::jsonb) AS e \
        ON CONFLICT (id) DO UPDATE SET occurrences = audit_events.occurrences + excluded.occurrences, \
        last_at = GREATEST(audit_events.last_at, excluded.last_at)",
    touched: "UPDATE connections SET last_used_at = $1 WHERE id IN (SELECT jsonb_array_elements_text($2::jsonb))",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_entries_have_one_id_per_key_connection_and_window() {
        let a = read_entry_id("key_1", "con_1", 60_000);
        assert_eq!(a, read_entry_id("key_1", "con_1", 60_000));
        assert_ne!(a, read_entry_id("key_1", "con_1", 120_000));
        assert_ne!(a, read_entry_id("key_2", "con_1", 60_000));
        assert_ne!(a, read_entry_id("key_1", "con_2", 60_000));
        // no ambiguity where one id ends and the next begins
        assert_ne!(
            read_entry_id("key_1c", "on_1", 60_000),
            read_entry_id("key_1", "con_1", 60_000)
        );
        assert!(a.starts_with("aud_") && a.len() == 36, "{a}");
    }
}
