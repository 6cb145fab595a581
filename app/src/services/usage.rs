//! The writes every API call makes — its audit entry, the connection's
//! "last used" stamp — committed in groups (group commit).
//!
//! Each request hands its writes to one writer task. The writer takes
//! whatever has queued up while the previous commit ran and writes it in one
//! transaction. On SQLite this keeps the busy API from competing for the
//! single write lock (each competitor would otherwise wait in SQLite's busy
//! handler, which sleeps); on both engines it turns N commits into one.
//!
//! A request either waits until its writes are committed (*durable*) or
//! only until they are queued (*buffered*): then a crash of the process can
//! lose what was queued and not yet committed — typically the last few
//! milliseconds, at most [`QUEUE`] requests. A graceful stop commits
//! everything first. `OAUTH_VAULT_TOKEN_READ_AUDIT` chooses for the token
//! API's audit entries (default buffered); see docs/PERFORMANCE.md.

use crate::{
    infra::db::{new_id, now_ms, Db},
    store::audit::{Actor, Entry},
};
use sqlx::{pool::PoolConnection, Any, AnyConnection, Executor};
use tokio::sync::{mpsc, oneshot};

/// `last_used_at` is kept to the minute: a busy connection is not
/// rewritten on every call.
pub const LAST_USED_RESOLUTION_MS: i64 = 60 * 1000;

/// Entries per transaction, at most.
const MAX_GROUP: usize = 256;
/// Rows per INSERT statement (12 parameters each).
/// SQLite looks bound parameters up by name in a list, so a statement's
/// binding cost grows with the square of its parameters: keep them few.
const ROWS_PER_INSERT: usize = 8;
/// Requests that may wait for the writer before callers queue.
const QUEUE: usize = 4096;

/// An audit entry with everything resolved, ready to insert.
#[derive(Debug, Clone)]
struct AuditRow {
    id: String,
    at: i64,
    actor_type: &'static str,
    actor_id: Option<String>,
    actor_label: Option<String>,
    action: String,
    organisation_id: Option<String>,
    app_id: Option<String>,
    target_type: Option<String>,
    target_id: Option<String>,
    detail: Option<String>,
    reason: Option<String>,
}

/// The writes of one request.
#[derive(Debug, Default)]
pub struct Writes {
    audit: Vec<AuditRow>,
    /// Connections whose `last_used_at` becomes now.
    touched: Vec<String>,
}

impl Writes {
    /// An audit entry; `entry` must name its organisation (the writer does
    /// not look it up).
    pub fn audit(mut self, actor: &Actor, entry: Entry<'_>) -> Self {
        let owned = |s: Option<&str>| s.map(str::to_string);
        self.audit.push(AuditRow {
            id: new_id("aud"),
            at: now_ms(),
            actor_type: actor.kind,
            actor_id: actor.id.clone(),
            actor_label: actor.label.clone(),
            action: entry.action.to_string(),
            organisation_id: owned(entry.organisation_id),
            app_id: owned(entry.app_id),
            target_type: owned(entry.target_type),
            target_id: owned(entry.target_id),
            detail: owned(entry.detail),
            reason: owned(entry.reason),
        });
        self
    }

    /// Stamps the connection's `last_used_at`, unless it was stamped within
    /// [`LAST_USED_RESOLUTION_MS`] (`last_used_at` as read with it).
    pub fn touch_connection(mut self, id: &str, last_used_at: Option<i64>) -> Self {
        if last_used_at.is_some_and(|t| now_ms() - t < LAST_USED_RESOLUTION_MS) {
            return self;
        }
        self.touched.push(id.to_string());
        self
    }
}

struct Pending {
    writes: Writes,
    done: Option<oneshot::Sender<Result<(), String>>>,
    /// The writer gives its connection back to the pool after this group.
    release: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("recording usage failed: {0}")]
    Write(String),
    #[error("the usage writer has stopped")]
    Stopped,
}

/// The handle requests write through; cheap to clone.
#[derive(Clone, Debug)]
pub struct UsageWriter {
    queue: mpsc::Sender<Pending>,
}

impl UsageWriter {
    /// Starts the writer task; it ends when the last handle is dropped,
    /// after writing everything queued.
    pub fn start(db: Db) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, rx));
        Self { queue }
    }

    /// Commits `writes` with whatever else is queued. `durable`: returns
    /// once they are committed; else once they are queued.
    pub async fn write(&self, writes: Writes, durable: bool) -> Result<(), UsageError> {
        self.send(writes, durable, false).await
    }

    /// Commits everything queued so far and gives the writer's database
    /// connection back (before the pool closes, on a graceful stop).
    pub async fn flush_and_release(&self) -> Result<(), UsageError> {
        self.send(Writes::default(), true, true).await
    }

    async fn send(&self, writes: Writes, durable: bool, release: bool) -> Result<(), UsageError> {
        let (done, committed) = oneshot::channel();
        self.queue
            .send(Pending {
                writes,
                done: durable.then_some(done),
                release,
            })
            .await
            .map_err(|_| UsageError::Stopped)?;
        if !durable {
            return Ok(());
        }
        committed
            .await
            .map_err(|_| UsageError::Stopped)?
            .map_err(UsageError::Write)
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Pending>) {
    // A connection of its own while groups follow each other.
    let mut conn: Option<PoolConnection<Any>> = None;
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(more) => group.push(more),
                Err(_) => break,
            }
        }
        // a failed group is tried once more, on a new connection
        let mut result = Ok(());
        for attempt in 0..2 {
            result = match conn.as_mut() {
                Some(c) => commit(c, &group).await,
                None => match db.pool().acquire().await {
                    Ok(c) => commit(conn.insert(c), &group).await,
                    Err(e) => Err(e),
                },
            }
            .map_err(|e| e.to_string());
            let Err(e) = &result else { break };
            tracing::error!(error = %e, entries = group.len(), attempt, "recording usage failed");
            // a connection that failed (maybe mid-transaction) is closed,
            // not returned to the pool
            if let Some(c) = conn.take() {
                drop(c.detach());
            }
        }
        // Nothing waiting: the connection goes back to the pool (a small
        // pool must not lose one for good); a busy writer keeps it.
        if rx.is_empty() || group.iter().any(|p| p.release) {
            conn = None;
        }
        for pending in group {
            if let Some(done) = pending.done {
                let _ = done.send(result.clone());
            }
        }
    }
}

/// One transaction for the group — or, when the group is one statement,
/// that statement alone (fewer round trips to the database).
async fn commit(conn: &mut AnyConnection, group: &[Pending]) -> Result<(), sqlx::Error> {
    let rows: Vec<&AuditRow> = group.iter().flat_map(|p| &p.writes.audit).collect();
    let mut touched: Vec<&str> = group
        .iter()
        .flat_map(|p| p.writes.touched.iter().map(String::as_str))
        .collect();
    touched.sort_unstable();
    touched.dedup();
    let statements = rows.len().div_ceil(ROWS_PER_INSERT) + touched.len().div_ceil(ROWS_PER_INSERT);
    if statements > 1 {
        conn.execute("BEGIN").await?;
    }
    let result = write(conn, &rows, &touched).await;
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

async fn write(
    conn: &mut AnyConnection,
    rows: &[&AuditRow],
    touched: &[&str],
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO audit_events (id, at, actor_type, actor_id, actor_label, action, organisation_id, app_id, target_type, target_id, detail, reason) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            let b = i * 12;
            sql.push('(');
            for p in 1..=12 {
                if p > 1 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${}", b + p));
            }
            sql.push(')');
        }
        // a retry after a COMMIT that did succeed writes nothing twice
        sql.push_str(" ON CONFLICT (id) DO NOTHING");
        let mut query = sqlx::query(&sql);
        for r in chunk {
            query = query
                .bind(r.id.clone())
                .bind(r.at)
                .bind(r.actor_type)
                .bind(r.actor_id.clone())
                .bind(r.actor_label.clone())
                .bind(r.action.clone())
                .bind(r.organisation_id.clone())
                .bind(r.app_id.clone())
                .bind(r.target_type.clone())
                .bind(r.target_id.clone())
                .bind(r.detail.clone())
                .bind(r.reason.clone());
        }
        query.execute(&mut *conn).await?;
    }
    let now = now_ms();
    for chunk in touched.chunks(ROWS_PER_INSERT) {
        let ids: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "UPDATE connections SET last_used_at = $1 WHERE id IN ({})",
            ids.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(now);
        for id in chunk {
            query = query.bind(id.to_string());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
