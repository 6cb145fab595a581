//! CSRF protection, in two layers:
//!
//! 1. Every state-changing request from a browser must come from the vault's
//!    own pages: `Sec-Fetch-Site` (sent by every current browser) must be
//!    `same-origin` or `none`, else `Origin` must be the public origin
//!    ([`check_origin`], applied to all routes but the bearer-key API and the
//!    provider callback).
//! 2. Every form carries a token that must equal the value of an HttpOnly
//!    cookie (double submit), compared in constant time ([`verify_form_token`]).

use crate::infra::tokens::random_token;
use crate::store::sessions::{cookie_value, set_cookie};
use axum::http::{HeaderMap, HeaderValue};
use subtle::ConstantTimeEq;

/// The name of the hidden form field.
pub const FIELD: &str = "csrf";

pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-ov_csrf"
    } else {
        "ov_csrf"
    }
}

/// The token of the current request, put in its extensions by the CSRF layer.
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

/// The request's token, and a `Set-Cookie` to send when it is new.
pub fn token_for_request(headers: &HeaderMap, secure: bool) -> (CsrfToken, Option<HeaderValue>) {
    match cookie_value(headers, cookie_name(secure)) {
        Some(token) if token.len() >= 32 => (CsrfToken(token), None),
        _ => {
            let token = random_token();
            let cookie = set_cookie(cookie_name(secure), &token, secure, 7 * 24 * 3600);
            (CsrfToken(token), Some(cookie))
        }
    }
}

/// Whether a submitted form token matches the cookie.
pub fn verify_form_token(headers: &HeaderMap, secure: bool, submitted: Option<&str>) -> bool {
    let (Some(cookie), Some(submitted)) = (cookie_value(headers, cookie_name(secure)), submitted)
    else {
        return false;
    };
    !cookie.is_empty() && bool::from(cookie.as_bytes().ct_eq(submitted.as_bytes()))
}

/// Whether a state-changing request comes from the vault's own pages.
pub fn check_origin(headers: &HeaderMap, public_origin: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match headers.get("origin").and_then(|v| v.to_str().ok()) {
        Some(origin) => origin == public_origin,
        // Neither header: not a browser (browsers send Origin on POST).
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                *k,
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            );
        }
        h
    }

    #[test]
    fn form_token_must_match_the_cookie() {
        let token = "a".repeat(43);
        let h = headers(&[("cookie", &format!("ov_csrf={token}; other=1"))]);
        assert!(verify_form_token(&h, false, Some(&token)));
        assert!(!verify_form_token(&h, false, Some("b")));
        assert!(!verify_form_token(&h, false, None));
        assert!(!verify_form_token(&headers(&[]), false, Some(&token)));
    }

    #[test]
    fn cross_site_requests_are_refused() {
        let origin = "http://127.0.0.1:3000";
        assert!(check_origin(
            &headers(&[("sec-fetch-site", "same-origin")]),
            origin
        ));
        assert!(!check_origin(
            &headers(&[("sec-fetch-site", "cross-site")]),
            origin
        ));
        assert!(!check_origin(
            &headers(&[("sec-fetch-site", "same-site")]),
            origin
        ));
        assert!(check_origin(&headers(&[("origin", origin)]), origin));
        assert!(!check_origin(
            &headers(&[("origin", "https://evil.example")]),
            origin
        ));
    }
}
