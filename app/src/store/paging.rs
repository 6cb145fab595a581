//! Keyset pages in SQL: the condition and order for a [`PageAt`] over a
//! `(time, id)` pair of columns, for any store's list.

use crate::{domain::paging::PageAt, infra::db::Where};

/// Adds the condition of `page` on `(at, id)` to `conditions` and returns
/// the `ORDER BY … LIMIT …` that reads `limit + 1` rows from there (newest
/// first, or oldest first for a newer page: [`crate::domain::paging::trim`]
/// puts them back).
pub fn keyset(conditions: &mut Where, page: &PageAt, at: &str, id: &str, limit: i64) -> String {
    let (op, dir) = match page {
        PageAt::First => ("", "DESC"),
        PageAt::Older(_) => ("<", "DESC"),
        PageAt::Newer(_) => (">", "ASC"),
    };
    if let PageAt::Older(c) | PageAt::Newer(c) = page {
        // a row value, which both engines read as one index range
        conditions.int(&format!(" AND ({at}, {id}) {op} (?"), c.at);
        conditions.text(", ?)", c.id.clone());
    }
    format!(
        " ORDER BY {at} {dir}, {id} {dir} LIMIT {}",
        limit.clamp(1, 10_000) + 1
    )
}
