//! The Markdown report, and the machine it was measured on.

use crate::{load::Stats, Backend, Drain, Measured, Sizes};
use app::infra::db::Db;
use std::{path::Path, process::Command, time::Duration};

pub const START: &str = "<!-- bench:results:start -->";
pub const END: &str = "<!-- bench:results:end -->";

pub struct Context {
    pub smoke: bool,
    pub label: Option<String>,
    pub sizes: Sizes,
    pub provider_delay: Duration,
    pub client: Vec<ClientFile>,
    pub postgres_url: String,
}

/// A file the browser downloads.
#[derive(Clone, Debug)]
pub struct ClientFile {
    pub name: String,
    pub raw: u64,
    pub gzip: u64,
    /// The precompressed `.br` beside it, which the server sends to a
    /// browser that accepts br (0 when there is none).
    pub br: u64,
}

/// The wasm, JS and CSS under `site_root/pkg`, raw and gzip -9.
pub fn client_size(site_root: &Path) -> Vec<ClientFile> {
    let Ok(entries) = std::fs::read_dir(site_root.join("pkg")) else {
        return Vec::new();
    };
    // the content-hashed bundle the pages link, when there is one
    let build = std::fs::read_to_string(site_root.join("pkg").join("BUILD"))
        .map(|b| b.trim().to_string())
        .ok();
    let mut files: Vec<ClientFile> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("wasm" | "js" | "css")
            )
        })
        .filter(|p| {
            build.as_deref().is_none_or(|b| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.contains(b))
            })
        })
        .filter_map(|path| {
            let raw = std::fs::metadata(&path).ok()?.len();
            let gzip = Command::new("gzip")
                .args(["-9", "-c"])
                .arg(&path)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| o.stdout.len() as u64)
                .unwrap_or(0);
            let br = std::fs::metadata(format!("{}.br", path.display()))
                .map(|m| m.len())
                .unwrap_or(0);
            Some(ClientFile {
                name: path.file_name()?.to_string_lossy().into_owned(),
                raw,
                gzip,
                br,
            })
        })
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

async fn machine(context: &Context) -> Vec<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gb = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb as f64 / 1_048_576.0)
        .unwrap_or(0.0);
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "unknown OS".into());
    let kernel = command_line("uname", &["-r"]).unwrap_or_default();
    let rustc = command_line("rustc", &["--version"]).unwrap_or_default();
    let postgres = match Db::connect(&context.postgres_url, 1).await {
        Ok(db) => {
            let v: Option<String> = sqlx::query_scalar("SHOW server_version")
                .fetch_one(db.pool())
                .await
                .ok();
            db.close().await;
            v.unwrap_or_default()
        }
        Err(_) => "not reachable".into(),
    };
    let sqlite = match Db::connect("sqlite::memory:", 1).await {
        Ok(db) => {
            let v: Option<String> = sqlx::query_scalar("SELECT sqlite_version()")
                .fetch_one(db.pool())
                .await
                .ok();
            db.close().await;
            v.unwrap_or_default()
        }
        Err(_) => String::new(),
    };
    vec![
        format!("{cores} cores ({model}), {memory_gb:.0} GiB memory"),
        format!("{os}, Linux {kernel}; {rustc}"),
        format!("SQLite {sqlite} (WAL, embedded); PostgreSQL {postgres} on the same machine"),
        "the load generator runs on the same cores as the server".into(),
    ]
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(us: u64) -> String {
    if us >= 100_000 {
        format!("{:.0} ms", us as f64 / 1000.0)
    } else {
        format!("{:.2} ms", us as f64 / 1000.0)
    }
}

fn duration(d: Duration) -> String {
    if d >= Duration::from_secs(10) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1_000_000.0)
}

fn latencies(s: &Stats) -> String {
    format!(
        "p50 {} · p99 {} · p99.9 {}",
        ms(s.p50_us),
        ms(s.p99_us),
        ms(s.p999_us)
    )
}

fn saturated(s: &Stats) -> String {
    format!(
        "{} req/s · {}",
        thousands(s.throughput().round() as u64),
        latencies(s)
    )
}

fn fixed(s: &Stats) -> String {
    format!(
        "{} ({} req/s achieved)",
        latencies(s),
        thousands(s.throughput().round() as u64)
    )
}

fn drain(d: &Drain) -> String {
    let rate = d.refreshed as f64 / d.elapsed.as_secs_f64().max(0.001);
    let done = if d.timed_out {
        format!(
            "**{} of {} after {}** (stopped)",
            thousands(d.refreshed),
            thousands(d.connections),
            duration(d.elapsed)
        )
    } else {
        duration(d.elapsed)
    };
    format!(
        "{done} · {rate:.0} refreshes/s · provider saw {} refreshes for {} connections, {} duplicate",
        thousands(d.seen.refreshes),
        thousands(d.seen.connections),
        d.seen.duplicates
    )
}

pub async fn markdown(measured: &[Measured], problems: &[String], context: &Context) -> String {
    let sizes = &context.sizes;
    let mut out = String::new();
    let title = match (&context.label, context.smoke) {
        (Some(label), _) => format!("### Results: {label}"),
        (None, true) => "### Results (smoke run: small sizes, numbers not meaningful)".into(),
        (None, false) => "### Results".into(),
    };
    out.push_str(&title);
    out.push_str("\n\n");
    for line in machine(context).await {
        out.push_str(&format!("- {line}\n"));
    }
    out.push_str(&format!(
        "- {} s per load phase after 1 s warm-up; {} loops at saturation; fixed rate {} req/s (open loop, up to 1,024 in flight; latency from the moment each request is sent); provider delay {} ms\n\n",
        sizes.duration.as_secs(),
        sizes.concurrency,
        sizes.rate,
        context.provider_delay.as_millis()
    ));
    out.push_str("| Measure |");
    for m in measured {
        out.push_str(&format!(
            " {} |",
            m.backend.map(Backend::name).unwrap_or_default()
        ));
    }
    out.push_str("\n|---|");
    for _ in measured {
        out.push_str("---|");
    }
    out.push('\n');
    let mut row = |name: String, cell: &dyn Fn(&Measured) -> String| {
        out.push_str(&format!("| {name} |"));
        for m in measured {
            out.push_str(&format!(" {} |", cell(m)));
        }
        out.push('\n');
    };
    row("1. Baseline `GET /healthz`, saturation".into(), &|m| {
        saturated(&m.baseline)
    });
    row(
        format!(
            "2. Token API, saturation, {} connections",
            thousands(sizes.warm_connections)
        ),
        &|m| {
            let ratio = m.token_saturated.throughput() / m.baseline.throughput().max(1.0);
            format!(
                "{} · **{:.0} % of baseline**",
                saturated(&m.token_saturated),
                ratio * 100.0
            )
        },
    );
    row(
        format!(
            "2. Token API at {} req/s, {} connections",
            thousands(sizes.rate),
            thousands(sizes.warm_connections)
        ),
        &|m| fixed(&m.token_fixed),
    );
    row(
        "2. … with durable token-read audit, saturation".into(),
        &|m| {
            let ratio = m.durable_saturated.throughput() / m.baseline.throughput().max(1.0);
            format!(
                "{} · {:.0} % of baseline",
                saturated(&m.durable_saturated),
                ratio * 100.0
            )
        },
    );
    row(
        format!(
            "2. … with durable token-read audit, {} req/s",
            thousands(sizes.rate)
        ),
        &|m| fixed(&m.durable_fixed),
    );
    let audit = |a: &crate::AuditRows| {
        format!(
            "{} rows for {} reads",
            thousands(a.rows.max(0) as u64),
            thousands(a.reads.max(0) as u64)
        )
    };
    row(
        "2. Audit rows written for the token reads above (buffered, the default)".into(),
        &|m| audit(&m.audit_rows),
    );
    row(
        "2. Audit rows, one connection read by one key at saturation".into(),
        &|m| audit(&m.audit_rows_one),
    );
    row(
        format!(
            "3. Refresh drain, {} due, one process",
            thousands(sizes.drain_connections)
        ),
        &|m| drain(&m.drain),
    );
    row(
        format!(
            "4. Refresh drain, {} due, two processes",
            thousands(sizes.drain_connections)
        ),
        &|m| {
            m.drain_two
                .as_ref()
                .map(drain)
                .unwrap_or_else(|| "—".into())
        },
    );
    row(
        format!(
            "5. Token API at {} req/s, {} connections",
            thousands(sizes.rate),
            thousands(sizes.scale_small)
        ),
        &|m| fixed(&m.scale_small),
    );
    row(
        format!(
            "5. Token API at {} req/s, {} connections",
            thousands(sizes.rate),
            thousands(sizes.scale_large)
        ),
        &|m| fixed(&m.scale_large),
    );
    row(
        format!(
            "5. Resident memory, {} connections (idle → after load; peak)",
            thousands(sizes.scale_large)
        ),
        &|m| {
            format!(
                "{} → {}; peak {}",
                mb(m.large_memory_idle.resident),
                mb(m.large_memory_loaded.resident),
                mb(m.large_memory_loaded.peak)
            )
        },
    );
    row("6. Ready (`/readyz`), empty database".into(), &|m| {
        duration(m.ready_empty)
    });
    row(
        format!(
            "6. Ready (`/readyz`), {} connections",
            thousands(sizes.scale_large)
        ),
        &|m| duration(m.ready_large),
    );
    row("Seeding (bulk, encrypted)".into(), &|m| {
        format!("{} connections/s", thousands(m.seed_rate.round() as u64))
    });
    out.push('\n');
    if !context.client.is_empty() {
        out.push_str(
            "7. Client, as the browser downloads it (a first load of any page: JS + wasm + CSS; `br` is what the server sends to a browser that accepts it):\n\n| File | Raw | gzip -9 | br (served) |\n|---|---|---|---|\n",
        );
        let (mut raw, mut gz, mut br) = (0, 0, 0);
        for f in &context.client {
            out.push_str(&format!(
                "| `{}` | {} KB | {} KB | {} KB |\n",
                f.name,
                thousands(f.raw / 1000),
                thousands(f.gzip / 1000),
                thousands(f.br / 1000)
            ));
            raw += f.raw;
            gz += f.gzip;
            br += f.br;
        }
        out.push_str(&format!(
            "| total | {} KB | {} KB | {} KB |\n\n",
            thousands(raw / 1000),
            thousands(gz / 1000),
            thousands(br / 1000)
        ));
    }
    out.push_str(&crate::portal::markdown(measured));
    if problems.is_empty() {
        out.push_str("Every answer was checked: each token served was the seeded one, every due connection was refreshed exactly once.\n");
    } else {
        out.push_str("**Wrong answers in this run:**\n\n");
        for p in problems {
            out.push_str(&format!("- {p}\n"));
        }
    }
    out
}

/// Replaces the results between the markers in `docs` (appends them, with
/// markers, when the file has none).
pub fn update_docs(docs: &Path, markdown: &str) -> std::io::Result<()> {
    let current = std::fs::read_to_string(docs).unwrap_or_default();
    let block = format!("{START}\n{markdown}{END}");
    let updated = match (current.find(START), current.find(END)) {
        (Some(s), Some(e)) if e > s => {
            format!("{}{block}{}", &current[..s], &current[e + END.len()..])
        }
        _ => format!("{current}\n{block}\n"),
    };
    std::fs::write(docs, updated)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(ms(1234), "1.23 ms");
        assert_eq!(ms(250_000), "250 ms");
        assert_eq!(duration(Duration::from_millis(420)), "420 ms");
        assert_eq!(duration(Duration::from_secs(12)), "12.0 s");
    }

    #[test]
    fn docs_keep_what_surrounds_the_results() {
        let dir = std::env::temp_dir().join(format!("ovbench-docs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("PERF.md");
        std::fs::write(&file, format!("# Intro\n{START}\nold\n{END}\n## After\n")).unwrap();
        update_docs(&file, "new\n").unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text, format!("# Intro\n{START}\nnew\n{END}\n## After\n"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
