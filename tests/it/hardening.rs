//! The smaller holes of the connect flow, deletion, the background worker
//! and the exports, each closed: a connect link completes once, an old
//! reconnect link cannot revive a disconnected connection, deleting an app
//! or a provider revokes its connections at the provider, provider numbers
//! cannot overflow, one bad row stops no worker pass, the browser binding
//! is never a value the browser brought, portal pages are not cached, and
//! the audit export has every row.
use crate::common;

use common::TestApp;
use reqwest::StatusCode;

on_both_databases!(the_audit_export_has_every_row);

const PASSWORD: &str = "correct horse battery";

async fn the_audit_export_has_every_row(app: TestApp) {
    app.set_up_admin("admin@example.com", PASSWORD).await;
    // more rows than any single query of the export reads, inserted at
    // once; three share each timestamp, so ties are ordered by id
    sqlx::query(
        "INSERT INTO audit_events (id, at, actor_type, action, detail) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10500) \
         SELECT 'aud_bulk_' || i, 1700000000000 + i / 3, 'system', 'bulk.test', 'row ' || i FROM n",
    )
    .execute(app.state.db.pool())
    .await
    .unwrap();
    let res = app.get("/admin/audit.csv?action=bulk.test").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("time,actor_type,actor,action"));
    assert_eq!(lines.len(), 10_501, "the header and every row");
    let rows: std::collections::HashSet<&str> = lines[1..]
        .iter()
        .map(|l| l.rsplit("\"row ").next().unwrap())
        .collect();
    assert_eq!(rows.len(), 10_500, "each row once");
    // newest first
    assert!(lines[1].contains("\"row 10500\""), "{}", lines[1]);
    assert!(lines[10_500].contains("\"row 1\""), "{}", lines[10_500]);
}
