//! Every request's id: taken from `X-Request-Id` when a trusted proxy set
//! it, generated otherwise. The HTTP layer sets it for the request's whole
//! handling (a task-local), so that log lines, `/v1` error bodies and error
//! pages can name it without it being passed around.

use std::future::Future;

tokio::task_local! {
    static CURRENT: String;
}

/// The longest id taken from a proxy.
const MAX_LEN: usize = 128;

/// The id of the request being handled, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Runs `handling` as the request `id`.
pub async fn scope<F: Future>(id: String, handling: F) -> F::Output {
    CURRENT.scope(id, handling).await
}

/// A new id: `req_` and 32 hex digits.
pub fn generate() -> String {
    crate::infra::db::new_id("req")
}

/// Whether a proxy's id may be taken as it is: 1-128 characters of
/// letters, digits and `-_.:` (it goes into headers, logs and pages).
pub fn acceptable(value: &str) -> bool {
    (1..=MAX_LEN).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_are_taken_from_a_proxy() {
        assert!(acceptable("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(acceptable("req_1:2.3-4"));
        for bad in ["", "a b", "a\nb", "<script>", &"x".repeat(129)] {
            assert!(!acceptable(bad), "{bad:?}");
        }
        assert!(generate().starts_with("req_"));
    }

    #[tokio::test]
    async fn the_id_is_there_while_the_request_is_handled() {
        assert_eq!(current(), None);
        let seen = scope("req_1".into(), async { current() }).await;
        assert_eq!(seen.as_deref(), Some("req_1"));
    }
}
