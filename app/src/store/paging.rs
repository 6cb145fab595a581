//! Keyset pages in SQL: the condition and order for a [`PageAt`] over a
//! `(time, id)` pair of columns, for any store's list.

use crate::{
    domain::paging::PageAt,
    infra::db::{Db, Where},
};
use sqlx::any::AnyRow;

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

/// Reads page `page` of `select` (a `SELECT … FROM … WHERE 1 = 1` to which
/// `conditions` and the keyset order on `(at, id)` are appended), each row
/// read by `read`: up to `limit` rows in page order, and whether there are
/// more beyond them.
pub async fn fetch_page<T>(
    db: &Db,
    select: &str,
    mut conditions: Where,
    page: &PageAt,
    (at, id): (&str, &str),
    limit: i64,
    read: impl Fn(&AnyRow) -> Result<T, sqlx::Error>,
) -> Result<(Vec<T>, bool), sqlx::Error> {
    let order = keyset(&mut conditions, page, at, id, limit);
    let sql = format!("{select}{}{order}", conditions.sql());
    let rows = conditions
        .bind(sqlx::query(&sql))
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(read)
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(crate::domain::paging::trim(rows, page, limit))
}
