//! Failures on our side, the same way everywhere: the cause goes to the log
//! with a new error id, and the person (page, server function, `/v1`
//! answer) gets a general message with that id to quote. The cause itself
//! never leaves the log: it may name a table, a host or worse.

use crate::infra::db::new_id;

/// Identifies one logged failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorId(pub String);

impl std::fmt::Display for ErrorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Logs `cause` of a failure while doing `what`; returns the id to show:
/// the request's id when there is a request (one id to quote, the one its
/// log lines carry), a new one otherwise.
pub fn report(what: &str, cause: &dyn std::fmt::Display) -> ErrorId {
    let id = ErrorId(crate::infra::request_id::current().unwrap_or_else(|| new_id("err")));
    tracing::error!(error_id = %id, error = %cause, "{what} failed");
    id
}

/// What a person reads about a failure on our side.
pub fn general_message(id: &ErrorId) -> String {
    format!("Something went wrong on our side. Please try again. (Error id: {id})")
}
