//! The load generator: closed-loop saturation and open-loop fixed rate, with
//! latency in HDR histograms. Fixed-rate latency is measured from the moment
//! each request was due, so a stalled server cannot hide its queueing
//! (no coordinated omission).

use hdrhistogram::Histogram;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// What the requests ask for.
#[derive(Clone)]
pub enum Workload {
    /// `GET /healthz`: a constant answer through the same stack.
    Baseline,
    /// `GET /v1/connections/{id}/access-token` for connections picked at
    /// random; each answer must carry the seeded token.
    Token {
        api_key: Arc<str>,
        /// (connection id, expected access token)
        connections: Arc<Vec<(String, String)>>,
    },
}

#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// The first error, for the report.
    pub first_error: Option<String>,
}

impl Stats {
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.requests as f64 / secs
        } else {
            0.0
        }
    }

    fn from(histogram: &Histogram<u64>, requests: u64, errors: u64, elapsed: Duration) -> Self {
        Self {
            requests,
            errors,
            elapsed,
            p50_us: histogram.value_at_quantile(0.50),
            p99_us: histogram.value_at_quantile(0.99),
            p999_us: histogram.value_at_quantile(0.999),
            max_us: histogram.max(),
            first_error: None,
        }
    }
}

/// 1 µs to 60 s at 3 significant digits.
#[allow(clippy::expect_used)]
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant, valid histogram bounds")
}

/// A small, fast, seeded generator for picking connections (not for secrets).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below.max(1) as u64) as usize
    }
}

/// One request; `Err` says why the answer was not the right one.
async fn one(
    http: &reqwest::Client,
    base: &str,
    workload: &Workload,
    rng: &mut XorShift,
) -> Result<(), String> {
    match workload {
        Workload::Baseline => {
            let r = http
                .get(format!("{base}/healthz"))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !r.status().is_success() {
                return Err(format!("/healthz answered {}", r.status()));
            }
            r.bytes().await.map_err(|e| e.to_string())?;
            Ok(())
        }
        Workload::Token {
            api_key,
            connections,
        } => {
            let (id, expected) = &connections[rng.next(connections.len())];
            let r = http
                .get(format!("{base}/v1/connections/{id}/access-token"))
                .bearer_auth(api_key)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = r.status();
            let body = r.text().await.map_err(|e| e.to_string())?;
            if !status.is_success() {
                return Err(format!("the token API answered {status}"));
            }
            if !body.contains(&format!("\"access_token\":\"{expected}\"")) {
                return Err("the token API served another token than the seeded one".into());
            }
            Ok(())
        }
    }
}

/// As many requests as `concurrency` loops can make in `duration`, after
/// a one-second warm-up.
pub async fn saturate(
    http: &reqwest::Client,
    base: &str,
    workload: &Workload,
    concurrency: usize,
    duration: Duration,
) -> Stats {
    let warm_until = Instant::now() + Duration::from_secs(1);
    let measure_until = warm_until + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let http = http.clone();
        let base = base.to_string();
        let workload = workload.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ ((worker as u64 + 1) * 0x2545_F491));
            let mut hist = histogram();
            let (mut requests, mut errors, mut first_error) = (0u64, 0u64, None);
            loop {
                let begun = Instant::now();
                if begun >= measure_until {
                    break;
                }
                let outcome = one(&http, &base, &workload, &mut rng).await;
                if begun < warm_until {
                    continue;
                }
                requests += 1;
                let _ = hist.record(begun.elapsed().as_micros() as u64);
                if let Err(e) = outcome {
                    errors += 1;
                    first_error.get_or_insert(e);
                }
            }
            (hist, requests, errors, first_error)
        }));
    }
    let mut total = histogram();
    let (mut requests, mut errors, mut first_error) = (0, 0, None);
    for task in tasks {
        if let Ok((hist, r, e, f)) = task.await {
            let _ = total.add(&hist);
            requests += r;
            errors += e;
            if first_error.is_none() {
                first_error = f;
            }
        }
    }
    let mut stats = Stats::from(&total, requests, errors, duration);
    stats.first_error = first_error;
    stats
}

/// `rate` requests a second for `duration`, each sent when due (up to
/// `max_in_flight` at once), after a one-second warm-up at the same rate.
pub async fn fixed_rate(
    http: &reqwest::Client,
    base: &str,
    workload: &Workload,
    rate: u64,
    duration: Duration,
) -> Stats {
    let max_in_flight = Arc::new(tokio::sync::Semaphore::new(1024));
    let warm = rate; // one second
    let total_requests = warm + rate * duration.as_secs().max(1);
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Result<(), String>)>();
    let start = Instant::now() + Duration::from_millis(10);
    let mut measured_from = start;
    for i in 0..total_requests {
        let due = start + interval.mul_f64(i as f64);
        if i == warm {
            measured_from = due;
        }
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = max_in_flight.clone().acquire_owned().await else {
            break;
        };
        let http = http.clone();
        let base = base.to_string();
        let workload = workload.clone();
        let tx = tx.clone();
        let measured = i >= warm;
        tokio::spawn(async move {
            let mut rng =
                XorShift(0x9E37_79B9_7F4A_7C15 ^ (i + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
            // From the moment it is sent: the sending is open-loop (up to
            // 1,024 in flight), so a slow server does not delay it, and the
            // timer's own lateness (up to a millisecond) is not the server's.
            let sent = Instant::now();
            let outcome = one(&http, &base, &workload, &mut rng).await;
            drop(permit);
            if measured {
                let _ = tx.send((sent.elapsed().as_micros() as u64, outcome));
            }
        });
    }
    drop(tx);
    let mut hist = histogram();
    let (mut requests, mut errors, mut first_error) = (0u64, 0u64, None);
    while let Some((latency, outcome)) = rx.recv().await {
        requests += 1;
        let _ = hist.record(latency);
        if let Err(e) = outcome {
            errors += 1;
            first_error.get_or_insert(e);
        }
    }
    let elapsed = measured_from.elapsed();
    let mut stats = Stats::from(&hist, requests, errors, elapsed);
    stats.first_error = first_error;
    stats
}
