//! Keyset pages of the portal's lists: every list is ordered newest first by
//! a time and an id, and a page link carries the `(time, id)` of the row it
//! continues from — `older=…` or `newer=…` in the URL — so that pages stay
//! stable while rows are added, and each costs one index range read however
//! deep it is.

use serde::{Deserialize, Serialize};

/// Rows on one page of a portal list.
pub const PAGE_SIZE: i64 = 50;

/// The clear message for a page link that cannot be read.
pub const BAD_CURSOR: &str =
    "That page link is not valid (it may have been cut off): showing the newest entries instead.";

/// Where a list continues: the `(time, id)` of a row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub at: i64,
    pub id: String,
}

impl Cursor {
    pub fn new(at: i64, id: impl Into<String>) -> Self {
        Self { at, id: id.into() }
    }

    /// Reads `1733000000000:con_abc`; anything else is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let (at, id) = text.split_once(':')?;
        let at: i64 = at.parse().ok()?;
        let id_ok = !id.is_empty()
            && id.len() <= 100
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        (at >= 0 && id_ok).then(|| Self::new(at, id))
    }

    pub fn text(&self) -> String {
        format!("{}:{}", self.at, self.id)
    }
}

/// Which page of a list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PageAt {
    /// The newest rows.
    #[default]
    First,
    /// The rows older than this one.
    Older(Cursor),
    /// The rows newer than this one.
    Newer(Cursor),
}

impl PageAt {
    /// The page that the `older`/`newer` query values name; a value that
    /// cannot be read gives the first page and [`BAD_CURSOR`].
    pub fn from_query(older: Option<&str>, newer: Option<&str>) -> (Self, Option<String>) {
        fn pick(text: Option<&str>) -> Option<&str> {
            text.map(str::trim).filter(|t| !t.is_empty())
        }
        match (pick(older), pick(newer)) {
            (None, None) => (Self::First, None),
            (Some(text), None) => match Cursor::parse(text) {
                Some(c) => (Self::Older(c), None),
                None => (Self::First, Some(BAD_CURSOR.into())),
            },
            (None, Some(text)) => match Cursor::parse(text) {
                Some(c) => (Self::Newer(c), None),
                None => (Self::First, Some(BAD_CURSOR.into())),
            },
            (Some(_), Some(_)) => (Self::First, Some(BAD_CURSOR.into())),
        }
    }
}

/// The links around a page: the cursors for "Older" and "Newer", and a
/// message about the request (a bad page link, an unknown filter value).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pager {
    pub older: Option<String>,
    pub newer: Option<String>,
    /// Whether this is not the first page (a "Newest" link is shown).
    pub deeper: bool,
    pub notices: Vec<String>,
}

impl Pager {
    /// The links for `rows` read at `page` with `limit + 1` asked for
    /// (newest first, already trimmed back to `limit` by [`trim`]).
    pub fn new(page: &PageAt, more: bool, first: Option<Cursor>, last: Option<Cursor>) -> Self {
        let (older, newer) = match page {
            PageAt::First => (more.then_some(last).flatten(), None),
            PageAt::Older(_) => (more.then_some(last).flatten(), first),
            PageAt::Newer(_) => (last, more.then_some(first).flatten()),
        };
        Self {
            older: older.map(|c| c.text()),
            newer: newer.map(|c| c.text()),
            deeper: *page != PageAt::First,
            notices: Vec::new(),
        }
    }
}

/// Puts rows read for `page` (with one more than `limit` asked for) newest
/// first and keeps `limit` of them; says whether there were more.
pub fn trim<T>(mut rows: Vec<T>, page: &PageAt, limit: i64) -> (Vec<T>, bool) {
    let limit = limit.max(1) as usize;
    let more = rows.len() > limit;
    rows.truncate(limit);
    if matches!(page, PageAt::Newer(_)) {
        rows.reverse();
    }
    (rows, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let c = Cursor::new(1_733_000_000_000, "con_Ab-9");
        assert_eq!(Cursor::parse(&c.text()), Some(c));
        for bad in [
            "",
            "x",
            "12",
            "12:",
            ":con",
            "-5:con",
            "abc:con",
            "12:con'--",
            "12:con x",
        ] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
        assert_eq!(
            PageAt::from_query(Some("nope"), None),
            (PageAt::First, Some(BAD_CURSOR.to_string()))
        );
        assert_eq!(PageAt::from_query(Some(""), None), (PageAt::First, None));
    }

    #[test]
    fn newer_pages_come_back_newest_first() {
        let page = PageAt::Newer(Cursor::new(1, "a"));
        assert_eq!(trim(vec![1, 2, 3], &page, 2), (vec![2, 1], true));
        assert_eq!(
            trim(vec![1, 2, 3], &PageAt::First, 5),
            (vec![1, 2, 3], false)
        );
    }
}
