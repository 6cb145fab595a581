//! The background worker: every few seconds it refreshes tokens about to
//! expire, health-checks long-lived tokens that are due, retries revocations
//! at providers and delivers webhooks.

use crate::{
    infra::db::now_ms,
    services::context::Context,
    services::tokens::{health_check, internal, refresh_listed, CareError, Listed},
};
use std::time::Duration;

/// What one pass of the background worker did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WorkReport {
    pub refreshed: usize,
    pub refresh_failed: usize,
    pub checked: usize,
    pub revocations_settled: usize,
    pub webhooks_delivered: usize,
    pub webhooks_failed: usize,
    /// The pass took a full batch and made progress: run the next at once.
    pub more_due: bool,
}

/// One pass of background work: refresh what is about to expire, health-
/// check long-lived tokens that are due. Each pass takes a bounded batch,
/// the most urgent first; connections backing off after failures wait their
/// turn, so one failing connection cannot starve the others.
pub async fn run_once(state: &Context) -> Result<WorkReport, CareError> {
    run_pass(state, now_ms()).await
}

/// [`run_once`], leaving out connections refreshed since `burst_start`: a
/// run of back-to-back passes refreshes each connection once at most, even
/// when a provider's tokens live shorter than the refresh horizon. Each kind
/// of work runs whatever became of the others: a failure is logged and the
/// pass goes on (and within each, a row that fails is backed off and the
/// others go on).
async fn run_pass(state: &Context, burst_start: i64) -> Result<WorkReport, CareError> {
    let mut report = WorkReport::default();
    match refresh_due(state, burst_start, &mut report).await {
        Ok(()) => {}
        Err(e) => tracing::error!(error = %e, "listing the refreshes due failed"),
    }
    match check_due(state).await {
        Ok(checked) => report.checked = checked,
        Err(e) => tracing::error!(error = %e, "listing the health checks due failed"),
    }
    match crate::services::revocation::retry_due(state).await {
        Ok(settled) => report.revocations_settled = settled,
        Err(e) => tracing::error!(error = %e, "retrying queued revocations failed"),
    }
    match crate::services::webhooks::deliver_due(state).await {
        Ok((delivered, failed)) => {
            report.webhooks_delivered = delivered;
            report.webhooks_failed = failed;
        }
        Err(e) => tracing::error!(error = %e, "delivering webhooks failed"),
    }
    Ok(report)
}

/// Refreshes what is about to expire, the most urgent first.
async fn refresh_due(
    state: &Context,
    burst_start: i64,
    report: &mut WorkReport,
) -> Result<(), CareError> {
    use futures_util::{stream, StreamExt};
    let care = &state.settings.token_care;
    let now = now_ms();
    let concurrency = care.refresh_concurrency.max(1);
    let batch = concurrency * 4;
    let horizon = care.refresh_margin_ms.max(care.worker_interval_ms * 2);
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM connections WHERE status IN ('active', 'error') AND refresh_token IS NOT NULL AND expires_at IS NOT NULL \
         AND expires_at <= $1 AND (next_attempt_at IS NULL OR next_attempt_at <= $2) AND (lease_owner IS NULL OR lease_until < $3) \
         AND (last_refreshed_at IS NULL OR last_refreshed_at < $4) ORDER BY expires_at LIMIT $5",
    )
    .bind(now.saturating_add(horizon))
    .bind(now)
    .bind(now)
    .bind(burst_start)
    .bind(batch as i64)
    .fetch_all(state.db.pool())
    .await
    .map_err(internal)?;
    let listed = due.len();
    let results: Vec<Listed> = stream::iter(due)
        .map(|id| async move { refresh_listed(state, &id, horizon).await })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let count = |kind: Listed| results.iter().filter(|r| **r == kind).count();
    report.refreshed = count(Listed::Refreshed);
    report.refresh_failed = count(Listed::Failed);
    // A full batch with progress: more are probably due right now.
    report.more_due = listed == batch && report.refreshed > 0;
    Ok(())
}

/// Health-checks long-lived tokens that are due; returns how many.
async fn check_due(state: &Context) -> Result<usize, CareError> {
    use futures_util::{stream, StreamExt};
    let care = &state.settings.token_care;
    let now = now_ms();
    let concurrency = care.refresh_concurrency.max(1);
    let batch = concurrency * 4;
    let checks: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM connections WHERE status IN ('active', 'error') AND refresh_token IS NULL AND expires_at IS NULL \
         AND COALESCE(next_check_at, COALESCE(last_checked_at, 0) + $1) <= $2 ORDER BY COALESCE(next_check_at, 0) LIMIT $3",
    )
    .bind(care.health_check_interval_ms)
    .bind(now)
    .bind(batch as i64)
    .fetch_all(state.db.pool())
    .await
    .map_err(internal)?;
    let checked: Vec<bool> = stream::iter(checks)
        .map(|id| async move { health_check(state, &id).await.is_ok() })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    // Checks do not continue a burst: a check that cannot run (no check
    // defined) leaves its connection listed, and a pass every interval
    // already covers a 100,000-connection estate well within 6 hours.
    Ok(checked.len())
}

/// Runs [`run_once`] every `worker_interval_ms` until `stop` fires.
pub async fn run_worker(state: Context, mut stop: tokio::sync::watch::Receiver<bool>) {
    let interval = state.settings.token_care.worker_interval_ms;
    if interval <= 0 {
        return;
    }
    // set while passes run back to back
    let mut burst_start: Option<i64> = None;
    loop {
        let since = *burst_start.get_or_insert_with(now_ms);
        let more_due = match run_pass(&state, since).await {
            Ok(report) if report != WorkReport::default() => {
                tracing::info!(?report, "token care pass");
                report.more_due
            }
            Ok(_) => false,
            Err(e) => {
                tracing::error!(error = %e, "token care pass failed");
                false
            }
        };
        if more_due {
            // a backlog (after downtime, or many tokens expiring together):
            // the next pass starts at once
            if stop.has_changed().unwrap_or(true) {
                return;
            }
            continue;
        }
        burst_start = None;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(interval as u64)) => {}
            _ = stop.changed() => return,
        }
    }
}
