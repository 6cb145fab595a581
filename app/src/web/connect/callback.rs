//! The end of the flow: the provider sends the browser back, the vault
//! makes the connection and sends the end user on (or, in a popup, tells the
//! opener).

use super::{
    browser_cookie_name, failure_page, failure_status, internal, message_page, popup::Outcome,
    popup_end,
};
use crate::domain::connect::ConnectFailure;
use crate::{
    domain::events::EventKind,
    infra::tokens::hash_token,
    services::connect::complete,
    store::connect::{
        self as store, consume, find_transaction, session_by_id, OpenSession, Transaction,
    },
    store::connections::{record_event, Event},
    store::sessions::cookie_value,
    web::state::AppState,
};
use axum::{
    extract::{Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use std::collections::HashMap;
use subtle::ConstantTimeEq;
/// The return URL with the outcome in its query, if the session has one.
fn return_location(session: &OpenSession, outcome: Result<&str, ConnectFailure>) -> Option<String> {
    let mut url = session.return_url.clone()?;
    url.push(if url.contains('?') { '&' } else { '?' });
    let params: Vec<(&str, &str)> = match outcome {
        Ok(id) => vec![("connection_id", id), ("status", "success")],
        Err(f) => vec![("status", "error"), ("error", f.code())],
    };
    url.push_str(&serde_urlencoded::to_string(params).unwrap_or_default());
    Some(url)
}

/// Where the end user goes after the callback.
fn finish(
    session: &OpenSession,
    outcome: Result<&str, ConnectFailure>,
    app_name: &str,
) -> Response {
    if let Some(url) = return_location(session, outcome) {
        let mut response = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(&url) {
            response.headers_mut().insert(header::LOCATION, v);
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return response;
    }
    match outcome {
        Ok(_) => message_page(
            StatusCode::OK,
            "Connected",
            &format!("Your account is now connected to {app_name}. You can close this window."),
            "connect-success",
        ),
        Err(f) => failure_page(f),
    }
}

/// The popup's last page after the callback: the outcome, told to the
/// opener.
async fn finish_popup(
    state: &AppState,
    session: &OpenSession,
    outcome: Result<&str, ConnectFailure>,
) -> Response {
    let return_to = return_location(session, outcome);
    let origins =
        match store::origins_for(&state.db, &session.app_id, session.return_url.as_deref()).await {
            Ok(o) => o,
            Err(e) => return internal(e),
        };
    match outcome {
        Ok(id) => {
            let found =
                crate::store::connections::find(&state.db, &state.catalogue, &session.app_id, id)
                    .await;
            let provider = match found {
                Ok(c) => c.map(|c| c.provider).unwrap_or_default(),
                Err(e) => return internal(e),
            };
            let text = format!(
                "Your account is now connected to {}. This window closes by itself.",
                session.app_name
            );
            let page = (
                StatusCode::OK,
                "Connected",
                text.as_str(),
                "connect-success",
            );
            let outcome = Outcome::Connected {
                connection_id: id,
                provider: &provider,
            };
            popup_end(page, outcome, &origins, return_to)
        }
        Err(f) => {
            let (title, text) = f.explain();
            let page = (failure_status(f), title, text, "connect-failed");
            let outcome = Outcome::Failed { code: f.code() };
            popup_end(page, outcome, &origins, return_to)
        }
    }
}

/// A callback that fails before the connection is made; a popup's opener
/// is told.
async fn callback_failure(state: &AppState, tx: &Transaction, failure: ConnectFailure) -> Response {
    if !tx.popup {
        return failure_page(failure);
    }
    match session_by_id(&state.db, &tx.session_id).await {
        Ok(Some(session)) => finish_popup(state, &session, Err(failure)).await,
        Ok(None) => failure_page(failure),
        Err(e) => internal(e),
    }
}

/// `GET /oauth/callback/{config id}` (and `/oauth/callback` for
/// configurations saved before each had its own): the provider sends the
/// browser back here.
pub async fn callback(
    State(state): State<AppState>,
    uri: axum::http::Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(state_value) = query
        .get("state")
        .filter(|s| !s.is_empty() && s.len() <= 200)
    else {
        return failure_page(ConnectFailure::InvalidRequest);
    };
    let tx = match find_transaction(&state.db, state_value).await {
        Ok(Some(tx)) => tx,
        Ok(None) => return failure_page(ConnectFailure::UnknownState),
        Err(e) => return internal(e),
    };
    if tx.consumed_at.is_some() {
        return callback_failure(&state, &tx, ConnectFailure::StateUsed).await;
    }
    // The answer must arrive at the redirect URI this authorization was
    // started with: its configuration's own. An answer that another
    // configuration's authorization server sent here (a mix-up) is refused
    // before its code goes anywhere.
    if !same_path(&tx.redirect_uri, uri.path()) {
        tracing::warn!("a callback arrived at another configuration's redirect URI");
        return callback_failure(&state, &tx, ConnectFailure::RedirectMismatch).await;
    }
    let secure = state.settings.secure_cookies;
    let bound = cookie_value(&headers, &browser_cookie_name(secure, &tx.id))
        .map(|c| bool::from(hash_token(&c).as_bytes().ct_eq(tx.browser_hash.as_bytes())))
        .unwrap_or(false);
    if !bound {
        return callback_failure(&state, &tx, ConnectFailure::BrowserMismatch).await;
    }
    match consume(&state.db, &tx.id).await {
        Ok(true) => {}
        Ok(false) => return callback_failure(&state, &tx, ConnectFailure::StateUsed).await,
        Err(e) => return internal(e),
    }
    let session = match session_by_id(&state.db, &tx.session_id).await {
        Ok(Some(s)) => s,
        Ok(None) => return failure_page(ConnectFailure::UnknownState),
        Err(e) => return internal(e),
    };
    let app_name = session.app_name.clone();
    let outcome = complete(&state, &tx, &session, &query).await;
    if let Err(failure) = outcome {
        let message = format!("Connect attempt failed: {}", failure.code());
        tracing::warn!(code = failure.code(), "connect attempt failed");
        let recorded = match state.db.pool().acquire().await {
            Ok(mut conn) => {
                record_event(
                    &mut conn,
                    Event {
                        app_id: &session.app_id,
                        connection_id: None,
                        provider_config_id: Some(&tx.provider_config_id),
                        end_user_id: Some(&session.end_user_id),
                        kind: EventKind::ConnectFailed,
                        message: &message,
                    },
                )
                .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = recorded {
            tracing::error!(error = %e, "recording a failed connect attempt failed");
        }
    }
    let outcome = outcome.as_deref().map_err(|f| *f);
    if tx.popup {
        return finish_popup(&state, &session, outcome).await;
    }
    finish(&session, outcome, &app_name)
}

/// Whether `redirect_uri`'s path is `path`.
fn same_path(redirect_uri: &str, path: &str) -> bool {
    url::Url::parse(redirect_uri).is_ok_and(|u| u.path() == path)
}
