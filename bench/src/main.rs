//! `oauth-vault-bench`: measures the real server (its own process) on SQLite
//! and PostgreSQL and writes a Markdown report. It measures, it does not
//! judge speed; it fails only when an answer is wrong (a wrong token, a
//! refresh missed or made twice), so that the smoke run guards the harness.
//!
//! `scripts/bench` builds the release binaries and runs it; see
//! docs/PERFORMANCE.md.

mod load;
mod portal;
mod provider;
mod report;
mod seed;
mod server;

use app::{infra::crypto::Keyring, infra::db::Db};
use load::{Stats, Workload};
use secrecy::{ExposeSecret, SecretString};
use server::{Launch, Memory, Server, ServerSpec};
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

const USAGE: &str =
    "usage: oauth-vault-bench --server PATH [--smoke] [--backends sqlite,postgres] \
[--postgres-url URL] [--site-root DIR] [--out FILE] [--docs FILE] [--provider-delay-ms N] \
[--drain-timeout-secs N] [--label TEXT] [--loops N] [--only token|drain|scale|lists] [--server-env NAME=VALUE]...";

/// How much of everything one run does.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub warm_connections: u64,
    pub drain_connections: u64,
    pub scale_small: u64,
    pub scale_large: u64,
    pub duration: Duration,
    pub rate: u64,
    pub concurrency: usize,
    pub startup_runs: usize,
}

impl Sizes {
    const FULL: Self = Self {
        warm_connections: 10_000,
        drain_connections: 10_000,
        scale_small: 1_000,
        scale_large: 100_000,
        duration: Duration::from_secs(10),
        rate: 1_000,
        concurrency: 32,
        startup_runs: 3,
    };
    const SMOKE: Self = Self {
        warm_connections: 200,
        drain_connections: 300,
        scale_small: 100,
        scale_large: 1_000,
        duration: Duration::from_secs(1),
        rate: 200,
        concurrency: 8,
        startup_runs: 1,
    };
}

#[derive(Debug)]
struct Args {
    server: PathBuf,
    smoke: bool,
    backends: Vec<Backend>,
    postgres_url: String,
    site_root: Option<PathBuf>,
    out: PathBuf,
    docs: Option<PathBuf>,
    provider_delay: Duration,
    drain_timeout: Duration,
    label: Option<String>,
    /// Runs one part only (for profiling): token, drain or scale.
    only: Option<String>,
    /// Settings for every server started (e.g. a cache TTL to compare).
    server_env: Vec<(String, String)>,
    /// Loops at saturation, instead of the size's (32 in a full run).
    loops: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        server: PathBuf::new(),
        smoke: false,
        backends: vec![Backend::Sqlite, Backend::Postgres],
        postgres_url: std::env::var("OAUTH_VAULT_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        site_root: None,
        out: PathBuf::from("target/bench/results.md"),
        docs: None,
        provider_delay: Duration::from_millis(50),
        drain_timeout: Duration::from_secs(300),
        label: None,
        only: None,
        server_env: Vec::new(),
        loops: None,
    };
    let mut delay_given = false;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--server" => parsed.server = PathBuf::from(value("--server")?),
            "--smoke" => parsed.smoke = true,
            "--backends" => {
                parsed.backends = value("--backends")?
                    .split(',')
                    .map(|b| match b.trim() {
                        "sqlite" => Ok(Backend::Sqlite),
                        "postgres" => Ok(Backend::Postgres),
                        other => Err(format!("unknown backend '{other}' (sqlite, postgres)")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--postgres-url" => parsed.postgres_url = value("--postgres-url")?,
            "--site-root" => parsed.site_root = Some(PathBuf::from(value("--site-root")?)),
            "--out" => parsed.out = PathBuf::from(value("--out")?),
            "--docs" => parsed.docs = Some(PathBuf::from(value("--docs")?)),
            "--label" => parsed.label = Some(value("--label")?),
            "--loops" => {
                let loops = value("--loops")?;
                parsed.loops = Some(
                    loops
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=4096).contains(n))
                        .ok_or(format!(
                            "--loops takes a number from 1 to 4096, not '{loops}'"
                        ))?,
                );
            }
            "--only" => {
                let part = value("--only")?;
                if !["token", "drain", "scale", "lists"].contains(&part.as_str()) {
                    return Err(format!(
                        "--only takes token, drain, scale or lists, not '{part}'"
                    ));
                }
                parsed.only = Some(part);
            }
            "--server-env" => {
                let pair = value("--server-env")?;
                let (name, v) = pair
                    .split_once('=')
                    .ok_or(format!("--server-env takes NAME=VALUE, not '{pair}'"))?;
                parsed.server_env.push((name.to_string(), v.to_string()));
            }
            "--provider-delay-ms" => {
                let ms = value("--provider-delay-ms")?;
                let ms: u64 = ms
                    .parse()
                    .map_err(|_| format!("--provider-delay-ms takes milliseconds, not '{ms}'"))?;
                parsed.provider_delay = Duration::from_millis(ms);
                delay_given = true;
            }
            "--drain-timeout-secs" => {
                let s = value("--drain-timeout-secs")?;
                let s: u64 = s
                    .parse()
                    .map_err(|_| format!("--drain-timeout-secs takes seconds, not '{s}'"))?;
                parsed.drain_timeout = Duration::from_secs(s);
            }
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    if parsed.server.as_os_str().is_empty() {
        return Err(format!("--server is required\n{USAGE}"));
    }
    if parsed.smoke && !delay_given {
        parsed.provider_delay = Duration::from_millis(5);
    }
    if parsed.backends.is_empty() {
        return Err("--backends names no backend".into());
    }
    Ok(parsed)
}

/// A refresh drain's outcome.
#[derive(Clone, Debug, Default)]
pub struct Drain {
    pub processes: usize,
    pub connections: u64,
    pub refreshed: u64,
    pub elapsed: Duration,
    pub timed_out: bool,
    pub seen: provider::Seen,
}

/// Audit rows written for token reads.
#[derive(Clone, Copy, Debug, Default)]
pub struct AuditRows {
    pub rows: i64,
    pub reads: i64,
}

/// The `token.read` rows of the database (of one connection, if named).
async fn audit_rows(db: &Db, connection: Option<&str>) -> Result<AuditRows, String> {
    let (rows, reads): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(COALESCE(occurrences, 1)), 0) AS BIGINT) FROM audit_events \
         WHERE action = 'token.read' AND ($1 = '' OR target_id = $1)",
    )
    .bind(connection.unwrap_or(""))
    .fetch_one(db.pool())
    .await
    .map_err(|e| format!("counting audit rows: {e}"))?;
    Ok(AuditRows { rows, reads })
}

/// Everything measured on one backend.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    pub backend: Option<Backend>,
    pub ready_empty: Duration,
    pub baseline: Stats,
    pub token_saturated: Stats,
    pub token_fixed: Stats,
    /// The same with `OAUTH_VAULT_TOKEN_READ_AUDIT=durable`.
    pub durable_saturated: Stats,
    pub durable_fixed: Stats,
    /// `token.read` audit rows after the default runs of (2), and the reads
    /// they count.
    pub audit_rows: AuditRows,
    /// The same for one connection read by one key at saturation.
    pub audit_rows_one: AuditRows,
    pub warm_memory: Memory,
    pub drain: Drain,
    pub drain_two: Option<Drain>,
    pub scale_small: Stats,
    pub scale_large: Stats,
    pub ready_large: Duration,
    pub large_memory_idle: Memory,
    pub large_memory_loaded: Memory,
    pub seed_rate: f64,
    /// 8. The portal's Connections page with many connections.
    pub portal: Option<portal::Lists>,
}

/// The shared pieces of one run.
struct Bench {
    args: Args,
    sizes: Sizes,
    spec: ServerSpec,
    http: reqwest::Client,
    provider: provider::Provider,
    providers_dir: PathBuf,
    work: PathBuf,
    keys: SecretString,
    keyring: Keyring,
    databases: u32,
    problems: Vec<String>,
}

/// A database made for one measurement, dropped afterwards.
struct Database {
    url: String,
    db: Db,
    /// PostgreSQL: the name to drop.
    name: Option<String>,
}

impl Bench {
    async fn database(&mut self, backend: Backend) -> Result<Database, String> {
        self.databases += 1;
        let name = format!("ovbench_{}_{}", std::process::id(), self.databases);
        let (url, name) = match backend {
            Backend::Sqlite => (
                format!(
                    "sqlite://{}",
                    self.work.join(format!("{name}.db")).display()
                ),
                None,
            ),
            Backend::Postgres => {
                let admin = Db::connect(&self.args.postgres_url, 1)
                    .await
                    .map_err(|e| format!("PostgreSQL at OAUTH_VAULT_TEST_POSTGRES_URL: {e}"))?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(admin.pool())
                    .await
                    .map_err(|e| format!("creating a PostgreSQL database: {e}"))?;
                admin.close().await;
                let base = self.args.postgres_url.split('?').next().unwrap_or_default();
                let prefix = base.rsplit_once('/').map(|(p, _)| p).unwrap_or(base);
                (format!("{prefix}/{name}"), Some(name))
            }
        };
        let db = Db::connect(&url, 4)
            .await
            .map_err(|e| format!("opening the benchmark database: {e}"))?;
        Ok(Database { url, db, name })
    }

    async fn drop_database(&self, database: Database) {
        database.db.close().await;
        if let Some(name) = database.name {
            if let Ok(admin) = Db::connect(&self.args.postgres_url, 1).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(admin.pool())
                    .await;
                admin.close().await;
            }
        }
    }

    fn runs(&self, part: &str) -> bool {
        self.args.only.as_deref().is_none_or(|only| only == part)
    }

    async fn start(
        &self,
        database: &Database,
        label: String,
        mut env: Vec<(String, String)>,
    ) -> Result<Server, String> {
        env.extend(self.args.server_env.iter().cloned());
        let data_dir = self.work.join(&label);
        std::fs::create_dir_all(&data_dir).map_err(|e| format!("creating a data folder: {e}"))?;
        Server::start(
            &self.spec,
            Launch {
                database_url: &database.url,
                data_dir: &data_dir,
                keys: self.keys.expose_secret(),
                providers_dir: &self.providers_dir,
                allowed_hosts: &self.provider.address.to_string(),
                env,
                label,
            },
            &self.http,
        )
        .await
    }

    /// `load::saturate` with this run's sizes; wrong answers are noted.
    async fn saturate(&mut self, what: &str, base: &str, workload: &Workload) -> Stats {
        let stats = load::saturate(
            &self.http,
            base,
            workload,
            self.sizes.concurrency,
            self.sizes.duration,
        )
        .await;
        self.check_load(what, &stats);
        stats
    }

    /// `load::fixed_rate` with this run's sizes; wrong answers are noted.
    async fn fixed_rate(&mut self, what: &str, base: &str, workload: &Workload) -> Stats {
        let stats = load::fixed_rate(
            &self.http,
            base,
            workload,
            self.sizes.rate,
            self.sizes.duration,
        )
        .await;
        self.check_load(what, &stats);
        stats
    }

    fn check_load(&mut self, what: &str, stats: &Stats) {
        if stats.requests == 0 {
            self.problems.push(format!("{what}: no request completed"));
        } else if stats.errors > 0 {
            self.problems.push(format!(
                "{what}: {} of {} answers were wrong; first: {}",
                stats.errors,
                stats.requests,
                stats.first_error.as_deref().unwrap_or("?")
            ));
        }
    }

    async fn measure(&mut self, backend: Backend) -> Result<Measured, String> {
        let tag = match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        let mut m = Measured {
            backend: Some(backend),
            ..Measured::default()
        };
        eprintln!("== {}", backend.name());

        if self.runs("scale") {
            // 6a. start-up on an empty database (median of a few)
            let mut readies = Vec::new();
            for run in 0..self.sizes.startup_runs {
                let database = self.database(backend).await?;
                let server = self
                    .start(&database, format!("{tag}-empty-{run}"), vec![])
                    .await?;
                readies.push(server.ready_in);
                server.stop().await;
                self.drop_database(database).await;
            }
            readies.sort();
            m.ready_empty = readies[readies.len() / 2];
            eprintln!("   ready (empty database): {:?}", m.ready_empty);
        }
        if self.runs("token") {
            // 1, 2. baseline and the warm token API
            let database = self.database(backend).await?;
            let tenant = seed::tenant(&database.db, &self.keyring).await?;
            let begun = Instant::now();
            let seeded = seed::connections(
                &database.db,
                &self.keyring,
                &tenant,
                0,
                self.sizes.warm_connections,
                seed::Freshness::Fresh,
            )
            .await?;
            m.seed_rate = seeded.len() as f64 / begun.elapsed().as_secs_f64();
            let server = self.start(&database, format!("{tag}-warm"), vec![]).await?;
            let base = server.base_url.clone();
            m.baseline = self.saturate("baseline", &base, &Workload::Baseline).await;
            // the first connection is kept for the one-connection run
            let (one, rest) = seeded.split_at(1.min(seeded.len()));
            let workload = token_workload(&tenant, rest);
            m.token_saturated = self
                .saturate("token API at saturation", &base, &workload)
                .await;
            m.token_fixed = self
                .fixed_rate("token API at a fixed rate", &base, &workload)
                .await;
            m.audit_rows = audit_rows(&database.db, None).await?;
            // one connection, one key: its reads are counted in one row a minute
            self.saturate(
                "token API, one connection",
                &base,
                &token_workload(&tenant, one),
            )
            .await;
            if let Some(first) = one.first() {
                m.audit_rows_one = audit_rows(&database.db, Some(&first.id)).await?;
            }
            m.warm_memory = server.memory();
            eprintln!(
                "   baseline {:.0}/s, token {:.0}/s, fixed p99 {} µs; audit: {} rows for {} reads, one connection {} rows for {} reads",
                m.baseline.throughput(),
                m.token_saturated.throughput(),
                m.token_fixed.p99_us,
                m.audit_rows.rows,
                m.audit_rows.reads,
                m.audit_rows_one.rows,
                m.audit_rows_one.reads
            );
            server.stop().await;
            // 2b. the same, each answer waiting for its read's commit
            let server = self
                .start(
                    &database,
                    format!("{tag}-warm-durable"),
                    vec![("OAUTH_VAULT_TOKEN_READ_AUDIT".into(), "durable".into())],
                )
                .await?;
            let base = server.base_url.clone();
            m.durable_saturated = self
                .saturate("token API (durable audit) at saturation", &base, &workload)
                .await;
            m.durable_fixed = self
                .fixed_rate(
                    "token API (durable audit) at a fixed rate",
                    &base,
                    &workload,
                )
                .await;
            server.stop().await;
            self.drop_database(database).await;
        }
        if self.runs("drain") {
            // 3. refresh drain, one process
            m.drain = self.drain(backend, 1).await?;
            // 4. two processes on PostgreSQL
            if backend == Backend::Postgres {
                m.drain_two = Some(self.drain(backend, 2).await?);
            }
        }
        if self.runs("scale") {
            // 5, 6b. scale: 1,000 connections, then 100,000
            let database = self.database(backend).await?;
            let tenant = seed::tenant(&database.db, &self.keyring).await?;
            let small = seed::connections(
                &database.db,
                &self.keyring,
                &tenant,
                0,
                self.sizes.scale_small,
                seed::Freshness::Fresh,
            )
            .await?;
            let server = self
                .start(&database, format!("{tag}-scale-small"), vec![])
                .await?;
            let base = server.base_url.clone();
            m.scale_small = self
                .fixed_rate(
                    "token API, small database",
                    &base,
                    &token_workload(&tenant, &small),
                )
                .await;
            server.stop().await;
            let mut large = small;
            large.extend(
                seed::connections(
                    &database.db,
                    &self.keyring,
                    &tenant,
                    self.sizes.scale_small,
                    self.sizes.scale_large,
                    seed::Freshness::Fresh,
                )
                .await?,
            );
            let server = self
                .start(&database, format!("{tag}-scale-large"), vec![])
                .await?;
            m.ready_large = server.ready_in;
            tokio::time::sleep(Duration::from_secs(1)).await;
            m.large_memory_idle = server.memory();
            let base = server.base_url.clone();
            m.scale_large = self
                .fixed_rate(
                    "token API, large database",
                    &base,
                    &token_workload(&tenant, &large),
                )
                .await;
            m.large_memory_loaded = server.memory();
            eprintln!(
                "   ready with {} connections: {:?}, resident {} MB",
                large.len(),
                m.ready_large,
                m.large_memory_loaded.resident / 1_000_000
            );
            server.stop().await;
            self.drop_database(database).await;
        }
        if self.runs("lists") {
            m.portal = Some(self.lists(backend).await?);
        }
        Ok(m)
    }

    /// The portal's Connections page of an app with the large number of
    /// connections (row 8 of the report).
    async fn lists(&mut self, backend: Backend) -> Result<portal::Lists, String> {
        let tag = match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        let database = self.database(backend).await?;
        let tenant = seed::tenant(&database.db, &self.keyring).await?;
        let count = self.sizes.scale_large;
        seed::connections(
            &database.db,
            &self.keyring,
            &tenant,
            0,
            count,
            seed::Freshness::Fresh,
        )
        .await?;
        let server = self
            .start(&database, format!("{tag}-lists"), vec![])
            .await?;
        let requests = if self.args.smoke { 20 } else { 200 };
        let measured = portal::measure(
            &self.http,
            &server.base_url,
            &database.db,
            &tenant,
            count,
            requests,
        )
        .await;
        server.stop().await;
        self.drop_database(database).await;
        measured.map_err(|e| format!("portal Connections page ({}): {e}", backend.name()))
    }

    async fn drain(&mut self, backend: Backend, processes: usize) -> Result<Drain, String> {
        let tag = match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        let database = self.database(backend).await?;
        let tenant = seed::tenant(&database.db, &self.keyring).await?;
        let count = self.sizes.drain_connections;
        seed::connections(
            &database.db,
            &self.keyring,
            &tenant,
            0,
            count,
            seed::Freshness::Due,
        )
        .await?;
        self.provider.reset();
        let begun = Instant::now();
        let mut servers = Vec::new();
        for n in 0..processes {
            servers.push(
                self.start(&database, format!("{tag}-drain-{processes}-{n}"), vec![])
                    .await?,
            );
        }
        let deadline = begun + self.args.drain_timeout;
        let mut drain = Drain {
            processes,
            connections: count,
            ..Drain::default()
        };
        loop {
            let refreshed = seed::refreshed(&database.db, &tenant).await?;
            drain.refreshed = refreshed.max(0) as u64;
            drain.elapsed = begun.elapsed();
            if drain.refreshed >= count {
                break;
            }
            if Instant::now() > deadline {
                drain.timed_out = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // let stragglers show up as duplicates before counting
        tokio::time::sleep(Duration::from_millis(500)).await;
        drain.seen = self.provider.seen();
        for server in servers {
            server.stop().await;
        }
        self.drop_database(database).await;
        let what = format!(
            "refresh drain ({processes} process(es), {})",
            backend.name()
        );
        if drain.timed_out {
            self.problems.push(format!(
                "{what}: {} of {count} refreshed within {:?}",
                drain.refreshed, self.args.drain_timeout
            ));
        }
        if drain.seen.duplicates > 0 || drain.seen.stale > 0 || drain.seen.rejected > 0 {
            self.problems.push(format!(
                "{what}: the provider saw {} duplicate, {} stale and {} rejected refreshes",
                drain.seen.duplicates, drain.seen.stale, drain.seen.rejected
            ));
        }
        eprintln!(
            "   drain x{processes}: {}/{count} in {:?}, duplicates {}",
            drain.refreshed, drain.elapsed, drain.seen.duplicates
        );
        Ok(drain)
    }
}

fn token_workload(tenant: &seed::Tenant, seeded: &[seed::Seeded]) -> Workload {
    Workload::Token {
        api_key: Arc::from(tenant.api_key.expose_secret()),
        connections: Arc::new(
            seeded
                .iter()
                .map(|s| (s.id.clone(), s.access_token.clone()))
                .collect(),
        ),
    }
}

async fn run(args: Args) -> Result<(Vec<Measured>, Vec<String>, report::Context), String> {
    let mut sizes = if args.smoke {
        Sizes::SMOKE
    } else {
        Sizes::FULL
    };
    if let Some(loops) = args.loops {
        sizes.concurrency = loops;
    }
    let work = std::env::temp_dir().join(format!("oauth-vault-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    let provider = provider::Provider::start(args.provider_delay)
        .await
        .map_err(|e| format!("starting the local provider: {e}"))?;
    let providers_dir = work.join("providers");
    provider
        .write_definition(&providers_dir)
        .map_err(|e| format!("writing the provider definition: {e}"))?;
    let (keys, keyring) = seed::key_entry();
    // plain HTTP on loopback only, but the client wants a TLS provider
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(4096)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))?;
    let logs = args
        .out
        .parent()
        .unwrap_or(Path::new("."))
        .join("server-logs");
    let spec = ServerSpec {
        binary: args.server.clone(),
        site_root: args.site_root.clone(),
        logs,
    };
    let mut bench = Bench {
        sizes,
        spec,
        http,
        provider,
        providers_dir,
        work: work.clone(),
        keys,
        keyring: keyring?,
        databases: 0,
        problems: Vec::new(),
        args,
    };
    let mut measured = Vec::new();
    for backend in bench.args.backends.clone() {
        measured.push(bench.measure(backend).await?);
    }
    let context = report::Context {
        smoke: bench.args.smoke,
        label: bench.args.label.clone(),
        sizes,
        provider_delay: bench.args.provider_delay,
        client: bench
            .args
            .site_root
            .as_deref()
            .map(report::client_size)
            .unwrap_or_default(),
        postgres_url: bench.args.postgres_url.clone(),
    };
    let _ = std::fs::remove_dir_all(&work);
    Ok((measured, bench.problems, context))
}

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let out = args.out.clone();
    let docs = args.docs.clone();
    let (measured, problems, context) = match run(args).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let markdown = report::markdown(&measured, &problems, &context).await;
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(&out, &markdown) {
        eprintln!("writing {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    eprintln!("results: {}", out.display());
    if let Some(docs) = docs {
        if let Err(e) = report::update_docs(&docs, &markdown) {
            eprintln!("updating {}: {e}", docs.display());
            return ExitCode::FAILURE;
        }
        eprintln!("updated: {}", docs.display());
    }
    print!("{markdown}");
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            eprintln!("wrong: {p}");
        }
        ExitCode::FAILURE
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn arguments_are_checked() {
        assert!(args(&[]).unwrap_err().contains("--server is required"));
        assert!(args(&["--server", "x", "--backends", "mysql"])
            .unwrap_err()
            .contains("unknown backend 'mysql'"));
        assert!(args(&["--server", "x", "--provider-delay-ms", "soon"])
            .unwrap_err()
            .contains("milliseconds"));
        let smoke = args(&["--server", "x", "--smoke", "--backends", "sqlite"]).unwrap();
        assert_eq!(smoke.backends, vec![Backend::Sqlite]);
        assert_eq!(smoke.provider_delay, Duration::from_millis(5));
        let full = args(&["--server", "x"]).unwrap();
        assert_eq!(full.provider_delay, Duration::from_millis(50));
        assert_eq!(full.backends, vec![Backend::Sqlite, Backend::Postgres]);
    }
}
