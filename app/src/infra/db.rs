//! The database: one pool over SQLite (embedded default) or PostgreSQL
//! (scale-out), chosen by `DATABASE_URL`.
//!
//! Queries go through sqlx's `Any` driver with `$1`-style placeholders, which
//! both engines accept, and use only portable types (integers, text, bytes).
//! Timestamps are stored as Unix milliseconds. Each engine has its own
//! migrations folder so that DDL can use what each does best; both are
//! embedded in the binary and applied on start.

use sqlx::{
    any::{install_default_drivers, AnyPoolOptions},
    migrate::Migrator,
    AnyPool, Executor,
};
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

impl DbKind {
    /// The engine a `DATABASE_URL` names, or `None` for any other scheme.
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split_once(':').map(|(s, _)| s)?;
        match scheme {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" => Some(Self::Postgres),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Self::Sqlite => &SQLITE_MIGRATIONS,
            Self::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL must start with sqlite:// or postgres:// (got '{0}')")]
    UnsupportedScheme(String),
    #[error("cannot open the database {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("applying migrations to {url} failed: {source}")]
    Migrate {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("{0} of {1} migrations are applied")]
    NotMigrated(i64, usize),
    #[error(transparent)]
    Query(#[from] sqlx::Error),
}

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    kind: DbKind,
}

/// A URL with any password replaced, safe for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.chars().take(16).collect::<String>() + "…";
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = path.split('?').next().unwrap_or_default();
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => format!("{scheme}://{authority}{path}"),
    }
}

impl Db {
    /// Opens a pool on `url`, creating a SQLite file if it does not exist.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DbError> {
        install_default_drivers();
        let kind =
            DbKind::from_url(url).ok_or_else(|| DbError::UnsupportedScheme(redact_url(url)))?;
        let url_for_driver = match kind {
            DbKind::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_string(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            // A SQLite connection is a file handle that cannot go stale: no
            // ping (a round trip to its thread) before every use. A
            // PostgreSQL connection is checked, so that one broken by a
            // server restart is replaced rather than failing a request.
            .test_before_acquire(kind == DbKind::Postgres)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if kind == DbKind::Sqlite {
                        // WAL lets readers run beside the writer; with WAL,
                        // NORMAL sync is durable across application crashes.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        // 16 MiB of page cache a connection (the default is
                        // 2 MiB): the token API's connections and the
                        // current minute's audit entries stay in memory.
                        conn.execute("PRAGMA cache_size = -16384").await?;
                        // A checkpoint copies the log into the database and
                        // syncs it to disk: a server runs one in the
                        // background (`Db::checkpoints`), off the commits'
                        // path. A commit checkpoints only if the log grows
                        // past 40 MiB regardless (no server running, or one
                        // far behind); the file is cut back to 64 MiB after.
                        conn.execute("PRAGMA wal_autocheckpoint = 10000").await?;
                        conn.execute("PRAGMA journal_size_limit = 67108864").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url_for_driver)
            .await
            .map_err(|source| DbError::Connect {
                url: redact_url(url),
                source,
            })?;
        Ok(Self { pool, kind })
    }

    /// Applies every embedded migration that the database has not seen yet.
    pub async fn migrate(&self) -> Result<(), DbError> {
        self.kind
            .migrator()
            .run(&self.pool)
            .await
            .map_err(|source| DbError::Migrate {
                url: self.kind.as_str().to_string(),
                source,
            })
    }

    /// Ready means: the database answers and every migration this binary
    /// knows has been applied successfully.
    pub async fn check_ready(&self) -> Result<(), DbError> {
        let known = self.kind.migrator().iter().count();
        let applied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(&self.pool)
                .await?;
        if applied < known as i64 {
            return Err(DbError::NotMigrated(applied, known));
        }
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that may write. On SQLite it takes the write
    /// lock at once (`BEGIN IMMEDIATE`): a deferred transaction that reads
    /// and then writes fails with "database is locked" when another
    /// connection wrote in between, whatever the busy timeout.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.kind {
            DbKind::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            DbKind::Postgres => self.pool.begin().await,
        }
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    /// On SQLite, checkpoints the write-ahead log every [`CHECKPOINT_EVERY`]
    /// until `stop` (a passive checkpoint: it waits for no reader or
    /// writer), so that commits do not. Nothing to do on PostgreSQL.
    pub async fn checkpoints(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        if self.kind != DbKind::Sqlite {
            return;
        }
        loop {
            tokio::select! {
                _ = tokio::time::sleep(CHECKPOINT_EVERY) => {}
                _ = stop.changed() => return,
            }
            if let Err(e) = self.pool.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                tracing::warn!(error = %e, "checkpointing the SQLite log failed; the next commit past 40 MiB of log does it");
            }
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// How often a server checkpoints a SQLite database's write-ahead log.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// A new random id with a type prefix, e.g. `app_3f9c…` (128 random bits).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Milliseconds since the Unix epoch: the vault's timestamp representation.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_and_query_strings() {
        assert_eq!(
            redact_url("postgres://user:hunter2@db.internal:5432/vault?sslmode=require"),
            "postgres://user:***@db.internal:5432/vault"
        );
        assert_eq!(
            redact_url("sqlite://./data/oauth-vault.db"),
            "sqlite://./data/oauth-vault.db"
        );
        assert!(!redact_url("mysql:secretstuff-without-slashes").contains("stuff-without"));
    }

    #[test]
    fn kind_from_url() {
        assert_eq!(DbKind::from_url("sqlite://x.db"), Some(DbKind::Sqlite));
        assert_eq!(DbKind::from_url("sqlite:x.db"), Some(DbKind::Sqlite));
        assert_eq!(
            DbKind::from_url("postgresql://h/db"),
            Some(DbKind::Postgres)
        );
        assert_eq!(DbKind::from_url("mysql://h/db"), None);
        assert_eq!(DbKind::from_url("nonsense"), None);
    }
}

/// A value bound to a [`Where`] clause.
enum Bound {
    Text(String),
    Int(i64),
}

/// Conditions added one by one from optional filters: each call appends a
/// clause whose `?` all stand for that call's value, numbered `$n` in order,
/// and [`Where::bind`] binds the values in the same order. Values never
/// enter the SQL text.
#[derive(Default)]
pub struct Where {
    sql: String,
    values: Vec<Bound>,
}

impl Where {
    fn push(&mut self, clause: &str, value: Bound) {
        self.values.push(value);
        let placeholder = format!("${}", self.values.len());
        self.sql.push_str(&clause.replace('?', &placeholder));
    }

    /// Appends `clause` (e.g. `" AND c.status = ?"`) for a text value.
    pub fn text(&mut self, clause: &str, value: impl Into<String>) {
        self.push(clause, Bound::Text(value.into()));
    }

    /// Appends `clause` for an integer value.
    pub fn int(&mut self, clause: &str, value: i64) {
        self.push(clause, Bound::Int(value));
    }

    /// Appends SQL that binds nothing.
    pub fn raw(&mut self, sql: &str) {
        self.sql.push_str(sql);
    }

    /// The conditions, to follow `WHERE 1 = 1`.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Binds the values to `query`, made from SQL that includes [`Self::sql`].
    pub fn bind<'q>(
        self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for value in self.values {
            query = match value {
                Bound::Text(v) => query.bind(v),
                Bound::Int(v) => query.bind(v),
            };
        }
        query
    }
}

#[cfg(test)]
mod where_tests {
    use super::Where;

    #[test]
    fn placeholders_are_numbered_in_order_and_shared_within_a_clause() {
        let mut w = Where::default();
        w.text(" AND a = ?", "x");
        w.raw(" AND b IS NULL");
        w.text(" AND (c = ? OR d = ?)", "y");
        w.int(" AND e < ?", 5);
        assert_eq!(
            w.sql(),
            " AND a = $1 AND b IS NULL AND (c = $2 OR d = $2) AND e < $3"
        );
        assert_eq!(w.values.len(), 3);
        assert!(!w.sql().contains('x'), "values never enter the SQL");
    }
}
