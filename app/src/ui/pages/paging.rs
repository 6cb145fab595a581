//! The portal lists' page links and messages: plain links that keep the
//! filters of the URL and carry the cursor (`older=` or `newer=`), so that
//! every page is bookmarkable and works without JavaScript.

use crate::domain::paging::Pager;
use leptos::prelude::*;
use leptos_router::params::ParamsMap;

/// Percent-encodes a query component.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A non-empty query value.
pub fn value(map: &ParamsMap, key: &str) -> Option<String> {
    map.get(key).filter(|v| !v.trim().is_empty())
}

/// `path` with the filters among `keys` from `query` and then `extra`.
pub fn link(path: &str, query: &ParamsMap, keys: &[&str], extra: Option<(&str, &str)>) -> String {
    let mut pairs: Vec<String> = keys
        .iter()
        .filter_map(|k| value(query, k).map(|v| format!("{}={}", encode(k), encode(&v))))
        .collect();
    if let Some((k, v)) = extra {
        pairs.push(format!("{}={}", encode(k), encode(v)));
    }
    if pairs.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", pairs.join("&"))
    }
}

/// The messages about a request (a bad page link, an unknown filter value).
#[component]
pub fn Notices(pager: Pager) -> impl IntoView {
    pager
        .notices
        .into_iter()
        .map(|n| view! { <div class="alert alert-warning" role="status" data-testid="list-notice">{n}</div> })
        .collect_view()
        .into_any()
}

/// "Newest", "← Newer" and "Older →" under a list: `path` is the list's
/// address and `keys` the filters to keep.
#[component]
pub fn PageLinks(
    pager: Pager,
    path: String,
    query: ParamsMap,
    keys: &'static [&'static str],
) -> impl IntoView {
    let newest = pager.deeper.then(|| link(&path, &query, keys, None));
    let newer = pager
        .newer
        .as_deref()
        .map(|c| link(&path, &query, keys, Some(("newer", c))));
    let older = pager
        .older
        .as_deref()
        .map(|c| link(&path, &query, keys, Some(("older", c))));
    (newest.is_some() || older.is_some()).then(|| {
        view! {
            <nav class="row pager" aria-label="Pages">
                {newest.map(|href| view! { <a href=href class="btn btn-sm" data-testid="first-page">"« Newest"</a> })}
                {newer.map(|href| view! { <a href=href class="btn btn-sm" rel="prev" data-testid="newer-page">"← Newer"</a> })}
                {older.map(|href| view! { <a href=href class="btn btn-sm" rel="next" data-testid="older-page">"Older →"</a> })}
            </nav>
        }
    })
    .into_any()
}
