//! The audit log: who (developer, admin, API key, end user, system) did what,
//! when, on which object. Append-only — this module only inserts — and
//! written on the caller's connection, so that an entry belongs to the
//! transaction of the action it records: an action that fails leaves none.

use serde::{Deserialize, Serialize};

/// An entry as the portal shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditView {
    pub id: String,
    pub at: i64,
    pub actor_type: String,
    pub actor_label: Option<String>,
    pub action: String,
    pub organisation_id: Option<String>,
    pub app_id: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub detail: Option<String>,
    pub reason: Option<String>,
    /// The client address of the request, as the logs name it.
    pub client_address: Option<String>,
}

/// The detail of an entry that stands for `count` repeated actions, the
/// first at `first` and the last at `last` (ms): "4,213 times between
/// 10:00:03 and 10:00:59 UTC".
pub fn repeated(count: i64, first: i64, last: i64) -> String {
    let clock = |ms: i64| {
        let secs = ms.div_euclid(1000).rem_euclid(86_400);
        format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    };
    let digits = count.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if count == 1 {
        format!("once at {} UTC", clock(first))
    } else {
        format!(
            "{grouped} times between {} and {} UTC",
            clock(first),
            clock(last)
        )
    }
}

/// The first line of the CSV export.
pub const CSV_HEADER: &str =
    "time,actor_type,actor,action,organisation_id,app_id,target_type,target_id,detail,reason,client_address\n";

/// One CSV field: quoted, quotes doubled, and never read as a spreadsheet
/// formula — a value starting with `=`, `+`, `-`, `@`, a tab or a carriage
/// return gets a `'` in front (OWASP, CSV injection).
pub fn csv_field(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

/// An entry as one CSV line, with its newline, in [`CSV_HEADER`]'s order.
pub fn csv_line(entry: &AuditView) -> String {
    let fields = [
        crate::util::time::rfc3339(entry.at),
        entry.actor_type.clone(),
        entry.actor_label.clone().unwrap_or_default(),
        entry.action.clone(),
        entry.organisation_id.clone().unwrap_or_default(),
        entry.app_id.clone().unwrap_or_default(),
        entry.target_type.clone().unwrap_or_default(),
        entry.target_id.clone().unwrap_or_default(),
        entry.detail.clone().unwrap_or_default(),
        entry.reason.clone().unwrap_or_default(),
        entry.client_address.clone().unwrap_or_default(),
    ];
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_actions_say_how_many_and_when() {
        let ten = 10 * 3600 * 1000;
        assert_eq!(
            repeated(4213, ten + 3_000, ten + 59_500),
            "4,213 times between 10:00:03 and 10:00:59 UTC"
        );
        assert_eq!(repeated(1, ten, ten), "once at 10:00:00 UTC");
        assert_eq!(
            repeated(1_000_000, 0, 60_000),
            "1,000,000 times between 00:00:00 and 00:01:00 UTC"
        );
    }

    #[test]
    fn csv_fields_never_start_a_formula() {
        for value in ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"] {
            let field = csv_field(value);
            assert_eq!(field, format!("\"'{value}\""), "{value:?}");
        }
        assert_eq!(csv_field("plain"), "\"plain\"");
        assert_eq!(csv_field("a \"b\" c"), "\"a \"\"b\"\" c\"");
        assert_eq!(
            csv_field("1-1"),
            "\"1-1\"",
            "only the first character counts"
        );
    }

    #[test]
    fn csv_lines_follow_the_header() {
        let entry = AuditView {
            id: "aud_1".into(),
            at: 0,
            actor_type: "developer".into(),
            actor_label: Some("dev@example.com".into()),
            action: "app.created".into(),
            organisation_id: None,
            app_id: Some("app_1".into()),
            target_type: None,
            target_id: None,
            detail: Some("=HYPERLINK(\"x\")".into()),
            reason: None,
            client_address: Some("192.0.2.1".into()),
        };
        let line = csv_line(&entry);
        assert!(line.ends_with('\n'));
        assert_eq!(
            line.trim_end().split("\",\"").count(),
            CSV_HEADER.trim_end().split(',').count()
        );
        assert!(line.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{line}");
    }
}
