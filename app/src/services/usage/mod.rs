//! The writes every API call makes — its audit entry, the connection's
//! "last used" stamp — committed in groups (group commit).
//!
//! Each request hands its writes to one writer task. The writer takes
//! whatever has queued up while the previous commit ran and writes it in one
//! transaction. On SQLite this keeps the busy API from competing for the
//! single write lock (each competitor would otherwise wait in SQLite's busy
//! handler, which sleeps); on both engines it turns N commits into one.
//!
//! **Token reads are counted, not listed.** A token read is one `token.read`
//! entry per API key, connection and window (`OAUTH_VAULT_TOKEN_READ_AUDIT_WINDOW_SECS`,
//! default a minute) with how many reads it stands for (`occurrences`) and
//! the times of the first (`at`) and last (`last_at`) of them. Its id is
//! derived from the key, the connection and the window, so a group adds its
//! reads with an upsert on the primary key (`ON CONFLICT (id) DO UPDATE`):
//! no extra index to maintain, exact across processes. Proxied calls stay one
//! entry per call: each carries its own method, path, status and duration.
//!
//! A request either waits until its writes are committed (*durable*) or
//! only until they are queued (*buffered*, the default; see
//! docs/PERFORMANCE.md for what durable costs):
//! then a crash of the process can lose what was queued and not yet
//! committed. A graceful stop commits everything first.
//!
//! **Nothing is dropped.** A group whose commit fails is kept and tried
//! again, with backoff, until it succeeds; meanwhile the queue is bounded
//! ([`QUEUE`]): a request that finds it full waits at most
//! [`QUEUE_WAIT`] and is then refused ([`UsageError::Busy`]; the API answers
//! 503) rather than served unrecorded. The failure is logged at error level
//! and shown by `/readyz` ([`WriterHealth`]). A commit whose success was not
//! confirmed (the connection broke during COMMIT) is retried: reads may then
//! be counted twice, never lost.

use crate::{
    infra::db::{new_id, now_ms, Db},
    store::audit::{Actor, Entry},
};
use batch::Batch;
use sqlx::{pool::PoolConnection, Any};
use std::{
    sync::{
        atomic::{AtomicI64, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::sync::{mpsc, oneshot};

mod batch;

/// `last_used_at` is kept to the minute: a busy connection is not
/// rewritten on every call.
pub const LAST_USED_RESOLUTION_MS: i64 = 60 * 1000;

/// The default window of token-read entries.
pub const DEFAULT_READ_WINDOW: Duration = Duration::from_secs(60);

/// Requests per group commit, at most. A group is one statement per kind
/// of write whatever its size, so a large group costs little more than a
/// small one; when commits are slow (a PostgreSQL flush waiting for the
/// disk), larger groups keep the writer ahead of the API.
const MAX_GROUP: usize = 2048;
/// Requests that may wait for the writer before callers queue.
const QUEUE: usize = 4096;
/// How long a request waits for room in a full queue before it is refused.
pub const QUEUE_WAIT: Duration = Duration::from_secs(2);
/// How long a durable request waits for its commit before it is refused
/// (its writes stay queued and are committed later).
pub const COMMIT_WAIT: Duration = Duration::from_secs(10);
/// Retry delays after a failed commit: doubling from the first to the last.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// The writer gives its database connection back after this long without
/// work.
const KEEP_CONNECTION: Duration = Duration::from_millis(250);
/// A graceful stop gives up on a failing database after this many attempts.
const ATTEMPTS_AT_STOP: u32 = 5;
/// `/readyz` answers "not ready" once commits have failed this long.
pub const UNREADY_AFTER: Duration = Duration::from_secs(10);

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

/// One read of a connection's token through an API key.
#[derive(Debug, Clone)]
struct TokenRead {
    at: i64,
    key_id: String,
    organisation_id: String,
    app_id: String,
    connection_id: String,
}

/// The writes of one request.
#[derive(Debug, Default)]
pub struct Writes {
    audit: Vec<AuditRow>,
    reads: Vec<TokenRead>,
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

    /// A read of `connection_id`'s access token with the API key `key_id`
    /// of the app `app_id`: counted in the `token.read` entry of its window.
    pub fn token_read(
        mut self,
        key_id: &str,
        organisation_id: &str,
        app_id: &str,
        connection_id: &str,
    ) -> Self {
        self.reads.push(TokenRead {
            at: now_ms(),
            key_id: key_id.to_string(),
            organisation_id: organisation_id.to_string(),
            app_id: app_id.to_string(),
            connection_id: connection_id.to_string(),
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

    fn entries(&self) -> usize {
        self.audit.len() + self.reads.len()
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
    /// The writer cannot keep up or cannot commit: the request is refused
    /// rather than served unrecorded.
    #[error("the usage writer is behind; retry shortly")]
    Busy,
}

/// How the writer is doing, for `/readyz`.
#[derive(Debug, Default)]
pub struct WriterHealth {
    /// When the current run of failed commits began (ms); 0: committing.
    failing_since: AtomicI64,
    /// Failed commits in a row.
    failures: AtomicUsize,
    /// Entries held by a failing group.
    held: AtomicUsize,
}

/// A snapshot of [`WriterHealth`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterStatus {
    /// Failing since (ms), if the last commit failed.
    pub failing_since: Option<i64>,
    pub failures: usize,
    /// Entries kept for the next attempt, plus requests queued behind them.
    pub pending: usize,
    /// Whether it has failed for [`UNREADY_AFTER`] or longer.
    pub unready: bool,
}

/// The handle requests write through; cheap to clone.
#[derive(Clone, Debug)]
pub struct UsageWriter {
    queue: mpsc::Sender<Pending>,
    health: Arc<WriterHealth>,
}

impl UsageWriter {
    /// Starts the writer task; it ends when the last handle is dropped,
    /// after writing everything queued. `read_window`: the window of
    /// token-read entries.
    pub fn start(db: Db, read_window: Duration) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        let health = Arc::new(WriterHealth::default());
        let window_ms = (read_window.as_millis() as i64).max(1);
        tokio::spawn(run(db, rx, window_ms, health.clone()));
        Self { queue, health }
    }

    /// Commits `writes` with whatever else is queued. `durable`: returns
    /// once they are committed; else once they are queued.
    pub async fn write(&self, writes: Writes, durable: bool) -> Result<(), UsageError> {
        self.send(writes, durable, false).await
    }

    /// Commits everything queued so far and gives the writer's database
    /// connection back (before the pool closes, on a graceful stop).
    pub async fn flush_and_release(&self) -> Result<(), UsageError> {
        let (done, committed) = oneshot::channel();
        self.queue
            .send(Pending {
                writes: Writes::default(),
                done: Some(done),
                release: true,
            })
            .await
            .map_err(|_| UsageError::Stopped)?;
        committed
            .await
            .map_err(|_| UsageError::Stopped)?
            .map_err(UsageError::Write)
    }

    /// The writer's state, for readiness.
    pub fn status(&self) -> WriterStatus {
        let since = self.health.failing_since.load(Ordering::Relaxed);
        let failing_since = (since != 0).then_some(since);
        WriterStatus {
            failing_since,
            failures: self.health.failures.load(Ordering::Relaxed),
            pending: self.health.held.load(Ordering::Relaxed) + (QUEUE - self.queue.capacity()),
            unready: failing_since
                .is_some_and(|t| now_ms() - t >= UNREADY_AFTER.as_millis() as i64),
        }
    }

    async fn send(&self, writes: Writes, durable: bool, release: bool) -> Result<(), UsageError> {
        let (done, committed) = oneshot::channel();
        let pending = Pending {
            writes,
            done: durable.then_some(done),
            release,
        };
        // room in the queue at once, or within QUEUE_WAIT; else refused
        match self.queue.try_send(pending) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(UsageError::Stopped),
            Err(mpsc::error::TrySendError::Full(pending)) => {
                match self.queue.send_timeout(pending, QUEUE_WAIT).await {
                    Ok(()) => {}
                    Err(mpsc::error::SendTimeoutError::Closed(_)) => {
                        return Err(UsageError::Stopped)
                    }
                    Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                        tracing::error!(
                            queued = QUEUE,
                            "the usage writer's queue is full: refusing an API request rather than leaving it unrecorded"
                        );
                        return Err(UsageError::Busy);
                    }
                }
            }
        }
        if !durable {
            return Ok(());
        }
        match tokio::time::timeout(COMMIT_WAIT, committed).await {
            Err(_) => Err(UsageError::Busy),
            Ok(result) => result
                .map_err(|_| UsageError::Stopped)?
                .map_err(UsageError::Write),
        }
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Pending>, window_ms: i64, health: Arc<WriterHealth>) {
    // A connection of its own while groups follow each other.
    let mut conn: Option<PoolConnection<Any>> = None;
    loop {
        // Idle for KEEP_CONNECTION: the connection goes back to the pool (a
        // small pool must not lose one for good); a busy writer keeps it
        // rather than take one from the pool for every group.
        let first = if conn.is_some() {
            match tokio::time::timeout(KEEP_CONNECTION, rx.recv()).await {
                Ok(Some(first)) => first,
                Ok(None) => break,
                Err(_) => {
                    conn = None;
                    continue;
                }
            }
        } else {
            match rx.recv().await {
                Some(first) => first,
                None => break,
            }
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(more) => group.push(more),
                Err(_) => break,
            }
        }
        let batch = Batch::of(&group, window_ms);
        let stopping = group.iter().any(|p| p.release);
        let result = commit_until_done(&db, &mut conn, &batch, stopping, &health, rx.len()).await;
        if stopping {
            conn = None;
        }
        for pending in group {
            if let Some(done) = pending.done {
                let _ = done.send(result.clone());
            }
        }
    }
}

/// Commits `batch`. A failed group is kept and tried again, on a new
/// connection, until it is committed; only a graceful stop (`stopping`)
/// gives up, loudly.
async fn commit_until_done(
    db: &Db,
    conn: &mut Option<PoolConnection<Any>>,
    batch: &Batch<'_>,
    stopping: bool,
    health: &WriterHealth,
    queued: usize,
) -> Result<(), String> {
    let mut delay = RETRY_FIRST;
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let started = std::time::Instant::now();
        let result = match conn.as_mut() {
            Some(c) => batch.commit(c, db.kind()).await,
            None => match db.pool().acquire().await {
                Ok(c) => batch.commit(conn.insert(c), db.kind()).await,
                Err(e) => Err(e),
            },
        }
        .map_err(|e| e.to_string());
        metrics::histogram!("oauth_vault_audit_commit_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        let Err(e) = result else {
            if attempt > 1 {
                tracing::warn!(
                    entries = batch.entries,
                    attempt,
                    "recording usage works again"
                );
            }
            health.failing_since.store(0, Ordering::Relaxed);
            health.failures.store(0, Ordering::Relaxed);
            health.held.store(0, Ordering::Relaxed);
            return Ok(());
        };
        // a connection that failed (maybe mid-transaction) is closed,
        // not returned to the pool
        if let Some(c) = conn.take() {
            drop(c.detach());
        }
        let _ = health.failing_since.compare_exchange(
            0,
            now_ms(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        health.failures.fetch_add(1, Ordering::Relaxed);
        health.held.store(batch.entries, Ordering::Relaxed);
        if stopping && attempt >= ATTEMPTS_AT_STOP {
            tracing::error!(
                error = %e,
                entries = batch.entries,
                queued,
                attempt,
                "recording usage failed at shutdown: these entries are lost"
            );
            return Err(e);
        }
        tracing::error!(
            error = %e,
            entries = batch.entries,
            queued,
            attempt,
            retry_in_ms = delay.as_millis() as u64,
            "recording usage failed: keeping the entries and trying again"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RETRY_MAX);
    }
}
