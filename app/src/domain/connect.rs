//! End users connect: connect sessions, the hosted connect page, the
//! authorization transaction and the OAuth callback.
//!
//! The pages here are plain server-rendered HTML without any script: they
//! handle credentials, need nothing interactive, and get a strict
//! Content-Security-Policy whose `form-action` names the provider they send
//! the browser to.

use serde::{Deserialize, Serialize};

/// How long a connect link works.
pub const SESSION_TTL_MS: i64 = 30 * 60 * 1000;
/// How long an authorization at the provider may take.
pub const TRANSACTION_TTL_MS: i64 = 10 * 60 * 1000;
pub const END_USER_ID_MAX: usize = 255;
pub const RETURN_URLS_MAX: usize = 20;

/// Checks the allowed-return-URLs setting (one URL per line); the error says
/// what to fix. Returns the URLs, normalised.
pub fn parse_return_urls(text: &str) -> Result<Vec<String>, String> {
    let mut urls = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let url = check_return_url(line).map_err(|e| format!("{line}: {e}"))?;
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    if urls.len() > RETURN_URLS_MAX {
        return Err(format!("List at most {RETURN_URLS_MAX} URLs"));
    }
    Ok(urls)
}

fn loopback_host(host: &str) -> bool {
    host == "localhost" || host == "127.0.0.1" || host == "[::1]" || host.ends_with(".localhost")
}

/// One return URL: absolute, https (http only for loopback addresses), no
/// user name, no fragment, no query. Returned without a trailing `?`.
pub fn check_return_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let (scheme, rest) = text
        .split_once("://")
        .ok_or("Enter a full URL, starting with https://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map(|(h, _)| h)
        .unwrap_or(authority)
        .to_ascii_lowercase();
    if authority.is_empty() || host.is_empty() {
        return Err("The URL needs a host name".into());
    }
    if authority.contains('@') {
        return Err("The URL must not contain a user name or password".into());
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if loopback_host(&host) => {}
        "http" => return Err("Use https:// (plain http only for localhost)".into()),
        _ => return Err("Use an https:// URL".into()),
    }
    if text.contains('#') {
        return Err("The URL must not contain a #fragment".into());
    }
    if text.contains('?') {
        return Err("Leave out the query (?…): any query is allowed on a listed URL".into());
    }
    if text
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '\\'))
    {
        return Err("The URL contains characters that are not allowed".into());
    }
    if text.len() > 500 {
        return Err("Use at most 500 characters".into());
    }
    Ok(format!("{}://{rest}", scheme.to_ascii_lowercase()))
}

/// The web origin (`scheme://host[:port]`, lower case) of an http(s) URL,
/// as `postMessage` takes it for its target.
pub fn web_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.is_empty() || authority.contains('@') || authority.contains(char::is_whitespace) {
        return None;
    }
    Some(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// Whether `candidate` may be used as a return URL: it equals a listed URL,
/// optionally with a query of its own.
pub fn return_url_allowed(allowed: &[String], candidate: &str) -> bool {
    if candidate.contains('#')
        || candidate
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return false;
    }
    let base = candidate.split('?').next().unwrap_or_default();
    let Ok(base) = check_return_url(base) else {
        return false;
    };
    allowed.contains(&base)
}

/// A failure of the connect flow, with the stable code the return URL gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectFailure {
    InvalidRequest,
    UnknownState,
    StateUsed,
    Expired,
    BrowserMismatch,
    IssuerMismatch,
    RedirectMismatch,
    AccessDenied,
    ProviderError,
    ProviderDisabled,
    TokenExchangeFailed,
    IdentityFailed,
    /// Another authorization started from the same connect link finished
    /// first: a link connects once.
    SessionUsed,
    /// A reconnect link of a connection the developer disconnected since.
    ConnectionRevoked,
    ServerError,
}

impl ConnectFailure {
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnknownState => "unknown_state",
            Self::StateUsed => "state_used",
            Self::Expired => "expired",
            Self::BrowserMismatch => "browser_mismatch",
            Self::IssuerMismatch => "issuer_mismatch",
            Self::RedirectMismatch => "redirect_mismatch",
            Self::AccessDenied => "access_denied",
            Self::ProviderError => "provider_error",
            Self::ProviderDisabled => "provider_disabled",
            Self::TokenExchangeFailed => "token_exchange_failed",
            Self::IdentityFailed => "identity_failed",
            Self::SessionUsed => "session_used",
            Self::ConnectionRevoked => "connection_revoked",
            Self::ServerError => "server_error",
        }
    }

    /// (title, what happened and what to do), for the end user.
    pub fn explain(self) -> (&'static str, &'static str) {
        match self {
            Self::InvalidRequest => ("This link is incomplete", "The sign-in answer is missing information. Start again from the app you were connecting."),
            Self::UnknownState | Self::StateUsed => ("This sign-in was already used or is unknown", "Each sign-in link works once. Start again from the app you were connecting."),
            Self::Expired => ("This sign-in took too long", "For your security a sign-in must finish within 10 minutes. Start again from the app you were connecting."),
            Self::BrowserMismatch => ("Finish in the same browser", "The sign-in was started in another browser or its cookie was removed. Start again in this browser."),
            Self::IssuerMismatch => ("The answer did not come from the expected provider", "Nothing was connected. Start again from the app you were connecting."),
            Self::RedirectMismatch => ("The answer came back to the wrong address", "It arrived at the redirect URI of another provider configuration, so it was refused and nothing was connected. Start again from the app you were connecting."),
            Self::AccessDenied => ("Access was not granted", "You declined the request, so nothing was connected. You can start again at any time."),
            Self::ProviderError => ("The provider reported a problem", "Nothing was connected. Try again later or contact the app's support."),
            Self::ProviderDisabled => ("This connection is not available", "The app has switched this provider off. Contact the app's support."),
            Self::TokenExchangeFailed => ("The provider did not complete the sign-in", "Nothing was connected. Try again in a moment."),
            Self::IdentityFailed => ("The provider did not confirm the account", "Nothing was connected. Try again in a moment."),
            Self::SessionUsed => ("This connect link was already used", "Each connect link works for one connection, and another sign-in with it finished first. Nothing more was connected. Go back to the app to connect again."),
            Self::ConnectionRevoked => ("This connection was disconnected", "The app disconnected this connection after the link was made, so the link no longer works. Nothing was connected. Go back to the app to connect again."),
            Self::ServerError => ("Something went wrong on our side", "Nothing was connected. Try again in a moment."),
        }
    }
}
