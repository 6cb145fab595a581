//! The portal's lists at scale (row 8 of the report): the Connections page of an app with the
//! large number of connections (100,000 in a full run), rendered for its
//! signed-in developer — the first page, a deeper page, a filtered page, an
//! end user's connections and a search — sequentially and a few at a time.
//! Every answer must be the page with the expected rows.

use crate::{seed::Tenant, Backend, Measured};
use app::infra::db::Db;
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

/// One kind of request, measured.
#[derive(Clone, Debug, Default)]
pub struct Latency {
    pub what: String,
    pub requests: u64,
    pub concurrency: usize,
    pub elapsed: Duration,
    pub p50_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
}

/// The Connections page's measurements on one backend.
#[derive(Clone, Debug, Default)]
pub struct Lists {
    pub connections: u64,
    pub rows: Vec<Latency>,
}

/// A signed-in session of the tenant's developer (made the way signing in
/// makes one), as a cookie header.
async fn session(db: &Db, tenant: &Tenant) -> Result<String, String> {
    let user_id: String = sqlx::query_scalar(
        "SELECT u.id FROM users u JOIN apps a ON a.organisation_id = u.organisation_id WHERE a.id = $1",
    )
    .bind(&tenant.app_id)
    .fetch_one(db.pool())
    .await
    .map_err(|e| format!("finding the developer: {e}"))?;
    let token = app::store::sessions::create(db, &user_id)
        .await
        .map_err(|e| format!("signing the developer in: {e}"))?;
    Ok(format!(
        "{}={token}",
        app::store::sessions::cookie_name(false)
    ))
}

/// GETs `path` `requests` times over `concurrency` loops; each answer must
/// be 200 and contain `expect`.
#[allow(clippy::too_many_arguments)]
async fn run(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    what: &str,
    path: &str,
    expect: &str,
    requests: u64,
    concurrency: usize,
) -> Result<Latency, String> {
    let url = format!("{base}{path}");
    let mut loops = Vec::new();
    let begun = Instant::now();
    for n in 0..concurrency {
        let (http, url, cookie, expect) = (
            http.clone(),
            url.clone(),
            cookie.to_string(),
            expect.to_string(),
        );
        let share =
            requests / concurrency as u64 + u64::from((n as u64) < requests % concurrency as u64);
        loops.push(tokio::spawn(async move {
            let mut times = Vec::with_capacity(share as usize);
            for _ in 0..share {
                let sent = Instant::now();
                let res = http
                    .get(&url)
                    .header("cookie", &cookie)
                    .send()
                    .await
                    .map_err(|e| format!("{url}: {e}"))?;
                let status = res.status();
                let body = res.text().await.map_err(|e| format!("{url}: {e}"))?;
                times.push(sent.elapsed());
                if !status.is_success() || !body.contains(&expect) {
                    return Err(format!("{url}: {status}, without {expect:?}"));
                }
            }
            Ok::<_, String>(times)
        }));
    }
    #[allow(clippy::expect_used)]
    let mut histogram =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("constant, valid bounds");
    for l in loops {
        let times = l.await.map_err(|e| format!("a request loop: {e}"))??;
        for t in times {
            let _ = histogram.record((t.as_micros() as u64).max(1));
        }
    }
    Ok(Latency {
        what: what.into(),
        requests,
        concurrency,
        elapsed: begun.elapsed(),
        p50_us: histogram.value_at_quantile(0.50),
        p95_us: histogram.value_at_quantile(0.95),
        p99_us: histogram.value_at_quantile(0.99),
    })
}

/// Measures the Connections page of `tenant`'s app, with `connections`
/// seeded (numbered `0..connections`), on the server at `base`.
pub async fn measure(
    http: &reqwest::Client,
    base: &str,
    db: &Db,
    tenant: &Tenant,
    connections: u64,
    requests: u64,
) -> Result<Lists, String> {
    let cookie = session(db, tenant).await?;
    let list = format!("/apps/{}/connections", tenant.app_id);
    // a page halfway down: the cursor of the connection in the middle
    let middle = connections / 2;
    let (at, id): (i64, String) = sqlx::query_as(
        "SELECT created_at, id FROM connections WHERE app_id = $1 AND end_user_id = $2",
    )
    .bind(&tenant.app_id)
    .bind(format!("user-{middle}"))
    .fetch_one(db.pool())
    .await
    .map_err(|e| format!("finding a cursor: {e}"))?;
    let one = connections / 3;
    let cases: Vec<(&str, String, String)> = vec![
        (
            "first page",
            list.clone(),
            "data-testid=\"connections\"".into(),
        ),
        (
            "a page halfway down (cursor)",
            format!("{list}?older={at}:{id}"),
            "data-testid=\"older-page\"".into(),
        ),
        (
            "filtered: status and provider",
            format!(
                "{list}?status=active&provider={}",
                crate::provider::PROVIDER_ID
            ),
            // every seeded connection matches: a full page, with more after
            // it (which rows come first among ones seeded in the same
            // millisecond depends on their random ids)
            "data-testid=\"older-page\"".into(),
        ),
        (
            "one end user's connections",
            format!("{list}?end_user=user-{one}"),
            // the list names end users by their name
            format!("User {one}<"),
        ),
        (
            "search (end user, email, account)",
            format!("{list}?q=account-{one}"),
            format!("User {one}<"),
        ),
    ];
    let mut rows = Vec::new();
    for (what, path, expect) in &cases {
        // one checked warm-up request
        run(http, base, &cookie, what, path, expect, 1, 1).await?;
        let row = run(http, base, &cookie, what, path, expect, requests, 1).await?;
        eprintln!(
            "   portal {what}: p50 {} µs, p95 {} µs, p99 {} µs",
            row.p50_us, row.p95_us, row.p99_us
        );
        rows.push(row);
    }
    let (what, path, expect) = &cases[0];
    let row = run(
        http,
        base,
        &cookie,
        &format!("{what}, 4 at a time"),
        path,
        expect,
        requests,
        4,
    )
    .await?;
    eprintln!(
        "   portal {}: p50 {} µs, p95 {} µs, p99 {} µs",
        row.what, row.p50_us, row.p95_us, row.p99_us
    );
    rows.push(row);
    Ok(Lists { connections, rows })
}

fn ms(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

/// The report's section: one row per request kind, one column per backend.
pub fn markdown(measured: &[Measured]) -> String {
    let Some(first) = measured.iter().find_map(|m| m.portal.as_ref()) else {
        return String::new();
    };
    let mut out = format!(
        "8. Portal Connections page, {} connections in the app, signed in as its developer ({} requests each; p50 · p95 · p99):\n\n| Page |",
        fmt_count(first.connections),
        first.rows.first().map(|r| r.requests).unwrap_or_default()
    );
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
    for (i, row) in first.rows.iter().enumerate() {
        out.push_str(&format!("| {} |", row.what));
        for m in measured {
            let cell = m
                .portal
                .as_ref()
                .and_then(|p| p.rows.get(i))
                .map(|r| format!("{} · **{}** · {}", ms(r.p50_us), ms(r.p95_us), ms(r.p99_us)))
                .unwrap_or_else(|| "—".into());
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    out.push('\n');
    out
}

fn fmt_count(n: u64) -> String {
    let text = n.to_string();
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i > 0 && (text.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
